/* The sweep tables (figures/dists_layer_std.py, mmcs.py, embed_cos_sim.py,
 * resid_cos_sim.py, test.py): one row per SAE of the sweep, read from or
 * computed beside the analyses' files, and a plot of each table's mean
 * with its standard error. */
#ifndef MLSAE_FIGURES_TABLES_H
#define MLSAE_FIGURES_TABLES_H

#include "figures/figures.h"
#include "figures/sweep.h"

/* dists_layer_std.csv: model_name, n_layers, n_latents, expansion_factor,
 * k, tuned_lens, mean, var, std, sem (of layer_std, NaN-aware,
 * mlsae_dists_file_layer_std_stats) and mean_rel .. sem_rel (each divided by n_layers).
 * Every SAE needs its dists file. */
int mlsae_fig_dists_layer_std(const mlsae_fig_sae *saes, int n, const char *base,
                              const mlsae_fig_opts *o, mlsae_error *err);

/* The rows of an analysis summary CSV (mmcs.csv or embed_cos_sim.csv,
 * columns model_name, n_latents, expansion_factor, k, tuned_lens, then the
 * statistics) that belong to the SAEs, in the SAEs' order, written to
 * BASE.csv; the plot shows the columns named in means[] with the errors in
 * sems[] (n_series of them, e.g. "in_mean"/"in_sem", "out_mean"/"out_sem").
 * An SAE with no row is an error naming it and the file. */
int mlsae_fig_sweep_rows(const char *input, const mlsae_fig_sae *saes, int n,
                         const char *const *means, const char *const *sems, int n_series,
                         const char *title, const char *base, const mlsae_fig_opts *o,
                         mlsae_error *err);

/* The index of the first of saes[0..n) that has no row in input (as
 * mlsae_fig_sweep_rows looks for it), or -1 (also when input cannot be
 * read: mlsae_fig_sweep_rows then says why). */
int mlsae_fig_sweep_first_missing(const char *input, const mlsae_fig_sae *saes, int n);

/* resid_cos_sim_[lens_]MODEL.csv (start_at_layer, mean, var, std, sem) as
 * a line with error bars: BASE.png/.pdf beside it (the CSV itself is the
 * numbers behind the figure). */
int mlsae_fig_resid_cos_sim(const char *input, const char *title, const char *base,
                            const mlsae_fig_opts *o, mlsae_error *err);

/* figures/test.py: the SAEs' `mlsae test` CSVs (inputs[i] for saes[i]) as
 * BASE.csv (model_name, expansion_factor, k, tuned_lens, n_latents, then
 * every metric column in natural order; rows sorted by n_latents,
 * expansion_factor, k, tuned_lens) and BASE_model_name.csv (the headline
 * metrics transposed, one column per SAE, as test_model_name.csv), the
 * reference's per-model tables BASE_<model>[_lens]_k.csv (expansion factor
 * 64) and BASE_<model>[_lens]_expansion_factor.csv (k 32) when they have
 * rows, and a plot of the headline metrics. */
int mlsae_fig_test_summary(const char *const *inputs, const mlsae_fig_sae *saes, int n,
                           const char *base, const mlsae_fig_opts *o, mlsae_error *err);

/* Natural order of strings ("layer_2" < "layer_10"), as natsort sorts. */
int mlsae_natcmp(const char *a, const char *b);

#endif
