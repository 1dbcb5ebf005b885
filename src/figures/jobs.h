/* Planning and running `mlsae figures`: which figure of which SAE can be
 * made from the inputs found (sweep.h), and making it.
 *
 * A job is one kind for one SAE (the per-SAE kinds) or for the whole sweep
 * (the tables, train-curves). mlsae_fig_plan lists every job of the kinds
 * asked for with what it lacks (NULL when ready), so a caller can name all
 * missing inputs at once before writing anything. */
#ifndef MLSAE_FIGURES_JOBS_H
#define MLSAE_FIGURES_JOBS_H

#include "backend/backend.h"
#include "figures/figures.h"
#include "figures/sweep.h"

typedef enum mlsae_fig_kind {
    MLSAE_FIG_DISTS_HEATMAP,
    MLSAE_FIG_DISTS_HISTOGRAM,
    MLSAE_FIG_DISTS_COS_SIM,
    MLSAE_FIG_DISTS_LAYER_STD,
    MLSAE_FIG_MMCS,
    MLSAE_FIG_EMBED_COS_SIM,
    MLSAE_FIG_RESID_COS_SIM,
    MLSAE_FIG_TEST_SUMMARY,
    MLSAE_FIG_TRAIN_CURVES,
    MLSAE_FIG_PROMPT_HEATMAP,
    MLSAE_FIG_N_KINDS
} mlsae_fig_kind;

const char *mlsae_fig_kind_name(mlsae_fig_kind k);
/* -1 when name is not a kind. */
int mlsae_fig_kind_parse(const char *name);

typedef struct mlsae_fig_context {
    const mlsae_fig_sae *saes;
    int n_saes;
    const char *out_dir;
    const char *metrics;   /* train-curves input; NULL: OUT/metrics.jsonl */
    int noninteger;        /* dists-histogram of the non-integer part */
    mlsae_fig_opts opts;
    const char *device;    /* backend for dists-cos-sim and prompt-heatmap ("cpu" when NULL) */
    const char *prompt;    /* prompt-heatmap (NULL: the reference's default prompt; with
                            * every kind, prompt-heatmap only when given) */
    double dead_threshold; /* prompt-heatmap: latents kept (the reference's 1e-3) */
    mlsae_backend *be;     /* opened on first need; the caller closes it */
} mlsae_fig_context;

typedef struct mlsae_fig_job {
    mlsae_fig_kind kind;
    int sae;            /* index into saes; -1: the whole sweep */
    char *missing;      /* what is lacking (malloc'd), NULL when ready */
    char base[4096];    /* output path without extension */
    char input[4200];   /* the input file of table kinds ("" otherwise) */
} mlsae_fig_job;

/* kinds[0..n_kinds) (n_kinds 0: every kind). */
int mlsae_fig_plan(const mlsae_fig_context *c, const int *kinds, int n_kinds,
                   mlsae_fig_job **jobs, int *n_jobs, mlsae_error *err);
void mlsae_fig_jobs_free(mlsae_fig_job *jobs, int n);

/* prompt-heatmap of one SAE into base (or o's sink): its model from the
 * sweep's model_name or its -tfm config.json (with that run's layers and
 * skip_special_tokens), c->prompt (default the reference's), c->device. */
int mlsae_fig_prompt_for_sae(mlsae_fig_context *c, const mlsae_fig_sae *e, const char *base,
                             const mlsae_fig_opts *o, mlsae_error *err);

/* Make one ready job (all its files, or none). */
int mlsae_fig_run(mlsae_fig_context *c, const mlsae_fig_job *j, mlsae_error *err);

#endif
