/* A latent's layer distribution, from OUT/NAME-dists.safetensors (SPEC §6,
 * the reference's mlsae/analysis/dists.py): counts and totals, F32
 * [n_layers, n_latents] (times in TopK, sum of TopK values per layer).
 *
 * Derived per latent j (in double; the reference uses float32):
 *   probs[l, j]  = totals[l, j] / sum_l totals[l, j]
 *   layer_mean_j = sum_l l * probs[l, j]
 *   layer_var_j  = sum_l l^2 * probs[l, j] - layer_mean_j^2
 *   layer_std_j  = sqrt(layer_var_j)
 * all NaN for a latent that never fired (0 / 0), as in the reference. */
#ifndef MLSAE_FIGURES_DISTS_H
#define MLSAE_FIGURES_DISTS_H

#include <stddef.h>
#include <stdint.h>
#include "analysis/analysis.h"
#include "core/status.h"

typedef struct mlsae_dists_file {
    int n_layers, n_latents;
    float *counts; /* [n_layers, n_latents] */
    float *totals; /* [n_layers, n_latents] */
} mlsae_dists_file;

/* Fails (one line naming the file and tensor) on a missing tensor, a shape
 * that is not 2-D or differs between the two, or a dtype other than
 * F32/F16/BF16/F64. */
int mlsae_dists_file_load(const char *path, mlsae_dists_file *d, mlsae_error *err);
void mlsae_dists_file_free(mlsae_dists_file *d);

/* Any output may be NULL: probs [n_layers, n_latents], layer_mean and
 * layer_std [n_latents]. */
void mlsae_dists_file_derive(const mlsae_dists_file *d, double *probs, double *layer_mean,
                        double *layer_std);

/* The statistics of every latent's layer_std (mlsae_dists_file_derive),
 * NaN-aware as the reference's get_stats (analysis/analysis.h,
 * mlsae_summary_of): mean, var, std, sem. n_dead (may be NULL): the
 * latents that never fired (layer_std NaN). */
int mlsae_dists_file_layer_std_stats(const mlsae_dists_file *d, mlsae_summary *st, int *n_dead,
                                     mlsae_error *err);

/* order[0..n) = indices sorting key descending, NaN first (torch.sort with
 * descending=True puts NaN first), ties by index. -1: out of memory. */
int mlsae_argsort_desc(const double *key, size_t n, int64_t *order);

/* The bin of v among `bins` equal bins over [lo, hi] as numpy.histogram and
 * numpy.histogram2d assign it (left-closed bins, hi in the last bin, the
 * edges those of numpy.linspace(lo, hi, bins + 1)); -1 outside or NaN. */
int mlsae_hist_bin(double v, int bins, double lo, double hi);
/* numpy.linspace(lo, hi, bins + 1)[i] */
double mlsae_hist_edge(int i, int bins, double lo, double hi);

#endif
