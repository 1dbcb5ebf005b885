#include "config.h"
#include "train/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/paths.h"
#include "model/hub.h"

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int find_tokenizer(mlsae_session *s, const mlsae_run_config *cfg, mlsae_error *err)
{
    if (cfg->tokenizer[0]) {
        snprintf(s->tokenizer_path, sizeof s->tokenizer_path, "%s", cfg->tokenizer);
        return 0;
    }
    if (mlsae_path_join(s->tokenizer_path, sizeof s->tokenizer_path, s->model_dir,
                        "tokenizer.json") == 0 &&
        file_exists(s->tokenizer_path))
        return 0;
    /* Every Pythia model uses the GPT-NeoX-20B tokenizer, which ships with us. */
    return mlsae_find_data_file("gpt-neox-20b-tokenizer.json", s->tokenizer_path,
                                sizeof s->tokenizer_path, err);
}

int mlsae_session_open(mlsae_session *s, const mlsae_run_config *cfg, int need_logits,
                       mlsae_error *err)
{
    memset(s, 0, sizeof *s);
    mlsae_backend_params params = {0};
    params.n_threads = (int)cfg->threads;
    if (mlsae_backend_open(cfg->device, &params, &s->be, err)) return -1;
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

void mlsae_session_close(mlsae_session *s)
{
    if (s->tok) mlsae_tokenizer_free(s->tok);
    if (s->model) mlsae_neox_free(s->model);
    free(s->model_dir);
    if (s->be) mlsae_backend_close(s->be);
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
