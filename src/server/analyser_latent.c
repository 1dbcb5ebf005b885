/* The latent page's data and the search for latents by token (ours; the
 * reference's app has neither). Dists: the file of `mlsae dists`
 * (reference: mlsae/analysis/dists.py, Metric: counts and totals
 * [n_layers, n_latents] of TopK appearances and activations). */
#include "config.h"
#include "server/analyser_internal.h"
#include "core/safetensors.h"
#include "sae/validate.h"
#include "tokenizer/ids.h"

#include <stdlib.h>
#include <string.h>

int mlsae_analyser_load_dists(mlsae_analyser *a, const char *path, mlsae_error *err)
{
    mlsae_safetensors *st = NULL;
    if (mlsae_st_open(path, &st, err)) return -1;
    const size_t n = (size_t)a->s.n_layers * a->n_latents;
    const int64_t shape[2] = {a->s.n_layers, a->n_latents};
    a->dist_counts = malloc(n * sizeof *a->dist_counts);
    a->dist_totals = malloc(n * sizeof *a->dist_totals);
    int rc = !a->dist_counts || !a->dist_totals ? mlsae_fail(err, "out of memory") : 0;
    /* finite: a NaN or Inf would reach the JSON answers (and break them) */
    if (!rc && (mlsae_st_read_f32(st, "counts", 2, shape, a->dist_counts, err) ||
                mlsae_st_read_f32(st, "totals", 2, shape, a->dist_totals, err) ||
                mlsae_validate_f32(path, "counts", a->dist_counts, n, NULL, err) ||
                mlsae_validate_f32(path, "totals", a->dist_totals, n, NULL, err))) {
        mlsae_error_prefix(err, "%s (--dists; the SAE has %d layers and %d latents)", path,
                           a->s.n_layers, a->n_latents);
        rc = -1;
    }
    mlsae_st_close(st);
    if (rc) {
        free(a->dist_counts);
        free(a->dist_totals);
        a->dist_counts = a->dist_totals = NULL;
    }
    return rc;
}

static json_t *dists_json(const mlsae_analyser *a, int64_t latent)
{
    if (!a->dist_counts) return json_null();
    const int L = a->s.n_layers, N = a->n_latents;
    json_t *counts = json_array(), *totals = json_array(), *density = json_array();
    for (int l = 0; l < L; l++) {
        double tokens = 0;
        for (int j = 0; j < N; j++) tokens += a->dist_counts[(size_t)l * N + j];
        tokens /= a->k;
        float c = a->dist_counts[(size_t)l * N + latent];
        json_array_append_new(counts, json_real(c));
        json_array_append_new(totals, json_real(a->dist_totals[(size_t)l * N + latent]));
        json_array_append_new(density, tokens > 0 ? json_real(c / tokens) : json_null());
    }
    return json_pack("{s:o, s:o, s:o}", "counts", counts, "totals", totals, "density", density);
}

int mlsae_analyser_latent(mlsae_analyser *a, int64_t latent, json_t **out, mlsae_fault *f)
{
    if (latent < 0 || latent >= a->n_latents)
        return mlsae_fault_set(f, 422, "latent", "latent %lld is out of range 0..%d",
                               (long long)latent, a->n_latents - 1);
    const int k = a->num_tokens;
    float *logits = malloc((size_t)a->vocab * sizeof *logits);
    int *ix = malloc((size_t)k * sizeof *ix);
    if (!logits || !ix) {
        free(logits);
        free(ix);
        return mlsae_fault_set(f, 500, NULL, "out of memory");
    }
    mlsae_error err;
    pthread_mutex_lock(&a->lock);
    int rc = mlsae_neox_unembed_host(a->s.model, a->dec_rows + (size_t)latent * a->d, 1, logits,
                                     &err);
    if (!rc) {
        json_t *layers = json_array();
        for (int l = 0; l < a->s.n_layers; l++) json_array_append_new(layers, json_integer(a->s.layers[l]));
        json_t *lists[2];
        for (int largest = 1; largest >= 0; largest--) {
            mlsae_topk_indices(logits, a->vocab, k, largest, ix);
            json_t *arr = json_array();
            for (int j = 0; j < k; j++)
                json_array_append_new(arr, json_pack("{s:i, s:o, s:f}", "id", ix[j], "token",
                                                     mlsae_analyser_token_json(a, ix[j]), "logit",
                                                     (double)logits[ix[j]]));
            lists[1 - largest] = arr;
        }
        *out = json_pack("{s:I, s:o, s:o, s:o, s:o}", "latent", (json_int_t)latent, "layers",
                         layers, "dists", dists_json(a, latent), "promoted", lists[0],
                         "suppressed", lists[1]);
    }
    pthread_mutex_unlock(&a->lock);
    free(logits);
    free(ix);
    if (rc) return mlsae_fault_set(f, 500, NULL, "%s", err.msg);
    return 0;
}

int mlsae_analyser_search(mlsae_analyser *a, const char *text, size_t len, json_t **out,
                          mlsae_fault *f)
{
    mlsae_ids ids = {0};
    mlsae_error err;
    if (mlsae_tokenizer_encode(a->s.tok, text, len, &ids, &err)) {
        free(ids.data);
        return mlsae_fault_set(f, 500, NULL, "%s", err.msg);
    }
    if (ids.len == 0) {
        free(ids.data);
        return mlsae_fault_set(f, 422, "text", "the text is empty (no tokens)");
    }
    const int32_t id = ids.data[0];
    free(ids.data);
    const int N = a->n_latents, d = a->d, k = a->num_tokens < N ? a->num_tokens : N;
    float *w = malloc((size_t)d * sizeof *w), *score = malloc((size_t)N * sizeof *score);
    int *ix = malloc((size_t)k * sizeof *ix);
    int rc = !w || !score || !ix ? mlsae_fault_set(f, 500, NULL, "out of memory") : 0;
    if (!rc) {
        pthread_mutex_lock(&a->lock);
        if (mlsae_neox_unembed_row(a->s.model, id, w, &err))
            rc = mlsae_fault_set(f, 500, NULL, "%s", err.msg);
        pthread_mutex_unlock(&a->lock);
    }
    if (!rc) {
        for (int j = 0; j < N; j++) {
            const float *col = a->dec_rows + (size_t)j * d;
            double s = 0;
            for (int i = 0; i < d; i++) s += (double)w[i] * col[i];
            score[j] = (float)s;
        }
        mlsae_topk_indices(score, N, k, 1, ix);
        json_t *arr = json_array();
        for (int j = 0; j < k; j++)
            json_array_append_new(arr, json_pack("{s:i, s:f}", "latent", ix[j], "value",
                                                 (double)score[ix[j]]));
        *out = json_pack("{s:{s:i, s:o}, s:o}", "token", "id", id, "token",
                         mlsae_analyser_token_json(a, id), "latents", arr);
    }
    free(w);
    free(score);
    free(ix);
    return rc;
}
