/* THE compute interface. Every heavy computation in mlsae (the transformer
 * forward, the SAE step) is expressed as calls through this table, so the
 * same model and SAE code runs on the built-in CPU backend and on plugins
 * (the OpenCL backend, dlopen()ed at run time).
 *
 * Conventions (all ops):
 *  - Matrices are row-major; shapes are given as [rows, cols].
 *  - Buffers are owned by the backend that allocated them. A view
 *    mlsae_ref {buf, off} addresses a buffer starting at element `off`
 *    (elements are 4 bytes: float32 or int32). A ref with buf == NULL is
 *    "absent" where an op documents it as optional.
 *  - Ops are queued in order on the backend; results are visible to later
 *    ops. read() and finish() wait for all queued work. Ops return 0, or -1
 *    with a message in the backend's last error (mlsae_backend_error()).
 *  - Results must be deterministic for a fixed backend, device and thread
 *    count (reductions in a fixed order, no float atomics).
 *
 * Versioning: MLSAE_BACKEND_API_VERSION changes whenever a table below
 * changes layout or meaning. A plugin reports the version it was built
 * against and is refused if it differs.
 */
#ifndef MLSAE_BACKEND_BACKEND_H
#define MLSAE_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

#define MLSAE_BACKEND_API_VERSION 6

typedef struct mlsae_buffer mlsae_buffer;     /* opaque, backend-defined */
typedef struct mlsae_backend mlsae_backend;

typedef struct mlsae_ref {
    mlsae_buffer *buf;
    size_t off; /* in 4-byte elements */
} mlsae_ref;

static inline mlsae_ref mlsae_at(mlsae_buffer *buf, size_t off)
{
    mlsae_ref r = {buf, off};
    return r;
}
static inline mlsae_ref mlsae_ref_add(mlsae_ref r, size_t off)
{
    r.off += off;
    return r;
}
#define MLSAE_NOREF ((mlsae_ref){NULL, 0})

/* 16-bit formats of the mixed-precision ops (core ops below). */
enum { MLSAE_LOWP_BF16 = 1, MLSAE_LOWP_F16 = 2 };

#include "backend/backend_nn.h"
#include "backend/backend_sae.h"

/* Memory, copies and dense linear algebra: what every backend has. */
typedef struct mlsae_core_ops {
    /* Allocate n_bytes of device memory (contents undefined); NULL on failure. */
    mlsae_buffer *(*alloc)(mlsae_backend *be, size_t n_bytes);
    void (*free)(mlsae_backend *be, mlsae_buffer *buf);
    /* Host pointer to the buffer's memory if it is host-visible (CPU), else NULL. */
    void *(*host_ptr)(mlsae_backend *be, mlsae_buffer *buf);
    /* Copy n_bytes between host memory and a buffer, at byte offset off. */
    int (*write)(mlsae_backend *be, mlsae_buffer *dst, size_t off, const void *src, size_t n_bytes);
    int (*read)(mlsae_backend *be, mlsae_buffer *src, size_t off, void *dst, size_t n_bytes);
    /* dst[0..n) = src[0..n) (elements; regions must not overlap). */
    int (*copy)(mlsae_backend *be, mlsae_ref dst, mlsae_ref src, size_t n);
    /* dst[0..n) = value (as float bits). */
    int (*fill)(mlsae_backend *be, mlsae_ref dst, size_t n, float value);
    /* Wait for all queued work. */
    int (*finish)(mlsae_backend *be);

    /* C[m,n] = alpha * op(A) @ op(B) + beta * C, row-major.
     * op(A) is [m,k]: A is [m,k] with row stride lda, or [k,m] if trans_a.
     * op(B) is [k,n]: B is [k,n] with row stride ldb, or [n,k] if trans_b. */
    int (*sgemm)(mlsae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 mlsae_ref a, int lda, mlsae_ref b, int ldb, float beta, mlsae_ref c, int ldc);
    /* y[0..n) = alpha * x + beta * y */
    int (*axpby)(mlsae_backend *be, size_t n, float alpha, mlsae_ref x, float beta, mlsae_ref y);
    /* x[r, c] += alpha * v[c] for x [rows, cols]. */
    int (*add_row_vector)(mlsae_backend *be, mlsae_ref x, int rows, int cols, mlsae_ref v,
                          float alpha);
    /* Sums in double, returned to the host (waits):
     *   out[0] = sum x, out[1] = sum x^2             when y is absent,
     *   out[0] = sum (x - y), out[1] = sum (x - y)^2 otherwise. */
    int (*sum_stats)(mlsae_backend *be, size_t n, mlsae_ref x, mlsae_ref y, double out[2]);

    /* Mixed precision (SPEC §13, doc/precision.md). fmt is MLSAE_LOWP_BF16
     * or MLSAE_LOWP_F16; round(v) is v rounded to the nearest value of fmt
     * (ties to even) and widened back to float32: F16 keeps its subnormals
     * and overflows to +-inf, NaN stays NaN. All four are optional (NULL):
     * backend/lowp.h composes them from the ops above. */
    /* y[i] = round(x[i]) for i < n; y may equal x. */
    int (*round_lowp)(mlsae_backend *be, int fmt, mlsae_ref x, mlsae_ref y, size_t n);
    /* packed = round(w) for w [n, k] (row stride k), in the backend's own
     * layout for lowp_gemm, at most n * k elements. Comes with lowp_gemm. */
    int (*lowp_pack)(mlsae_backend *be, int fmt, mlsae_ref w, int n, int k, mlsae_ref packed);
    /* c [m, n] (row stride ldc) = round(a) [m, k] (row stride lda) @ round(w)^T,
     * w as packed by lowp_pack with the same fmt, n, k: every product is exact
     * in float32, the sums are float32 (in a fixed order). c is overwritten. */
    int (*lowp_gemm)(mlsae_backend *be, int fmt, int m, int n, int k, mlsae_ref a, int lda,
                     mlsae_ref packed, mlsae_ref c, int ldc);
    /* One line: how lowp_gemm computes for fmt on this device. */
    const char *(*lowp_describe)(mlsae_backend *be, int fmt);
} mlsae_core_ops;

