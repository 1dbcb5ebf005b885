/* Shared between the analyser's files: the state and the cached forward
 * pass of one prompt. Every function here expects a->lock held. */
#ifndef MLSAE_SERVER_ANALYSER_INTERNAL_H
#define MLSAE_SERVER_ANALYSER_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include "pipeline/session.h"
#include "sae/mlsae.h"
#include "server/analyser.h"

/* Results of one prompt (the reference's Analyser._forward output, plus the
 * model's logits once asked for). */
typedef struct mlsae_prompt_run {
    char *prompt;
    size_t prompt_len;
    int n_tokens;     /* P */
    int32_t *ids;     /* [P] */
    float *inputs;    /* [n_layers, P, d] residual stream of the SAE's layers */
    float *recons;    /* [n_layers, P, d] */
    float *values;    /* [n_layers, P, k] ReLU'd TopK values, any order */
    int32_t *indices; /* [n_layers, P, k] */
    json_t *metrics;
    float *logits;    /* [P, vocab] of the unmodified model; NULL until needed */
    uint64_t used;    /* LRU clock */
} mlsae_prompt_run;

struct mlsae_analyser {
    pthread_mutex_t lock;
    mlsae_session s;
    mlsae_sae *sae;
    int n_latents, k, d, vocab, max_positions;
    double dead_tokens_threshold;
    float *dec_rows;  /* [n_latents, d]: decoder column j is row j */
    json_t *params;
    sqlite3 *examples;
    float *dist_counts;  /* [n_layers, n_latents] from --dists, or NULL */
    float *dist_totals;
    int bins, num_tokens;
    int cache_size;
    mlsae_prompt_run **cache; /* [cache_size], NULL = free slot */
    uint64_t clock;
};

/* The cached run of prompt (computing it on a miss); NULL with f filled. */
mlsae_prompt_run *mlsae_analyser_run(mlsae_analyser *a, const char *prompt, size_t len,
                                     mlsae_fault *f);
/* mlsae_analyser_run under a->lock: on success the caller holds the lock
 * (and releases it once done with the run); NULL with f filled and the
 * lock released. */
mlsae_prompt_run *mlsae_analyser_run_locked(mlsae_analyser *a, const char *prompt, size_t len,
                                            mlsae_fault *f);
/* Make sure r->logits is filled. */
int mlsae_analyser_run_logits(mlsae_analyser *a, mlsae_prompt_run *r, mlsae_fault *f);

/* Indices of the k largest (largest = 1) or smallest values of x[0..n),
 * in that order, ties by lower index (as a stable sort would). */
void mlsae_topk_indices(const float *x, int n, int k, int largest, int *out);

/* Load --dists (analyser_latent.c). */
int mlsae_analyser_load_dists(mlsae_analyser *a, const char *path, mlsae_error *err);

/* A json_t string of the cleaned-up token of id ("" for an id the
 * tokenizer does not have, as the reference's `token or ""`). */
json_t *mlsae_analyser_token_json(const mlsae_analyser *a, int32_t id);

#endif
