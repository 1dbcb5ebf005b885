/* mlsae variances: the stream's TopK into the reference's layer variances. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "analysis/batch_log.h"
#include "analysis/csv_out.h"
#include "analysis/run_common.h"
#include "analysis/variances.h"
#include "pipeline/comm.h"
#include "pipeline/stream.h"

typedef struct var_run {
    mlsae_variances v;
    mlsae_batch_log log; /* each batch's five values */
    int64_t last_index;
} var_run;

static int consume(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    var_run *r = ctx;
    if (b->n_tokens == 0) return 0; /* past the budget: not a batch of one process */
    r->last_index = b->index;
    return mlsae_variances_update(&r->v, b->values, b->indices, b->rows_per_layer, b->n_tokens,
                                  b->k, err) ||
                   mlsae_batch_log_append(&r->log, b->index, r->v.batch, err)
               ? -1
               : 0;
}

/* The batches' values summed in batch order on rank 0: over MPI
 * (doc/scaling.md) every rank's to rank 0 first, so that the sums are one
 * process's, bit for bit; the last batch's number is the ranks' largest. */
static int sum_batches(void *ctx, mlsae_error *err)
{
    var_run *r = ctx;
    if (mlsae_batch_log_gather(&r->log, err) ||
        (mlsae_comm_size() > 1 && mlsae_comm_max_i64(&r->last_index, 1, err)))
        return -1;
    for (size_t i = 0; i < r->log.n; i++)
        mlsae_variances_add(&r->v, mlsae_batch_log_values(&r->log, i));
    return 0;
}

int mlsae_analysis_variances(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                             const char *out_dir, FILE *progress, mlsae_analysis_result *res,
                             mlsae_error *err)
{
    static const char *const cols[] = {"model_name",   "n_layers",  "n_latents", "expansion_factor",
                                       "k",            "step",      "tokens",    "exp_var_l_f",
                                       "exp_var_l_tf", "var_l",     "rel_var_f", "rel_var_t"};
    memset(res, 0, sizeof *res);
    char name[2200];
    if (mlsae_analysis_out_dir(out_dir, err)) return -1;
    snprintf(name, sizeof name, "variances_%s.csv", ckpt->name);
    if (analysis_check_output(out_dir, name, err)) return -1;
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, ckpt->dir, 0, &sae, err)) return -1;
    var_run r;
    memset(&r, 0, sizeof r);
    r.last_index = -1;
    mlsae_batch_log_init(&r.log, 5);
    int rc = -1;
    if (mlsae_variances_init(&r.v, s.n_layers, mlsae_sae_get_config(sae)->n_latents, err))
        goto done;
    int writer = analysis_stream(cfg, &s, sae, progress, "variances",
                                 consume, &r, sum_batches, res, err);
    if (writer <= 0) {
        rc = writer; /* -1: failed; 0: rank 0 writes, not this rank */
        goto done;
    }
    mlsae_analysis_model m;
    analysis_model_of(cfg, &s, sae, &m);
    double out[5];
    mlsae_variances_compute(&r.v, out);
    snprintf(name, sizeof name, "variances_%s.csv", ckpt->name);
    const char *path = analysis_add_file(res, out_dir, name, err);
    mlsae_csv_writer c;
    if (!path || mlsae_csvw_open(&c, path, cols, 12, err)) {
        res->n_files = 0;
        goto done;
    }
    mlsae_csvw_model(&c, &m);
    mlsae_csvw_int(&c, r.last_index);
    mlsae_csvw_int(&c, (int64_t)res->tokens);
    for (int i = 0; i < 5; i++) mlsae_csvw_real(&c, out[i]);
    mlsae_csvw_end_row(&c);
    if (mlsae_csvw_commit(&c, err)) {
        res->n_files = 0;
        goto done;
    }
    rc = 0;
done:
    mlsae_variances_free(&r.v);
    mlsae_batch_log_free(&r.log);
    mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}
