/* Logit tables: the model's top logits, and the logits when one layer's
 * residual is replaced by its SAE reconstruction or steered along a
 * decoder column. Reference: mlsae/api/analyser.py (prompt_logits_input,
 * prompt_logits_recon, prompt_logits_steer, _logit_probs,
 * _prompt_max_logits, _prompt_logit_changes), with two fixes (SPEC §7):
 * layer 0 is layer 0 (the reference's `layer or n - 1` takes the last
 * layer), and the layers after `layer` see the true positions and the
 * causal mask (the reference passes a [n_layers, 1] dummy token tensor, so
 * every position gets position id 0). The "before" logits of a change are
 * the unmodified model's, which is what running the model on from the
 * layer's own residual gives. */
#include "config.h"
#include "server/analyser_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mlsae_topk_indices(const float *x, int n, int k, int largest, int *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        if (m == k) {
            float last = x[out[m - 1]];
            if (largest ? !(v > last) : !(v < last)) continue;
            m--;
        }
        int q = m++;
        while (q > 0 && (largest ? x[out[q - 1]] < v : x[out[q - 1]] > v)) {
            out[q] = out[q - 1];
            q--;
        }
        out[q] = i;
    }
}

/* MaxLogits {max: [P][k] {id, token, logit, prob}}: prob = softmax over the
 * whole vocabulary. */
static json_t *max_logits(mlsae_analyser *a, const float *logits, int P, int *ix)
{
    const int V = a->vocab, k = a->num_tokens;
    json_t *max = json_array();
    for (int p = 0; p < P; p++) {
        const float *x = logits + (size_t)p * V;
        float m = -INFINITY;
        for (int i = 0; i < V; i++)
            if (x[i] > m) m = x[i];
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)x[i] - m);
        mlsae_topk_indices(x, V, k, 1, ix);
        json_t *row = json_array();
        for (int j = 0; j < k; j++)
            json_array_append_new(row, json_pack("{s:i, s:o, s:f, s:f}", "id", ix[j], "token",
                                                 mlsae_analyser_token_json(a, ix[j]), "logit",
                                                 (double)x[ix[j]], "prob",
                                                 (double)(float)(exp((double)x[ix[j]] - m) / sum)));
        json_array_append_new(max, row);
    }
    return json_pack("{s:o}", "max", max);
}

/* LogitChanges {max, min: [P][k] {id, token, logit: change, prob: null}}. */
static json_t *logit_changes(mlsae_analyser *a, const float *before, const float *after, int P,
                             int *ix, float *change)
{
    const int V = a->vocab, k = a->num_tokens;
    json_t *mx = json_array(), *mn = json_array();
    for (int p = 0; p < P; p++) {
        for (int i = 0; i < V; i++)
            change[i] = after[(size_t)p * V + i] - before[(size_t)p * V + i];
        for (int largest = 1; largest >= 0; largest--) {
            mlsae_topk_indices(change, V, k, largest, ix);
            json_t *row = json_array();
            for (int j = 0; j < k; j++)
                json_array_append_new(row, json_pack("{s:i, s:o, s:f, s:n}", "id", ix[j], "token",
                                                     mlsae_analyser_token_json(a, ix[j]), "logit",
                                                     (double)change[ix[j]], "prob"));
            json_array_append_new(largest ? mx : mn, row);
        }
    }
    return json_pack("{s:o, s:o}", "max", mx, "min", mn);
}

int mlsae_analyser_logits_input(mlsae_analyser *a, const char *prompt, size_t len, json_t **out,
                                mlsae_fault *f)
{
    int *ix = malloc((size_t)a->num_tokens * sizeof *ix);
    if (!ix) return mlsae_fault_set(f, 500, NULL, "out of memory");
    pthread_mutex_lock(&a->lock);
    mlsae_prompt_run *r = mlsae_analyser_run(a, prompt, len, f);
    int rc = r ? mlsae_analyser_run_logits(a, r, f) : f->status;
    if (!rc) *out = max_logits(a, r->logits, r->n_tokens, ix);
    pthread_mutex_unlock(&a->lock);
    free(ix);
    return rc;
}

