/* Shared between the OpenCL plugin's files; not a public header. */
#ifndef MLSAE_OCL_INTERNAL_H
#define MLSAE_OCL_INTERNAL_H

#include "backend/backend.h"

#include <CL/cl.h>

struct mlsae_buffer {
    cl_mem mem;
    size_t n_bytes;
};

/* Every kernel of the program (backends/opencl/kernels/ *.cl). */
#define OCL_KERNELS(X)                                                                     \
    X(axpby) X(add_row_vector) X(sum_stats_f32) X(sgemm_tiled) X(sgemm_simple)             \
    X(embedding) X(layer_norm) X(gelu) X(rotary) X(attention) X(cross_entropy) X(kl_div)   \
    X(standardize) X(row_affine) X(topk) X(sparse_gather) X(sparse_dot) X(sparse_scatter) \
    X(dead_reset) X(dead_tick) X(relu) X(normalize_rows) X(remove_parallel) X(adam)         \
    X(gather_columns) X(round_lowp) X(lowp_store) X(lowp_gemm_tiled)
/* built only when the device has cl_khr_fp64 */
#define OCL_KERNELS_FP64(X) X(sum_stats_f64)

enum {
#define OCL_ENUM(name) OCLK_##name,
    OCL_KERNELS(OCL_ENUM) OCL_KERNELS_FP64(OCL_ENUM)
#undef OCL_ENUM
    OCLK_COUNT
};

/* GEMM tile chosen from the device limits (see gemm.cl). */
typedef struct ocl_gemm_tile {
    int tsm, tsn, tsk, wptm, wptn;
} ocl_gemm_tile;

typedef struct ocl_backend {
    mlsae_backend base;
    cl_platform_id platform;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernel[OCLK_COUNT];
    size_t kernel_wg[OCLK_COUNT]; /* power-of-two group size used for each kernel */
    /* device limits */
    size_t max_wg;
    cl_ulong local_mem, max_alloc, global_mem;
    cl_uint compute_units;
    int fp64;              /* cl_khr_fp64 present */
    int use_fp64;          /* sum_stats in double (unless MLSAE_OPENCL_NO_FP64) */
    int fp16;              /* cl_khr_fp16 present (kernels built with MLSAE_FP16) */
    /* The mixed-precision product in 16-bit storage (ocl_lowp.c): with
     * cl_khr_fp16, or asked for by MLSAE_OPENCL_FP16 (read through
     * vload_half); and only with the tiled GEMM. Else the inputs are rounded
     * in float32 storage and multiplied by the float32 GEMM. */
    int lowp16, lowp16_forced;
    ocl_gemm_tile tile;
    int gemm_tiled;        /* 0: the tile did not fit the kernel's limits; use sgemm_simple */
    int att_bq, att_bk;    /* attention query-block / key-tile sizes */
    int verbose;
    /* The device error flag (one int, 0 = none): kernels that find an
     * index outside its table write an OCL_BAD_* code into it; finish() and
     * read() report it as the op's error, as the CPU backend does from the
     * op itself (ocl_check_bad). */
    cl_mem bad;
    /* scratch buffers reused across ops (grown on demand) */
    mlsae_buffer scratch_i, scratch_f, partials;
    mlsae_buffer scratch_lowp; /* the rounded inputs of lowp_gemm */
    char description[768];
} ocl_backend;

static inline ocl_backend *ocl_of(mlsae_backend *be) { return (ocl_backend *)be; }

/* Codes of the device error flag (passed to the kernels as -D options). */
enum { OCL_BAD_NONE, OCL_BAD_SPARSE_GATHER, OCL_BAD_SPARSE_DOT, OCL_BAD_GATHER_COLUMNS,
       OCL_BAD_UPDATE_DEAD };

/* After the queue has drained: -1 with the op's message if a kernel raised
 * the error flag since the last check (and clear it), else 0. */
int ocl_check_bad(mlsae_backend *be);

/* Record an error on the backend; returns -1. */
/* A short name for an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *ocl_strerror(cl_int code);

/* ---- devices (ocl_device.c) ---- */
typedef struct ocl_device_ref {
    cl_platform_id platform;
    cl_device_id device;
} ocl_device_ref;
/* All devices across all platforms in platform order (*out malloc'ed). */
int ocl_enumerate(ocl_device_ref **out, int *n, mlsae_error *err);
/* The device for params->device_index (N-th overall; -1 = first GPU). */
int ocl_pick_device(int device_index, ocl_device_ref *out, mlsae_error *err);
/* "name (type, 8 CUs, 4.0 GiB, max group 1024, fp64)" */
void ocl_device_summary(cl_device_id dev, char *out, size_t n);
/* MLSAE_SCORE_* (backend.h) of a device, for --device auto. */
int ocl_device_score(cl_device_id dev);
int ocl_device_has_extension(cl_device_id dev, const char *ext);

