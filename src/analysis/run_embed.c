/* mlsae embed-cos-sim: the most similar input and output embeddings of each
 * latent's decoder column. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/csv_out.h"
#include "analysis/embed_cos_sim.h"
#include "analysis/run_common.h"
#include "core/progress.h"
#include "core/safetensors.h"

/* Unit rows of one embedding matrix [vocab, d] of the model directory. */
static float *read_embedding(const char *model_dir, const char *name, int vocab, int d,
                             mlsae_error *err)
{
    mlsae_safetensors *st = NULL;
    if (mlsae_st_open(model_dir, &st, err)) return NULL;
    float *e = malloc((size_t)vocab * d * sizeof *e);
    int64_t shape[2] = {vocab, d};
    if (!e) mlsae_fail(err, "out of memory");
    if (!e || mlsae_st_read_f32(st, name, 2, shape, e, err)) {
        free(e);
        mlsae_st_close(st);
        return NULL;
    }
    mlsae_st_close(st);
    mlsae_unit_rows(e, vocab, d);
    return e;
}

static int write_rows(const char *path, const mlsae_tokenizer *tok, const int *latents, int n,
                      int n_embeds, const int32_t *idx, const float *val, mlsae_error *err)
{
    static const char *const cols[] = {"latent", "token", "sim"};
    mlsae_csv_writer c;
    if (mlsae_csvw_open(&c, path, cols, 3, err)) return -1;
    for (int i = 0; i < n; i++)
        for (int e = 0; e < n_embeds; e++) {
            int32_t id = idx[(size_t)i * n_embeds + e];
            char *text = NULL;
            size_t len;
            mlsae_error ignored;
            /* an embedding row beyond the tokenizer's vocabulary decodes to "" (as HF) */
            if (mlsae_tokenizer_decode(tok, &id, 1, 0, &text, &len, &ignored)) text = NULL;
            mlsae_csvw_int(&c, latents[i]);
            mlsae_csvw_str(&c, text ? text : "");
            mlsae_csvw_real(&c, val[(size_t)i * n_embeds + e]);
            mlsae_csvw_end_row(&c);
            free(text);
        }
    return mlsae_csvw_commit(&c, err);
}

int mlsae_analysis_embed_cos_sim(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                                 const int *latents_in, int n_latents_in, int n_embeds,
                                 const char *out_dir, mlsae_analysis_result *res,
                                 mlsae_error *err)
{
    static const char *const cols[] = {"model_name", "n_latents", "expansion_factor", "k",
                                       "tuned_lens", "in_mean",   "in_var",           "in_std",
                                       "in_sem",     "out_mean",  "out_var",          "out_std",
                                       "out_sem"};
    memset(res, 0, sizeof *res);
    double t0 = mlsae_monotonic_seconds(NULL);
    if (mlsae_analysis_out_dir(out_dir, err)) return -1;
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, ckpt->dir, 0, &sae, err)) return -1;
    const mlsae_sae_config *sc = mlsae_sae_get_config(sae);
    const int d = sc->n_inputs, n_all = sc->n_latents;
    const int vocab = mlsae_neox_get_config(s.model)->vocab_size;
    int n = n_latents_in > 0 ? n_latents_in : n_all;
    int *latents = malloc((size_t)n * sizeof *latents);
    float *dec = malloc((size_t)d * n_all * sizeof *dec), *w = malloc((size_t)n * d * sizeof *w);
    float *e_in = NULL, *e_out = NULL, *val[2] = {NULL, NULL};
    int32_t *idx[2] = {NULL, NULL};
    double *best[2] = {NULL, NULL};
    int rc = -1;
    if (!latents || !dec || !w) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        latents[i] = n_latents_in > 0 ? latents_in[i] : i;
        if (latents[i] < 0 || latents[i] >= n_all) {
            mlsae_fail(err, "latents: %d is outside 0..%d", latents[i], n_all - 1);
            goto done;
        }
    }
    if (mlsae_sae_get_params(sae, NULL, dec, NULL, NULL, err)) goto done;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) w[(size_t)i * d + c] = dec[(size_t)c * n_all + latents[i]];
    mlsae_unit_rows(w, n, d);
    if (!(e_in = read_embedding(s.model_dir, "gpt_neox.embed_in.weight", vocab, d, err)) ||
        !(e_out = read_embedding(s.model_dir, "embed_out.weight", vocab, d, err)))
        goto done;
    const float *embeds[2] = {e_in, e_out};
    const char *which[2] = {"in", "out"};
    mlsae_summary sum[2];
    for (int t = 0; t < 2; t++) {
        idx[t] = malloc((size_t)n * n_embeds * sizeof *idx[t]);
        val[t] = malloc((size_t)n * n_embeds * sizeof *val[t]);
        best[t] = malloc((size_t)n * sizeof *best[t]);
        if (!idx[t] || !val[t] || !best[t]) {
            mlsae_fail(err, "out of memory");
            goto done;
        }
        if (mlsae_embed_topk(s.sae_be, embeds[t], vocab, w, n, d, n_embeds, idx[t], val[t], err))
            goto done;
        for (int i = 0; i < n; i++) best[t][i] = val[t][(size_t)i * n_embeds];
        mlsae_summary_of(best[t], (size_t)n, 0, &sum[t]);
    }
    char name[2200];
    for (int t = 0; t < 2; t++) {
        snprintf(name, sizeof name, "embed_%s_cos_sim_%s.csv", which[t], ckpt->name);
        const char *path = analysis_add_file(res, out_dir, name, err);
        if (!path) goto done;
        if (write_rows(path, s.tok, latents, n, n_embeds, idx[t], val[t], err)) {
            res->n_files--;
            goto done;
        }
    }
    const char *path = analysis_add_file(res, out_dir, "embed_cos_sim.csv", err);
    mlsae_csv_writer c;
    if (!path || mlsae_csvw_open(&c, path, cols, 13, err)) {
        if (path) res->n_files--;
        goto done;
    }
    mlsae_csvw_str(&c, cfg->model_name);
    mlsae_csvw_int(&c, n);
    mlsae_csvw_int(&c, n_all / d);
    mlsae_csvw_int(&c, sc->k);
    mlsae_csvw_str(&c, "False");
    for (int t = 0; t < 2; t++) mlsae_csvw_summary(&c, &sum[t]);
    mlsae_csvw_end_row(&c);
    if (mlsae_csvw_commit(&c, err)) {
        res->n_files--;
        goto done;
    }
    rc = 0;
done:
    if (rc) analysis_remove_files(res);
    res->seconds = mlsae_monotonic_seconds(NULL) - t0;
    for (int t = 0; t < 2; t++) {
        free(idx[t]);
        free(val[t]);
        free(best[t]);
    }
    free(e_in);
    free(e_out);
    free(latents);
    free(dec);
    free(w);
    mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}