typedef struct mlsae_backend_ops {
    uint32_t api_version;   /* MLSAE_BACKEND_API_VERSION */
    const char *name;       /* "cpu", "opencl" */
    void (*destroy)(mlsae_backend *be);
    /* Human-readable device description, e.g. "cpu: 2 threads, AVX2". */
    const char *(*describe)(mlsae_backend *be);
    mlsae_core_ops core;
    mlsae_nn_ops nn;        /* transformer ops (backend_nn.h) */
    mlsae_sae_ops sae;      /* sparse autoencoder ops (backend_sae.h) */
} mlsae_backend_ops;

/* Every backend instance starts with this header. */
struct mlsae_backend {
    const mlsae_backend_ops *ops;
    mlsae_error last_error; /* set by an op that returns -1 */
};

static inline const char *mlsae_backend_error(const mlsae_backend *be)
{
    return be->last_error.msg;
}

/* ---- obtaining a backend -------------------------------------------------- */

typedef struct mlsae_backend_params {
    int n_threads;        /* CPU threads; 0 = OpenMP default */
    int device_index;     /* a plugin's device number (NAME:N), 0-based */
    int verbose;
} mlsae_backend_params;

/* ---- plugins ---------------------------------------------------------------
 * A backend plugin is a shared object named mlsae-NAME.so exporting one
 * symbol, MLSAE_PLUGIN_ENTRY, a function returning its table. The registry
 * (registry.h) reads api_version first and refuses a table of another
 * version before touching anything else in it. */
#define MLSAE_PLUGIN_ENTRY "mlsae_backend_plugin_register"

/* Scores for `--device auto` (the registry picks the highest; the built-in
 * CPU backend has MLSAE_SCORE_CPU, so a plugin's CPU device never wins). */
enum { MLSAE_SCORE_NONE = 0, MLSAE_SCORE_PLUGIN_CPU = 1, MLSAE_SCORE_CPU = 10,
       MLSAE_SCORE_ACCELERATOR = 50, MLSAE_SCORE_GPU = 100 };

typedef struct mlsae_backend_plugin {
    uint32_t api_version; /* MLSAE_BACKEND_API_VERSION it was built against: FIRST */
    const char *name;     /* the NAME of --device NAME[:N], e.g. "opencl" */
    /* Number of devices (0..), or -1 with the reason in why (no driver, ...). */
    int (*device_count)(mlsae_error *why);
    /* One line describing device i (no newline) into line[n]; returns its
     * score for auto (MLSAE_SCORE_*), or -1 when i does not exist. */
    int (*device_info)(int i, char *line, size_t n);
    /* Detailed listing for `mlsae devices`: emit(ctx, depth, line) per
     * line, depth 0 (platform) or 1 (device "NAME:i ..."). Returns the number
     * of devices, or -1 with a message. May be NULL. */
    int (*list_devices)(void (*emit)(void *ctx, int depth, const char *line), void *ctx,
                        mlsae_error *err);
    /* A new backend on device params->device_index. */
    int (*init)(const mlsae_backend_params *params, mlsae_backend **out, mlsae_error *err);
} mlsae_backend_plugin;

typedef const mlsae_backend_plugin *(*mlsae_plugin_register_fn)(void);

/* Device strings (device_spec.h): "cpu", "auto", "NAME", "NAME:N". NAME is
 * looked up in the registry (registry.h); "auto" takes the best-scoring
 * device of every registered plugin, else the CPU. */
int mlsae_backend_open(const char *device, const mlsae_backend_params *params,
                       mlsae_backend **out, mlsae_error *err);
void mlsae_backend_close(mlsae_backend *be);

/* Set be's last error (the one message every op returns with -1); returns -1.
 * Shared by every backend (compiled into each plugin too). */
int mlsae_backend_fail(mlsae_backend *be, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The built-in CPU backend. */
int mlsae_backend_cpu_new(const mlsae_backend_params *params, mlsae_backend **out,
                          mlsae_error *err);

/* Helpers over the table. */
static inline mlsae_buffer *mlsae_alloc_f32(mlsae_backend *be, size_t n)
{
    return be->ops->core.alloc(be, n * 4);
}

#endif
