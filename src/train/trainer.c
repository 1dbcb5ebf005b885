/* The training loop. SPEC §4 fixes the order of the SAE's work inside a
 * micro-batch; this file orders the micro-batches: data -> transformer ->
 * SAE, logging every log_every_n_steps optimizer steps, validating every
 * val_check_interval micro-batches, checkpointing every
 * checkpoint_every_n_steps optimizer steps and on SIGINT/SIGTERM.
 *
 * The batches come from the stream stage (pipeline/stream.h), this file
 * being its consumer: the stream reads the data, runs the transformer (on
 * two backends a batch ahead on its own thread) and hands each batch's
 * activations to train_batch, which trains every SAE of the run (one, or a
 * sweep's) on them. The stream has no token budget here (training stops at
 * max_steps: the consumer returns 1). Saved activations (data.activations)
 * are a second source, read here and fed to the same train_batch.
 *
 * Data parallel (train_dist.h, doc/scaling.md): rank r of N trains on the
 * batches r, r + N, r + 2N, ... of the same stream (the stream's rank
 * striding, whole groups only), the SAE reduces its batch sums and gradients
 * over the ranks, and rank 0 alone validates and writes files. */
#include "config.h"
#include "train/trainer.h"
#include "train/trainer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/metrics_log.h"
#include "core/paths.h"
#include "core/progress.h"
#include "core/signals.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"
#include "sae/sae_reduce.h"
#include "dataset/activations.h"
#include "eval/downstream.h"
#include "pipeline/comm.h"
#include "pipeline/session.h"
#include "pipeline/stream.h"
#include "train/sweep.h"
#include "train/train_dist.h"
#include "train/train_state.h"

