#include "config.h"
#include "pipeline/session.h"
#include "backend/lowp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/paths.h"
#include "dataset/dataset.h"
#include "hub/hub.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

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

int mlsae_session_check_data(const mlsae_session *s, const mlsae_run_config *cfg,
                             mlsae_error *err)
{
    const mlsae_neox_config *mc = mlsae_neox_get_config(s->model);
    if (mlsae_run_config_check_context(cfg, mc->max_positions, s->model_dir, err)) return -1;
    return preflight_data(cfg, err);
}

int mlsae_session_open(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                       mlsae_error *err)
{
    return mlsae_session_open_weights(s, cfg, need_logits, NULL, NULL, err);
}

int mlsae_session_open_weights(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                               const char *weights, const char *prefix, mlsae_error *err)
{
    memset(s, 0, sizeof *s);
    if (open_backends(s, cfg, err)) goto fail;
    if (mlsae_model_resolve_revision(cfg->model_name, cfg->revision, &s->model_dir, err)) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n,
                 "; 'mlsae demo' runs the built-in default without any model download");
        goto fail;
    }
    if (mlsae_neox_load_weights(s->model_dir, weights, prefix, s->be,
                                need_logits ? 0 : MLSAE_NEOX_NO_LM_HEAD, &s->model, err))
        goto fail;
    mlsae_precision prec = MLSAE_PRECISION_32;
    if (mlsae_precision_parse(cfg->trainer.precision, &prec)) {
        mlsae_fail(err, "trainer.precision '%s': not computed", cfg->trainer.precision);
        goto fail;
    }
    if (mlsae_neox_set_precision(s->model, mlsae_precision_lowp(prec), err)) goto fail;
    const mlsae_neox_config *mc = mlsae_neox_get_config(s->model);
    s->d_model = mc->hidden_size;
    s->n_model_layers = mc->n_layers;
    if (mlsae_run_config_check_model(cfg, s->d_model, s->n_model_layers, err)) goto fail;
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

int mlsae_session_open_activations(mlsae_session *s, const mlsae_run_config *cfg, int d_model,
                                   int n_layers, mlsae_error *err)
{
    memset(s, 0, sizeof *s);
    if (n_layers > MLSAE_CONFIG_MAX_LAYERS)
        return mlsae_fail(err, "%s: %d layers, at most %d are supported", cfg->data.activations,
                          n_layers, MLSAE_CONFIG_MAX_LAYERS);
    if (cfg->n_layers != 0 && cfg->n_layers != n_layers)
        return mlsae_fail(err, "layers: %d given, but %s holds %d layers", cfg->n_layers,
                          cfg->data.activations, n_layers);
    if (cfg->autoencoder.tuned_lens)
        return mlsae_fail(err, "autoencoder.tuned_lens: the lens applies to a model's hidden "
                          "states; train on the model, or save lensed activations");
    if (!cfg->init[0] && !cfg->trainer.checkpoint_path[0] &&
        mlsae_run_config_check_model(cfg, d_model, n_layers, err))
        return -1;
    mlsae_backend_params params = {0};
    params.n_threads = (int)cfg->threads;
    if (mlsae_backend_open(cfg->device, &params, &s->sae_be, err)) return -1;
    s->be = s->sae_be;
    s->d_model = d_model;
    s->n_model_layers = n_layers;
    s->n_layers = n_layers;
    for (int i = 0; i < n_layers; i++) s->layers[i] = cfg->n_layers ? cfg->layers[i] : i;
    return 0;
}

int mlsae_session_open_sae(mlsae_session *s, const mlsae_run_config *cfg, const char *sae_dir,
                           int need_logits, mlsae_sae **sae, mlsae_error *err)
{
    *sae = NULL;
    memset(s, 0, sizeof *s);
    mlsae_sae_config sc;
    if (mlsae_ckpt_read_config(sae_dir, &sc, NULL, err)) return -1;
    mlsae_run_config *run = malloc(sizeof *run);
    if (!run) return mlsae_fail(err, "out of memory");
    *run = *cfg;
    run->autoencoder.expansion_factor = sc.n_inputs > 0 ? sc.n_latents / sc.n_inputs : 1;
    run->autoencoder.k = sc.k;
    run->autoencoder.auxk = sc.auxk > 0 ? sc.auxk : MLSAE_CONFIG_NONE;
    /* a -tfm checkpoint's own transformer weights, as the reference loads it */
    char weights[4200];
    const char *prefix = NULL;
    int has_weights = mlsae_ckpt_transformer_weights(sae_dir, weights, sizeof weights, &prefix,
                                                     err);
    int opened = has_weights < 0 ||
                 mlsae_session_open_weights(s, run, need_logits, has_weights ? weights : NULL,
                                            prefix, err);
    free(run);
    if (opened) return -1;
    if (mlsae_session_load_lens(s, cfg, sae_dir, err) ||
        mlsae_session_load_sae(s, cfg, sae_dir, sae, err)) {
        mlsae_session_close(s);
        return -1;
    }
    return 0;
}

