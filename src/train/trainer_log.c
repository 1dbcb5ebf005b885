/* The training loop's metric rows (SPEC §5: the reference's names) and
 * validation; trainer_internal.h. */
#include "config.h"
#include "train/trainer_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eval/layer_log.h"

void trainer_msg(trainer *t, const char *fmt, ...)
{
    if (!t->io || !t->io->out) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (t->progress_on) mlsae_progress_message(&t->progress, "%s", buf);
    else fprintf(t->io->out, "%s\n", buf);
}


static json_t *row_header(trainer *t, int64_t step)
{
    json_t *row = json_object();
    if (!row) return NULL;
    json_object_set_new(row, "step", json_integer(step));
    json_object_set_new(row, "micro_batch", json_integer(t->st.micro_batches));
    json_object_set_new(row, "tokens", json_integer((json_int_t)t->st.tokens));
    return row;
}

int trainer_log_train_row(trainer *t, member *mb, mlsae_ref x, const mlsae_sae_train_metrics *m,
                          mlsae_error *err)
{
    mlsae_sae_layer_metrics layers[MLSAE_CONFIG_MAX_LAYERS];
    double dead_rel = 0;
    if (mlsae_sae_last_metrics(mb->sae, x, layers,
                               (double)mb->cfg->autoencoder.dead_tokens_threshold, &dead_rel, err))
        return -1;
    if (!mb->log) return 0; /* not rank 0 */
    json_t *row = row_header(t, m->step);
    if (!row) return mlsae_fail(err, "out of memory");
    mlsae_metrics_row_set(row, "loss/total", m->loss_total);
    mlsae_metrics_row_set(row, "loss/mse", m->loss_mse);
    mlsae_metrics_row_set(row, "loss/auxk", m->loss_aux);
    mlsae_metrics_row_set(row, "train/dead/abs", m->dead_fraction);
    mlsae_metrics_row_set(row, "train/dead/rel", dead_rel);
    mlsae_layer_log_train(row, "train/", t->s.layers, t->s.n_layers, layers);
    int rc = mlsae_metrics_log_write(mb->log, row, err);
    json_decref(row);
    return rc;
}

/* Validation (SPEC §5): the first limit_val_batches batches of the training
 * data, as the reference validates on its train split; per-layer averages
 * over the batches of loss delta, logit MSE and KL. Every SAE of a sweep is
 * validated on the same transformer pass and true path of each batch. */
