/* mlsae dists: the stream's TopK into per-layer counts and totals. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/csv_out.h"
#include "analysis/dists.h"
#include "analysis/run_common.h"
#include "pipeline/stream.h"

typedef struct step_row {
    int64_t step;
    uint64_t tokens;
    mlsae_summary s;
} step_row;

typedef struct dists_run {
    mlsae_dists d;
    int64_t every; /* batches between rows; <= 0: none */
    step_row *rows;
    size_t n_rows, cap_rows;
} dists_run;

static int consume(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    dists_run *r = ctx;
    if (mlsae_dists_update(&r->d, b->values, b->indices, b->rows_per_layer, b->n_tokens, b->k,
                           err))
        return -1;
    if (r->every <= 0 || b->index % r->every != 0) return 0;
    if (r->n_rows == r->cap_rows) {
        size_t cap = r->cap_rows ? 2 * r->cap_rows : 64;
        step_row *rows = realloc(r->rows, cap * sizeof *rows);
        if (!rows) return mlsae_fail(err, "out of memory");
        r->rows = rows;
        r->cap_rows = cap;
    }
    step_row *row = &r->rows[r->n_rows++];
    row->step = b->index;
    row->tokens = b->tokens_before + (uint64_t)b->n_tokens;
    return mlsae_dists_layer_std_summary(&r->d, &row->s, err);
}

static int write_steps(const dists_run *r, const mlsae_analysis_model *m, const char *path,
                       mlsae_error *err)
{
    static const char *const cols[] = {"model_name", "n_layers", "n_latents", "expansion_factor",
                                       "k",          "step",     "tokens",    "mean",
                                       "var",        "std",      "sem"};
    mlsae_csv_writer c;
    if (mlsae_csvw_open(&c, path, cols, 11, err)) return -1;
    for (size_t i = 0; i < r->n_rows; i++) {
        const step_row *row = &r->rows[i];
        mlsae_csvw_model(&c, m);
        mlsae_csvw_int(&c, row->step);
        mlsae_csvw_int(&c, (int64_t)row->tokens);
        mlsae_csvw_summary(&c, &row->s);
        mlsae_csvw_end_row(&c);
    }
    return mlsae_csvw_commit(&c, err);
}

int mlsae_analysis_dists(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                         const char *out_dir, FILE *progress, mlsae_analysis_result *res,
                         mlsae_error *err)
{
    memset(res, 0, sizeof *res);
    char stem[2048], name[2200];
    if (analysis_artefact_stem(ckpt, "dists", stem, sizeof stem, err) ||
        mlsae_analysis_out_dir(out_dir, err))
        return -1;
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, ckpt->dir, 0, &sae, err)) return -1;
    dists_run r;
    memset(&r, 0, sizeof r);
    r.every = cfg->trainer.log_every_n_steps;
    int rc = -1;
    const mlsae_sae_config *sc = mlsae_sae_get_config(sae);
    if (mlsae_dists_init(&r.d, s.n_layers, sc->n_latents, err)) goto done;
    mlsae_stream_options opt = {0};
    opt.sae = sae;
    opt.progress = progress;
    opt.label = "dists";
    mlsae_stream_summary sum;
    if (mlsae_stream_run(cfg, &s, &opt, consume, &r, &sum, err)) goto done;
    res->batches = sum.batches;
    res->tokens = sum.tokens;
    mlsae_analysis_model m;
    analysis_model_of(cfg, &s, sae, &m);
    const char *path;
    snprintf(name, sizeof name, "%s.safetensors", stem);
    if (!(path = analysis_add_file(res, out_dir, name, err)) ||
        mlsae_dists_write_safetensors(&r.d, path, err))
        goto done;
    snprintf(name, sizeof name, "%s.csv", stem);
    if (!(path = analysis_add_file(res, out_dir, name, err)) ||
        mlsae_dists_write_csv(&r.d, path, err))
        goto done;
    if (r.n_rows > 0) {
        snprintf(name, sizeof name, "dists_layer_std_step_%s.csv", ckpt->name);
        if (!(path = analysis_add_file(res, out_dir, name, err)) ||
            write_steps(&r, &m, path, err))
            goto done;
    }
    res->seconds = sum.seconds;
    rc = 0;
done:
    if (rc) analysis_remove_files(res);
    free(r.rows);
    mlsae_dists_free(&r.d);
    mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}
