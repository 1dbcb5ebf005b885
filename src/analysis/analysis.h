/* What the analyses (dists, examples, variances, mmcs, embed-cos-sim,
 * resid-cos-sim; SPEC §6, the reference's mlsae/analysis/ scripts and
 * figures/ scripts) share: the model columns of their CSV rows, the reference's
 * output names, summary statistics, and output files that appear whole or
 * not at all. */
#ifndef MLSAE_ANALYSIS_ANALYSIS_H
#define MLSAE_ANALYSIS_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

/* The columns the reference puts before its statistics. */
typedef struct mlsae_analysis_model {
    const char *model_name;
    int n_layers, n_latents, expansion_factor, k;
} mlsae_analysis_model;

/* The reference's renaming of a checkpoint name for a derived artefact
 * (Dists.repo_id, Examples.repo_id): "x-tfm" -> "x-SUFFIX" (the first
 * "-tfm" replaced, as str.replace does for the usual single one),
 * "x-SUFFIX" stays, else "x-SUFFIX" appended; then '/' -> '-'. */
int mlsae_analysis_rename(const char *name, const char *suffix, char *out, size_t n,
                          mlsae_error *err);

/* mean, var, std, sem of n values. nan_aware: NaNs are skipped as numpy's
 * nanmean/nanvar/nanstd (population variance, ddof 0), but sem divides std
 * by sqrt(n) with every value counted (the reference's get_stats in
 * analysis/dists.py). Otherwise torch's unbiased var/std (ddof 1), sem =
 * std / sqrt(n) (figures/mmcs.py, embed_cos_sim.py). Empty: NaNs. */
typedef struct mlsae_summary {
    double mean, var, std, sem;
} mlsae_summary;
void mlsae_summary_of(const double *v, size_t n, int nan_aware, mlsae_summary *out);

/* OUT directory: created (mkdir -p) and checked writable, with a message
 * naming it otherwise. */
int mlsae_analysis_out_dir(const char *dir, mlsae_error *err);

/* path = dir/name, or an error when it does not fit. */
int mlsae_analysis_path(char *path, size_t n, const char *dir, const char *name,
                        mlsae_error *err);

#endif
