/* mlsae dists: the stream's TopK into per-layer counts and totals. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "analysis/csv_out.h"
#include "analysis/dists.h"
#include "analysis/run_common.h"
#include "pipeline/comm.h"
#include "pipeline/stream.h"

typedef struct step_row {
    int64_t step;
    int64_t tokens;  /* over MPI: set by the rank that ran batch `step`, 0 elsewhere */
    mlsae_summary s;
    double *totals;  /* over MPI: this rank's totals up to batch `step` */
} step_row;

/* Step rows. One process: at every batch g with g % every == 0 the
 * summary of the totals so far. Over MPI (doc/scaling.md) rank r runs only
 * the batches g % N == r, so each rank keeps, for every such g, a copy of
 * ITS totals over its batches <= g; after the stream those copies are
 * summed on rank 0, which takes the summaries: the one-process rows, with
 * the totals added in another order (float rounding). */
typedef struct dists_run {
    mlsae_dists d;
    int64_t every;   /* batches between rows; <= 0: none */
    int ranks;
    int64_t next;    /* over MPI: the next row's batch not yet copied */
    int64_t last;    /* the last batch run here; -1: none */
    step_row *rows;
    size_t n_rows, cap_rows;
} dists_run;

static step_row *add_row(dists_run *r, int64_t step, mlsae_error *err)
{
    if (r->n_rows == r->cap_rows) {
        size_t cap = r->cap_rows ? 2 * r->cap_rows : 64;
        step_row *rows = realloc(r->rows, cap * sizeof *rows);
        if (!rows) {
            mlsae_fail(err, "out of memory");
            return NULL;
        }
        r->rows = rows;
        r->cap_rows = cap;
    }
    step_row *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    row->step = step;
    return row;
}

/* Over MPI: copy this rank's totals as its part of every row up to batch
 * `upto` not copied yet. */
static int copy_rows(dists_run *r, int64_t upto, mlsae_error *err)
{
    size_t n = (size_t)r->d.n_layers * r->d.n_latents;
    for (; r->next <= upto; r->next += r->every) {
        step_row *row = add_row(r, r->next, err);
        if (!row) return -1;
        if (!(row->totals = malloc(n * sizeof *row->totals)))
            return mlsae_fail(err, "out of memory for the step rows' totals");
        memcpy(row->totals, r->d.totals, n * sizeof *row->totals);
    }
    return 0;
}

static int consume(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    dists_run *r = ctx;
    if (b->n_tokens == 0) return 0; /* past the budget: not a batch of one process */
    /* the rows before this batch hold this rank's totals as they are */
    if (r->every > 0 && r->ranks > 1 && copy_rows(r, b->index - 1, err)) return -1;
    if (mlsae_dists_update(&r->d, b->values, b->indices, b->rows_per_layer, b->n_tokens, b->k,
                           err))
        return -1;
    r->last = b->index;
    if (r->every <= 0 || b->index % r->every != 0) return 0;
    int64_t tokens = (int64_t)(b->tokens_before + (uint64_t)b->n_tokens);
    if (r->ranks > 1) {
        if (copy_rows(r, b->index, err)) return -1;
        r->rows[r->n_rows - 1].tokens = tokens;
        return 0;
    }
    step_row *row = add_row(r, b->index, err);
    if (!row) return -1;
    row->tokens = tokens;
    return mlsae_dists_layer_std_summary(&r->d, &row->s, err);
}

/* Over MPI, after the stream: every rank's counts, totals and step rows
 * summed on rank 0 (doc/scaling.md), which then holds what one process
 * computes. */
static int reduce_ranks(void *ctx, mlsae_error *err)
{
    dists_run *r = ctx;
    if (r->ranks <= 1) return 0;
    const int root = 0, rank = mlsae_comm_rank();
    size_t n = (size_t)r->d.n_layers * r->d.n_latents;
    if (mlsae_comm_reduce_sum_f64(r->d.counts, n, root, err) ||
        mlsae_comm_reduce_sum_f64(r->d.totals, n, root, err))
        return -1;
    if (r->every <= 0) return 0;
    /* the rows of one process: every `every` batches up to the last one */
    int64_t last = r->last;
    if (mlsae_comm_max_i64(&last, 1, err) || copy_rows(r, last, err)) return -1;
    int64_t *tokens = malloc((r->n_rows ? r->n_rows : 1) * sizeof *tokens);
    if (!tokens) return mlsae_fail(err, "out of memory");
    for (size_t i = 0; i < r->n_rows; i++) tokens[i] = r->rows[i].tokens;
    int rc = mlsae_comm_sum_i64(tokens, r->n_rows, err);
    for (size_t i = 0; i < r->n_rows && rc == 0; i++) {
        step_row *row = &r->rows[i];
        row->tokens = tokens[i];
        rc = mlsae_comm_reduce_sum_f64(row->totals, n, root, err);
        if (rc == 0 && rank == root)
            rc = mlsae_dists_layer_std_summary_of(row->totals, r->d.n_layers, r->d.n_latents,
                                                  &row->s, err);
        free(row->totals);
        row->totals = NULL;
    }
    free(tokens);
    return rc;
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
    snprintf(name, sizeof name, "%s.safetensors", stem);
    if (analysis_check_output(out_dir, name, err)) return -1;
    snprintf(name, sizeof name, "%s.csv", stem);
    if (analysis_check_output(out_dir, name, err)) return -1;
    snprintf(name, sizeof name, "dists_layer_std_step_%s.csv", ckpt->name);
    if (cfg->trainer.log_every_n_steps > 0 && analysis_check_output(out_dir, name, err)) return -1;
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, ckpt->dir, 0, &sae, err)) return -1;
    dists_run r;
    memset(&r, 0, sizeof r);
    r.every = cfg->trainer.log_every_n_steps;
    r.ranks = mlsae_comm_size();
    r.last = -1;
    int rc = -1;
    const mlsae_sae_config *sc = mlsae_sae_get_config(sae);
    if (mlsae_dists_init(&r.d, s.n_layers, sc->n_latents, err)) goto done;
    int writer = analysis_stream(cfg, &s, sae, progress, "dists",
                                 consume, &r, reduce_ranks, res, err);
    if (writer <= 0) {
        rc = writer; /* -1: failed; 0: rank 0 writes, not this rank */
        goto done;
    }
    mlsae_analysis_model m;
    analysis_model_of(cfg, &s, sae, &m);
    const char *path;
    /* a file whose write failed is not ours to remove: whatever is at its
     * path (an earlier run's file) stays; those written before it go */
    snprintf(name, sizeof name, "%s.safetensors", stem);
    if (!(path = analysis_add_file(res, out_dir, name, err))) goto done;
    if (mlsae_dists_write_safetensors(&r.d, path, err)) {
        res->n_files--;
        goto done;
    }
    snprintf(name, sizeof name, "%s.csv", stem);
    if (!(path = analysis_add_file(res, out_dir, name, err))) goto done;
    if (mlsae_dists_write_csv(&r.d, path, err)) {
        res->n_files--;
        goto done;
    }
    if (r.n_rows > 0) {
        snprintf(name, sizeof name, "dists_layer_std_step_%s.csv", ckpt->name);
        if (!(path = analysis_add_file(res, out_dir, name, err))) goto done;
        if (write_steps(&r, &m, path, err)) {
            res->n_files--;
            goto done;
        }
    }
    rc = 0;
done:
    if (rc) analysis_remove_files(res);
    for (size_t i = 0; i < r.n_rows; i++) free(r.rows[i].totals);
    free(r.rows);
    mlsae_dists_free(&r.d);
    mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}