int trainer_validate(trainer *t, int64_t step, mlsae_error *err)
{
    const mlsae_run_config *cfg = t->cfg;
    if (cfg->trainer.limit_val_batches == 0 || t->rank != 0) return 0;
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    if (t->stream) mlsae_stream_idle(t->stream); /* the transformer is ours now */
    if (!t->downstream && mlsae_downstream_new(&t->s, batch, seq, &t->downstream, err)) return -1;
    if (!t->eval.s && mlsae_eval_buffers_init(&t->eval, &t->s, batch, seq, NULL, err)) return -1;
    mlsae_loader *vl = NULL;
    if (mlsae_stream_open_loader(cfg, &t->s, NULL, &vl, err)) return -1;
    const int n = t->s.n_layers;
    for (int i = 0; i < t->n_mb; i++) memset(t->mb[i].val_sum, 0, sizeof t->mb[i].val_sum);
    int64_t n_batches = 0;
    int rc = 0;
    mlsae_batch b;
    /* its own progress line (rank 0 only: t->progress_on), in place of the
     * training line, which is redrawn at the next training update */
    mlsae_progress vp;
    const int show = t->progress_on;
    if (show) {
        if (t->progress.line_on_screen) {
            fputs("\r\033[K", t->progress.out);
            t->progress.line_on_screen = 0;
            t->progress.drawn_once = 0;
        }
        mlsae_progress_options po = t->progress.opt;
        po.unit = "batch";
        const int64_t lim = cfg->trainer.limit_val_batches;
        mlsae_progress_start(&vp, t->progress.out, "validate", 0,
                             lim == MLSAE_CONFIG_NONE || lim < 0 ? 0 : (uint64_t)lim, &po);
    }
    while (rc == 0 && (cfg->trainer.limit_val_batches == MLSAE_CONFIG_NONE ||
                       n_batches < cfg->trainer.limit_val_batches)) {
        int got = mlsae_loader_next(vl, &b, err);
        if (got <= 0) {
            rc = got;
            break;
        }
        if (mlsae_eval_activations(&t->eval, b.ids, (int)b.rows, seq, err)) {
            rc = -1;
            break;
        }
        /* every SAE's reconstruction of the batch, side by side on the
         * model's backend; then the downstream metrics of all of them on
         * one true path (eval/downstream.h: bit for bit each one's own) */
        mlsae_ref recons[MLSAE_CONFIG_MAX_MEMBERS], true_path = MLSAE_NOREF;
        mlsae_downstream_layer *dl[MLSAE_CONFIG_MAX_MEMBERS];
        const int rows = (int)b.rows;
        for (int i = 0; i < t->n_mb && rc == 0; i++) {
            member *mb = &t->mb[i];
            double c0 = mlsae_monotonic_seconds(NULL);
            mlsae_sae_forward_out fo;
            if (mlsae_session_split(&t->s) && !mb->r_model &&
                !(mb->r_model = mlsae_alloc_f32(t->s.be, t->eval.n))) {
                rc = mlsae_fail(err, "cannot allocate a reconstruction of %zu floats",
                                t->eval.n);
                break;
            }
            if (mlsae_sae_forward(mb->sae, mlsae_at(t->eval.x_sae, 0), n, rows * seq, &fo, NULL,
                                  err) ||
                mlsae_eval_recons_to(&t->eval, fo.recons, rows, seq, mb->r_model, &recons[i],
                                     err) ||
                mlsae_eval_unlens(&t->eval, recons[i], rows, seq, &true_path, err)) {
                rc = -1;
                break;
            }
            dl[i] = mb->dl;
            mb->sum->validate_s += mlsae_monotonic_seconds(NULL) - c0;
        }
        if (rc) break;
        double c1 = mlsae_monotonic_seconds(NULL);
        if (mlsae_downstream_batch_many(t->downstream, true_path, recons, t->n_mb, b.ids, rows,
                                        seq, dl, err)) {
            rc = -1;
            break;
        }
        double share = (mlsae_monotonic_seconds(NULL) - c1) / t->n_mb;
        for (int i = 0; i < t->n_mb; i++) {
            member *mb = &t->mb[i];
            for (int l = 0; l < n; l++) {
                mb->val_sum[0][l] += mb->dl[l].loss_delta;
                mb->val_sum[1][l] += mb->dl[l].logit_mse;
                mb->val_sum[2][l] += mb->dl[l].kl;
            }
            mb->sum->validate_s += share;
        }
        if (rc == 0) n_batches++;
        if (show) mlsae_progress_update(&vp, (uint64_t)n_batches);
    }
    mlsae_loader_close(vl);
    if (show) {
        if (rc == 0 && vp.total > (uint64_t)n_batches) vp.total = (uint64_t)n_batches;
        mlsae_progress_finish(&vp);
    }
    if (rc < 0) return mlsae_error_prefix(err, "validation");
    if (n_batches == 0) return 0;
    for (int i = 0; i < t->n_mb && rc == 0; i++) {
        member *mb = &t->mb[i];
        json_t *row = row_header(t, step);
        if (!row) return mlsae_fail(err, "out of memory");
        for (int l = 0; l < n; l++)
            for (int q = 0; q < 3; q++) mb->val_sum[q][l] /= (double)n_batches;
        mlsae_layer_log_values(row, "val/loss/delta/", t->s.layers, n, mb->val_sum[0]);
        mlsae_layer_log_values(row, "val/logit/mse/", t->s.layers, n, mb->val_sum[1]);
        mlsae_layer_log_values(row, "val/logit/kldiv/", t->s.layers, n, mb->val_sum[2]);
        rc = mlsae_metrics_log_write(mb->log, row, err);
        json_decref(row);
        double avg = 0;
        for (int l = 0; l < n; l++) avg += mb->val_sum[0][l];
        if (t->sweep)
            trainer_msg(t, "validation of %s at step %lld: mean loss delta %.4f over %lld batches",
                mb->sum->name, (long long)step, avg / n, (long long)n_batches);
        else
            trainer_msg(t, "validation at step %lld: mean loss delta %.4f over %lld batches",
                (long long)step, avg / n, (long long)n_batches);
    }
    return rc;
}

/* A sweep member's last metrics row: its memory and its time. A single
 * run's metrics stay as they were. */
int trainer_log_member_summary(trainer *t, member *mb, int64_t step, mlsae_error *err)
{
    if (!t->sweep || !mb->log) return 0;
    json_t *row = row_header(t, step);
    if (!row) return mlsae_fail(err, "out of memory");
    mlsae_metrics_row_set(row, "sweep/memory_bytes", (double)mb->sum->memory_bytes);
    mlsae_metrics_row_set(row, "sweep/sae_seconds", mb->sum->sae_s);
    mlsae_metrics_row_set(row, "sweep/validate_seconds", mb->sum->validate_s);
    mlsae_metrics_row_set(row, "sweep/save_seconds", mb->sum->save_s);
    int rc = mlsae_metrics_log_write(mb->log, row, err);
    json_decref(row);
    return rc;
}