int mlsae_session_load_sae(mlsae_session *s, const mlsae_run_config *cfg, const char *sae_dir,
                           mlsae_sae **sae, mlsae_error *err)
{
    *sae = NULL;
    if (mlsae_ckpt_load(sae_dir, s->sae_be, sae, err)) return -1;
    mlsae_sae_set_bias_pending(*sae, 0);
    mlsae_precision prec = MLSAE_PRECISION_32; /* checked with the run options */
    if (mlsae_precision_parse(cfg->trainer.precision, &prec) == 0 &&
        mlsae_sae_set_precision(*sae, prec, err))
        goto fail;
    if (mlsae_sae_get_config(*sae)->n_inputs != s->d_model) {
        mlsae_fail(err, "%s: the SAE has n_inputs %d but the model %s has d_model %d", sae_dir,
                   mlsae_sae_get_config(*sae)->n_inputs, s->model_dir, s->d_model);
        goto fail;
    }
    return 0;
fail:
    mlsae_sae_free(*sae);
    *sae = NULL;
    return -1;
}

void mlsae_session_close(mlsae_session *s)
{
    if (s->tok) mlsae_tokenizer_free(s->tok);
    mlsae_lens_free(s->lens);
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
    if (s->skip_special && s->n_special > 0 &&
        mlsae_mask_special_tokens(s->be, x, s->n_layers, ids, (size_t)batch * seq, s->d_model,
                                  s->special, s->n_special, err))
        return -1;
    return s->lens ? mlsae_lens_forward(s->lens, x, s->n_layers, batch * seq, err) : 0;
}

int mlsae_session_activations_host(mlsae_session *s, const int32_t *ids, int batch, int seq,
                                   float *x, mlsae_error *err)
{
    if (mlsae_neox_hidden_states_host(s->model, ids, batch, seq, s->layers, s->n_layers, x, err))
        return -1;
    if (s->skip_special && s->n_special > 0)
        mlsae_mask_special_tokens_host(x, s->n_layers, ids, (size_t)batch * seq, s->d_model,
                                       s->special, s->n_special);
    if (!s->lens) return 0;
    /* the lens runs on the model's backend: through a buffer there */
    size_t n = (size_t)s->n_layers * batch * seq * s->d_model;
    mlsae_buffer *buf = mlsae_alloc_f32(s->be, n);
    if (!buf) return mlsae_fail(err, "lens: cannot allocate %zu floats: %s", n, mlsae_backend_error(s->be));
    int rc = 0;
    if (s->be->ops->core.write(s->be, buf, 0, x, n * 4))
        rc = mlsae_fail(err, "lens: %s", mlsae_backend_error(s->be));
    else if (mlsae_lens_forward(s->lens, mlsae_at(buf, 0), s->n_layers, batch * seq, err))
        rc = -1;
    else if (s->be->ops->core.read(s->be, buf, 0, x, n * 4))
        rc = mlsae_fail(err, "lens: %s", mlsae_backend_error(s->be));
    s->be->ops->core.free(s->be, buf);
    return rc;
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
    if (eb->x_true) s->be->ops->core.free(s->be, eb->x_true);
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
    return mlsae_eval_recons_to(eb, recons, batch, seq, eb->r_model, on_model, err);
}

int mlsae_eval_recons_to(mlsae_eval_buffers *eb, mlsae_ref recons, int batch, int seq,
                         mlsae_buffer *dst, mlsae_ref *on_model, mlsae_error *err)
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
    if (s->be->ops->core.write(s->be, dst, 0, eb->host, bytes))
        return mlsae_fail(err, "reconstruction to the model's backend: %s",
                          mlsae_backend_error(s->be));
    *on_model = mlsae_at(dst, 0);
    return 0;
}

int mlsae_eval_unlens(mlsae_eval_buffers *eb, mlsae_ref on_model, int batch, int seq,
                      mlsae_ref *true_path, mlsae_error *err)
{
    mlsae_session *s = eb->s;
    *true_path = mlsae_at(eb->x_model, 0);
    if (!s->lens) return 0;
    const int rows = batch * seq;
    if (mlsae_lens_inverse(s->lens, on_model, s->n_layers, rows, s->lens_inverse, err)) return -1;
    if (s->lens_inverse != MLSAE_LENS_INVERSE_EXACT) return 0;
    if (!eb->x_true && !(eb->x_true = mlsae_alloc_f32(s->be, eb->n)))
        return mlsae_fail(err, "lens: cannot allocate the un-lensed inputs: %s",
                          mlsae_backend_error(s->be));
    size_t n = (size_t)s->n_layers * rows * s->d_model;
    if (s->be->ops->core.copy(s->be, mlsae_at(eb->x_true, 0), mlsae_at(eb->x_model, 0), n))
        return mlsae_fail(err, "lens: %s", mlsae_backend_error(s->be));
    if (mlsae_lens_inverse(s->lens, mlsae_at(eb->x_true, 0), s->n_layers, rows,
                           MLSAE_LENS_INVERSE_EXACT, err))
        return -1;
    *true_path = mlsae_at(eb->x_true, 0);
    return 0;
}
