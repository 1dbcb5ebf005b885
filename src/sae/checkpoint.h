/* MLSAE checkpoint directories (SPEC §8), in the reference's format:
 *   config.json        {n_inputs, n_latents, k, dead_steps_threshold,
 *                       dead_threshold, auxk, standardize}
 *   model.safetensors  encoder.weight [n_latents, n_inputs] F32,
 *                      decoder.weight [n_inputs, n_latents] F32,
 *                      pre_encoder_bias [n_inputs] F32, last_nonzero [n_latents] I64
 * plus, for exact resumption, training_state.safetensors (Adam moments,
 * accumulated gradients, counters, training hyper-parameters and the
 * caller's opaque state: data position, RNG).
 *
 * Loading also accepts the reference's "-tfm" directories (the whole
 * Lightning module: tensors prefixed "autoencoder." beside the
 * transformer's, config.json with expansion_factor, k, auxk, ...; n_inputs
 * comes from the tensors). A missing last_nonzero (published checkpoints
 * drop it) loads as zeros.
 *
 * Writes are atomic: files go to "<dir>.tmp.<pid>/", which then replaces
 * <dir> in one rename (exchange), so a crash or a full disk never leaves a
 * half checkpoint under <dir>. Staging directories of runs killed while
 * saving ("<dir>.tmp.<pid>", "<dir>.old.<pid>" whose process no longer
 * exists) are removed by the next save to <dir>. */
#ifndef MLSAE_SAE_CHECKPOINT_H
#define MLSAE_SAE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "sae/mlsae.h"

/* The caller's part of the training state (opaque to the SAE). */
typedef struct mlsae_ckpt_resume {
    int64_t data_position;     /* e.g. micro-batches consumed */
    const uint8_t *user_state; /* e.g. RNG state; may be NULL */
    size_t user_state_len;
} mlsae_ckpt_resume;

/* Save config.json + model.safetensors, and training_state.safetensors when
 * resume is not NULL, atomically into dir. */
int mlsae_ckpt_save(mlsae_sae *sae, const char *dir, const mlsae_ckpt_resume *resume,
                    mlsae_error *err);

/* Staged saving, for callers that put more files in the directory:
 * begin creates the staging directory (*stage, malloc'd), write_files puts
 * the checkpoint files there, commit publishes it as dir, abort removes it. */
int mlsae_ckpt_stage_begin(const char *dir, char **stage, mlsae_error *err);
int mlsae_ckpt_write_files(mlsae_sae *sae, const char *stage, const mlsae_ckpt_resume *resume,
                           mlsae_error *err);
int mlsae_ckpt_stage_commit(const char *stage, const char *dir, mlsae_error *err);
void mlsae_ckpt_stage_abort(const char *stage);

/* The configuration of a checkpoint directory (plain or -tfm), with the
 * defaults for what its config.json does not hold. is_tfm may be NULL. */
int mlsae_ckpt_read_config(const char *dir, mlsae_sae_config *cfg, int *is_tfm,
                           mlsae_error *err);

/* Whether a -tfm checkpoint holds its transformer's weights (the
 * reference's Lightning module saves them as "transformer.model." +
 * the GPTNeoXForCausalLM names, and its from_pretrained uses them instead
 * of downloading model_name): 1 with the file in path[n] and the prefix
 * (static), 0 when it does not, -1 when model.safetensors cannot be read. */
int mlsae_ckpt_transformer_weights(const char *dir, char *path, size_t n, const char **prefix,
                                   mlsae_error *err);

/* A new SAE on be from a checkpoint directory (configuration and weights).
 * Training would start fresh: Adam zero, counters zero, and the
 * geometric-median bias initialisation still pending on the first
 * micro-batch (see mlsae_sae_set_bias_pending); mlsae_ckpt_load_state
 * restores a run instead. */
int mlsae_ckpt_load(const char *dir, mlsae_backend *be, mlsae_sae **out, mlsae_error *err);

/* Restore training_state.safetensors of dir into sae (Adam moments,
 * gradients, counters, hyper-parameters). resume_out receives the caller's
 * state; its user_state is malloc'd (free it). Fails if the file is absent. */
typedef struct mlsae_ckpt_resume_out {
    int64_t data_position;
    uint8_t *user_state;
    size_t user_state_len;
} mlsae_ckpt_resume_out;
int mlsae_ckpt_load_state(mlsae_sae *sae, const char *dir, mlsae_ckpt_resume_out *resume_out,
                          mlsae_error *err);
/* Whether dir holds a training_state.safetensors. */
int mlsae_ckpt_has_state(const char *dir);

#endif
