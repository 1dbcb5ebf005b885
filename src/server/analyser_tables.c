/* Latent activations (dense and sparse) and layer histograms of a prompt.
 * Reference: mlsae/api/analyser.py (prompt_latent_activations,
 * prompt_layer_histograms; scatter_topk from mlsae/model/decoder.py). */
#include "config.h"
#include "server/analyser_internal.h"
#include "core/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reals as float32 values: 9 significant digits round-trip them. */
#define REAL_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

/* max over latents of the dense (scattered) activations at one (layer, pos):
 * the non-TopK entries are 0, so it is max(0, max of the TopK values). */
static float pos_max(const float *v, int k)
{
    float m = 0;
    for (int j = 0; j < k; j++)
        if (v[j] > m) m = v[j];
    return m;
}

static json_t *max_json(const mlsae_prompt_run *r, int L, int k)
{
    json_t *max = json_array();
    for (int l = 0; l < L; l++) {
        json_t *row = json_array();
        for (int p = 0; p < r->n_tokens; p++)
            json_array_append_new(row, json_real(pos_max(r->values + ((size_t)l * r->n_tokens + p) * k, k)));
        json_array_append_new(max, row);
    }
    return max;
}

/* The dense form's text. */
typedef mlsae_strbuf text_buf;

static void put(text_buf *b, const char *s, size_t n)
{
    mlsae_strbuf_put(b, s, n);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return mlsae_strbuf_put(data, buffer, size);
}

int mlsae_analyser_latent_activations(mlsae_analyser *a, const char *prompt, size_t len,
                                      char **text, size_t *text_len, mlsae_fault *f)
{
    mlsae_prompt_run *r = mlsae_analyser_run_locked(a, prompt, len, f);
    if (!r) return f->status;
    const int L = a->s.n_layers, P = r->n_tokens, k = a->k, N = a->n_latents;
    /* copy the TopK out and format without the lock */
    const size_t nk = (size_t)L * P * k;
    float *values = malloc(nk * sizeof *values);
    int32_t *indices = malloc(nk * sizeof *indices);
    json_t *max = max_json(r, L, k);
    if (values && indices) {
        memcpy(values, r->values, nk * sizeof *values);
        memcpy(indices, r->indices, nk * sizeof *indices);
    }
    pthread_mutex_unlock(&a->lock);
    text_buf b = {0};
    float *dense = values && indices ? malloc((size_t)N * sizeof *dense) : NULL;
    /* a row is n_latents numbers of which at most k are not 0: the zeros
     * are written as jansson writes 0.0, the others formatted by jansson */
    json_t *num = json_real(0);
    put(&b, "{\"values\":[", 11);
    for (int l = 0; l < L && dense && num && !b.oom; l++) {
        put(&b, l ? ",[" : "[", l ? 2 : 1);
        for (int p = 0; p < P && !b.oom; p++) {
            const size_t o = ((size_t)l * P + p) * k;
            memset(dense, 0, (size_t)N * sizeof *dense);
            for (int j = 0; j < k; j++) dense[indices[o + j]] = values[o + j];
            put(&b, p ? ",[" : "[", p ? 2 : 1);
            for (int j = 0; j < N && !b.oom; j++) {
                if (j) put(&b, ",", 1);
                if (dense[j] == 0) {
                    put(&b, "0.0", 3);
                } else {
                    json_real_set(num, dense[j]);
                    if (json_dump_callback(num, dump_cb, &b, REAL_FLAGS | JSON_ENCODE_ANY))
                        b.oom = 1;
                }
            }
            put(&b, "]", 1);
        }
        put(&b, "]", 1);
    }
    put(&b, "],\"max\":", 8);
    if (json_dump_callback(max, dump_cb, &b, REAL_FLAGS)) b.oom = 1;
    put(&b, "}", 1);
    json_decref(max);
    json_decref(num);
    int ok = dense && num && !b.oom;
    free(dense);
    free(values);
    free(indices);
    if (!ok) {
        mlsae_strbuf_free(&b);
        return mlsae_fault_set(f, 500, NULL, "out of memory");
    }
    *text = b.data;
    *text_len = b.len;
    return 0;
}

