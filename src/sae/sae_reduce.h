/* Training one SAE on several processes (data parallel, doc/scaling.md).
 *
 * Each process trains on its share of the global micro-batch; with a
 * reducer attached, everything the reference computes over the batch is
 * summed over the processes before it is used, so the result is the
 * one-process result on the concatenated batch (up to the order of float
 * additions):
 *   - the MSE loss: per layer sum x, sum x^2 (the unbiased variance of the
 *     denominator), sum (r - x)^2 and the element count;
 *   - the AuxK loss: sum (e - a)^2, sum (e - mean_row e)^2, the count;
 *   - the dead-latent bookkeeping: last_nonzero is the minimum over the
 *     processes (0 where a latent fired on any of them);
 *   - the geometric median of the first micro-batch: Weiszfeld with the
 *     mean, the weight sum and the weighted sum reduced;
 *   - the accumulated gradients, once per Adam step (not per micro-batch);
 *   - the per-layer training metrics and the dead-latent counts of the
 *     logged rows.
 * The gradient of each process uses the global normalisers, so the sum of
 * the processes' gradients is the gradient of the global batch (unlike
 * DDP's mean of per-process normalised gradients).
 *
 * Every process must call the training functions in the same order with a
 * micro-batch each: the hooks are collectives. */
#ifndef MLSAE_SAE_SAE_REDUCE_H
#define MLSAE_SAE_SAE_REDUCE_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "sae/mlsae.h"

typedef struct mlsae_sae_reducer {
    /* in-place sums / minimum over the processes; 0 or -1 with err */
    int (*sum_f64)(double *v, size_t n, mlsae_error *err);
    int (*sum_f32)(float *v, size_t n, mlsae_error *err);
    int (*min_i32)(int32_t *v, size_t n, mlsae_error *err);
} mlsae_sae_reducer;

/* Attach (copied) or detach (NULL) the reducer of a data-parallel run. */
void mlsae_sae_set_reducer(mlsae_sae *sae, const mlsae_sae_reducer *red);

/* Sum the gradients accumulated since the last Adam step over the
 * processes now (e.g. before a checkpoint that holds them). No-op without
 * a reducer or with nothing accumulated. */
int mlsae_sae_reduce_grads(mlsae_sae *sae, mlsae_error *err);

/* Zero the accumulated gradients (the processes other than the one whose
 * checkpoint holds the summed gradients, after a resume). */
int mlsae_sae_zero_grads(mlsae_sae *sae, mlsae_error *err);

/* Micro-batches accumulated since the last Adam step. */
int64_t mlsae_sae_pending(const mlsae_sae *sae);

#endif
