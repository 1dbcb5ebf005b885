/* The training pipeline (SPEC §3-5): stream a dataset, run the transformer,
 * train the multi-layer SAE with gradient accumulation, log, validate,
 * checkpoint; resumable bit for bit. The micro-batches come from the
 * dataset through the transformer, or from saved activations
 * (cfg->data.activations: no model, no validation; batch and pos are the
 * file's); the SAE is new, or cfg->init's (its shape, a new optimizer), or
 * the resumed checkpoint's. Everything else is the same loop.
 *
 * Output directory (trainer.default_root_dir, default "out"):
 *   config.yaml                     the effective run configuration
 *   metrics.jsonl                   one JSON object per logged step / validation
 *   checkpoints/last/               the resumable checkpoint (SAE + training
 *                                   state + run.yaml), replaced atomically
 *   mlsae-<model>-x<E>-k<K>/        the trained SAE in the reference's format
 *
 * A sweep (several values of autoencoder.expansion_factor and/or
 * autoencoder.k, config/run_config.h) trains every SAE of the product on
 * the same micro-batches, from one transformer pass (and one validation
 * pass) per batch: <out>/sweep.json lists the members and <out>/<name>/
 * holds, for each, exactly what a single run with --out <out>/<name> holds,
 * byte for byte (train/sweep.h), followed in its metrics.jsonl by one last
 * row with its memory and times ("sweep/memory_bytes", "sweep/sae_seconds",
 * "sweep/validate_seconds", "sweep/save_seconds"). --resume <out> resumes
 * every member; --resume <out>/<name>/checkpoints/last one alone.
 */
#ifndef MLSAE_TRAIN_TRAINER_H
#define MLSAE_TRAIN_TRAINER_H

#include <stdint.h>
#include <stdio.h>
#include "core/status.h"
#include "config/run_config.h"

typedef struct mlsae_train_io {
    FILE *out;    /* progress and messages (the CLI passes stderr); NULL: silent */
    int tty;      /* 1 / 0 / -1 = isatty(out) */
    /* Called on the training thread after each micro-batch with the number
     * trained by this invocation (NULL: none). It may stop the run as a
     * user would, with raise(SIGINT): the loop then checkpoints and
     * returns with summary->interrupted set. */
    void (*on_micro_batch)(void *ctx, int64_t micro_batches);
    void *ctx;
} mlsae_train_io;

/* One SAE's share of a run. */
typedef struct mlsae_train_member_summary {
    char name[256];             /* mlsae-<model>-x<E>-k<K>: <out>/<name>/ in a sweep */
    size_t memory_bytes;        /* what its SAE holds (mlsae_sae_memory_bytes) */
    double sae_s;               /* its training micro-batches */
    double validate_s;          /* its SAE and downstream passes in validation */
    double save_s;              /* its checkpoints and metric rows */
    double last_loss;           /* loss/total of its last micro-batch */
} mlsae_train_member_summary;

typedef struct mlsae_train_summary {
    char out_dir[4096];         /* a sweep's: the members are in <out_dir>/<name>/ */
    char sae_dir[4096];         /* the final SAE (reference format); "" in a sweep */
    char checkpoint_dir[4096];  /* the resumable checkpoint; "" in a sweep */
    int64_t micro_batches;      /* in total, including those before a resume */
    int64_t steps;              /* optimizer steps in total */
    uint64_t tokens;            /* tokens trained on in total */
    double seconds;             /* wall time of this invocation */
    double last_loss;           /* loss/total of the last micro-batch */
    int interrupted;            /* stopped by SIGINT/SIGTERM after a checkpoint */
    /* Where this invocation's time went (seconds): waiting for the data
     * loader, the transformer forward (+ masking), the SAE micro-batch,
     * validation, checkpoints and metric rows. */
    double data_s, forward_s, sae_s, validate_s, save_s;
    /* With the transformer on another backend than the SAE (overlapped = 1),
     * data_s and forward_s are the transformer thread's, spent while the SAE
     * trained; wait_s is how long the training loop waited for that thread,
     * upload_s the copies of its activations to the SAE's backend. */
    int overlapped;
    double wait_s, upload_s;
    /* The SAEs: one, or a sweep's (sweep = 1); sae_s, validate_s and
     * save_s above are their sums plus what they share. */
    int sweep;
    int n_members;
    mlsae_train_member_summary members[MLSAE_CONFIG_MAX_MEMBERS];
} mlsae_train_summary;

int mlsae_train(const mlsae_run_config *cfg, const mlsae_train_io *io,
                mlsae_train_summary *summary, mlsae_error *err);

/* The output directory of a run: trainer.default_root_dir, or for a resumed
 * run without one the directory holding checkpoints/<name>, else "out". */
void mlsae_train_out_dir(const mlsae_run_config *cfg, char *out, size_t n);

/* "mlsae-<model basename>-x<E>-k<K>", the reference's repository naming. */
void mlsae_train_sae_name(const mlsae_run_config *cfg, char *out, size_t n);

#endif
