#include "config.h"
#include "figures/prompt_heatmap.h"
#include "sae/checkpoint.h"
#include "tokenizer/ids.h"
#include "pipeline/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mlsae_prompt_probs_free(mlsae_prompt_probs *p)
{
    free(p->probs);
    free(p->latents);
    memset(p, 0, sizeof *p);
}

int mlsae_prompt_probs_compute(const mlsae_run_config *cfg, const char *sae_dir,
                               const char *prompt, double dead_threshold,
                               mlsae_prompt_probs *out, mlsae_error *err)
{
    memset(out, 0, sizeof *out);
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, sae_dir, 0, &sae, err)) return -1;
    mlsae_ids ids = {0};
    mlsae_eval_buffers eb = {0};
    double *acc = NULL, *probs = NULL, *mean = NULL;
    float *vals = NULL;
    int32_t *idx = NULL;
    int64_t *order = NULL;
    int rc = -1;
    if (mlsae_tokenizer_encode(s.tok, prompt, strlen(prompt), &ids, err)) goto done;
    const mlsae_neox_config *mc = mlsae_neox_get_config(s.model);
    if (ids.len == 0) {
        mlsae_fail(err, "--prompt: empty (no tokens)");
        goto done;
    }
    if ((int64_t)ids.len > (int64_t)mc->max_positions) {
        mlsae_fail(err, "--prompt: %zu tokens, longer than the model's context of %lld", ids.len,
                   (long long)mc->max_positions);
        goto done;
    }
    const int seq = (int)ids.len, L = s.n_layers;
    const int N = mlsae_sae_get_config(sae)->n_latents;
    if (mlsae_eval_buffers_init(&eb, &s, 1, seq, NULL, err) ||
        mlsae_eval_activations(&eb, ids.data, 1, seq, err))
        goto done;
    mlsae_sae_forward_out fo;
    if (mlsae_sae_forward(sae, mlsae_at(eb.x_sae, 0), L, seq, &fo, NULL, err)) goto done;
    const size_t nk = (size_t)fo.rows * (size_t)fo.k;
    vals = malloc(nk * sizeof *vals);
    idx = malloc(nk * sizeof *idx);
    acc = calloc((size_t)L * N, sizeof *acc);
    if (!vals || !idx || !acc) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    mlsae_backend *be = s.sae_be;
    if (be->ops->core.read(be, fo.values.buf, fo.values.off * 4, vals, nk * 4) ||
        be->ops->core.read(be, fo.indices.buf, fo.indices.off * 4, idx, nk * 4)) {
        mlsae_fail(err, "reading the SAE's TopK: %s", mlsae_backend_error(be));
        goto done;
    }
    /* rows are [n_layers, 1, seq]: sum each layer's values over the tokens */
    for (int r = 0; r < fo.rows; r++) {
        int l = r / seq;
        for (int q = 0; q < fo.k; q++) {
            int32_t j = idx[(size_t)r * fo.k + q];
            if (j >= 0 && j < N) acc[(size_t)l * N + j] += vals[(size_t)r * fo.k + q];
        }
    }
    int n = 0;
    int64_t *kept = malloc(((size_t)N + 1) * sizeof *kept);
    mean = malloc(((size_t)N + 1) * sizeof *mean);
    order = malloc(((size_t)N + 1) * sizeof *order);
    if (!kept || !mean || !order) {
        free(kept);
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (int j = 0; j < N; j++) {
        double mx = -INFINITY, sum = 0, m1 = 0;
        for (int l = 0; l < L; l++) mx = fmax(mx, acc[(size_t)l * N + j]), sum += acc[(size_t)l * N + j];
        if (!(mx > dead_threshold)) continue;
        for (int l = 0; l < L; l++) m1 += l * (acc[(size_t)l * N + j] / sum);
        kept[n] = j;
        mean[n] = m1;
        n++;
    }
    if (n == 0) {
        free(kept);
        mlsae_fail(err, "no latent's activation on the prompt exceeds dead_threshold %g", dead_threshold);
        goto done;
    }
    if (mlsae_argsort_desc(mean, (size_t)n, order) != 0) {
        free(kept);
        mlsae_fail(err, "out of memory");
        goto done;
    }
    out->probs = malloc((size_t)L * n * sizeof *out->probs);
    out->latents = malloc((size_t)n * sizeof *out->latents);
    if (!out->probs || !out->latents) {
        free(kept);
        mlsae_prompt_probs_free(out);
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int64_t j = kept[order[i]];
        double sum = 0;
        for (int l = 0; l < L; l++) sum += acc[(size_t)l * N + j];
        out->latents[i] = j;
        for (int l = 0; l < L; l++) out->probs[(size_t)l * n + i] = (float)(acc[(size_t)l * N + j] / sum);
    }
    free(kept);
    out->n_layers = L;
    out->n_latents = n;
    out->n_tokens = seq;
    rc = 0;
done:
    free(acc), free(probs), free(mean), free(vals), free(idx), free(order);
    mlsae_ids_free(&ids);
    mlsae_eval_buffers_free(&eb);
    mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}

int mlsae_fig_prompt_heatmap(const mlsae_prompt_probs *p, const char *name, const char *base,
                             const mlsae_fig_opts *o, mlsae_error *err)
{
    int L = p->n_layers, n = p->n_latents;
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    mlsae_csv_text(&csv, "layer");
    for (int i = 0; i < n; i++) mlsae_csv_int(&csv, p->latents[i]);
    mlsae_csv_end_row(&csv);
    double vmin = INFINITY, vmax = -INFINITY;
    for (int l = 0; l < L; l++) {
        mlsae_csv_int(&csv, l);
        for (int i = 0; i < n; i++) {
            double v = p->probs[(size_t)l * n + i];
            mlsae_csv_real(&csv, v);
            if (!isnan(v)) vmin = fmin(vmin, v), vmax = fmax(vmax, v);
        }
        mlsae_csv_end_row(&csv);
    }
    if (!(vmax > vmin)) vmax = vmin + 1;
    int paper = o->style == MLSAE_STYLE_PAPER;
    mlsae_plot *pl = paper ? mlsae_plot_new(5.5 * 72, 1.25 * 72, o->style)
                           : mlsae_plot_new(6.5 * 72, 2.4 * 72, o->style);
    if (!pl) {
        mlsae_csv_free(&csv);
        return mlsae_fail(err, "out of memory");
    }
    char title[512];
    snprintf(title, sizeof title, "%d latents active on a %d-token prompt: %s", n, p->n_tokens,
             name);
    mlsae_plot_axes(pl, 0, 0, 1, 1, 0, n, L, 0, title, "latent (sorted by mean layer, descending)",
                    "layer", 1);
    mlsae_plot_layer_ticks(pl, L);
    mlsae_plot_image(pl, p->probs, L, n, 0, n, 0, L, vmin, vmax);
    mlsae_plot_colorbar(pl, vmin, vmax, "share of activation");
    mlsae_plot_finish_axes(pl);
    int rc = mlsae_fig_write(pl, &csv, base, o, err);
    mlsae_plot_free(pl);
    mlsae_csv_free(&csv);
    return rc;
}
