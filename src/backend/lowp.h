/* Mixed-precision products through the backend interface (SPEC §13,
 * doc/precision.md): each call uses the backend's op when it has one and
 * otherwise composes the same arithmetic from the mandatory ops, so every
 * backend computes round(A) @ round(W)^T with exact products and float32
 * sums. round() and the formats: backend.h, core ops. */
#ifndef MLSAE_BACKEND_LOWP_H
#define MLSAE_BACKEND_LOWP_H

#include "backend/backend.h"

/* The reference's trainer.precision values we compute. */
typedef enum mlsae_precision {
    MLSAE_PRECISION_32 = 0,     /* "32": float32 throughout */
    MLSAE_PRECISION_BF16_MIXED, /* "bf16-mixed": large products from bf16 inputs */
    MLSAE_PRECISION_16_MIXED,   /* "16-mixed": large products from fp16 inputs */
} mlsae_precision;

/* "32" (also "32-true"), "bf16-mixed", "16-mixed" -> 0 and *out; else -1. */
int mlsae_precision_parse(const char *name, mlsae_precision *out);
const char *mlsae_precision_name(mlsae_precision p);
/* The 16-bit format of a mixed precision (MLSAE_LOWP_*), 0 for 32. */
int mlsae_precision_lowp(mlsae_precision p);

/* y[i] = round(x[i]), i < n (y may equal x). Without the op: on the host
 * (read, round, write back). */
int mlsae_lowp_round(mlsae_backend *be, int fmt, mlsae_ref x, mlsae_ref y, size_t n);

/* Elements lowp_pack writes at most for w [n, k] (the size of `packed`). */
static inline size_t mlsae_lowp_packed_elems(int n, int k) { return (size_t)n * (size_t)k; }

/* packed = round(w), w [n, k]. Without the backend's lowp_pack/lowp_gemm
 * pair: the rounded float32 values in w's layout. */
int mlsae_lowp_pack(mlsae_backend *be, int fmt, mlsae_ref w, int n, int k, mlsae_ref packed);

/* c [m, n] = round(a) [m, k] @ round(w)^T, w packed by mlsae_lowp_pack.
 * scratch [m, k] (row stride k) is used only without the backend's pair:
 * round(a) is written there and multiplied by sgemm. */
int mlsae_lowp_gemm(mlsae_backend *be, int fmt, int m, int n, int k, mlsae_ref a, int lda,
                    mlsae_ref packed, mlsae_ref c, int ldc, mlsae_ref scratch);

/* The encoder product c = round(a) [m, k_in] @ round(w)^T and its TopK
 * (backend_sae.h, lowp_gemm_topk): values, indices [m, k] and gathered
 * [m, n_cols] as topk_gather makes them. In one pass where the backend
 * fuses them, else in chunks of `chunk` rows: mlsae_lowp_gemm into pre
 * [chunk, n] (with scratch [chunk, k_in]) followed by mlsae_op_topk_gather;
 * bit for bit the same results. */
int mlsae_lowp_gemm_topk(mlsae_backend *be, int fmt, int m, int n, int k_in, mlsae_ref a,
                         int lda, mlsae_ref packed, mlsae_ref pre, int chunk, mlsae_ref scratch,
                         int k, mlsae_ref values, mlsae_ref indices, mlsae_ref cols, int n_cols,
                         mlsae_ref gathered);

/* Whether mlsae_lowp_gemm needs its scratch on this backend. */
int mlsae_lowp_needs_scratch(const mlsae_backend *be);

/* One line on how the backend computes fmt's products. */
const char *mlsae_lowp_describe(mlsae_backend *be, int fmt);

#endif
