/* What a training or test run sets up once: the backends, the transformer,
 * the tokenizer, the selected layers and the special-token ids, and the
 * step that turns a batch of token ids into the SAE's input rows.
 *
 * Two backends: the transformer runs on `be` (cfg->model_device), the SAE
 * on `sae_be` (cfg->device). They are one and the same backend when the two
 * options are equal or both resolve to the CPU; otherwise activations go
 * from one to the other through host memory, once per batch.
 *
 * Activation rows are [n_sel_layers, batch, seq, d_model] (layer-major), i.e.
 * n_sel_layers * batch * seq rows of d_model floats. */
#ifndef MLSAE_PIPELINE_SESSION_H
#define MLSAE_PIPELINE_SESSION_H

#include <stdint.h>
#include "backend/backend.h"
#include "core/status.h"
#include "model/neox.h"
#include "lens/tuned_lens.h"
#include "tokenizer/tokenizer.h"
#include "config/run_config.h"
#include "sae/mlsae.h"

typedef struct mlsae_session {
    mlsae_backend *be;      /* the transformer's */
    mlsae_backend *sae_be;  /* the SAE's; == be when they are the same */
    mlsae_neox *model;
    mlsae_tokenizer *tok;
    char *model_dir;        /* resolved model directory */
    char tokenizer_path[4096];
    int d_model;
    int n_model_layers;
    int n_layers;           /* selected layers */
    int layers[MLSAE_CONFIG_MAX_LAYERS];
    int32_t special[3];     /* eos, pad, bos ids present in the tokenizer */
    int n_special;
    int skip_special;
    mlsae_tuned_lens *lens; /* on be; NULL without autoencoder.tuned_lens */
    mlsae_lens_inverse_mode lens_inverse;
} mlsae_session;

/* Open the backends named by cfg->device and cfg->model_device, resolve and load cfg->model_name
 * (with its LM head when need_logits), load the tokenizer (cfg->tokenizer,
 * else the model directory's tokenizer.json, else the bundled GPT-NeoX-20B
 * one shared by every Pythia model), and check the layers and SAE sizes
 * against the model. */
int mlsae_session_open(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                       mlsae_error *err);
/* The same with the transformer's weights from `weights` under `prefix`
 * (a -tfm checkpoint's, see mlsae_ckpt_transformer_weights; NULL: the
 * model's own); its configuration and tokenizer still come from
 * cfg->model_name, as the reference's from_pretrained does. */
int mlsae_session_open_weights(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                               const char *weights, const char *prefix, mlsae_error *err);
/* A session without a model, for training on saved activations
 * (cfg->data.activations) of n_layers layers of d_model: only the SAE's
 * backend; layers are cfg's when it names as many, else 0..n_layers-1. */
int mlsae_session_open_activations(mlsae_session *s, const mlsae_run_config *cfg, int d_model,
                                   int n_layers, mlsae_error *err);
/* For a command that streams cfg's data through the model: data.max_length
 * within the model's context, and data.path's files listed and their types
 * checked (nothing read), so that a bad run fails before any output exists.
 * Commands that take a prompt instead (the viewer) skip it. */
int mlsae_session_check_data(const mlsae_session *s, const mlsae_run_config *cfg,
                             mlsae_error *err);
void mlsae_session_close(mlsae_session *s);

/* Open the session for a trained SAE checkpoint (plain or -tfm) and load
 * the SAE onto s->sae_be: the SAE's sizes (n_latents, k, auxk) come from the
 * checkpoint, not from cfg; its n_inputs must equal the model's d_model
 * (an error naming both otherwise). The bias is not re-initialised. On
 * failure nothing is left open. */
int mlsae_session_open_sae(mlsae_session *s, const mlsae_run_config *cfg, const char *sae_dir,
                           int need_logits, mlsae_sae **sae, mlsae_error *err);

/* Load one more trained SAE (plain or -tfm checkpoint) onto s->sae_be, as
 * mlsae_session_open_sae does: bias not re-initialised, cfg's
 * trainer.precision applied, n_inputs checked against d_model. The
 * checkpoint's transformer weights and lens, if any, are not loaded. */
int mlsae_session_load_sae(mlsae_session *s, const mlsae_run_config *cfg, const char *sae_dir,
                           mlsae_sae **sae, mlsae_error *err);

