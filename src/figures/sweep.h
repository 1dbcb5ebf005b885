/* Which SAEs a figure command is about, and where their inputs are.
 *
 * A sweep (the reference's SweepConfig: model_name x expansion_factor x k,
 * one tuned_lens flag) names each SAE by the reference's repo-id convention
 * (mlsae/utils.py get_repo_id):
 *   tim-lawson/mlsae-<model>-x<E>-k<K>[-lens]        the SAE alone
 *   tim-lawson/mlsae-<model>-x<E>-k<K>[-lens]-tfm    SAE + transformer
 * with <model> the last part of model_name. Its checkpoint is looked for as
 * DIR/<name> then DIR/<name>-tfm under --checkpoints DIR, then as either
 * repo id in the Hugging Face cache (never downloaded); its dists as
 * OUT/<name>-dists.safetensors (what `mlsae dists` writes; the reference's
 * Dists.repo_id turns "-tfm" into "-dists"), then
 * OUT/tim-lawson-<name>-dists.safetensors (the reference's Dists.filename),
 * then DIR/<name>-dists.safetensors.
 *
 * An explicit checkpoint (a directory, or a repo id found in the cache) is
 * named by its last path component as given; its dists file drops a "-tfm"
 * suffix: x-tfm -> OUT/x-dists.safetensors. A single model_name given
 * without expansion factors and k names the explicit checkpoints' model. */
#ifndef MLSAE_FIGURES_SWEEP_H
#define MLSAE_FIGURES_SWEEP_H

#include "core/status.h"

typedef struct mlsae_fig_sae {
    char name[256];      /* e.g. mlsae-pythia-70m-deduped-x64-k32 (as given for --checkpoint) */
    char name_tfm[272];  /* the reference's figure names for transformer kinds (…-tfm) */
    char model_name[256];/* sweep: as given (EleutherAI/pythia-70m-deduped); else "" */
    int expansion_factor, k, tuned_lens; /* 0 when unknown */
    char *checkpoint;    /* directory with config.json + model.safetensors, or NULL */
    char *checkpoint_looked; /* where it was looked for (for messages) */
    char *dists;         /* the dists file, or NULL */
    char *dists_looked;
} mlsae_fig_sae;

typedef struct mlsae_fig_sweep {
    const char *const *model_names;
    int n_model_names;
    const int *expansion_factors;
    int n_expansion_factors;
    const int *ks;
    int n_ks;
    int tuned_lens;
    const char *checkpoints_dir; /* may be NULL */
    const char *const *checkpoints; /* explicit --checkpoint values */
    int n_checkpoints;
    const char *out_dir;
} mlsae_fig_sweep;

/* Resolve every SAE of the sweep (explicit checkpoints first). Missing
 * inputs are not errors here: checkpoint / dists stay NULL. */
int mlsae_fig_sweep_resolve(const mlsae_fig_sweep *s, mlsae_fig_sae **saes, int *n,
                            mlsae_error *err);
void mlsae_fig_saes_free(mlsae_fig_sae *saes, int n);

/* The reference's repo id for a sweep member (get_repo_id). */
void mlsae_fig_repo_id(char *out, size_t n, const char *model_name, int expansion_factor,
                       int k, int transformer, int tuned_lens);

#endif
