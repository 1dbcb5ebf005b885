/* Shared between the CPU backend's files; not a public header. */
#ifndef MLSAE_CPU_INTERNAL_H
#define MLSAE_CPU_INTERNAL_H

#include "backend/backend.h"

struct mlsae_buffer {
    void *data;      /* 64-byte aligned host memory */
    size_t n_bytes;
};

typedef struct mlsae_cpu_backend {
    mlsae_backend base;
    int n_threads;
    int has_avx2;    /* AVX2+FMA kernels usable on this CPU */
    size_t llc_bytes; /* last-level cache of the first CPU (cpu_llc_bytes) */
    char description[128];
} mlsae_cpu_backend;

/* Bytes of the last-level cache shared by CPU 0: sysfs's largest cache
 * level, else sysconf, else 32 MiB. (Under a hypervisor CPUID may report
 * the host's total over every core complex, so sysfs comes first.) */
size_t cpu_llc_bytes(void);
/* Sets the cache size the blocked kernels plan for (tests: several blocks
 * on small shapes); 0 restores the detected one. */
void cpu_llc_bytes_set(mlsae_backend *be, size_t bytes);

static inline mlsae_cpu_backend *cpu_of(mlsae_backend *be) { return (mlsae_cpu_backend *)be; }

/* Host address of a ref. */
static inline float *cpu_f32(mlsae_ref r) { return (float *)r.buf->data + r.off; }
static inline int32_t *cpu_i32(mlsae_ref r) { return (int32_t *)r.buf->data + r.off; }
static inline int cpu_present(mlsae_ref r) { return r.buf != NULL; }


/* Row-major GEMM threaded over the OpenMP threads (cpu_backend.c). */
void cpu_gemm(mlsae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* The mixed-precision core ops (cpu_lowp.c); bf16_available says whether
 * bf16 products use AVX512_BF16 here, bf16_set lets tests switch it off
 * and on (re-pack after switching). */
void cpu_lowp_fill_ops(mlsae_core_ops *core);
/* The sae op lowp_gemm_topk (backend_sae.h): fused for bf16 with
 * AVX512_BF16, else declined (1). */
int cpu_lowp_gemm_topk(mlsae_backend *be, int fmt, int m, int n, int kd, mlsae_ref a, int lda,
                       mlsae_ref packed, mlsae_ref pre, int k, mlsae_ref values, mlsae_ref indices,
                       mlsae_ref cols, int n_cols, mlsae_ref gathered);
int cpu_lowp_bf16_available(void);
void cpu_lowp_bf16_set(int enabled);

/* Op tables filled by cpu_nn.c and cpu_sae.c. */
extern const mlsae_nn_ops mlsae_cpu_nn_ops;
extern const mlsae_sae_ops mlsae_cpu_sae_ops;

#endif