/* With cfg->autoencoder.tuned_lens, load the lens (session_lens.c): the
 * translators "lens.layer_translators.*" of the checkpoint ckpt_dir (may be
 * NULL; a -lens-tfm checkpoint), else the directory cfg->lens, else, for a
 * hub model name, lens/<model_name>/ of the tuned-lens package's repository
 * (the Space AlignmentResearch/tuned-lens, or $TUNED_LENS_REPO_ID of type
 * $TUNED_LENS_REPO_TYPE) in the HF cache, downloaded into it unless
 * HF_HUB_OFFLINE. Without tuned_lens, a cfg->lens is an error (it would be
 * ignored). */
int mlsae_session_load_lens(mlsae_session *s, const mlsae_run_config *cfg, const char *ckpt_dir,
                            mlsae_error *err);

static inline int mlsae_session_split(const mlsae_session *s)
{
    return s->be != s->sae_be;
}

/* Residual stream of the selected layers for ids [batch, seq] into x
 * (s->be, [n_layers, batch, seq, d_model]), with special-token positions
 * zeroed when skip_special_tokens is on (SPEC §2), then through the tuned
 * lens when there is one (so zeroed rows become the translator's bias, as in
 * the reference). */
int mlsae_session_activations(mlsae_session *s, const int32_t *ids, int batch, int seq,
                              mlsae_ref x, mlsae_error *err);
/* The same into host memory x [n_layers, batch, seq, d_model]. */
int mlsae_session_activations_host(mlsae_session *s, const int32_t *ids, int batch, int seq,
                                   float *x, mlsae_error *err);

/* Buffers for evaluating batches (validation, test): the activations on
 * both backends and the SAE's reconstruction brought back to the model's
 * backend for the downstream metrics. With one backend, x_sae == x_model,
 * and the reconstruction is used where the SAE left it. */
typedef struct mlsae_eval_buffers {
    mlsae_session *s;
    size_t n;               /* floats per buffer: n_layers * batch * seq * d_model */
    mlsae_buffer *x_model;  /* on s->be */
    mlsae_buffer *x_sae;    /* on s->sae_be */
    mlsae_buffer *r_model;  /* on s->be; NULL with one backend */
    float *host;            /* staging; NULL with one backend */
    int own_x_sae;
    mlsae_buffer *x_true;   /* on s->be: un-lensed inputs (exact lens inverse only) */
} mlsae_eval_buffers;

/* x_sae: a buffer of at least n floats on s->sae_be to use (borrowed), or
 * NULL to allocate one. */
int mlsae_eval_buffers_init(mlsae_eval_buffers *eb, mlsae_session *s, int batch, int seq,
                            mlsae_buffer *x_sae, mlsae_error *err);
void mlsae_eval_buffers_free(mlsae_eval_buffers *eb);
/* Activations of ids [batch, seq] into x_model and x_sae. */
int mlsae_eval_activations(mlsae_eval_buffers *eb, const int32_t *ids, int batch, int seq,
                           mlsae_error *err);
/* The reconstruction recons (on s->sae_be, [n_layers, batch, seq, d_model])
 * as a ref on s->be. */
int mlsae_eval_recons(mlsae_eval_buffers *eb, mlsae_ref recons, int batch, int seq,
                      mlsae_ref *on_model, mlsae_error *err);
/* The same into dst (at least n floats on s->be) instead of r_model, for
 * several reconstructions of one batch kept side by side (several SAEs
 * tested in one pass); dst is unused with one backend. */
int mlsae_eval_recons_to(mlsae_eval_buffers *eb, mlsae_ref recons, int batch, int seq,
                         mlsae_buffer *dst, mlsae_ref *on_model, mlsae_error *err);

/* With a lens, what the reference's validation and test feed the
 * downstream metrics (mlsae/model/lightning.py validation_step/test_step):
 * the reconstruction on_model is un-lensed in place (the reference's
 * diagonal inverse, or the exact one), and *true_path is the input of the
 * true path: the lensed activations x_model (reference) or, with the exact
 * inverse, the un-lensed activations. Without a lens: nothing changes and
 * *true_path is x_model. */
int mlsae_eval_unlens(mlsae_eval_buffers *eb, mlsae_ref on_model, int batch, int seq,
                      mlsae_ref *true_path, mlsae_error *err);

#endif
