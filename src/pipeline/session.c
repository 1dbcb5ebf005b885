#include "config.h"
#include "pipeline/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/paths.h"
#include "dataset/dataset.h"
#include "hub/hub.h"

static int find_tokenizer(mlsae_session *s, const mlsae_run_config *cfg, mlsae_error *err)
{
    if (cfg->tokenizer[0]) {
        snprintf(s->tokenizer_path, sizeof s->tokenizer_path, "%s", cfg->tokenizer);
        return 0;
    }
    if (mlsae_path_join(s->tokenizer_path, sizeof s->tokenizer_path, s->model_dir,
                        "tokenizer.json") == 0 &&
        mlsae_is_file(s->tokenizer_path))
        return 0;
    /* Every Pythia model uses the GPT-NeoX-20B tokenizer, which ships with us. */
    return mlsae_find_data_file("gpt-neox-20b-tokenizer.json", s->tokenizer_path,
                                sizeof s->tokenizer_path, err);
}

static int is_cpu(const mlsae_backend *be)
{
    return strcmp(be->ops->name, "cpu") == 0;
}

/* The SAE's backend from cfg->device, the transformer's from
 * cfg->model_device: one backend when the names are equal or both are the
 * CPU. */
static int open_backends(mlsae_session *s, const mlsae_run_config *cfg, mlsae_error *err)
{
    mlsae_backend_params params = {0};
    params.n_threads = (int)cfg->threads;
    if (mlsae_backend_open(cfg->device, &params, &s->sae_be, err)) return -1;
    s->be = s->sae_be;
    if (strcmp(cfg->model_device, cfg->device) == 0 ||
        (strcmp(cfg->model_device, "cpu") == 0 && is_cpu(s->sae_be)))
        return 0;
    mlsae_backend *model_be = NULL;
    if (mlsae_backend_open(cfg->model_device, &params, &model_be, err))
        return mlsae_error_prefix(err, "model_device");
    if (is_cpu(model_be) && is_cpu(s->sae_be)) mlsae_backend_close(model_be);
    else s->be = model_be;
    return 0;
}

/* The dataset's files listed and their types checked (no reading), so that a
 * bad data.path fails before the caller writes any output. */
static int preflight_data(const mlsae_run_config *cfg, mlsae_error *err)
{
    if (!cfg->data.path[0]) return 0;
    const char *src[1] = {cfg->data.path};
    mlsae_dataset *ds = NULL;
    if (mlsae_dataset_open(src, 1, &ds, err)) return -1;
    mlsae_dataset_close(ds);
    return 0;
}

int mlsae_session_open(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                       mlsae_error *err)
{
    memset(s, 0, sizeof *s);
    if (open_backends(s, cfg, err)) goto fail;
    if (mlsae_model_resolve(cfg->model_name, &s->model_dir, err)) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n,
                 "; 'mlsae demo' runs the built-in default without any model download");
        goto fail;
    }
    if (mlsae_neox_load(s->model_dir, s->be, need_logits ? 0 : MLSAE_NEOX_NO_LM_HEAD, &s->model,
                        err))
        goto fail;
    const mlsae_neox_config *mc = mlsae_neox_get_config(s->model);
    s->d_model = mc->hidden_size;
    s->n_model_layers = mc->n_layers;
    if (mlsae_run_config_check_model(cfg, s->d_model, s->n_model_layers, err) ||
        mlsae_run_config_check_context(cfg, mc->max_positions, s->model_dir, err) ||
        preflight_data(cfg, err))
        goto fail;
    if (cfg->n_layers == 0) {
        s->n_layers = s->n_model_layers;
        for (int i = 0; i < s->n_layers; i++) s->layers[i] = i;
    } else {
        s->n_layers = cfg->n_layers;
        memcpy(s->layers, cfg->layers, (size_t)cfg->n_layers * sizeof *s->layers);
    }
    if (find_tokenizer(s, cfg, err)) goto fail;
    if (mlsae_tokenizer_load(s->tokenizer_path, &s->tok, err)) goto fail;
    if (mlsae_tokenizer_vocab_size(s->tok) > (size_t)mc->vocab_size) {
        mlsae_fail(err, "%s: tokenizer has %zu tokens but the model %s has only %d embedding rows",
                   s->tokenizer_path, mlsae_tokenizer_vocab_size(s->tok), s->model_dir,
                   mc->vocab_size);
        goto fail;
    }
    /* SPEC §2: positions holding the eos, pad or bos id are masked. */
    int32_t ids[3] = {mlsae_tokenizer_eos_id(s->tok), mlsae_tokenizer_pad_id(s->tok),
                      mlsae_tokenizer_bos_id(s->tok)};
    for (int i = 0; i < 3; i++) {
        int dup = ids[i] < 0;
        for (int j = 0; j < s->n_special; j++) dup |= s->special[j] == ids[i];
        if (!dup) s->special[s->n_special++] = ids[i];
    }
    s->skip_special = cfg->autoencoder.skip_special_tokens;
    return 0;
fail:
    mlsae_session_close(s);
    return -1;
}

