#include "config.h"
#include "eval/evaluate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/metrics_log.h"
#include "core/progress.h"
#include "backend/lowp.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"
#include "dataset/loader.h"
#include "eval/downstream.h"
#include "eval/layer_log.h"
#include "pipeline/comm.h"
#include "pipeline/session.h"
#include "eval/test_losses.h"

#define MAXL MLSAE_CONFIG_MAX_LAYERS

/* Running sums of the per-batch values. */
typedef struct sums {
    double dead_rel, loss_total, loss_mse, loss_aux;
    double l1[MAXL], mse[MAXL], fvu[MAXL], l0[MAXL];
    double delta[MAXL], logit_mse[MAXL], kl[MAXL];
} sums;

static json_t *build_row(const sums *s, double n, const int *layers, int n_layers)
{
    json_t *row = json_object();
    if (!row) return NULL;
    double v[MAXL];
    mlsae_metrics_row_set(row, "train/dead/rel", s->dead_rel / n);
#define LAYERWISE(name, field)                                        \
    do {                                                              \
        for (int i = 0; i < n_layers; i++) v[i] = s->field[i] / n;    \
        mlsae_layer_log_values(row, name, layers, n_layers, v);       \
    } while (0)
    LAYERWISE("train/l1/", l1);
    LAYERWISE("train/mse/", mse);
    LAYERWISE("train/fvu/", fvu);
    LAYERWISE("train/l0/", l0);
    LAYERWISE("val/loss/delta/", delta);
    LAYERWISE("val/logit/mse/", logit_mse);
    LAYERWISE("val/logit/kldiv/", kl);
#undef LAYERWISE
    mlsae_metrics_row_set(row, "loss/total", s->loss_total / n);
    mlsae_metrics_row_set(row, "loss/mse", s->loss_mse / n);
    mlsae_metrics_row_set(row, "loss/auxk", s->loss_aux / n);
    return row;
}

static int write_csv(const char *path, json_t *row, mlsae_error *err)
{
    /* A fresh file each time: the metrics log writes header + row atomically. */
    mlsae_metrics_log *log = NULL;
    mlsae_metrics_log_options opt = {MLSAE_METRICS_CSV, 0, NULL, 0};
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    if (mlsae_metrics_log_open(&log, tmp, &opt, err)) return -1;
    int rc = mlsae_metrics_log_write(log, row, err);
    if (mlsae_metrics_log_close(log, rc ? NULL : err)) rc = -1;
    if (!rc && rename(tmp, path) != 0) rc = mlsae_fail_errno(err, "%s: cannot rename into place", path);
    if (rc) remove(tmp);
    return rc;
}

/* With a lens, loss/mse and loss/auxk between the inputs x and the
 * un-lensed reconstruction r (on the model's backend) and the SAE's AuxK
 * reconstruction (train/test_losses.h). */
static int lens_losses(mlsae_session *s, mlsae_sae *sae, mlsae_ref x, mlsae_ref r, int rows_per_layer,
                       float *hx, float *hr, float *ha, double *mse_out, double *aux_out,
                       mlsae_error *err)
{
    const size_t n = (size_t)s->n_layers * rows_per_layer * s->d_model;
    if (s->be->ops->core.read(s->be, x.buf, x.off * 4, hx, n * 4) ||
        s->be->ops->core.read(s->be, r.buf, r.off * 4, hr, n * 4))
        return mlsae_fail(err, "lens losses: %s", mlsae_backend_error(s->be));
    const mlsae_sae_config *c = mlsae_sae_get_config(sae);
    if (c->auxk > 0 && mlsae_sae_last_auxk(sae, NULL, NULL, ha, err)) return -1;
    mlsae_test_losses_host(hx, hr, c->auxk > 0 ? ha : NULL, s->n_layers, (size_t)rows_per_layer,
                           s->d_model, c->auxk_coef, mse_out, aux_out);
    return 0;
}

