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
#include "eval/downstream.h"
#include "eval/layer_log.h"
#include "pipeline/comm.h"
#include "pipeline/session.h"
#include "pipeline/stream.h"
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

/* One SAE under test. */
typedef struct tested {
    const mlsae_test_target *t;
    mlsae_sae *sae;
    mlsae_buffer *r_model; /* two backends: its reconstruction on the model's backend */
    sums acc;
    /* this batch's */
    mlsae_sae_layer_metrics lm[MAXL];
    mlsae_downstream_layer dl[MAXL];
    double mse, aux, dead_rel;
} tested;

/* The consumer of the stream. */
typedef struct test_pass {
    mlsae_session *s;
    tested *sae;
    int n;
    mlsae_ref *recons;                /* [n]: this batch's, on the model's backend */
    mlsae_downstream_layer **dl;      /* [n]: sae[i].dl */
    int batch;
    int64_t limit;          /* batches */
    mlsae_eval_buffers eb;  /* x_sae: the stream's activations */
    mlsae_downstream *ds;
    float *lens_host;
    int64_t batches;        /* this rank's */
    uint64_t tokens;
} test_pass;

static int test_batch(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    test_pass *p = ctx;
    mlsae_session *s = p->s;
    const int n = s->n_layers, rows = b->rows, seq = b->seq;
    if (!p->eb.s && mlsae_eval_buffers_init(&p->eb, s, p->batch, seq, b->x.buf, err))
        return -1;
    if (mlsae_session_split(s)) {
        /* the transformer's backend gets what the SAE's got */
        size_t bytes = (size_t)n * b->rows_per_layer * s->d_model * sizeof(float);
        if (s->be->ops->core.write(s->be, p->eb.x_model, 0, b->x_host, bytes))
            return mlsae_fail(err, "activations to the model's backend: %s",
                              mlsae_backend_error(s->be));
    }
    /* each SAE on the batch; the true path is the same for all (the
     * activations, un-lensed with the exact inverse) */
    mlsae_ref true_path = MLSAE_NOREF;
    for (int i = 0; i < p->n; i++) {
        tested *t = &p->sae[i];
        mlsae_sae_forward_out fo;
        if (mlsae_sae_test_forward(t->sae, b->x, n, b->rows_per_layer, &fo, &t->mse, &t->aux,
                                   err) ||
            mlsae_sae_last_metrics(t->sae, b->x, t->lm,
                                   (double)t->t->cfg->autoencoder.dead_tokens_threshold,
                                   &t->dead_rel, err) ||
            mlsae_eval_recons_to(&p->eb, fo.recons, rows, seq, t->r_model, &p->recons[i], err) ||
            mlsae_eval_unlens(&p->eb, p->recons[i], rows, seq, &true_path, err) ||
            (s->lens && lens_losses(s, t->sae, true_path, p->recons[i], b->rows_per_layer,
                                    p->lens_host, p->lens_host + p->eb.n,
                                    p->lens_host + 2 * p->eb.n, &t->mse, &t->aux, err)))
            return -1;
    }
    if (mlsae_downstream_batch_many(p->ds, true_path, p->recons, p->n, b->ids, rows, seq, p->dl,
                                    err))
        return -1;
    for (int i = 0; i < p->n; i++) {
        const tested *t = &p->sae[i];
        sums *acc = &p->sae[i].acc;
        acc->dead_rel += t->dead_rel;
        acc->loss_mse += t->mse;
        acc->loss_aux += t->aux;
        acc->loss_total += t->mse + t->aux;
        for (int l = 0; l < n; l++) {
            acc->l1[l] += t->lm[l].l1;
            acc->mse[l] += t->lm[l].mse;
            acc->fvu[l] += t->lm[l].fvu;
            acc->l0[l] += t->lm[l].l0;
            acc->delta[l] += t->dl[l].loss_delta;
            acc->logit_mse[l] += t->dl[l].logit_mse;
            acc->kl[l] += t->dl[l].kl;
        }
    }
    p->batches++;
    p->tokens += (uint64_t)b->rows_per_layer;
    if (b->progress) mlsae_progress_set(b->progress, "fvu", p->sae[0].lm[0].fvu);
    /* the last batch of the test's limit (global batch number): stop */
    return b->index + 1 >= p->limit;
}

/* One target's row, CSV (rank 0) and summary. */
static int finish(const test_pass *p, const tested *t, int64_t batches, uint64_t tokens,
                  mlsae_test_summary *sum, mlsae_error *err)
{
    const int n = p->s->n_layers;
    json_t *row = build_row(&t->acc, (double)batches, p->s->layers, n);
    if (!row) return mlsae_fail(err, "out of memory");
    int rc = mlsae_comm_rank() == 0 ? write_csv(t->t->csv_path, row, err) : 0;
    json_decref(row);
    if (rc) return -1;
    sum->batches = batches;
    sum->tokens = tokens;
    sum->loss_total = t->acc.loss_total / batches;
    double fvu = 0, delta = 0;
    for (int l = 0; l < n; l++) {
        fvu += t->acc.fvu[l];
        delta += t->acc.delta[l];
    }
    sum->fvu_avg = fvu / n / batches;
    sum->loss_delta_avg = delta / n / batches;
    return 0;
}