void mlsae_train_out_dir(const mlsae_run_config *cfg, char *out, size_t n)
{
    if (cfg->trainer.default_root_dir[0]) {
        snprintf(out, n, "%s", cfg->trainer.default_root_dir);
        return;
    }
    const char *ck = cfg->trainer.checkpoint_path;
    if (ck[0] && mlsae_sweep_is_root(ck)) { /* a sweep's directory (sweep.h) */
        snprintf(out, n, "%s", ck);
        return;
    }
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

void mlsae_train_sae_name(const mlsae_run_config *cfg, char *out, size_t n)
{
    mlsae_sweep_name(cfg->model_name, cfg->autoencoder.expansion_factor, cfg->autoencoder.k,
                     out, n);
}

/* The model named for a run on saved activations (the SAE's directory,
 * config.yaml): --model_name when given (not the default); else the model
 * the file records (metadata "model_name", doc/formats.md); else the file's
 * name without its directory and .safetensors, never the default model. */
static int activations_model_name(mlsae_run_config *cfg, const mlsae_activations *a,
                                  mlsae_error *err)
{
    mlsae_run_config *def = malloc(sizeof *def);
    if (!def) return mlsae_fail(err, "out of memory");
    mlsae_run_config_defaults(def);
    const int given = strcmp(cfg->model_name, def->model_name) != 0;
    free(def);
    if (given) return 0;
    const char *recorded = mlsae_st_metadata(a->st, "model_name");
    if (recorded && recorded[0]) {
        if (strlen(recorded) >= sizeof cfg->model_name)
            return mlsae_fail(err, "%s: metadata model_name is too long", cfg->data.activations);
        snprintf(cfg->model_name, sizeof cfg->model_name, "%s", recorded);
        return 0;
    }
    const char *path = cfg->data.activations;
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    static const char ext[] = ".safetensors";
    const size_t n_ext = sizeof ext - 1;
    if (len - start > n_ext && strncmp(path + len - n_ext, ext, n_ext) == 0) len -= n_ext;
    snprintf(cfg->model_name, sizeof cfg->model_name, "%.*s", (int)(len - start), path + start);
    return 0;
}

static void trainer_free(trainer *t)
{
    mlsae_activations_close(&t->acts);
    free(t->own_cfg);
    if (t->downstream) mlsae_downstream_free(t->downstream);
    mlsae_eval_buffers_free(&t->eval);
    if (t->x) t->s.sae_be->ops->core.free(t->s.sae_be, t->x);
    for (int i = 0; t->mb && i < t->n_mb; i++) {
        if (t->mb[i].sae) mlsae_sae_free(t->mb[i].sae);
        if (t->mb[i].r_model) t->s.be->ops->core.free(t->s.be, t->mb[i].r_model);
        if (t->mb[i].log) mlsae_metrics_log_close(t->mb[i].log, NULL);
        free(t->mb[i].own_cfg);
    }
    free(t->mb);
    t->mb = NULL;
    mlsae_session_close(&t->s);
}

/* The metrics rows written so far reach the disk before the checkpoint
 * that covers them is published (a resumed run drops rows past it). */
static int save_checkpoint(trainer *t, mlsae_error *err)
{
    if (t->rank != 0) return 0; /* rank 0 alone writes (train_dist.h) */
    for (int i = 0; i < t->n_mb; i++) {
        member *mb = &t->mb[i];
        double c0 = mlsae_monotonic_seconds(NULL);
        if (mb->log && mlsae_metrics_log_sync(mb->log, err)) return -1;
        if (mlsae_train_checkpoint_save(mb->sae, mb->ckpt_dir, mb->cfg, &t->st, err)) return -1;
        const double took = mlsae_monotonic_seconds(NULL) - c0;
        mb->sum->save_s += took;
        if (t->summary) t->summary->save_s += took;
        t->checkpointed = 1;
    }
    return 0;
}

/* One micro-batch x [n_layers, rows, seq, d_model] (on the SAE's backend)
 * for every SAE of the run, then its metric rows, validation and checkpoint
 * when due. rows_all: the sequences of the global micro-batch (all ranks);
 * pos: the data's position after it. Returns 0 to go on, 1 to stop (a stop
 * request, checked first on every rank: the batch is then not trained; or
 * max_steps reached), -1 on error. */
static int train_batch(trainer *t, mlsae_ref x, int rows, int rows_all,
                       const mlsae_data_position *pos, mlsae_error *err)
{
    const mlsae_run_config *cfg = t->cfg;
    mlsae_train_summary *summary = t->summary;
    if ((t->stopping = mlsae_train_dist_stop_requested(err)) != 0) return t->stopping < 0 ? -1 : 1;
    const int seq = (int)cfg->data.max_length, n_layers = t->s.n_layers;
    const int64_t log_every = t->derived.log_every_n_steps;
    const int64_t ckpt_every = cfg->trainer.checkpoint_every_n_steps;
    const int64_t val_every = cfg->trainer.val_check_interval;
    const int rows_per_layer = rows * seq;
    if (trainer_write_configs(t, err)) return -1;
    t->st.micro_batches++;
    t->st.tokens += (uint64_t)rows_all * (uint64_t)seq;
    t->this_run++;
    t->pos = *pos;
    int stepped = 0;
    for (int i = 0; i < t->n_mb; i++) {
        /* every SAE on the same activations (an SAE only reads x) */
        member *mb = &t->mb[i];
        mlsae_sae_train_metrics m;
        double c2 = mlsae_monotonic_seconds(NULL);
        if (mlsae_sae_train_microbatch(mb->sae, x, n_layers, rows_per_layer, &m, err) ||
            t->s.sae_be->ops->core.finish(t->s.sae_be))
            return -1;
        double c3 = mlsae_monotonic_seconds(NULL);
        summary->sae_s += c3 - c2;
        mb->sum->sae_s += c3 - c2;
        mb->sum->last_loss = m.loss_total;
        if (i == 0) {
            summary->last_loss = m.loss_total;
            t->m = m;
        }
        if (m.stepped) {
            stepped = 1;
            t->step = m.step;
            if (log_every > 0 && t->step % log_every == 0 && trainer_log_train_row(t, mb, x, &m, err))
                return -1;
        }
        double c4 = mlsae_monotonic_seconds(NULL);
        summary->save_s += c4 - c3;
        mb->sum->save_s += c4 - c3;
        if (t->progress_on)
            mlsae_progress_set(&t->progress, t->sweep ? mb->label : "loss", m.loss_total);
    }
    double c4 = mlsae_monotonic_seconds(NULL);
    if (val_every != MLSAE_CONFIG_NONE && val_every > 0 && t->st.micro_batches % val_every == 0 &&
        trainer_validate(t, t->step, err))
        return -1;
    double c5 = mlsae_monotonic_seconds(NULL);
    summary->validate_s += c5 - c4;
    /* after this micro-batch's validation: a checkpoint covers its rows */
    if (stepped && ckpt_every > 0 && t->step % ckpt_every == 0) {
        t->st.data = t->pos;
        if (save_checkpoint(t, err)) return -1;
    }
    if (t->progress_on) {
        if (!t->sweep) mlsae_progress_set(&t->progress, "dead", t->m.dead_fraction);
        mlsae_progress_update(&t->progress, t->st.tokens);
    }
    if (t->io && t->io->on_micro_batch) t->io->on_micro_batch(t->io->ctx, t->this_run);
    t->reached = t->step >= t->derived.max_steps;
    return t->reached;
}

/* The stream's consumer. */
static int consume(void *ctx, const mlsae_stream_batch *b, mlsae_error *err)
{
    trainer *t = ctx;
    t->stream = b->stream;
    int rc = train_batch(t, b->x, b->rows, b->rows_all, &b->position, err);
    t->stream = NULL;
    return rc;
}

/* The model's batches through the stream, from the resume point; 1 when
 * the data ended. */
static int run_stream(trainer *t, mlsae_error *err)
{
    mlsae_stream_options so = {0};
    so.max_tokens = UINT64_MAX / 2; /* no budget: training stops at max_steps */
    so.start = t->cfg->trainer.checkpoint_path[0] ? &t->st.data : NULL;
    so.rank = t->rank;
    so.ranks = t->ranks;
    so.whole_groups = 1;
    so.allow_empty = 1; /* a resumed run may find the data at its end */
    mlsae_stream_summary ss;
    int rc = mlsae_stream_run(t->cfg, &t->s, &so, consume, t, &ss, err);
    t->summary->data_s += ss.data_s;
    t->summary->forward_s += ss.forward_s;
    t->summary->wait_s += ss.wait_s;
    t->summary->upload_s += ss.upload_s;
    t->summary->overlapped = ss.overlapped;
    if (rc) return -1;
    /* one process resumes after the end of the data as the loader saw it;
     * several, after the last whole group */
    if (ss.data_ended && t->ranks == 1) t->pos = ss.end;
    return ss.data_ended && !t->stopping && !t->reached;
}

/* Saved activations: micro-batch g is entry g of the file (rank r of N:
 * r, r + N, ...); 1 when the file ended. */
static int run_activations(trainer *t, mlsae_error *err)
{
    const mlsae_activations *a = &t->acts;
    mlsae_backend *sae_be = t->s.sae_be;
    for (;;) {
        if (t->act_next + t->ranks > a->n_batches) return 1;
        double c0 = mlsae_monotonic_seconds(NULL);
        if (sae_be->ops->core.write(sae_be, t->x, 0,
                                    mlsae_activations_batch(a, t->act_next + t->rank),
                                    a->per_batch * sizeof(float)))
            return mlsae_fail(err, "activations to the SAE's backend: %s",
                              mlsae_backend_error(sae_be));
        t->act_next += t->ranks;
        mlsae_data_position pos = t->pos;
        pos.batches = (uint64_t)t->act_next;
        pos.tokens = (uint64_t)t->act_next * (uint64_t)a->batch * (uint64_t)a->pos;
        t->summary->data_s += mlsae_monotonic_seconds(NULL) - c0;
        int rc = train_batch(t, mlsae_at(t->x, 0), a->batch, a->batch * t->ranks, &pos, err);
        if (rc) return rc < 0 ? -1 : 0;
    }
}

/* A fresh run never writes into the other kind's directory: a single run's
 * SAE directory <out>/<name> is a sweep member's, and a sweep beside a
 * single run's checkpoints/ would mix the two (doc/sweeps.md). */
static int check_out_dir(const trainer *t, mlsae_error *err)
{
    char path[sizeof t->out_dir + 32];
    snprintf(path, sizeof path, "%s/sweep.json", t->out_dir);
    if (mlsae_path_exists(path))
        return mlsae_fail(err, "--out %s holds a sweep (sweep.json): resume it with --resume %s, "
                          "or give another --out", t->out_dir, t->out_dir);
    snprintf(path, sizeof path, "%s/checkpoints", t->out_dir);
    if (t->sweep && mlsae_path_exists(path))
        return mlsae_fail(err, "--out %s holds a single run (checkpoints/): a sweep needs another "
                          "--out", t->out_dir);
    return 0;
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
        if (activations_model_name(t.own_cfg, &t.acts, err)) {
            mlsae_activations_close(&t.acts);
            free(t.own_cfg);
            return -1;
        }
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
    const int resuming = cfg->trainer.checkpoint_path[0] != 0;
    const int need_logits = cfg->trainer.limit_val_batches != 0;
    int64_t step = 0;
    double t0 = mlsae_monotonic_seconds(NULL);

    int rc = -1;
    if (trainer_make_members(&t, summary, err) || (!resuming && check_out_dir(&t, err))) {
        trainer_free(&t);
        return -1;
    }
    if (t.acts.st ? mlsae_session_open_activations(&t.s, cfg, t.acts.d_model, t.acts.n_layers,
                                                   err)
                  : mlsae_session_open(&t.s, cfg, need_logits, err)) {
        trainer_free(&t);
        return -1;
    }
    if (!t.acts.st && (mlsae_session_check_data(&t.s, cfg, err) ||
                       mlsae_session_load_lens(&t.s, cfg, NULL, err)))
        goto done;

    for (int i = 0; i < t.n_mb; i++)
        if (trainer_open_member(&t, &t.mb[i], err)) goto done;
    t.act_next = (int64_t)t.st.data.batches;
    if (resuming && t.acts.st && t.act_next > t.acts.n_batches) {
        mlsae_fail(err, "%s: the run to resume has consumed %lld micro-batches, the file has "
                   "%lld", cfg->data.activations, (long long)t.act_next,
                   (long long)t.acts.n_batches);
        goto done;
    }
    t.st.ranks = t.ranks;

    /* nothing is written before the model, the data and the SAEs are known
     * good, on every rank (a rank that failed never arrives here: it ends
     * the run, train_dist.h); and only by rank 0 */
    if (mlsae_comm_barrier(err)) goto done;
    if (t.rank == 0 && t.sweep) {
        mlsae_sweep_member list[MLSAE_CONFIG_MAX_MEMBERS];
        for (int i = 0; i < t.n_mb; i++) {
            memcpy(list[i].name, t.mb[i].sum->name, sizeof list[i].name);
            list[i].expansion_factor = t.mb[i].cfg->autoencoder.expansion_factor;
            list[i].k = t.mb[i].cfg->autoencoder.k;
        }
        char manifest[sizeof t.out_dir + 16];
        snprintf(manifest, sizeof manifest, "%s/sweep.json", t.out_dir);
        if (trainer_note_created(&t, t.out_dir, 1, err) || mlsae_mkdir_p(t.out_dir, err) ||
            trainer_note_created(&t, manifest, 0, err) ||
            mlsae_sweep_write(t.out_dir, list, t.n_mb, err))
            goto done;
    }
    /* resumed from a run that had reached max_steps: its last validation,
     * metrics rows, checkpoint and config.yaml are written already (and
     * record the run as it was made); only the SAE is saved again, the same
     * bytes. A resumed run writes its config.yaml when it does some work
     * (trainer_write_configs). */
    mlsae_sae_counters counters;
    mlsae_sae_get_counters(t.mb[0].sae, &counters);
    const int nothing_left = resuming && counters.step >= t.derived.max_steps;
    for (int i = 0; i < t.n_mb && t.rank == 0; i++)
        if (trainer_member_files(&t, &t.mb[i], resuming, !resuming, err)) goto done;
    t.config_pending = resuming && !nothing_left;
    t.pos = t.st.data;

    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    const int n_layers = t.s.n_layers;
    if (t.acts.st) {
        t.x = mlsae_alloc_f32(t.s.sae_be, (size_t)n_layers * batch * seq * t.s.d_model);
        if (!t.x) {
            mlsae_fail(err, "cannot allocate activations for %d layers x %d x %d x %d", n_layers,
                       batch, seq, t.s.d_model);
            goto done;
        }
    }
    if (mlsae_signals_install(err)) goto done;

    const uint64_t tokens_per_mb = (uint64_t)t.derived.tokens_per_micro_batch;
    const int64_t max_steps = t.derived.max_steps;
    const int64_t val_every = cfg->trainer.val_check_interval;
    step = t.step = counters.step;
    t.summary = summary;

    if (io && io->out) {
        mlsae_progress_options po;
        mlsae_progress_options_default(&po);
        po.tty = io->tty;
        po.unit = "tok";
        uint64_t total = (uint64_t)max_steps * (uint64_t)cfg->trainer.accumulate_grad_batches *
                         tokens_per_mb;
        if (t.acts.st) { /* no more than the file holds (every rank its share) */
            uint64_t held = (uint64_t)(t.acts.n_batches / t.ranks) * (uint64_t)t.ranks *
                            (uint64_t)t.acts.batch * (uint64_t)t.acts.pos;
            if (held < total) total = held;
        }
        mlsae_progress_start(&t.progress, io->out, "train", t.st.tokens, total, &po);
        t.progress_on = 1;
        const mlsae_sae_config *sc = mlsae_sae_get_config(t.mb[0].sae);
        if (t.sweep)
            trainer_msg(&t, "training %d MLSAEs (a sweep, into %s/<name>/) on %s with %s: %d layers, "
                "d_model %d, device %s", t.n_mb, t.out_dir,
                t.acts.st ? cfg->data.activations : cfg->data.path,
                t.acts.st ? "saved activations" : t.s.model_dir, n_layers, t.s.d_model,
                t.s.sae_be->ops->describe(t.s.sae_be));
        else
            trainer_msg(&t, "training %s on %s: %d layers, d_model %d, %d latents, k %d, device %s",
                t.acts.st ? "an MLSAE" : t.s.model_dir,
                t.acts.st ? cfg->data.activations : cfg->data.path, n_layers, t.s.d_model,
                sc->n_latents, sc->k, t.s.sae_be->ops->describe(t.s.sae_be));
        for (int i = 0; t.sweep && i < t.n_mb; i++) {
            const mlsae_sae_config *mc = mlsae_sae_get_config(t.mb[i].sae);
            trainer_msg(&t, "  %s: %d latents, k %d", t.mb[i].sum->name, mc->n_latents, mc->k);
        }
        if (!t.acts.st && mlsae_session_split(&t.s))
            trainer_msg(&t, "transformer on %s, a batch ahead on its own thread",
                t.s.be->ops->describe(t.s.be));
        if (resuming)
            trainer_msg(&t, "resumed from %s at micro-batch %lld (step %lld)",
                cfg->trainer.checkpoint_path, (long long)t.st.micro_batches, (long long)step);
    }

    int data_ended = 0;
    if (nothing_left)
        trainer_msg(&t, "nothing left to train: step %lld of max_steps %lld", (long long)t.step,
                    (long long)max_steps);
    if (t.step < max_steps) {
        data_ended = t.acts.st ? run_activations(&t, err) : run_stream(&t, err);
        if (data_ended < 0) goto done;
        step = t.step;
        if (t.stopping < 0) goto done;
        if (data_ended && t.st.micro_batches == 0) {
            mlsae_fail(err, "%s: no complete sequence of %d tokens in this data (a sequence "
                       "needs max_length tokens, and the last one of each group of 1024 "
                       "documents is dropped)", cfg->data.path, seq);
            goto done;
        }
    }
    const int stopping = t.stopping;

    if (stopping) {
        /* Finish here: the checkpoint holds the accumulated gradients, so a
         * resumed run continues exactly where this one stopped (data
         * parallel: their sum over the ranks, train_dist.h). */
        t.st.data = t.pos;
        for (int i = 0; i < t.n_mb; i++)
            if (mlsae_sae_reduce_grads(t.mb[i].sae, err)) goto done;
        if (trainer_write_configs(&t, err) || save_checkpoint(&t, err)) goto done;
        summary->interrupted = 1;
        const char *where = t.sweep ? t.out_dir : t.mb[0].ckpt_dir;
        trainer_msg(&t, "interrupted: checkpoint%s written to %s (resume with --resume %s)",
            t.sweep ? "s" : "", t.sweep ? t.out_dir : t.mb[0].ckpt_dir, where);
    } else {
        /* resumed from a run that the end of the data had finished: the
         * data ended again before a micro-batch, with nothing accumulated;
         * its validation, metrics rows and checkpoint are written already */
        int ended_before = 0;
        if (data_ended) {
            /* The end of the data ends the epoch: Lightning steps on what has
             * accumulated. */
            int any_stepped = 0;
            for (int i = 0; i < t.n_mb; i++) {
                int stepped = 0;
                if (mlsae_sae_flush_step(t.mb[i].sae, &stepped, err)) goto done;
                any_stepped |= stepped;
            }
            mlsae_sae_get_counters(t.mb[0].sae, &counters);
            step = counters.step;
            ended_before = resuming && t.this_run == 0 && !any_stepped;
            if (ended_before)
                trainer_msg(&t, "nothing left to train: the data ended after %lld micro-batches "
                            "(step %lld)", (long long)t.st.micro_batches, (long long)step);
            else
                trainer_msg(&t, "the data ended after %lld micro-batches",
                            (long long)t.st.micro_batches);
        }
        const int done_before = nothing_left || ended_before;
        if (!done_before && trainer_write_configs(&t, err)) goto done;
        double c5 = mlsae_monotonic_seconds(NULL);
        if (!done_before &&
            (val_every == MLSAE_CONFIG_NONE || val_every <= 0 ||
             t.st.micro_batches % val_every != 0) && trainer_validate(&t, step, err))
            goto done;
        summary->validate_s += mlsae_monotonic_seconds(NULL) - c5;
        t.st.data = t.pos;
        if (!done_before && save_checkpoint(&t, err)) goto done;
        for (int i = 0; i < t.n_mb; i++) {
            member *mb = &t.mb[i];
            mb->sum->memory_bytes = mlsae_sae_memory_bytes(mb->sae);
            double c6 = mlsae_monotonic_seconds(NULL);
            if (t.rank == 0 && mlsae_ckpt_save(mb->sae, mb->sae_dir, NULL, err)) goto done;
            /* the saved SAE counts with the checkpoints in the time report */
            const double saved = mlsae_monotonic_seconds(NULL) - c6;
            mb->sum->save_s += saved;
            summary->save_s += saved;
            if (t.rank == 0 && !done_before && trainer_log_member_summary(&t, mb, step, err))
                goto done;
        }
    }
    if (t.progress_on) mlsae_progress_finish(&t.progress);
    t.progress_on = 0;
    rc = 0;
done:
    mlsae_signals_restore();
    if (t.progress_on) mlsae_progress_finish(&t.progress);
    summary->micro_batches = t.st.micro_batches;
    summary->tokens = t.st.tokens;
    summary->steps = step;
    summary->seconds = mlsae_monotonic_seconds(NULL) - t0;
    summary->sweep = t.sweep;
    snprintf(summary->out_dir, sizeof summary->out_dir, "%s", t.out_dir);
    for (int i = 0; t.mb && i < t.n_mb; i++) {
        member *mb = &t.mb[i];
        if (mb->sae && !mb->sum->memory_bytes)
            mb->sum->memory_bytes = mlsae_sae_memory_bytes(mb->sae);
        if (mb->log && mlsae_metrics_log_close(mb->log, rc ? NULL : err)) rc = -1;
        mb->log = NULL;
    }
    /* a run that failed before its first checkpoint leaves nothing of its
     * own behind; once a checkpoint exists, it and the rows it covers stay */
    if (rc && !resuming && !t.checkpointed) trainer_remove_created(&t);
    trainer_forget_created(&t);
    if (t.mb && !t.sweep) {
        memcpy(summary->sae_dir, t.mb[0].sae_dir, sizeof t.mb[0].sae_dir);
        memcpy(summary->checkpoint_dir, t.mb[0].ckpt_dir, sizeof t.mb[0].ckpt_dir);
    }
    trainer_free(&t);
    return rc;
}