void mlsae_session_close(mlsae_session *s)
{
    if (s->tok) mlsae_tokenizer_free(s->tok);
    if (s->model) mlsae_neox_free(s->model);
    free(s->model_dir);
    if (s->be && s->be != s->sae_be) mlsae_backend_close(s->be);
    if (s->sae_be) mlsae_backend_close(s->sae_be);
    memset(s, 0, sizeof *s);
}

int mlsae_session_activations(mlsae_session *s, const int32_t *ids, int batch, int seq,
                              mlsae_ref x, mlsae_error *err)
{
    if (mlsae_neox_hidden_states(s->model, ids, batch, seq, s->layers, s->n_layers, x, err))
        return -1;
    if (!s->skip_special || s->n_special == 0) return 0;
    return mlsae_mask_special_tokens(s->be, x, s->n_layers, ids, (size_t)batch * seq, s->d_model,
                                     s->special, s->n_special, err);
}

int mlsae_session_activations_host(mlsae_session *s, const int32_t *ids, int batch, int seq,
                                   float *x, mlsae_error *err)
{
    if (mlsae_neox_hidden_states_host(s->model, ids, batch, seq, s->layers, s->n_layers, x, err))
        return -1;
    if (s->skip_special && s->n_special > 0)
        mlsae_mask_special_tokens_host(x, s->n_layers, ids, (size_t)batch * seq, s->d_model,
                                       s->special, s->n_special);
    return 0;
}

int mlsae_eval_buffers_init(mlsae_eval_buffers *eb, mlsae_session *s, int batch, int seq,
                            mlsae_buffer *x_sae, mlsae_error *err)
{
    memset(eb, 0, sizeof *eb);
    eb->s = s;
    eb->n = (size_t)s->n_layers * batch * seq * s->d_model;
    eb->x_sae = x_sae;
    if (!x_sae) {
        eb->x_sae = mlsae_alloc_f32(s->sae_be, eb->n);
        eb->own_x_sae = 1;
    }
    if (!mlsae_session_split(s)) {
        eb->x_model = eb->x_sae;
    } else {
        eb->x_model = mlsae_alloc_f32(s->be, eb->n);
        eb->r_model = mlsae_alloc_f32(s->be, eb->n);
        eb->host = malloc(eb->n * sizeof *eb->host);
    }
    if (!eb->x_sae || !eb->x_model || (mlsae_session_split(s) && (!eb->r_model || !eb->host))) {
        mlsae_eval_buffers_free(eb);
        return mlsae_fail(err, "cannot allocate activations for %d layers x %d x %d x %d",
                          s->n_layers, batch, seq, s->d_model);
    }
    return 0;
}

void mlsae_eval_buffers_free(mlsae_eval_buffers *eb)
{
    mlsae_session *s = eb->s;
    if (!s) return;
    if (eb->x_model && eb->x_model != eb->x_sae) s->be->ops->core.free(s->be, eb->x_model);
    if (eb->r_model) s->be->ops->core.free(s->be, eb->r_model);
    if (eb->x_sae && eb->own_x_sae) s->sae_be->ops->core.free(s->sae_be, eb->x_sae);
    free(eb->host);
    memset(eb, 0, sizeof *eb);
}

int mlsae_eval_activations(mlsae_eval_buffers *eb, const int32_t *ids, int batch, int seq,
                           mlsae_error *err)
{
    mlsae_session *s = eb->s;
    if (!mlsae_session_split(s))
        return mlsae_session_activations(s, ids, batch, seq, mlsae_at(eb->x_model, 0), err);
    size_t bytes = (size_t)s->n_layers * batch * seq * s->d_model * sizeof(float);
    if (mlsae_session_activations_host(s, ids, batch, seq, eb->host, err)) return -1;
    if (s->be->ops->core.write(s->be, eb->x_model, 0, eb->host, bytes))
        return mlsae_fail(err, "activations to the model's backend: %s",
                          mlsae_backend_error(s->be));
    if (s->sae_be->ops->core.write(s->sae_be, eb->x_sae, 0, eb->host, bytes))
        return mlsae_fail(err, "activations to the SAE's backend: %s",
                          mlsae_backend_error(s->sae_be));
    return 0;
}

int mlsae_eval_recons(mlsae_eval_buffers *eb, mlsae_ref recons, int batch, int seq,
                      mlsae_ref *on_model, mlsae_error *err)
{
    mlsae_session *s = eb->s;
    if (!mlsae_session_split(s)) {
        *on_model = recons;
        return 0;
    }
    size_t bytes = (size_t)s->n_layers * batch * seq * s->d_model * sizeof(float);
    if (s->sae_be->ops->core.read(s->sae_be, recons.buf, recons.off * 4, eb->host, bytes))
        return mlsae_fail(err, "reconstruction from the SAE's backend: %s",
                          mlsae_backend_error(s->sae_be));
    if (s->be->ops->core.write(s->be, eb->r_model, 0, eb->host, bytes))
        return mlsae_fail(err, "reconstruction to the model's backend: %s",
                          mlsae_backend_error(s->be));
    *on_model = mlsae_at(eb->r_model, 0);
    return 0;
}