int mlsae_analyser_latent_activations_sparse(mlsae_analyser *a, const char *prompt, size_t len,
                                             json_t **out, mlsae_fault *f)
{
    mlsae_prompt_run *r = mlsae_analyser_run_locked(a, prompt, len, f);
    if (!r) return f->status;
    const int L = a->s.n_layers, P = r->n_tokens, k = a->k;
    json_t *idx = json_array(), *val = json_array();
    int *order = malloc((size_t)k * sizeof *order);
    for (int l = 0; l < L && order; l++) {
        json_t *il = json_array(), *vl = json_array();
        for (int p = 0; p < P; p++) {
            const float *v = r->values + ((size_t)l * P + p) * k;
            const int32_t *ix = r->indices + ((size_t)l * P + p) * k;
            /* insertion sort by decreasing value, then increasing index */
            int n = 0;
            for (int j = 0; j < k; j++) {
                if (!(v[j] > 0)) continue;
                int q = n++;
                while (q > 0 && (v[order[q - 1]] < v[j] ||
                                 (v[order[q - 1]] == v[j] && ix[order[q - 1]] > ix[j]))) {
                    order[q] = order[q - 1];
                    q--;
                }
                order[q] = j;
            }
            json_t *ip = json_array(), *vp = json_array();
            for (int q = 0; q < n; q++) {
                json_array_append_new(ip, json_integer(ix[order[q]]));
                json_array_append_new(vp, json_real(v[order[q]]));
            }
            json_array_append_new(il, ip);
            json_array_append_new(vl, vp);
        }
        json_array_append_new(idx, il);
        json_array_append_new(val, vl);
    }
    json_t *o = json_pack("{s:i, s:i, s:o, s:o, s:o}", "n_latents", a->n_latents, "k", k,
                          "indices", idx, "values", val, "max", max_json(r, L, k));
    pthread_mutex_unlock(&a->lock);
    int ok = order != NULL && o != NULL;
    free(order);
    if (!ok) {
        json_decref(o);
        return mlsae_fault_set(f, 500, NULL, "out of memory");
    }
    *out = o;
    return 0;
}

/* torch.histc's bin of elt over [lo, hi] with `bins` bins, computed in
 * float as ATen's histogram kernel does; -1 when outside. */
static int histc_bin(float elt, float lo, float hi, int bins)
{
    if (!(elt >= lo && elt <= hi)) return -1;
    float pos = (elt - lo) * (float)bins / (hi - lo);
    int b = (int)pos;
    return b == bins ? bins - 1 : b;
}

/* Python's round(x, 3) (correctly rounded, ties to even on the binary value). */
static double round3(double x)
{
    char s[64];
    snprintf(s, sizeof s, "%.3f", x);
    return strtod(s, NULL);
}

int mlsae_analyser_layer_histograms(mlsae_analyser *a, const char *prompt, size_t len,
                                    json_t **out, mlsae_fault *f)
{
    mlsae_prompt_run *r = mlsae_analyser_run_locked(a, prompt, len, f);
    if (!r) return f->status;
    const int L = a->s.n_layers, P = r->n_tokens, k = a->k, bins = a->bins;
    const size_t per_layer = (size_t)P * k;
    float max = 0;
    for (size_t i = 0; i < (size_t)L * per_layer; i++)
        if (r->values[i] > max) max = r->values[i];
    /* histc(min=0, max=0) takes the data's range, [0, 0], which it widens to [-1, 1] */
    const float lo = max > 0 ? 0.0f : -1.0f, hi = max > 0 ? max : 1.0f;
    int64_t *counts = calloc((size_t)bins, sizeof *counts);
    json_t *values = json_array();
    for (int l = 0; l < L && counts; l++) {
        memset(counts, 0, (size_t)bins * sizeof *counts);
        /* the n_latents - k entries of each position that TopK left out are 0 */
        counts[histc_bin(0.0f, lo, hi, bins)] += (int64_t)P * (a->n_latents - k);
        for (size_t i = 0; i < per_layer; i++) {
            int b = histc_bin(r->values[(size_t)l * per_layer + i], lo, hi, bins);
            if (b >= 0) counts[b]++;
        }
        json_t *row = json_array();
        for (int b = 0; b < bins; b++) json_array_append_new(row, json_integer(counts[b]));
        json_array_append_new(values, row);
    }
    pthread_mutex_unlock(&a->lock);
    /* torch.linspace(0, max, bins + 1) in float: from the start for the
     * first half, from the end for the second */
    json_t *edges = json_array();
    const float step = (max - 0.0f) / (float)bins;
    const int steps = bins + 1, halfway = steps / 2;
    for (int i = 0; i < steps; i++) {
        float e = i < halfway ? 0.0f + step * (float)i : max - step * (float)(steps - i - 1);
        json_array_append_new(edges, json_real(round3(e)));
    }
    free(counts);
    if (!counts) {
        json_decref(values);
        json_decref(edges);
        return mlsae_fault_set(f, 500, NULL, "out of memory");
    }
    *out = json_pack("{s:o, s:o}", "values", values, "edges", edges);
    return 0;
}