int mlsae_test(const mlsae_run_config *cfg, const char *sae_dir, const char *csv_path,
               FILE *progress, mlsae_test_summary *summary, mlsae_error *err)
{
    mlsae_test_target t = {cfg, sae_dir, csv_path};
    return mlsae_test_many(&t, 1, progress, summary, err);
}

int mlsae_test_many(const mlsae_test_target *targets, int n, FILE *progress,
                    mlsae_test_summary *summaries, mlsae_error *err)
{
    if (n < 1) return mlsae_fail(err, "test: no checkpoint to test");
    memset(summaries, 0, (size_t)n * sizeof *summaries);
    if (mlsae_test_check_targets(targets, n, err)) return -1;
    for (int i = 0; i < n; i++)
        if (mlsae_check_output_file(targets[i].csv_path, err)) return -1;
    const mlsae_run_config *cfg = targets[0].cfg;
    double t0 = mlsae_monotonic_seconds(NULL);
    /* the SAE's sizes come from the checkpoint; the first -tfm's transformer
     * weights are the ones tested (the others hold the same, checked above) */
    mlsae_session s;
    test_pass p;
    memset(&p, 0, sizeof p);
    p.sae = calloc((size_t)n, sizeof *p.sae);
    p.recons = calloc((size_t)n, sizeof *p.recons);
    p.dl = calloc((size_t)n, sizeof *p.dl);
    if (!p.sae || !p.recons || !p.dl) {
        free(p.sae);
        free(p.recons);
        free(p.dl);
        return mlsae_fail(err, "out of memory");
    }
    int rc = -1;
    if (mlsae_session_open_sae(&s, cfg, targets[0].sae_dir, 1, &p.sae[0].sae, err)) {
        free(p.sae);
        free(p.recons);
        free(p.dl);
        return -1;
    }
    p.s = &s;
    p.n = n;
    for (int i = 0; i < n; i++) {
        p.sae[i].t = &targets[i];
        p.dl[i] = p.sae[i].dl;
    }
    if (mlsae_session_check_data(&s, cfg, err)) goto done;
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    p.batch = batch;
    const size_t per_batch = (size_t)s.n_layers * batch * seq * s.d_model;
    for (int i = 0; i < n; i++) {
        tested *t = &p.sae[i];
        if (i > 0 && mlsae_session_load_sae(&s, t->t->cfg, t->t->sae_dir, &t->sae, err))
            goto done;
        if (mlsae_session_split(&s) && !(t->r_model = mlsae_alloc_f32(s.be, per_batch))) {
            mlsae_fail(err, "cannot allocate the reconstruction of %s on the model's backend",
                       t->t->sae_dir);
            goto done;
        }
    }
    mlsae_run_derived derived;
    mlsae_run_config_derive(cfg, &derived);
    p.limit = derived.limit_test_batches;
    if (mlsae_downstream_new(&s, batch, seq, &p.ds, err)) goto done;
    if (s.lens && !(p.lens_host = malloc(3 * per_batch * sizeof *p.lens_host))) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    /* The stream stage delivers the batches (the limit's, whole): on the
     * calling thread, since the downstream metrics need the transformer;
     * with two backends the activations also in host memory, to give the
     * model's backend a copy. */
    mlsae_stream_options opt;
    memset(&opt, 0, sizeof opt);
    opt.sequential = 1;
    opt.host_activations = mlsae_session_split(&s);
    opt.max_tokens = (uint64_t)p.limit * (uint64_t)batch * (uint64_t)seq;
    opt.progress = progress;
    opt.label = "test";
    /* Data parallel (doc/scaling.md): rank r of N is handed the batches r,
     * r + N, ... of the stream; the sums of every rank are added below. */
    opt.rank = mlsae_comm_rank();
    opt.ranks = mlsae_comm_size();
    mlsae_stream_summary ss;
    if (mlsae_stream_run(cfg, &s, &opt, test_batch, &p, &ss, err)) goto done;
    /* the sums of every rank added: the averages of one process */
    double counts[2] = {(double)p.batches, (double)p.tokens};
    for (int i = 0; i < n; i++)
        if (mlsae_comm_sum_f64((double *)&p.sae[i].acc, sizeof(sums) / sizeof(double), err))
            goto done;
    if (mlsae_comm_sum_f64(counts, 2, err)) goto done;
    if (counts[0] < 1) {
        mlsae_fail(err, "%s: no complete sequence of %d tokens in the test data", cfg->data.path,
                   seq);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (finish(&p, &p.sae[i], (int64_t)counts[0], (uint64_t)counts[1], &summaries[i], err))
            goto done;
    rc = 0;
done:
    {
        double seconds = mlsae_monotonic_seconds(NULL) - t0;
        for (int i = 0; i < n; i++) summaries[i].seconds = seconds;
    }
    free(p.lens_host);
    if (p.ds) mlsae_downstream_free(p.ds);
    mlsae_eval_buffers_free(&p.eb);
    for (int i = 0; i < n; i++) {
        if (p.sae[i].r_model) s.be->ops->core.free(s.be, p.sae[i].r_model);
        if (p.sae[i].sae) mlsae_sae_free(p.sae[i].sae);
    }
    free(p.sae);
    free(p.recons);
    free(p.dl);
    mlsae_session_close(&s);
    return rc;
}
