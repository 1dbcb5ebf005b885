/* Where each latent fires: per layer, how often it is in the TopK and the
 * sum of its TopK values (the raw values of the encoder's TopK, before the
 * ReLU, as the reference's `encode(x).topk`), and from those the
 * distribution over layers (reference: mlsae/analysis/dists.py, Metric and
 * Dists; SPEC §6).
 *
 * Per latent j, with l the layer position 0..n_layers-1:
 *   count = sum_l counts[l, j], total = sum_l totals[l, j],
 *   mean = total / (count + 1e-8),
 *   probs[l, j] = totals[l, j] / total,
 *   layer_mean = sum_l probs * l,
 *   layer_var = sum_l probs * l^2 - layer_mean^2, layer_std = sqrt(layer_var).
 * Differences from the reference: counts and totals accumulate in double
 * (the reference in float32, exact for counts only up to 2^24) and are
 * stored as F32; layer_var is computed in double as sum_l probs (l -
 * layer_mean)^2 (equal in exact arithmetic), so it does not round below 0
 * into a NaN layer_std. A latent with total 0 has no distribution:
 * layer_mean, layer_var and layer_std are NaN (empty CSV cells), as in the
 * reference. */
#ifndef MLSAE_ANALYSIS_DISTS_H
#define MLSAE_ANALYSIS_DISTS_H

#include <stdint.h>
#include "analysis/analysis.h"
#include "core/status.h"

typedef struct mlsae_dists {
    int n_layers, n_latents;
    double *counts, *totals; /* [n_layers, n_latents] */
} mlsae_dists;

int mlsae_dists_init(mlsae_dists *d, int n_layers, int n_latents, mlsae_error *err);
void mlsae_dists_free(mlsae_dists *d);

/* Add one batch's TopK: values, indices [n_layers * rows_per_layer, k]
 * (layer-major); only the first n_tokens rows of each layer count. An
 * index outside 0..n_latents-1 is an error. */
int mlsae_dists_update(mlsae_dists *d, const float *values, const int32_t *indices,
                       int rows_per_layer, int n_tokens, int k, mlsae_error *err);

typedef struct mlsae_dists_latent {
    double count, total, mean, layer_mean, layer_var, layer_std;
} mlsae_dists_latent;
void mlsae_dists_latent_stats(const mlsae_dists *d, int latent, mlsae_dists_latent *out);

/* mean, var, std, sem of every latent's layer_std, NaN-aware (the
 * reference's get_stats). */
int mlsae_dists_layer_std_summary(const mlsae_dists *d, mlsae_summary *out, mlsae_error *err);
/* The same from the totals [n_layers, n_latents] alone (layer_std does not
 * depend on the counts). */
int mlsae_dists_layer_std_summary_of(const double *totals, int n_layers, int n_latents,
                                     mlsae_summary *out, mlsae_error *err);

/* path: safetensors with counts and totals, F32 [n_layers, n_latents]. */
int mlsae_dists_write_safetensors(const mlsae_dists *d, const char *path, mlsae_error *err);
/* path: CSV, one row per latent: latent,count,total,mean,layer_mean,layer_var,layer_std. */
int mlsae_dists_write_csv(const mlsae_dists *d, const char *path, mlsae_error *err);

#endif
