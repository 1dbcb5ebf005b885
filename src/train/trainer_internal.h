/* The training loop's shared state (trainer.c, trainer_members.c,
 * trainer_log.c); not part of any API. */
#ifndef MLSAE_TRAIN_TRAINER_INTERNAL_H
#define MLSAE_TRAIN_TRAINER_INTERNAL_H

#include <stdint.h>
#include <jansson.h>

#include "config/run_config.h"
#include "core/metrics_log.h"
#include "core/progress.h"
#include "dataset/activations.h"
#include "eval/downstream.h"
#include "pipeline/session.h"
#include "pipeline/stream.h"
#include "sae/mlsae.h"
#include "train/train_state.h"
#include "train/trainer.h"

/* One SAE of the run (a sweep has several, sweep.h): its configuration,
 * its files and its share of the time. */
typedef struct member {
    const mlsae_run_config *cfg; /* the run's, or its own (own_cfg) in a sweep */
    mlsae_run_config *own_cfg;
    mlsae_sae *sae;
    mlsae_metrics_log *log;
    char out_dir[3400], ckpt_dir[3500], sae_dir[4096];
    char label[32];              /* "x<E>k<K>" on the progress line of a sweep */
    mlsae_train_member_summary *sum;
    double val_sum[3][MLSAE_CONFIG_MAX_LAYERS]; /* validation accumulators */
    mlsae_downstream_layer dl[MLSAE_CONFIG_MAX_LAYERS]; /* a validation batch's */
    mlsae_buffer *r_model;       /* two backends: its reconstruction on the model's */
} member;

/* Everything the loop holds; freed in one place. */
typedef struct trainer {
    const mlsae_run_config *cfg;
    mlsae_run_derived derived;
    const mlsae_train_io *io;
    mlsae_session s;
    member *mb;                /* the SAEs: one, or a sweep's */
    int n_mb;
    int sweep;                 /* several SAEs: <out>/<name>/ each (sweep.h) */
    mlsae_activations acts;    /* saved activations (data.activations), or the stream */
    int64_t act_next;          /* the next micro-batch of acts */
    mlsae_run_config *own_cfg; /* cfg with the activations' batch and pos */
    mlsae_buffer *x;           /* acts: [n_layers, batch, seq, d] on the SAE's backend */
    mlsae_stream *stream;      /* during a stream callback: for mlsae_stream_idle */
    mlsae_data_position pos;   /* the data's position after the last batch trained */
    mlsae_downstream *downstream;
    mlsae_eval_buffers eval;   /* validation batches */
    mlsae_train_state st;
    mlsae_progress progress;
    int progress_on;
    char out_dir[3072];
    int rank, ranks;           /* data parallel: this process, all (1: alone) */
    /* the loop (train_batch) */
    mlsae_train_summary *summary;
    int64_t step, this_run;
    int stopping;              /* a stop was requested (SIGINT/SIGTERM on any rank) */
    int reached;               /* max_steps reached */
    mlsae_sae_train_metrics m; /* the first SAE's last micro-batch */
    /* rank 0: what this run created (files and directories, in order), to
     * remove when it fails before its first checkpoint (trainer_files.c) */
    char **created;
    int n_created, cap_created;
    int checkpointed;          /* a checkpoint has been written by this run */
    int config_pending;        /* resumed: config.yaml waits for the first work done
                                * (a resume with nothing left rewrites nothing) */
} trainer;

/* A line for the user: above the progress display, or alone. */
void trainer_msg(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* trainer_members.c: the SAEs of the run. */
/* One member (the run's configuration), or a sweep's (own configurations,
 * directories <out>/<name>/, sweep.h); on a sweep resumed from its
 * directory the members of its sweep.json. */
int trainer_make_members(trainer *t, mlsae_train_summary *summary, mlsae_error *err);
/* Member mb's SAE: resumed (its checkpoint; a sweep member's run.yaml
 * reconciled with its configuration, its training state the first
 * member's), from cfg->init, or new; its precision, reducer and directory. */
int trainer_open_member(trainer *t, member *mb, mlsae_error *err);
/* Rank 0: member mb's directories, config.yaml (when write_config) and
 * metrics log. */
int trainer_member_files(trainer *t, member *mb, int resuming, int write_config,
                         mlsae_error *err);
/* Rank 0, when t->config_pending: every member's config.yaml, then clears it. */
int trainer_write_configs(trainer *t, mlsae_error *err);

/* trainer_files.c: the run's own output. Note path (and, with parents,
 * every missing directory above it) as created by this run when it does
 * not exist yet; call before creating it. */
int trainer_note_created(trainer *t, const char *path, int parents, mlsae_error *err);
/* Remove what this run created, newest first (directories only when
 * empty: never anything else's), and forget the list. */
void trainer_remove_created(trainer *t);
void trainer_forget_created(trainer *t);

/* trainer_log.c: metric rows and validation. */
int trainer_log_train_row(trainer *t, member *mb, mlsae_ref x, const mlsae_sae_train_metrics *m,
                          mlsae_error *err);
/* Validation of every member on one pass over the validation batches. */
int trainer_validate(trainer *t, int64_t step, mlsae_error *err);
/* A sweep member's last row: its memory and times (nothing for one SAE). */
int trainer_log_member_summary(trainer *t, member *mb, int64_t step, mlsae_error *err);

#endif
