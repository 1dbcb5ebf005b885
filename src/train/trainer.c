/* The training loop. SPEC §4 fixes the order of the SAE's work inside a
 * micro-batch; this file orders the micro-batches: data -> transformer ->
 * SAE, logging every log_every_n_steps optimizer steps, validating every
 * val_check_interval micro-batches, checkpointing every
 * checkpoint_every_n_steps optimizer steps and on SIGINT/SIGTERM.
 *
 * With the transformer and the SAE on one backend, the three run one after
 * the other. On two backends, the transformer runs a batch ahead on its own
 * thread (prefetch.h) and the loop only uploads its activations.
 *
 * Data parallel (train_dist.h, doc/scaling.md): rank r of N trains on the
 * batches r, r + N, r + 2N, ... of the same stream (each rank reads every
 * batch and keeps its own, so the stream's position is the same on all),
 * the SAE reduces its batch sums and gradients over the ranks, and rank 0
 * alone validates and writes files. */
#include "config.h"
#include "train/trainer.h"
#include "backend/lowp.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/atomic_file.h"
#include "core/metrics_log.h"
#include "core/paths.h"
#include "core/progress.h"
#include "core/signals.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"
#include "sae/sae_reduce.h"
#include "dataset/activations.h"
#include "dataset/loader.h"
#include "eval/downstream.h"
#include "eval/layer_log.h"
#include "pipeline/comm.h"
#include "pipeline/prefetch.h"
#include "pipeline/session.h"
#include "train/train_dist.h"
#include "train/train_state.h"

void mlsae_train_out_dir(const mlsae_run_config *cfg, char *out, size_t n)
{
    if (cfg->trainer.default_root_dir[0]) {
        snprintf(out, n, "%s", cfg->trainer.default_root_dir);
        return;
    }
    const char *ck = cfg->trainer.checkpoint_path;
    if (ck[0]) {
        /* <out>/checkpoints/<name> -> <out> */
        char tmp[MLSAE_CONFIG_STR_MAX];
        snprintf(tmp, sizeof tmp, "%s", ck);
        size_t len = strlen(tmp);
        while (len > 1 && tmp[len - 1] == '/') tmp[--len] = '\0';
        char *slash = strrchr(tmp, '/');
        if (slash) {
            *slash = '\0';
            char *parent = strrchr(tmp, '/');
            const char *base = parent ? parent + 1 : tmp;
            if (strcmp(base, "checkpoints") == 0) {
                if (parent) *parent = '\0';
                else snprintf(tmp, sizeof tmp, ".");
                snprintf(out, n, "%s", tmp);
                return;
            }
        }
    }
    snprintf(out, n, "out");
}