int mlsae_test(const mlsae_run_config *cfg, const char *sae_dir, const char *csv_path,
               FILE *progress, mlsae_test_summary *summary, mlsae_error *err)
{
    memset(summary, 0, sizeof *summary);
    double t0 = mlsae_monotonic_seconds(NULL);
    /* the SAE's sizes come from the checkpoint; a -tfm's transformer weights
     * are the ones tested */
    mlsae_session s;
    mlsae_sae *sae = NULL;
    if (mlsae_session_open_sae(&s, cfg, sae_dir, 1, &sae, err)) return -1;
    float *lens_host = NULL;
    mlsae_loader *loader = NULL;
    mlsae_downstream *ds = NULL;
    mlsae_eval_buffers eb = {0};
    sums *acc = calloc(1, sizeof *acc);
    json_t *row = NULL;
    mlsae_progress prog;
    int prog_on = 0, rc = -1;
    if (!acc) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (mlsae_session_check_data(&s, cfg, err) || mlsae_check_output_file(csv_path, err))
        goto done;
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    const int n = s.n_layers;
    mlsae_run_derived derived;
    mlsae_run_config_derive(cfg, &derived);
    const int64_t limit = derived.limit_test_batches;
    if (mlsae_eval_buffers_init(&eb, &s, batch, seq, NULL, err)) goto done;
    if (mlsae_downstream_new(&s, batch, seq, &ds, err)) goto done;
    if (s.lens && !(lens_host = malloc(3 * eb.n * sizeof *lens_host))) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    const char *sources[1] = {cfg->data.path};
    mlsae_loader_config lc = {0};
    lc.sources = sources;
    lc.n_sources = 1;
    lc.tok = s.tok;
    lc.seq.max_length = (size_t)seq;
    lc.seq.batch_size = (size_t)batch;
    lc.seq.n_threads = cfg->data.num_workers == MLSAE_CONFIG_NONE ? 0 : (int)cfg->data.num_workers;
    if (mlsae_loader_open(&lc, &loader, err)) goto done;
    if (progress) {
        mlsae_progress_options po;
        mlsae_progress_options_default(&po);
        po.unit = "tok";
        mlsae_progress_start(&prog, progress, "test", 0, (uint64_t)limit * batch * seq, &po);
        prog_on = 1;
    }
    /* Data parallel (doc/scaling.md): rank r of N evaluates the batches r,
     * r + N, ... of the stream (every rank reads all of them) and the sums
     * are added over the ranks at the end: the averages of one process. */
    const int rank = mlsae_comm_rank(), ranks = mlsae_comm_size();
    int64_t read = 0;
    mlsae_batch b;
    int got;
    while (read < limit && (got = mlsae_loader_next(loader, &b, err)) != 0) {
        if (got < 0) goto done;
        if (read++ % ranks != rank) continue;
        const int rows_per_layer = (int)b.rows * seq;
        mlsae_ref x = mlsae_at(eb.x_sae, 0), recons, true_path;
        mlsae_sae_forward_out fo;
        mlsae_sae_layer_metrics lm[MAXL];
        mlsae_downstream_layer dl[MAXL];
        double mse, aux, dead_rel;
        if (mlsae_eval_activations(&eb, b.ids, (int)b.rows, seq, err) ||
            mlsae_sae_test_forward(sae, x, n, rows_per_layer, &fo, &mse, &aux, err) ||
            mlsae_sae_last_metrics(sae, x, lm, (double)cfg->autoencoder.dead_tokens_threshold,
                                   &dead_rel, err) ||
            mlsae_eval_recons(&eb, fo.recons, (int)b.rows, seq, &recons, err) ||
            mlsae_eval_unlens(&eb, recons, (int)b.rows, seq, &true_path, err) ||
            (s.lens && lens_losses(&s, sae, true_path, recons, rows_per_layer, lens_host,
                                   lens_host + eb.n, lens_host + 2 * eb.n, &mse, &aux, err)) ||
            mlsae_downstream_batch(ds, true_path, recons, b.ids, (int)b.rows, seq, dl, err))
            goto done;
        acc->dead_rel += dead_rel;
        acc->loss_mse += mse;
        acc->loss_aux += aux;
        acc->loss_total += mse + aux;
        for (int l = 0; l < n; l++) {
            acc->l1[l] += lm[l].l1;
            acc->mse[l] += lm[l].mse;
            acc->fvu[l] += lm[l].fvu;
            acc->l0[l] += lm[l].l0;
            acc->delta[l] += dl[l].loss_delta;
            acc->logit_mse[l] += dl[l].logit_mse;
            acc->kl[l] += dl[l].kl;
        }
        summary->batches++;
        summary->tokens += (uint64_t)rows_per_layer;
        if (prog_on) {
            mlsae_progress_set(&prog, "fvu", lm[0].fvu);
            mlsae_progress_update(&prog, (uint64_t)read * (uint64_t)rows_per_layer);
        }
    }
    {
        double counts[2] = {(double)summary->batches, (double)summary->tokens};
        if (mlsae_comm_sum_f64((double *)acc, sizeof *acc / sizeof(double), err) ||
            mlsae_comm_sum_f64(counts, 2, err))
            goto done;
        summary->batches = (int64_t)counts[0];
        summary->tokens = (uint64_t)counts[1];
    }
    if (summary->batches == 0) {
        mlsae_fail(err, "%s: no complete sequence of %d tokens in the test data", cfg->data.path,
                   seq);
        goto done;
    }
    row = build_row(acc, (double)summary->batches, s.layers, n);
    if (!row) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (rank == 0 && write_csv(csv_path, row, err)) goto done;
    summary->loss_total = acc->loss_total / summary->batches;
    double fvu = 0, delta = 0;
    for (int l = 0; l < n; l++) {
        fvu += acc->fvu[l];
        delta += acc->delta[l];
    }
    summary->fvu_avg = fvu / n / summary->batches;
    summary->loss_delta_avg = delta / n / summary->batches;
    rc = 0;
done:
    if (prog_on) mlsae_progress_finish(&prog);
    summary->seconds = mlsae_monotonic_seconds(NULL) - t0;
    if (row) json_decref(row);
    free(acc);
    free(lens_host);
    if (loader) mlsae_loader_close(loader);
    if (ds) mlsae_downstream_free(ds);
    mlsae_eval_buffers_free(&eb);
    if (sae) mlsae_sae_free(sae);
    mlsae_session_close(&s);
    return rc;
}
