/* How much of a latent's spread over layers comes from the latent and how
 * much from the token (reference: mlsae/analysis/variances.py, Metric;
 * SPEC §6), computed from each token's TopK entries without building the
 * dense [n_layers, tokens, n_latents] tensor the reference scatters into.
 *
 * Per batch of T tokens, with a[l, t, f] the raw TopK value of latent f at
 * layer position l and token t (0 when not in the TopK) and
 * p[l, t, f] = a[l, t, f] / sum_l a[l, t, f] (0 where that is not finite,
 * as nan_to_num on 0/0), and Var_l(x) = sum_l l^2 x[l] - (sum_l l x[l])^2:
 *   exp_var_l_f  = mean_f Var_l(mean_t p[., t, f])
 *   exp_var_l_tf = mean_{t,f} Var_l(p[., t, f])
 *   var_l        = Var_l(mean_{t,f} p[., t, f])
 *   rel_var_f = exp_var_l_f / var_l, rel_var_t = exp_var_l_tf / exp_var_l_f
 * and each of the five is averaged over the batches (the reference's
 * compute), added in batch order (over MPI too: analysis/batch_log.h). A (t, f) pair outside every layer's TopK has p = 0 and adds 0;
 * so only the TopK entries are visited: O(n_layers * k) per token, plus
 * O(n_layers * n_latents) per batch for mean_t p. Differences: the reference
 * accumulates in float32 and turns an infinite p (a[l] != 0 with
 * sum_l a = 0) into +-FLT_MAX; we use double and count it as 0. */
#ifndef MLSAE_ANALYSIS_VARIANCES_H
#define MLSAE_ANALYSIS_VARIANCES_H

#include <stdint.h>
#include "core/status.h"

typedef struct mlsae_variances {
    int n_layers, n_latents;
    double *pmean;   /* [n_layers, n_latents] sum_t p of the current batch */
    double *s, *a1, *a2; /* per latent scratch */
    int32_t *touched;
    double batch[5]; /* the last batch's values (mlsae_variances_update) */
    double sum[5];   /* per-batch values summed over batches (mlsae_variances_add) */
    int64_t batches;
} mlsae_variances;

int mlsae_variances_init(mlsae_variances *v, int n_layers, int n_latents, mlsae_error *err);
void mlsae_variances_free(mlsae_variances *v);
/* One batch: values/indices [n_layers * rows_per_layer, k]; the first
 * n_tokens rows of each layer. Its five values go to v->batch (not yet
 * into the sums: see mlsae_variances_add). */
int mlsae_variances_update(mlsae_variances *v, const float *values, const int32_t *indices,
                           int rows_per_layer, int n_tokens, int k, mlsae_error *err);
/* Add one batch's five values (v->batch of an update) to the sums. */
void mlsae_variances_add(mlsae_variances *v, const double batch[5]);
/* exp_var_l_f, exp_var_l_tf, var_l, rel_var_f, rel_var_t (batch means). */
void mlsae_variances_compute(const mlsae_variances *v, double out[5]);

#endif
