/* The computations behind `mlsae serve` (SPEC §7; reference:
 * mlsae/api/analyser.py, class Analyser): one transformer + MLSAE, prompts
 * run through both, and the tables the viewer shows.
 *
 * Shapes: a prompt of P tokens gives inputs and recons [n_layers, P, d_model]
 * (n_layers = the SAE's layers, in the checkpoint's order), TopK values and
 * indices [n_layers, P, k] and full-model logits [P, vocab] (vocab = the
 * model's embed_out rows, 50304 for Pythia, as the reference's softmax).
 *
 * Layers in requests are indices into the SAE's layer list (0..n_layers-1),
 * as the reference's page sends them; logits from a layer run the model from
 * the residual after that (model) layer with the true positions and the
 * causal mask.
 *
 * Threads: every function may be called from any thread; one mutex inside
 * serialises the model, the SAE and the cache (the backends' buffers and
 * the SAE's forward scratch are not re-entrant). The results are owned by
 * the caller.
 *
 * Errors: functions return 0, or an HTTP status (400-499 for the request,
 * 500 for an internal failure) with a one-line message and, for a bad field,
 * the field's name in the fault. */
#ifndef MLSAE_SERVER_ANALYSER_H
#define MLSAE_SERVER_ANALYSER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "config/run_config.h"
#include "core/status.h"

typedef struct mlsae_analyser mlsae_analyser;

typedef struct mlsae_fault {
    int status;      /* HTTP status: 404, 413, 422, 500, ... */
    char field[32];  /* request field at fault ("prompt", "layer"), or "" */
    char msg[512];
} mlsae_fault;

/* Fill f and return f->status. */
int mlsae_fault_set(mlsae_fault *f, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct mlsae_analyser_options {
    const char *checkpoint;    /* SAE directory (plain or -tfm) */
    const char *examples;      /* SQLite file of `mlsae examples`, or NULL */
    const char *dists;         /* safetensors of `mlsae dists` (counts, totals
                                * F32 [n_layers, n_latents]), or NULL */
    int cache_size;            /* prompts kept (default 8) */
    int bins;                  /* histogram bins (reference default 64) */
    int num_tokens;            /* logits per position (reference default 16) */
} mlsae_analyser_options;

/* Open the session of cfg (model, tokenizer, layers; special tokens are NOT
 * skipped, as the reference's Analyser sets) and the SAE of
 * opt->checkpoint. params is the reference's hparams object for
 * /api/py/params (a -tfm checkpoint's config.json, else one built from
 * cfg); it is borrowed (a reference is taken). */
int mlsae_analyser_open(const mlsae_run_config *cfg, const mlsae_analyser_options *opt,
                        json_t *params, mlsae_analyser **out, mlsae_error *err);
void mlsae_analyser_close(mlsae_analyser *a);

typedef struct mlsae_analyser_info {
    int n_layers, d_model, n_latents, k, max_length, vocab;
    const int *layers;          /* model layer of each SAE layer */
    int has_examples, has_dists;
} mlsae_analyser_info;
void mlsae_analyser_get_info(const mlsae_analyser *a, mlsae_analyser_info *info);

/* GET /api/py/params: the hyper-parameters (a new reference). */
json_t *mlsae_analyser_params(mlsae_analyser *a);

/* Each prompt function validates the prompt (not empty, at most the model's
 * context) and runs it through the model and the SAE unless cached. */

/* [{id, token, pos}] */
int mlsae_analyser_tokens(mlsae_analyser *a, const char *prompt, size_t len, json_t **out,
                          mlsae_fault *f);
/* {"train/dead/rel", "train/{l1,mse,fvu}/layer_L", ".../avg"} of the prompt */
int mlsae_analyser_metrics(mlsae_analyser *a, const char *prompt, size_t len, json_t **out,
                           mlsae_fault *f);
/* {values: [n_layers][P][n_latents], max: [n_layers][P]} as JSON text
 * (malloc'd; tens of MB for a large SAE, hence text, not a json_t). */
int mlsae_analyser_latent_activations(mlsae_analyser *a, const char *prompt, size_t len,
                                      char **text, size_t *text_len, mlsae_fault *f);
/* Sparse form: {n_latents, k, indices: [n_layers][P][k], values: [n_layers][P][k],
 * max: [n_layers][P]}, each position's entries by decreasing value, zeros
 * (latents the ReLU switched off) left out. */
int mlsae_analyser_latent_activations_sparse(mlsae_analyser *a, const char *prompt, size_t len,
                                             json_t **out, mlsae_fault *f);
/* {values: [n_layers][bins] counts, edges: [bins + 1]} (torch.histc over
 * [0, max of all activations], edges rounded to 3 decimals). */
int mlsae_analyser_layer_histograms(mlsae_analyser *a, const char *prompt, size_t len,
                                    json_t **out, mlsae_fault *f);
/* {max: [P][num_tokens] {id, token, logit, prob}} of the model's logits. */
int mlsae_analyser_logits_input(mlsae_analyser *a, const char *prompt, size_t len, json_t **out,
                                mlsae_fault *f);
/* [MaxLogits, LogitChanges] with layer `layer` reconstructed by the SAE. */
int mlsae_analyser_logits_recon(mlsae_analyser *a, const char *prompt, size_t len, int64_t layer,
                                json_t **out, mlsae_fault *f);
/* [MaxLogits, LogitChanges] with factor * decoder column `latent` added to
 * every position of layer `layer`. */
int mlsae_analyser_logits_steer(mlsae_analyser *a, const char *prompt, size_t len,
                                int64_t latent, int64_t layer, double factor, json_t **out,
                                mlsae_fault *f);
/* [Example] of (layer, latent) from --examples by decreasing act ([] without
 * a database, as the reference). */
int mlsae_analyser_examples(mlsae_analyser *a, int64_t layer, int64_t latent, json_t **out,
                            mlsae_fault *f);
/* Ours, for the latent page: {latent, layers: [model layer of each SAE
 * layer], dists: null or {counts, totals, density: [n_layers]} (density =
 * counts / tokens, tokens = the layer's counts summed over latents / k:
 * every token puts k latents in TopK), promoted, suppressed: the
 * num_tokens largest / smallest entries of W_U @ decoder column [{id,
 * token, logit}] (the unembedding alone, no final LayerNorm)}. */
int mlsae_analyser_latent(mlsae_analyser *a, int64_t latent, json_t **out, mlsae_fault *f);
/* Ours: the latents whose decoder column writes most into the logit of the
 * first token of text (W_U[token] . decoder column, largest first):
 * {token: {id, token}, latents: [{latent, value}] (num_tokens of them)}. */
int mlsae_analyser_search(mlsae_analyser *a, const char *text, size_t len, json_t **out,
                          mlsae_fault *f);

/* Reference's token-string clean-up (replace_special): byte-level markers
 * to text ("Ġ" -> " ", "Ċ" -> "\n", ...). Returns a malloc'd string; NULL
 * token gives "". */
char *mlsae_replace_special(const char *token);

#endif
