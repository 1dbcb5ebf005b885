/* The analyser's state, the cached forward pass of a prompt, and the small
 * endpoints (params, tokens, metrics, examples). Reference:
 * mlsae/api/analyser.py (Analyser.__init__, _forward, prompt_tokens,
 * prompt_metrics, latent_examples). */
#include "config.h"
#include "server/analyser_internal.h"
#include "sae/checkpoint.h"
#include "tokenizer/ids.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mlsae_fault_set(mlsae_fault *f, int status, const char *field, const char *fmt, ...)
{
    f->status = status;
    snprintf(f->field, sizeof f->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return status;
}

static int open_examples(mlsae_analyser *a, const char *path, mlsae_error *err)
{
    if (sqlite3_open_v2(path, &a->examples, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        mlsae_fail(err, "%s: cannot open the examples database: %s", path,
                   a->examples ? sqlite3_errmsg(a->examples) : "out of memory");
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->examples,
                           "SELECT latent, layer, token_id, token, act, token_ids, tokens, acts "
                           "FROM examples LIMIT 0", -1, &st, NULL) != SQLITE_OK) {
        mlsae_fail(err, "%s: not an examples database (table examples(latent, layer, token_id, "
                   "token, act, token_ids, tokens, acts)): %s", path, sqlite3_errmsg(a->examples));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    /* the database must be this SAE's: its latents and layers in range
     * (layer is the position among the SAE's layers, as mlsae examples
     * writes it) */
    if (sqlite3_prepare_v2(a->examples,
                           "SELECT MIN(latent), MAX(latent), MIN(layer), MAX(layer), "
                           "SUM(typeof(latent) != 'integer' OR typeof(layer) != 'integer') "
                           "FROM examples", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        mlsae_fail(err, "%s: cannot read the examples: %s", path, sqlite3_errmsg(a->examples));
        sqlite3_finalize(st);
        return -1;
    }
    int rc = 0;
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) { /* not empty */
        const sqlite3_int64 lat_min = sqlite3_column_int64(st, 0),
                            lat_max = sqlite3_column_int64(st, 1),
                            lay_min = sqlite3_column_int64(st, 2),
                            lay_max = sqlite3_column_int64(st, 3),
                            not_int = sqlite3_column_int64(st, 4);
        if (not_int > 0)
            rc = mlsae_fail(err, "%s: %lld examples have a latent or layer that is not an "
                            "integer", path, (long long)not_int);
        else if (lat_min < 0 || lat_max >= a->n_latents)
            rc = mlsae_fail(err, "%s: latent %lld is out of range for this SAE's %d latents (an "
                            "examples database of another SAE?)", path,
                            (long long)(lat_min < 0 ? lat_min : lat_max), a->n_latents);
        else if (lay_min < 0 || lay_max >= a->s.n_layers)
            rc = mlsae_fail(err, "%s: layer %lld is not among this SAE's %d layers (positions "
                            "0..%d; an examples database of another SAE?)", path,
                            (long long)(lay_min < 0 ? lay_min : lay_max), a->s.n_layers,
                            a->s.n_layers - 1);
    }
    sqlite3_finalize(st);
    return rc;
}

int mlsae_analyser_open(const mlsae_run_config *cfg, const mlsae_analyser_options *opt,
                        json_t *params, mlsae_analyser **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_analyser *a = calloc(1, sizeof *a);
    if (!a) return mlsae_fail(err, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    /* the SAE's sizes come from the checkpoint, a -tfm's transformer too */
    if (mlsae_session_open_sae(&a->s, cfg, opt->checkpoint, 1, &a->sae, err)) {
        pthread_mutex_destroy(&a->lock);
        free(a);
        return -1;
    }
    /* the reference's Analyser: transformer.skip_special_tokens = False */
    a->s.skip_special = 0;
    a->dead_tokens_threshold = (double)cfg->autoencoder.dead_tokens_threshold;
    a->bins = opt->bins > 0 ? opt->bins : 64;
    a->num_tokens = opt->num_tokens > 0 ? opt->num_tokens : 16;
    a->cache_size = opt->cache_size > 0 ? opt->cache_size : 8;
    a->params = json_incref(params);
    const mlsae_neox_config *mc = mlsae_neox_get_config(a->s.model);
    a->vocab = mc->vocab_size;
    a->max_positions = mc->max_positions;
    const mlsae_sae_config *c = mlsae_sae_get_config(a->sae);
    a->d = c->n_inputs;
    a->n_latents = c->n_latents;
    a->k = c->k;
    if (a->num_tokens > a->vocab) a->num_tokens = a->vocab;
    a->cache = calloc((size_t)a->cache_size, sizeof *a->cache);
    float *dec = malloc((size_t)a->d * a->n_latents * sizeof *dec);
    a->dec_rows = malloc((size_t)a->d * a->n_latents * sizeof *a->dec_rows);
    if (!a->cache || !dec || !a->dec_rows) {
        free(dec);
        mlsae_fail(err, "out of memory");
        goto fail;
    }
    if (mlsae_sae_get_params(a->sae, NULL, dec, NULL, NULL, err)) {
        free(dec);
        goto fail;
    }
    for (int i = 0; i < a->d; i++)
        for (int j = 0; j < a->n_latents; j++)
            a->dec_rows[(size_t)j * a->d + i] = dec[(size_t)i * a->n_latents + j];
    free(dec);
    if (opt->examples && open_examples(a, opt->examples, err)) goto fail;
    if (opt->dists && mlsae_analyser_load_dists(a, opt->dists, err)) goto fail;
    *out = a;
    return 0;
fail:
    mlsae_analyser_close(a);
    return -1;
}

static void run_free(mlsae_prompt_run *r)
{
    if (!r) return;
    free(r->prompt);
    free(r->ids);
    free(r->inputs);
    free(r->recons);
    free(r->values);
    free(r->indices);
    free(r->logits);
    json_decref(r->metrics);
    free(r);
}

void mlsae_analyser_close(mlsae_analyser *a)
{
    if (!a) return;
    if (a->cache)
        for (int i = 0; i < a->cache_size; i++) run_free(a->cache[i]);
    free(a->cache);
    free(a->dec_rows);
    free(a->dist_counts);
    free(a->dist_totals);
    if (a->examples) sqlite3_close(a->examples);
    if (a->sae) mlsae_sae_free(a->sae);
    json_decref(a->params);
    mlsae_session_close(&a->s);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void mlsae_analyser_get_info(const mlsae_analyser *a, mlsae_analyser_info *info)
{
    info->n_layers = a->s.n_layers;
    info->d_model = a->d;
    info->n_latents = a->n_latents;
    info->k = a->k;
    info->max_length = a->max_positions;
    info->vocab = a->vocab;
    info->layers = a->s.layers;
    info->has_examples = a->examples != NULL;
    info->has_dists = a->dist_counts != NULL;
}

json_t *mlsae_analyser_params(mlsae_analyser *a)
{
    return json_deep_copy(a->params);
}

/* The reference's train_metrics of one batch (lightning.py: MetricCollection
 * with prefix "train/": dead/rel, then l1/, mse/, fvu/ per layer label
 * "layer_L" and their mean "avg"). */
static json_t *metrics_json(mlsae_analyser *a, const mlsae_sae_layer_metrics *lm, double dead_rel)
{
    json_t *o = json_object();
    json_object_set_new(o, "train/dead/rel", json_real((float)dead_rel));
    static const char *names[3] = {"l1", "mse", "fvu"};
    for (int m = 0; m < 3; m++) {
        float sum = 0;
        for (int l = 0; l < a->s.n_layers; l++) {
            double v = m == 0 ? lm[l].l1 : m == 1 ? lm[l].mse : lm[l].fvu;
            char key[64];
            snprintf(key, sizeof key, "train/%s/layer_%d", names[m], a->s.layers[l]);
            json_object_set_new(o, key, json_real((float)v));
            sum += (float)v;
        }
        char key[64];
        snprintf(key, sizeof key, "train/%s/avg", names[m]);
        json_object_set_new(o, key, json_real(sum / (float)a->s.n_layers));
    }
    return o;
}

static int read_ref(mlsae_backend *be, mlsae_ref r, void *dst, size_t n, mlsae_error *err)
{
    if (be->ops->core.read(be, r.buf, r.off * 4, dst, n * 4))
        return mlsae_fail(err, "reading back from the device: %s", mlsae_backend_error(be));
    return 0;
}

/* Tokens, transformer, SAE: the reference's Analyser._forward. */
static mlsae_prompt_run *compute(mlsae_analyser *a, const char *prompt, size_t len,
                                 mlsae_fault *f)
{
    mlsae_ids ids = {0};
    mlsae_error err;
    if (mlsae_tokenizer_encode(a->s.tok, prompt, len, &ids, &err)) {
        mlsae_fault_set(f, 500, NULL, "%s", err.msg);
        return NULL;
    }
    if (ids.len == 0) {
        free(ids.data);
        mlsae_fault_set(f, 422, "prompt", "the prompt is empty (no tokens)");
        return NULL;
    }
    if (ids.len > (size_t)a->max_positions) {
        mlsae_fault_set(f, 422, "prompt", "the prompt has %zu tokens, more than the model's "
                        "context of %d", ids.len, a->max_positions);
        free(ids.data);
        return NULL;
    }
    const int P = (int)ids.len, L = a->s.n_layers;
    const size_t nx = (size_t)L * P * a->d, nk = (size_t)L * P * a->k;
    mlsae_prompt_run *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->ids = ids.data;
    ids.data = NULL;
    r->n_tokens = P;
    r->prompt = malloc(len + 1);
    r->inputs = malloc(nx * sizeof *r->inputs);
    r->recons = malloc(nx * sizeof *r->recons);
    r->values = malloc(nk * sizeof *r->values);
    r->indices = malloc(nk * sizeof *r->indices);
    if (!r->prompt || !r->inputs || !r->recons || !r->values || !r->indices) goto oom;
    memcpy(r->prompt, prompt, len);
    r->prompt[len] = '\0';
    r->prompt_len = len;
    mlsae_eval_buffers eb;
    if (mlsae_eval_buffers_init(&eb, &a->s, 1, P, NULL, &err)) goto fail;
    mlsae_sae_forward_out fo;
    mlsae_sae_layer_metrics *lm = calloc((size_t)L, sizeof *lm);
    double dead_rel = 0;
    int rc = !lm ||
             mlsae_eval_activations(&eb, r->ids, 1, P, &err) ||
             mlsae_sae_forward(a->sae, mlsae_at(eb.x_sae, 0), L, P, &fo, NULL, &err) ||
             mlsae_sae_last_metrics(a->sae, mlsae_at(eb.x_sae, 0), lm, a->dead_tokens_threshold,
                                    &dead_rel, &err) ||
             read_ref(a->s.sae_be, mlsae_at(eb.x_sae, 0), r->inputs, nx, &err) ||
             read_ref(a->s.sae_be, fo.recons, r->recons, nx, &err) ||
             read_ref(a->s.sae_be, fo.values, r->values, nk, &err) ||
             read_ref(a->s.sae_be, fo.indices, r->indices, nk, &err);
    if (!rc) r->metrics = metrics_json(a, lm, dead_rel);
    if (!lm) mlsae_fail(&err, "out of memory");
    free(lm);
    mlsae_eval_buffers_free(&eb);
    if (rc) goto fail;
    return r;
oom:
    mlsae_fail(&err, "out of memory");
fail:
    free(ids.data);
    run_free(r);
    mlsae_fault_set(f, 500, NULL, "%s", err.msg);
    return NULL;
}

mlsae_prompt_run *mlsae_analyser_run(mlsae_analyser *a, const char *prompt, size_t len,
                                     mlsae_fault *f)
{
    int victim = 0;
    for (int i = 0; i < a->cache_size; i++) {
        mlsae_prompt_run *c = a->cache[i];
        if (c && c->prompt_len == len && memcmp(c->prompt, prompt, len) == 0) {
            c->used = ++a->clock;
            return c;
        }
        if (!c) victim = i;
        else if (a->cache[victim] && c->used < a->cache[victim]->used) victim = i;
    }
    mlsae_prompt_run *r = compute(a, prompt, len, f);
    if (!r) return NULL;
    run_free(a->cache[victim]);
    a->cache[victim] = r;
    r->used = ++a->clock;
    return r;
}

int mlsae_analyser_run_logits(mlsae_analyser *a, mlsae_prompt_run *r, mlsae_fault *f)
{
    if (r->logits) return 0;
    r->logits = malloc((size_t)r->n_tokens * a->vocab * sizeof *r->logits);
    if (!r->logits) return mlsae_fault_set(f, 500, NULL, "out of memory");
    mlsae_neox_run run = {0};
    run.tokens = r->ids;
    run.batch = 1;
    run.seq = r->n_tokens;
    run.start_layer = -1;
    run.logits = MLSAE_NOREF;
    run.hidden = MLSAE_NOREF;
    run.start = MLSAE_NOREF;
    run.logits_host = r->logits;
    mlsae_error err;
    if (mlsae_neox_forward(a->s.model, &run, &err)) {
        free(r->logits);
        r->logits = NULL;
        return mlsae_fault_set(f, 500, NULL, "%s", err.msg);
    }
    return 0;
}

json_t *mlsae_analyser_token_json(const mlsae_analyser *a, int32_t id)
{
    char *s = mlsae_replace_special(mlsae_tokenizer_id_to_token(a->s.tok, id));
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j ? j : json_string("");
}

mlsae_prompt_run *mlsae_analyser_run_locked(mlsae_analyser *a, const char *prompt, size_t len,
                                            mlsae_fault *f)
{
    pthread_mutex_lock(&a->lock);
    mlsae_prompt_run *r = mlsae_analyser_run(a, prompt, len, f);
    if (!r) pthread_mutex_unlock(&a->lock);
    return r;
}

int mlsae_analyser_tokens(mlsae_analyser *a, const char *prompt, size_t len, json_t **out,
                          mlsae_fault *f)
{
    pthread_mutex_lock(&a->lock);
    mlsae_prompt_run *r = mlsae_analyser_run(a, prompt, len, f);
    if (r) {
        json_t *arr = json_array();
        for (int p = 0; p < r->n_tokens; p++)
            json_array_append_new(arr, json_pack("{s:i, s:o, s:i}", "id", (json_int_t)r->ids[p],
                                                 "token", mlsae_analyser_token_json(a, r->ids[p]),
                                                 "pos", (json_int_t)p));
        *out = arr;
    }
    pthread_mutex_unlock(&a->lock);
    return r ? 0 : f->status;
}

int mlsae_analyser_metrics(mlsae_analyser *a, const char *prompt, size_t len, json_t **out,
                           mlsae_fault *f)
{
    pthread_mutex_lock(&a->lock);
    mlsae_prompt_run *r = mlsae_analyser_run(a, prompt, len, f);
    if (r) *out = json_deep_copy(r->metrics);
    pthread_mutex_unlock(&a->lock);
    return r ? 0 : f->status;
}

/* A JSON array column of an examples row (token_ids, tokens, acts). */
static json_t *json_column(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (!json_is_array(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int mlsae_analyser_examples(mlsae_analyser *a, int64_t layer, int64_t latent, json_t **out,
                            mlsae_fault *f)
{
    if (layer < 0 || layer >= a->s.n_layers)
        return mlsae_fault_set(f, 422, "layer", "layer %lld is out of range 0..%d",
                               (long long)layer, a->s.n_layers - 1);
    if (latent < 0 || latent >= a->n_latents)
        return mlsae_fault_set(f, 422, "latent", "latent %lld is out of range 0..%d",
                               (long long)latent, a->n_latents - 1);
    json_t *arr = json_array();
    if (!a->examples) {
        *out = arr;
        return 0;
    }
    pthread_mutex_lock(&a->lock);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(a->examples,
                                "SELECT latent, layer, token_id, token, act, token_ids, tokens, "
                                "acts FROM examples WHERE layer = ? AND latent = ? "
                                "ORDER BY act DESC", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, layer);
        sqlite3_bind_int64(st, 2, latent);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *ids = json_column(st, 5), *toks = json_column(st, 6), *acts = json_column(st, 7);
            if (!ids || !toks || !acts) {
                json_decref(ids);
                json_decref(toks);
                json_decref(acts);
                rc = SQLITE_CORRUPT;
                break;
            }
            json_t *clean = json_array();
            size_t i;
            json_t *t;
            json_array_foreach(toks, i, t) {
                char *s = mlsae_replace_special(json_string_value(t));
                json_array_append_new(clean, json_string(s ? s : ""));
                free(s);
            }
            json_decref(toks);
            const char *tok = (const char *)sqlite3_column_text(st, 3);
            json_array_append_new(
                arr, json_pack("{s:I, s:I, s:I, s:s, s:f, s:o, s:o, s:o}",
                               "latent", (json_int_t)sqlite3_column_int64(st, 0),
                               "layer", (json_int_t)sqlite3_column_int64(st, 1),
                               "token_id", (json_int_t)sqlite3_column_int64(st, 2),
                               "token", tok ? tok : "", "act", sqlite3_column_double(st, 4),
                               "token_ids", ids, "tokens", clean, "acts", acts));
        }
    }
    if (rc != SQLITE_DONE) {
        mlsae_fault_set(f, 500, NULL, "examples database: %s",
                        rc == SQLITE_CORRUPT ? "a row's token_ids, tokens or acts is not a JSON "
                                               "array" : sqlite3_errmsg(a->examples));
        json_decref(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&a->lock);
    if (!arr) return f->status;
    *out = arr;
    return 0;
}