/* ---- program (ocl_program.c) ---- */
int ocl_build_program(ocl_backend *ob, mlsae_error *err);

/* ---- ops helpers (ocl_core.c) ---- */
/* Argument setter: refs become (cl_mem, ulong element offset) pairs. */
typedef struct ocl_args {
    cl_kernel k;
    cl_uint i;
    cl_int err;
    ocl_backend *ob;
} ocl_args;
/* One kernel argument of a list for ocl_args_list, made by ocl_ref() (an
 * absent ref becomes a dummy buffer, offset 0), ocl_int(), ocl_float(),
 * ocl_ulong(), ocl_mem() or ocl_local(); the list ends with ocl_end(). */
typedef struct ocl_arg {
    enum { OCL_ARG_END, OCL_ARG_REF, OCL_ARG_INT, OCL_ARG_FLOAT, OCL_ARG_ULONG, OCL_ARG_MEM,
           OCL_ARG_LOCAL } kind;
    union {
        mlsae_ref ref;
        int i;
        float f;
        cl_ulong u;
        cl_mem mem;
        size_t bytes;
    } v;
} ocl_arg;
static inline ocl_arg ocl_ref(mlsae_ref r) { return (ocl_arg){OCL_ARG_REF, {.ref = r}}; }
static inline ocl_arg ocl_int(int v) { return (ocl_arg){OCL_ARG_INT, {.i = v}}; }
static inline ocl_arg ocl_float(float v) { return (ocl_arg){OCL_ARG_FLOAT, {.f = v}}; }
static inline ocl_arg ocl_ulong(cl_ulong v) { return (ocl_arg){OCL_ARG_ULONG, {.u = v}}; }
static inline ocl_arg ocl_mem(cl_mem m) { return (ocl_arg){OCL_ARG_MEM, {.mem = m}}; }
static inline ocl_arg ocl_local(size_t bytes)
{
    return (ocl_arg){OCL_ARG_LOCAL, {.bytes = bytes}};
}
static inline ocl_arg ocl_end(void) { return (ocl_arg){OCL_ARG_END, {.i = 0}}; }
/* The kernel's arguments, from its first, set from list (ending with ocl_end()); the
 * first error is kept in the result for ocl_launch to report. */
ocl_args ocl_args_list(ocl_backend *ob, int kernel, const ocl_arg *list);
/* Enqueue kernel with `dims` dimensions; global sizes are rounded up to
 * multiples of local (local may be NULL). */
int ocl_launch(ocl_args *a, const char *op, cl_uint dims, const size_t *global,
               const size_t *local);
/* Check a ref spans n elements inside its buffer (op names the op, what the argument). */
int ocl_check_ref(mlsae_backend *be, const char *op, const char *what, mlsae_ref r, size_t n);
/* Make a scratch buffer hold at least n_bytes. */
int ocl_scratch(ocl_backend *ob, mlsae_buffer *s, size_t n_bytes);
/* Blocking upload into a scratch buffer. */
int ocl_upload(ocl_backend *ob, mlsae_buffer *s, const void *src, size_t n_bytes);

/* C = alpha op(A) op(B) + beta C (+ bias[col] when bias is present). */
int ocl_gemm(mlsae_backend *be, const char *op, int ta, int tb, int m, int n, int k,
             float alpha, mlsae_ref a, int lda, mlsae_ref b, int ldb, float beta, mlsae_ref c,
             int ldc, mlsae_ref bias);
/* Launch a one-work-group-per-row kernel (rows groups of the kernel's size)
 * whose last argument is a float local scratch of the group size. */
int ocl_launch_rows(ocl_args *a, const char *op, int kernel, size_t rows);
/* Launch n work items (one dimension) in groups of the kernel's size. */
int ocl_launch_1d(ocl_args *a, const char *op, int kernel, size_t n);

extern const mlsae_core_ops ocl_core_ops;
/* round_lowp (ocl_core.c). */
int ocl_round_lowp(mlsae_backend *be, int fmt, mlsae_ref x, mlsae_ref y, size_t n);
/* The mixed-precision core ops (ocl_lowp.c), set into the core table. */
void ocl_lowp_fill_ops(mlsae_core_ops *core);
extern const mlsae_nn_ops ocl_nn_ops;
extern const mlsae_sae_ops ocl_sae_ops;

#endif