static void sae_name(const char *model_name, long long expansion_factor, long long k, char *out,
                     size_t n)
{
    size_t len = strlen(model_name);
    while (len > 1 && model_name[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && model_name[start - 1] != '/') start--;
    snprintf(out, n, "mlsae-%.*s-x%lld-k%lld", (int)(len - start), model_name + start,
             expansion_factor, k);
}

void mlsae_train_sae_name(const mlsae_run_config *cfg, char *out, size_t n)
{
    sae_name(cfg->model_name, (long long)cfg->autoencoder.expansion_factor,
             (long long)cfg->autoencoder.k, out, n);
}

/* Everything the loop holds; freed in one place. */
typedef struct trainer {
    const mlsae_run_config *cfg;
    mlsae_run_derived derived;
    const mlsae_train_io *io;
    mlsae_session s;
    mlsae_sae *sae;
    mlsae_loader *loader;      /* the dataset, through the transformer; or */
    mlsae_activations acts;    /* saved activations (data.activations) */
    int64_t act_next;          /* the next micro-batch of acts */
    mlsae_run_config *own_cfg; /* cfg with the activations' batch and pos */
    mlsae_prefetch *prefetch;  /* on two backends: the transformer's thread */
    mlsae_data_position pos;   /* the stream's position after the last batch taken */
    mlsae_metrics_log *log;
    mlsae_downstream *downstream;
    mlsae_eval_buffers eval;   /* validation batches (x_sae borrows x) */
    mlsae_buffer *x;           /* [n_layers, batch, seq, d] activations, on the SAE's backend */
    mlsae_train_state st;
    mlsae_progress progress;
    int progress_on;
    char out_dir[3072], ckpt_dir[4096], sae_dir[4096];
    const char *sources[1];
    int rank, ranks;           /* data parallel: this process, all (1: alone) */
    int rows_all;              /* sequences of the last global micro-batch */
} trainer;

static void msg(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg(trainer *t, const char *fmt, ...)
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

static int sae_from_config(trainer *t, mlsae_error *err)
{
    const mlsae_run_config *cfg = t->cfg;
    mlsae_sae_config sc;
    mlsae_sae_config_default(&sc, t->s.d_model, (int)cfg->autoencoder.expansion_factor);
    sc.k = (int)cfg->autoencoder.k;
    sc.auxk = cfg->autoencoder.auxk == MLSAE_CONFIG_NONE ? 0 : (int)cfg->autoencoder.auxk;
    sc.auxk_coef = isnan(cfg->autoencoder.auxk_coef) ? 0.0f : (float)cfg->autoencoder.auxk_coef;
    sc.dead_steps_threshold = t->derived.dead_steps_threshold;
    sc.dead_threshold = (float)cfg->autoencoder.dead_threshold;
    sc.standardize = cfg->autoencoder.standardize;
    sc.lr = (float)cfg->autoencoder.lr;
    sc.accumulate_grad_batches = (int)cfg->trainer.accumulate_grad_batches;
    if (mlsae_sae_config_check(&sc, err)) return -1;
    return mlsae_sae_create(&sc, t->s.sae_be, (uint64_t)cfg->seed, &t->sae, err);
}

/* The SAE of cfg->init: its shape and thresholds (config.json), with the
 * trainer's options (lr, auxk_coef, accumulation) and a new optimizer. A
 * shape option given on top that disagrees with the checkpoint is an error:
 * silently training another shape than asked would be a guess. */
static int sae_from_init(trainer *t, mlsae_error *err)
{
    const mlsae_run_config *cfg = t->cfg;
    if (mlsae_ckpt_load(cfg->init, t->s.sae_be, &t->sae, err)) return -1;
    mlsae_sae_config sc = *mlsae_sae_get_config(t->sae);
    if (sc.n_inputs != t->s.d_model)
        return mlsae_fail(err, "%s: d_model %d of the activations does not match n_inputs %d of "
                          "%s", cfg->data.activations[0] ? cfg->data.activations : cfg->model_name,
                          t->s.d_model, sc.n_inputs, cfg->init);
    mlsae_run_config *def = malloc(sizeof *def);
    if (!def) return mlsae_fail(err, "out of memory");
    mlsae_run_config_defaults(def);
    const mlsae_autoencoder_config *a = &cfg->autoencoder, *d = &def->autoencoder;
    int64_t auxk = a->auxk == MLSAE_CONFIG_NONE ? 0 : a->auxk;
    const char *bad = NULL;
    if (a->expansion_factor != d->expansion_factor &&
        a->expansion_factor * sc.n_inputs != sc.n_latents)
        bad = "expansion_factor";
    else if (a->k != d->k && a->k != sc.k) bad = "k";
    else if (a->auxk != d->auxk && auxk != sc.auxk) bad = "auxk";
    else if (a->dead_threshold != d->dead_threshold && (float)a->dead_threshold != sc.dead_threshold)
        bad = "dead_threshold";
    else if (a->standardize != d->standardize && a->standardize != sc.standardize)
        bad = "standardize";
    const int dtt_given = a->dead_tokens_threshold != d->dead_tokens_threshold;
    free(def);
    if (bad)
        return mlsae_fail(err, "init: %s fixes autoencoder.%s in its config.json; drop that "
                          "option (lr, auxk_coef and the trainer's options apply)", cfg->init,
                          bad);
    sc.lr = (float)a->lr;
    sc.auxk_coef = isnan(a->auxk_coef) ? 0.0f : (float)a->auxk_coef;
    sc.accumulate_grad_batches = (int)cfg->trainer.accumulate_grad_batches;
    if (dtt_given) sc.dead_steps_threshold = t->derived.dead_steps_threshold;
    return mlsae_sae_set_config(t->sae, &sc, err);
}

/* trainer.precision on the SAE (fresh or resumed: checkpoints do not
 * record it); the transformer's is set by the session. */
static int apply_precision(trainer *t, mlsae_error *err)
{
    mlsae_precision prec = MLSAE_PRECISION_32;
    if (mlsae_precision_parse(t->cfg->trainer.precision, &prec))
        return mlsae_fail(err, "trainer.precision '%s': not computed", t->cfg->trainer.precision);
    if (prec != MLSAE_PRECISION_32)
        msg(t, "precision %s: SAE encoder and transformer products with %s",
            mlsae_precision_name(prec),
            mlsae_lowp_describe(t->s.sae_be, mlsae_precision_lowp(prec)));
    return mlsae_sae_set_precision(t->sae, prec, err);
}

static int open_loader(trainer *t, mlsae_loader **out, const mlsae_data_position *start,
                       mlsae_error *err)
{
    mlsae_loader_config lc = {0};
    t->sources[0] = t->cfg->data.path;
    lc.sources = t->sources;
    lc.n_sources = 1;
    lc.tok = t->s.tok;
    lc.seq.max_length = (size_t)t->cfg->data.max_length;
    lc.seq.batch_size = (size_t)t->cfg->data.batch_size;
    lc.seq.n_threads = t->cfg->data.num_workers == MLSAE_CONFIG_NONE
                           ? 0 : (int)t->cfg->data.num_workers;
    lc.start = start;
    return mlsae_loader_open(&lc, out, err);
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

static int log_train_row(trainer *t, mlsae_ref x, const mlsae_sae_train_metrics *m,
                         mlsae_error *err)
{
    mlsae_sae_layer_metrics layers[MLSAE_CONFIG_MAX_LAYERS];
    double dead_rel = 0;
    if (mlsae_sae_last_metrics(t->sae, x, layers,
                               (double)t->cfg->autoencoder.dead_tokens_threshold, &dead_rel, err))
        return -1;
    if (!t->log) return 0; /* not rank 0 */
    json_t *row = row_header(t, m->step);
    if (!row) return mlsae_fail(err, "out of memory");
    mlsae_metrics_row_set(row, "loss/total", m->loss_total);
    mlsae_metrics_row_set(row, "loss/mse", m->loss_mse);
    mlsae_metrics_row_set(row, "loss/auxk", m->loss_aux);
    mlsae_metrics_row_set(row, "train/dead/abs", m->dead_fraction);
    mlsae_metrics_row_set(row, "train/dead/rel", dead_rel);
    mlsae_layer_log_train(row, "train/", t->s.layers, t->s.n_layers, layers);
    int rc = mlsae_metrics_log_write(t->log, row, err);
    json_decref(row);
    return rc;
}

/* Validation (SPEC §5): the first limit_val_batches batches of the training
 * data, as the reference validates on its train split; per-layer averages
 * over the batches of loss delta, logit MSE and KL. */
static int validate(trainer *t, int64_t step, mlsae_error *err)
{
    const mlsae_run_config *cfg = t->cfg;
    if (cfg->trainer.limit_val_batches == 0 || t->rank != 0) return 0;
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    if (t->prefetch) mlsae_prefetch_idle(t->prefetch); /* the transformer is ours now */
    if (!t->downstream && mlsae_downstream_new(&t->s, batch, seq, &t->downstream, err)) return -1;
    if (!t->eval.s && mlsae_eval_buffers_init(&t->eval, &t->s, batch, seq, t->x, err)) return -1;
    mlsae_loader *vl = NULL;
    if (open_loader(t, &vl, NULL, err)) return -1;
    const int n = t->s.n_layers;
    double sum[3][MLSAE_CONFIG_MAX_LAYERS] = {{0}};
    int64_t n_batches = 0;
    int rc = 0;
    mlsae_batch b;
    while (cfg->trainer.limit_val_batches == MLSAE_CONFIG_NONE ||
           n_batches < cfg->trainer.limit_val_batches) {
        int got = mlsae_loader_next(vl, &b, err);
        if (got <= 0) {
            rc = got;
            break;
        }
        mlsae_sae_forward_out fo;
        mlsae_ref recons, true_path;
        mlsae_downstream_layer dl[MLSAE_CONFIG_MAX_LAYERS];
        if (mlsae_eval_activations(&t->eval, b.ids, (int)b.rows, seq, err) ||
            mlsae_sae_forward(t->sae, mlsae_at(t->eval.x_sae, 0), n, (int)b.rows * seq, &fo, NULL,
                              err) ||
            mlsae_eval_recons(&t->eval, fo.recons, (int)b.rows, seq, &recons, err) ||
            mlsae_eval_unlens(&t->eval, recons, (int)b.rows, seq, &true_path, err) ||
            mlsae_downstream_batch(t->downstream, true_path, recons, b.ids, (int)b.rows, seq, dl,
                                   err)) {
            rc = -1;
            break;
        }
        for (int l = 0; l < n; l++) {
            sum[0][l] += dl[l].loss_delta;
            sum[1][l] += dl[l].logit_mse;
            sum[2][l] += dl[l].kl;
        }
        n_batches++;
    }
    mlsae_loader_close(vl);
    if (rc < 0) return mlsae_error_prefix(err, "validation");
    if (n_batches == 0) return 0;
    json_t *row = row_header(t, step);
    if (!row) return mlsae_fail(err, "out of memory");
    for (int l = 0; l < n; l++)
        for (int q = 0; q < 3; q++) sum[q][l] /= (double)n_batches;
    mlsae_layer_log_values(row, "val/loss/delta/", t->s.layers, n, sum[0]);
    mlsae_layer_log_values(row, "val/logit/mse/", t->s.layers, n, sum[1]);
    mlsae_layer_log_values(row, "val/logit/kldiv/", t->s.layers, n, sum[2]);
    rc = mlsae_metrics_log_write(t->log, row, err);
    json_decref(row);
    double avg = 0;
    for (int l = 0; l < n; l++) avg += sum[0][l];
    msg(t, "validation at step %lld: mean loss delta %.4f over %lld batches", (long long)step,
        avg / n, (long long)n_batches);
    return rc;
}

static void trainer_free(trainer *t)
{
    mlsae_prefetch_close(t->prefetch);
    if (t->loader) mlsae_loader_close(t->loader);
    mlsae_activations_close(&t->acts);
    free(t->own_cfg);
    if (t->downstream) mlsae_downstream_free(t->downstream);
    mlsae_eval_buffers_free(&t->eval);
    if (t->x) t->s.sae_be->ops->core.free(t->s.sae_be, t->x);
    if (t->sae) mlsae_sae_free(t->sae);
    if (t->log) mlsae_metrics_log_close(t->log, NULL);
    mlsae_session_close(&t->s);
}

/* Data parallel: this rank's batch of the next N of the stream into t->x
 * (the transformer on the session's backend, then to the SAE's); *rows:
 * this rank's sequences, t->rows_all those of all N. 0 when the stream has
 * fewer than N batches left: every rank reads the same stream, so every
 * rank stops at the same global micro-batch. */
static int next_batch_strided(trainer *t, int *rows, mlsae_train_summary *sum, mlsae_error *err)
{
    const int batch = (int)t->cfg->data.batch_size, seq = (int)t->cfg->data.max_length;
    if (!t->eval.s && mlsae_eval_buffers_init(&t->eval, &t->s, batch, seq, t->x, err)) return -1;
    int total = 0, mine = 0;
    for (int j = 0; j < t->ranks; j++) {
        double c0 = mlsae_monotonic_seconds(NULL);
        mlsae_batch b;
        int got = mlsae_loader_next(t->loader, &b, err);
        double c1 = mlsae_monotonic_seconds(NULL);
        sum->data_s += c1 - c0;
        if (got <= 0) return got;
        total += (int)b.rows;
        if (j != t->rank) continue;
        mine = (int)b.rows;
        if (mlsae_eval_activations(&t->eval, b.ids, (int)b.rows, seq, err) ||
            t->s.sae_be->ops->core.finish(t->s.sae_be))
            return -1;
        sum->forward_s += mlsae_monotonic_seconds(NULL) - c1;
    }
    mlsae_loader_position(t->loader, &t->pos);
    *rows = mine;
    t->rows_all = total;
    return 1;
}

/* The next batch's activations into t->x: 1 (*rows sequences), 0 at the
 * end of the data, -1 on error. t->pos becomes the stream's position after
 * it, the resume point once it is trained; t->rows_all the sequences of
 * the global micro-batch. With N ranks, rank r's batch is the r-th of the
 * next N. */
static int next_batch(trainer *t, int *rows, mlsae_train_summary *sum, mlsae_error *err)
{
    const int seq = (int)t->cfg->data.max_length;
    mlsae_backend *sae_be = t->s.sae_be;
    double c0 = mlsae_monotonic_seconds(NULL);
    if (t->acts.st) {
        const mlsae_activations *a = &t->acts;
        if (t->act_next + t->ranks > a->n_batches) return 0;
        if (sae_be->ops->core.write(sae_be, t->x, 0,
                                    mlsae_activations_batch(a, t->act_next + t->rank),
                                    a->per_batch * sizeof(float)))
            return mlsae_fail(err, "activations to the SAE's backend: %s",
                              mlsae_backend_error(sae_be));
        t->act_next += t->ranks;
        t->pos.batches = (uint64_t)t->act_next;
        t->pos.tokens = (uint64_t)t->act_next * (uint64_t)a->batch * (uint64_t)a->pos;
        sum->data_s += mlsae_monotonic_seconds(NULL) - c0;
        *rows = a->batch;
        t->rows_all = a->batch * t->ranks;
        return 1;
    }
    if (t->ranks > 1) return next_batch_strided(t, rows, sum, err);
    if (t->prefetch) {
        mlsae_prefetched p;
        int got = mlsae_prefetch_next(t->prefetch, &p, err);
        double c1 = mlsae_monotonic_seconds(NULL);
        sum->wait_s += c1 - c0;
        t->pos = p.position;
        if (got <= 0) return got;
        size_t bytes = (size_t)t->s.n_layers * p.rows * seq * t->s.d_model * sizeof(float);
        if (sae_be->ops->core.write(sae_be, t->x, 0, p.x, bytes))
            return mlsae_fail(err, "activations to the SAE's backend: %s",
                              mlsae_backend_error(sae_be));
        sum->upload_s += mlsae_monotonic_seconds(NULL) - c1;
        *rows = t->rows_all = p.rows;
        return 1;
    }
    mlsae_batch b;
    int got = mlsae_loader_next(t->loader, &b, err);
    mlsae_loader_position(t->loader, &t->pos);
    double c1 = mlsae_monotonic_seconds(NULL);
    sum->data_s += c1 - c0;
    if (got <= 0) return got;
    if (mlsae_session_activations(&t->s, b.ids, (int)b.rows, seq, mlsae_at(t->x, 0), err) ||
        t->s.be->ops->core.finish(t->s.be))
        return -1;
    sum->forward_s += mlsae_monotonic_seconds(NULL) - c1;
    *rows = t->rows_all = (int)b.rows;
    return 1;
}

/* The metrics rows written so far reach the disk before the checkpoint
 * that covers them is published (a resumed run drops rows past it). */
static int save_checkpoint(trainer *t, mlsae_error *err)
{
    if (t->rank != 0) return 0; /* rank 0 alone writes (train_dist.h) */
    if (t->log && mlsae_metrics_log_sync(t->log, err)) return -1;
    return mlsae_train_checkpoint_save(t->sae, t->ckpt_dir, t->cfg, &t->st, err);
}

int mlsae_train(const mlsae_run_config *cfg, const mlsae_train_io *io,
                mlsae_train_summary *summary, mlsae_error *err)
{
    trainer t;
    memset(&t, 0, sizeof t);
    memset(summary, 0, sizeof *summary);
    t.rank = mlsae_comm_rank();
    t.ranks = mlsae_comm_size();
    mlsae_train_io quiet;
    if (t.rank != 0 && io) { /* rank 0 alone reports */
        quiet = *io;
        quiet.out = NULL;
        io = &quiet;
    }
    t.io = io;
    if (cfg->data.activations[0]) {
        /* saved activations: their batch and pos; no model, so no validation */
        if (mlsae_activations_open(cfg->data.activations, &t.acts, err)) return -1;
        t.own_cfg = malloc(sizeof *t.own_cfg);
        if (!t.own_cfg) {
            mlsae_activations_close(&t.acts);
            return mlsae_fail(err, "out of memory");
        }
        *t.own_cfg = *cfg;
        t.own_cfg->data.batch_size = t.acts.batch;
        t.own_cfg->data.max_length = t.acts.pos;
        t.own_cfg->trainer.limit_val_batches = 0;
        cfg = t.own_cfg;
    }
    t.cfg = cfg;
    if (t.ranks > 1) {
        /* token counts, steps and the dead-latent threshold of the global
         * micro-batch (ranks x batch_size sequences) */
        mlsae_run_config *global = malloc(sizeof *global);
        if (!global) {
            mlsae_activations_close(&t.acts);
            free(t.own_cfg);
            return mlsae_fail(err, "out of memory");
        }
        *global = *cfg;
        global->data.batch_size *= t.ranks;
        mlsae_run_config_derive(global, &t.derived);
        free(global);
    } else {
        mlsae_run_config_derive(cfg, &t.derived);
    }
    mlsae_train_out_dir(cfg, t.out_dir, sizeof t.out_dir);
    snprintf(t.ckpt_dir, sizeof t.ckpt_dir, "%s/checkpoints/last", t.out_dir);
    const int resuming = cfg->trainer.checkpoint_path[0] != 0;
    const int need_logits = cfg->trainer.limit_val_batches != 0;
    int64_t step = 0;
    double t0 = mlsae_monotonic_seconds(NULL);

    char path[4300];
    int rc = -1;
    if (t.acts.st ? mlsae_session_open_activations(&t.s, cfg, t.acts.d_model, t.acts.n_layers,
                                                   err)
                  : mlsae_session_open(&t.s, cfg, need_logits, err)) {
        trainer_free(&t);
        return -1;
    }
    if (!t.acts.st && (mlsae_session_check_data(&t.s, cfg, err) ||
                       mlsae_session_load_lens(&t.s, cfg, NULL, err)))
        goto done;

    if (resuming) {
        if (mlsae_train_checkpoint_load(cfg->trainer.checkpoint_path, t.s.sae_be, &t.sae, &t.st,
                                        err))
            goto done;
        const mlsae_sae_config *sc = mlsae_sae_get_config(t.sae);
        if (sc->n_inputs != t.s.d_model) {
            mlsae_fail(err, "%s: checkpoint has n_inputs %d but the model's d_model is %d",
                       cfg->trainer.checkpoint_path, sc->n_inputs, t.s.d_model);
            goto done;
        }
        t.act_next = (int64_t)t.st.data.batches;
        if (t.acts.st && t.act_next > t.acts.n_batches) {
            mlsae_fail(err, "%s: the run to resume has consumed %lld micro-batches, the file has "
                       "%lld", cfg->data.activations, (long long)t.act_next,
                       (long long)t.acts.n_batches);
            goto done;
        }
    } else if (cfg->init[0] ? sae_from_init(&t, err) : sae_from_config(&t, err)) {
        goto done;
    }
    if (apply_precision(&t, err)) goto done;
    if (mlsae_train_dist_attach(t.sae, resuming ? (t.st.ranks > 0 ? t.st.ranks : 1) : 0,
                                cfg->data.batch_size, cfg->trainer.checkpoint_path, err))
        goto done;
    t.st.ranks = t.ranks;

    {
        /* named by the SAE's own shape (an --init or resumed SAE has its own) */
        const mlsae_sae_config *sc = mlsae_sae_get_config(t.sae);
        char name[768];
        sae_name(cfg->model_name, (long long)(sc->n_latents / sc->n_inputs), (long long)sc->k,
                 name, sizeof name);
        snprintf(t.sae_dir, sizeof t.sae_dir, "%s/%s", t.out_dir, name);
    }

    /* nothing is written before the model, the data and the SAE are known
     * good, on every rank (a rank that failed never arrives here: it ends
     * the run, train_dist.h); and only by rank 0 */
    if (mlsae_comm_barrier(err)) goto done;
    if (t.rank == 0 && mlsae_mkdir_p(t.out_dir, err)) goto done;
    snprintf(path, sizeof path, "%s/checkpoints", t.out_dir);
    if (t.rank == 0 && mlsae_mkdir_p(path, err)) goto done;

    /* the effective configuration, for the record */
    if (t.rank == 0) {
        char *yaml = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/config.yaml", t.out_dir);
        int bad = mlsae_run_config_to_yaml(cfg, &yaml, &len, err) ||
                  mlsae_write_file_atomic(path, yaml, len, err);
        free(yaml);
        if (bad) goto done;
    }
    if (t.rank == 0) {
        mlsae_metrics_log_options lo = {MLSAE_METRICS_JSONL, resuming, "micro_batch",
                                        (double)t.st.micro_batches};
        snprintf(path, sizeof path, "%s/metrics.jsonl", t.out_dir);
        if (mlsae_metrics_log_open(&t.log, path, &lo, err)) goto done;
    }
    if (!t.acts.st) {
        if (open_loader(&t, &t.loader, resuming ? &t.st.data : NULL, err)) goto done;
        mlsae_loader_position(t.loader, &t.pos);
    } else {
        t.pos = t.st.data;
    }

    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    const int n_layers = t.s.n_layers;
    if (mlsae_session_split(&t.s) && t.ranks == 1) {
        if (mlsae_prefetch_open(&t.s, t.loader, batch, seq, &t.prefetch, err)) goto done;
        summary->overlapped = 1;
    }
    t.x = mlsae_alloc_f32(t.s.sae_be, (size_t)n_layers * batch * seq * t.s.d_model);
    if (!t.x) {
        mlsae_fail(err, "cannot allocate activations for %d layers x %d x %d x %d", n_layers,
                   batch, seq, t.s.d_model);
        goto done;
    }
    if (mlsae_signals_install(err)) goto done;

    const uint64_t tokens_per_mb = (uint64_t)t.derived.tokens_per_micro_batch;
    const int64_t max_steps = t.derived.max_steps;
    const int64_t log_every = t.derived.log_every_n_steps;
    const int64_t ckpt_every = cfg->trainer.checkpoint_every_n_steps;
    const int64_t val_every = cfg->trainer.val_check_interval;
    mlsae_sae_counters counters;
    mlsae_sae_get_counters(t.sae, &counters);
    step = counters.step;
    int64_t this_run = 0;

    if (io && io->out) {
        mlsae_progress_options po;
        mlsae_progress_options_default(&po);
        po.tty = io->tty;
        po.unit = "tok";
        uint64_t total = (uint64_t)max_steps * (uint64_t)cfg->trainer.accumulate_grad_batches *
                         tokens_per_mb;
        mlsae_progress_start(&t.progress, io->out, "train", t.st.tokens, total, &po);
        t.progress_on = 1;
        msg(&t, "training %s on %s: %d layers, d_model %d, %d latents, k %d, device %s",
            t.acts.st ? "an MLSAE" : t.s.model_dir,
            t.acts.st ? cfg->data.activations : cfg->data.path, n_layers, t.s.d_model,
            mlsae_sae_get_config(t.sae)->n_latents, mlsae_sae_get_config(t.sae)->k,
            t.s.sae_be->ops->describe(t.s.sae_be));
        if (t.prefetch)
            msg(&t, "transformer on %s, a batch ahead on its own thread",
                t.s.be->ops->describe(t.s.be));
        if (resuming)
            msg(&t, "resumed from %s at micro-batch %lld (step %lld)",
                cfg->trainer.checkpoint_path, (long long)t.st.micro_batches, (long long)step);
    }

    mlsae_sae_train_metrics m = {0};
    int data_ended = 0;
    int stopping = 0;
    while (step < max_steps) {
        if ((stopping = mlsae_train_dist_stop_requested(err)) != 0) {
            if (stopping < 0) goto done;
            break;
        }
        int rows = 0;
        int got = next_batch(&t, &rows, summary, err);
        if (got < 0) goto done;
        if (got == 0) {
            data_ended = 1;
            if (t.st.micro_batches == 0) {
                mlsae_fail(err, "%s: no complete sequence of %d tokens in this data (a sequence "
                           "needs max_length tokens, and the last one of each group of 1024 "
                           "documents is dropped)", cfg->data.path, seq);
                goto done;
            }
            break;
        }
        mlsae_ref x = mlsae_at(t.x, 0);
        const int rows_per_layer = rows * seq;
        double c2 = mlsae_monotonic_seconds(NULL);
        if (mlsae_sae_train_microbatch(t.sae, x, n_layers, rows_per_layer, &m, err) ||
            t.s.sae_be->ops->core.finish(t.s.sae_be))
            goto done;
        double c3 = mlsae_monotonic_seconds(NULL);
        summary->sae_s += c3 - c2;
        t.st.micro_batches++;
        t.st.tokens += (uint64_t)t.rows_all * (uint64_t)seq;
        this_run++;
        summary->last_loss = m.loss_total;
        if (m.stepped) {
            step = m.step;
            if (log_every > 0 && step % log_every == 0 && log_train_row(&t, x, &m, err))
                goto done;
        }
        double c4 = mlsae_monotonic_seconds(NULL);
        summary->save_s += c4 - c3;
        if (val_every != MLSAE_CONFIG_NONE && val_every > 0 && t.st.micro_batches % val_every == 0 &&
            validate(&t, step, err))
            goto done;
        double c5 = mlsae_monotonic_seconds(NULL);
        summary->validate_s += c5 - c4;
        /* after this micro-batch's validation: a checkpoint covers its rows */
        if (m.stepped && ckpt_every > 0 && step % ckpt_every == 0) {
            t.st.data = t.pos;
            if (save_checkpoint(&t, err)) goto done;
            summary->save_s += mlsae_monotonic_seconds(NULL) - c5;
        }
        if (t.progress_on) {
            mlsae_progress_set(&t.progress, "loss", m.loss_total);
            mlsae_progress_set(&t.progress, "dead", m.dead_fraction);
            mlsae_progress_update(&t.progress, t.st.tokens);
        }
        if (io && io->on_micro_batch) io->on_micro_batch(io->ctx, this_run);
    }

    if (stopping) {
        /* Finish here: the checkpoint holds the accumulated gradients, so a
         * resumed run continues exactly where this one stopped (data
         * parallel: their sum over the ranks, train_dist.h). */
        t.st.data = t.pos;
        if (mlsae_sae_reduce_grads(t.sae, err)) goto done;
        if (save_checkpoint(&t, err)) goto done;
        summary->interrupted = 1;
        msg(&t, "interrupted: checkpoint written to %s (resume with --resume %s)", t.ckpt_dir,
            t.ckpt_dir);
    } else {
        if (data_ended) {
            /* The end of the data ends the epoch: Lightning steps on what has
             * accumulated. */
            int stepped = 0;
            if (mlsae_sae_flush_step(t.sae, &stepped, err)) goto done;
            mlsae_sae_get_counters(t.sae, &counters);
            step = counters.step;
            msg(&t, "the data ended after %lld micro-batches", (long long)t.st.micro_batches);
        }
        if ((val_every == MLSAE_CONFIG_NONE || val_every <= 0 ||
             t.st.micro_batches % val_every != 0) && validate(&t, step, err))
            goto done;
        t.st.data = t.pos;
        if (save_checkpoint(&t, err)) goto done;
        if (t.rank == 0 && mlsae_ckpt_save(t.sae, t.sae_dir, NULL, err)) goto done;
    }
    if (t.progress_on) mlsae_progress_finish(&t.progress);
    t.progress_on = 0;
    rc = 0;
done:
    if (t.prefetch) {
        mlsae_prefetch_times pt;
        mlsae_prefetch_get_times(t.prefetch, &pt);
        summary->data_s = pt.data_s;
        summary->forward_s = pt.forward_s;
        mlsae_prefetch_close(t.prefetch);
        t.prefetch = NULL;
    }
    mlsae_signals_restore();
    if (t.progress_on) mlsae_progress_finish(&t.progress);
    summary->micro_batches = t.st.micro_batches;
    summary->tokens = t.st.tokens;
    summary->steps = step;
    summary->seconds = mlsae_monotonic_seconds(NULL) - t0;
    snprintf(summary->out_dir, sizeof summary->out_dir, "%s", t.out_dir);
    snprintf(summary->sae_dir, sizeof summary->sae_dir, "%s", t.sae_dir);
    snprintf(summary->checkpoint_dir, sizeof summary->checkpoint_dir, "%s", t.ckpt_dir);
    if (t.log && mlsae_metrics_log_close(t.log, rc ? NULL : err)) rc = -1;
    t.log = NULL;
    trainer_free(&t);
    return rc;
}