/* Logits of the model run on from SAE layer `layer` with residual h [P, d]. */
static int logits_from(mlsae_analyser *a, const mlsae_prompt_run *r, int layer, const float *h,
                       float *logits, mlsae_fault *f)
{
    mlsae_neox_run run = {0};
    run.tokens = r->ids;
    run.batch = 1;
    run.seq = r->n_tokens;
    run.start_layer = a->s.layers[layer];
    run.start = MLSAE_NOREF;
    run.start_host = h;
    run.hidden = MLSAE_NOREF;
    run.logits = MLSAE_NOREF;
    run.logits_host = logits;
    mlsae_error err;
    if (mlsae_neox_forward(a->s.model, &run, &err))
        return mlsae_fault_set(f, 500, NULL, "%s", err.msg);
    return 0;
}

/* The shared part of recon and steer: h = the residual to splice in at
 * `layer` (steer: latent >= 0). */
static int spliced(mlsae_analyser *a, const char *prompt, size_t len, int64_t layer,
                   int64_t latent, double factor, json_t **out, mlsae_fault *f)
{
    if (layer < 0 || layer >= a->s.n_layers)
        return mlsae_fault_set(f, 422, "layer", "layer %lld is out of range 0..%d",
                               (long long)layer, a->s.n_layers - 1);
    if (latent >= a->n_latents || latent < -1)
        return mlsae_fault_set(f, 422, "latent", "latent %lld is out of range 0..%d",
                               (long long)latent, a->n_latents - 1);
    if (!isfinite(factor) || !isfinite((float)factor))
        return mlsae_fault_set(f, 422, "factor", "factor must be a finite float32 number "
                               "(|factor| <= 3.4e38)");
    pthread_mutex_lock(&a->lock);
    mlsae_prompt_run *r = mlsae_analyser_run(a, prompt, len, f);
    int rc = r ? mlsae_analyser_run_logits(a, r, f) : f->status;
    float *h = NULL, *after = NULL, *change = NULL;
    int *ix = NULL;
    if (!rc) {
        const size_t P = (size_t)r->n_tokens, d = (size_t)a->d;
        h = malloc(P * d * sizeof *h);
        after = malloc(P * (size_t)a->vocab * sizeof *after);
        change = malloc((size_t)a->vocab * sizeof *change);
        ix = malloc((size_t)a->num_tokens * sizeof *ix);
        if (!h || !after || !change || !ix) {
            rc = mlsae_fault_set(f, 500, NULL, "out of memory");
        } else if (latent < 0) {
            memcpy(h, r->recons + (size_t)layer * P * d, P * d * sizeof *h);
        } else {
            const float *x = r->inputs + (size_t)layer * P * d;
            const float *col = a->dec_rows + (size_t)latent * d;
            const float fac = (float)factor;
            for (size_t p = 0; p < P; p++)
                for (size_t i = 0; i < d; i++) h[p * d + i] = x[p * d + i] + fac * col[i];
        }
    }
    if (!rc) rc = logits_from(a, r, (int)layer, h, after, f);
    if (!rc) {
        /* a steering vector too large for float32 arithmetic overflows the
         * residual: no table would be meaningful */
        const size_t nl = (size_t)r->n_tokens * (size_t)a->vocab;
        for (size_t i = 0; i < nl && !rc; i++)
            if (!isfinite(after[i]))
                rc = mlsae_fault_set(f, 422, latent < 0 ? "layer" : "factor",
                                     "the %s logits are not finite (%s)",
                                     latent < 0 ? "reconstructed" : "steered",
                                     latent < 0 ? "the reconstruction overflowed"
                                                : "factor too large for float32");
    }
    if (!rc) {
        json_t *mx = max_logits(a, after, r->n_tokens, ix);
        json_t *ch = logit_changes(a, r->logits, after, r->n_tokens, ix, change);
        *out = json_pack("[o, o]", mx, ch);
    }
    pthread_mutex_unlock(&a->lock);
    free(h);
    free(after);
    free(change);
    free(ix);
    return rc;
}

int mlsae_analyser_logits_recon(mlsae_analyser *a, const char *prompt, size_t len, int64_t layer,
                                json_t **out, mlsae_fault *f)
{
    return spliced(a, prompt, len, layer, -1, 0, out, f);
}

int mlsae_analyser_logits_steer(mlsae_analyser *a, const char *prompt, size_t len,
                                int64_t latent, int64_t layer, double factor, json_t **out,
                                mlsae_fault *f)
{
    if (latent < 0)
        return mlsae_fault_set(f, 422, "latent", "latent %lld is out of range 0..%d",
                               (long long)latent, a->n_latents - 1);
    return spliced(a, prompt, len, layer, latent, factor, out, f);
}
