/* GPT-NeoX (Pythia) transformer: load a HF model directory once, then run
 * batches of token ids through the backend (SPEC §2).
 *
 * Shapes: tokens are int32 [batch, seq] (row-major, host memory). A
 * residual-stream tensor is [batch, seq, d_model]; hidden states of selected
 * layers are [n_sel, batch, seq, d_model]; logits are [batch, seq, vocab]
 * where vocab = config vocab_size (the padded row count of embed_out).
 * Layer indices are 0-based: "layer L" is the residual AFTER transformer
 * layer L (never the embedding output, never after the final LayerNorm).
 */
#ifndef MLSAE_MODEL_NEOX_H
#define MLSAE_MODEL_NEOX_H

#include <stddef.h>
#include <stdint.h>
#include "backend/backend.h"
#include "core/safetensors.h"
#include "core/status.h"
#include "model/neox_config.h"

typedef struct mlsae_neox mlsae_neox;

enum {
    /* Do not load embed_out: hidden states only (saves vocab x d_model floats);
     * requests for logits or losses then fail. */
    MLSAE_NEOX_NO_LM_HEAD = 1,
};

/* Load config.json + model.safetensors (or the sharded index) from dir into
 * buffers of `be` (F32/F16/BF16 on disk, F32 in memory). Every tensor's
 * shape is checked; a missing tensor names it. */
int mlsae_neox_load(const char *dir, mlsae_backend *be, unsigned flags, mlsae_neox **out,
                    mlsae_error *err);
/* The same with the weights read from `weights` (a safetensors file or a
 * model directory; NULL: dir), each tensor named `prefix` + its HF name
 * (NULL: ""): a -tfm checkpoint holds its transformer as
 * "transformer.model.gpt_neox.*" (sae/checkpoint.h). The configuration is
 * dir's config.json. */
int mlsae_neox_load_weights(const char *dir, const char *weights, const char *prefix,
                            mlsae_backend *be, unsigned flags, mlsae_neox **out, mlsae_error *err);
void mlsae_neox_free(mlsae_neox *m);
const mlsae_neox_config *mlsae_neox_get_config(const mlsae_neox *m);
mlsae_backend *mlsae_neox_backend(const mlsae_neox *m);
/* Batches run in chunks of whole sequences of about `rows` rows (default
 * 2048; at least one sequence per chunk): scratch memory is proportional. */
void mlsae_neox_set_chunk_rows(mlsae_neox *m, int rows);
/* Mixed precision (SPEC §13, doc/precision.md): fmt MLSAE_LOWP_BF16 or
 * MLSAE_LOWP_F16 computes every linear layer (QKV, attention output, MLP,
 * embed_out) from inputs rounded to that format with float32 sums, from a
 * rounded copy of the weights made here (memory: up to the size of those
 * weights again); 0 returns to float32. */
int mlsae_neox_set_precision(mlsae_neox *m, int fmt, mlsae_error *err);
int mlsae_neox_get_precision(const mlsae_neox *m);

/* One run through the model. Fill what you need; everything else zero/NULL
 * (MLSAE_NOREF for refs). Outputs may be backend refs or host pointers. */
typedef struct mlsae_neox_run {
    const int32_t *tokens;  /* host [batch, seq]; each id < vocab_size */
    int batch, seq;         /* seq <= max_position_embeddings */

    /* Where to start: start_layer = -1 runs from the token embeddings;
     * start_layer = L >= 0 takes the residual after layer L from `start`
     * (or start_host), [batch, seq, d_model], and runs layers L+1.. only. */
    int start_layer;
    mlsae_ref start;
    const float *start_host;

    /* Hidden states of the layers listed in layers[0..n_layers) (each in
     * (start_layer, n_layers-1], any order, repeats allowed), written as
     * [n_layers, batch, seq, d_model] to `hidden` or hidden_host. */
    const int *layers;
    int n_layers;
    mlsae_ref hidden;
    float *hidden_host;

    /* Logits [batch, seq, vocab] of the full model (final LN + embed_out). */
    mlsae_ref logits;
    float *logits_host;
    /* Next-token cross-entropy per position [batch, seq]: position p predicts
     * token p+1; the last position of each sequence gets 0. */
    float *ce_host;
    /* Mean of the above over the batch * (seq - 1) predictions (NaN if seq = 1). */
    double *mean_ce;
} mlsae_neox_run;

/* Run the model. The stack stops after the last layer any output needs:
 * with no logits or losses requested, final LN and embed_out are skipped. */
int mlsae_neox_forward(mlsae_neox *m, const mlsae_neox_run *run, mlsae_error *err);

/* Hidden states of `layers` (NULL = all, n_sel = n_layers) into a backend
 * buffer [n_sel, batch, seq, d_model]. */
int mlsae_neox_hidden_states(mlsae_neox *m, const int32_t *tokens, int batch, int seq,
                             const int *layers, int n_sel, mlsae_ref out, mlsae_error *err);
/* Same into host memory. */
int mlsae_neox_hidden_states_host(mlsae_neox *m, const int32_t *tokens, int batch, int seq,
                                  const int *layers, int n_sel, float *out, mlsae_error *err);

/* SPEC §2 forward_at_layer: h is the residual after `layer` [batch, seq,
 * d_model] (a backend ref); runs layers layer+1 .. n-1, the final LN and
 * embed_out. Any of logits (ref or MLSAE_NOREF), ce_host, mean_ce may be
 * absent. */
int mlsae_neox_forward_at_layer(mlsae_neox *m, mlsae_ref h, int layer, const int32_t *tokens,
                                int batch, int seq, mlsae_ref logits, float *ce_host,
                                double *mean_ce, mlsae_error *err);

/* The unembedding alone (embed_out, no final LayerNorm): out [rows, vocab] =
 * x [rows, d_model] @ embed_out^T, host memory. For reading a direction of
 * the residual stream (an SAE decoder column) in token space. */
int mlsae_neox_unembed_host(mlsae_neox *m, const float *x, int rows, float *out, mlsae_error *err);
/* Row `id` of embed_out [d_model] (the token's unembedding vector). */
int mlsae_neox_unembed_row(mlsae_neox *m, int32_t id, float *out, mlsae_error *err);

/* SPEC §2 special-token masking: zero the d-vectors of x at every position
 * whose token id is in special[0..n_special) (negative ids are ignored).
 * x is [n_slices, n_tokens, d] (e.g. [n_layers, batch*seq, d_model]). */
void mlsae_mask_special_tokens_host(float *x, int n_slices, const int32_t *tokens,
                                    size_t n_tokens, int d, const int32_t *special, int n_special);
int mlsae_mask_special_tokens(mlsae_backend *be, mlsae_ref x, int n_slices,
                              const int32_t *tokens, size_t n_tokens, int d,
                              const int32_t *special, int n_special, mlsae_error *err);

/* Write a random-weight GPT-NeoX model in HF format into dir (created):
 * config.json + model.safetensors with weights ~ N(0, 0.02) (HF init),
 * LayerNorm weight 1 / bias 0, linear biases 0. dtype: F32, F16 or BF16.
 * Deterministic in seed. */
int mlsae_neox_write_random(const char *dir, const mlsae_neox_config *cfg, uint64_t seed,
                            mlsae_dtype dtype, mlsae_error *err);

#endif
