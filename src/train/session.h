/* What a training or test run sets up once: the backend, the transformer,
 * the tokenizer, the selected layers and the special-token ids, and the
 * step that turns a batch of token ids into the SAE's input rows.
 *
 * Activation rows are [n_sel_layers, batch, seq, d_model] (layer-major), i.e.
 * n_sel_layers * batch * seq rows of d_model floats on the backend. */
#ifndef MLSAE_TRAIN_SESSION_H
#define MLSAE_TRAIN_SESSION_H

#include <stdint.h>
#include "backend/backend.h"
#include "core/status.h"
#include "model/neox.h"
#include "text/tokenizer.h"
#include "train/run_config.h"

typedef struct mlsae_session {
    mlsae_backend *be;
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
} mlsae_session;

/* Open the backend named by cfg->device, resolve and load cfg->model_name
 * (with its LM head when need_logits), load the tokenizer (cfg->tokenizer,
 * else the model directory's tokenizer.json, else the bundled GPT-NeoX-20B
 * one shared by every Pythia model), and check the layers and SAE sizes
 * against the model. */
int mlsae_session_open(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                       mlsae_error *err);
void mlsae_session_close(mlsae_session *s);

/* Residual stream of the selected layers for ids [batch, seq] into x
 * (backend, [n_layers, batch, seq, d_model]), with special-token positions
 * zeroed when skip_special_tokens is on (SPEC §2). */
int mlsae_session_activations(mlsae_session *s, const int32_t *ids, int batch, int seq,
                              mlsae_ref x, mlsae_error *err);

#endif
