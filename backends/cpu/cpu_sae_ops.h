/* The CPU backend's SAE ops (backend_sae.h), split over cpu_sae*.c and
 * gathered into mlsae_cpu_sae_ops in cpu_sae.c. Not a public header. */
#ifndef MLSAE_CPU_SAE_OPS_H
#define MLSAE_CPU_SAE_OPS_H

#include "cpu_internal.h"

#include <stdint.h>

int cpu_sae_topk(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                 mlsae_ref values, mlsae_ref indices);
int cpu_sae_sparse_gather(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                          mlsae_ref table, int d, int relu, float beta, mlsae_ref out);
int cpu_sae_sparse_dot(mlsae_backend *be, mlsae_ref x, mlsae_ref idx, int rows, int k,
                       mlsae_ref table, int d, mlsae_ref gate, mlsae_ref out);
int cpu_sae_sparse_scatter(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                           mlsae_ref x, int d, mlsae_ref dst, int n_table);
int cpu_sae_sparse_backward(mlsae_backend *be, mlsae_ref g, mlsae_ref x, mlsae_ref vals,
                            mlsae_ref idx, int rows, int k, mlsae_ref dec, int d, int n,
                            mlsae_ref ga, mlsae_ref g_dec, mlsae_ref g_enc);
int cpu_sae_update_dead(mlsae_backend *be, mlsae_ref values, mlsae_ref idx, int rows, int k,
                        float threshold, mlsae_ref last_nonzero, int n, int dead_steps,
                        mlsae_ref mask);
int cpu_sae_gather_columns(mlsae_backend *be, mlsae_ref src, int rows, int n, mlsae_ref cols,
                           int n_cols, mlsae_ref dst);

/* topk followed by gather_columns of the same rows, fused per row. */
int cpu_sae_topk_gather(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                        mlsae_ref values, mlsae_ref indices, mlsae_ref cols, int n_cols,
                        mlsae_ref gathered);

/* The TopK of one row fed in segments of increasing columns (the order of
 * topk's own pass, so the kept set and its heap order are the same):
 * h [k] is the row's min-heap. start takes columns 0..k-1 from seg (and
 * mask, or NULL) and returns the threshold; feed offers columns from..to-1,
 * where column i is seg[i - col0] (mask[i - col0]), and returns the new
 * threshold. */
typedef struct cpu_topk_item {
    float v;
    int32_t i;
} cpu_topk_item;
float cpu_topk_row_start(const float *seg, const int32_t *mask, int k, cpu_topk_item *h);
float cpu_topk_row_feed(int use_avx2, const float *seg, const int32_t *mask, int col0, int from,
                        int to, int k, cpu_topk_item *h, float thr);
/* feed over the columns col0 + 32 w + b flagged by bit b of bits[w],
 * w < n_words, in increasing order (no mask): the same offers as feed
 * when every column left unflagged is at most a threshold the row had
 * before (thresholds only rise, so such a column is never a candidate). */
float cpu_topk_row_feed_bits(const float *seg, int col0, const uint32_t *bits, int n_words, int k,
                             cpu_topk_item *h, float thr);

/* dst[j] = src[cols[j]] for j < n_cols, 4-byte words; AVX2 if use_avx2. */
void cpu_sae_gather_row(int use_avx2, const uint32_t *src, const int32_t *cols, int n_cols,
                        uint32_t *dst);
/* 0 if every cols[j] is in 0..n-1, else -1 with the error naming op. */
int cpu_sae_check_columns(mlsae_backend *be, const char *op, const int32_t *cols, int n_cols,
                          int n);

#endif
