/* The pipeline's part of a resumable checkpoint: where the data stream
 * stands and how far training got. Stored as the opaque user state of the
 * SAE checkpoint (sae/checkpoint.h), little-endian, versioned. */
#ifndef MLSAE_TRAIN_TRAIN_STATE_H
#define MLSAE_TRAIN_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "sae/mlsae.h"
#include "dataset/sequences.h"
#include "config/run_config.h"

typedef struct mlsae_train_state {
    mlsae_data_position data; /* the next batch of the training stream */
    int64_t micro_batches;    /* micro-batches trained on */
    uint64_t tokens;          /* tokens trained on */
    int64_t ranks;            /* processes of the data-parallel run (1: one) */
} mlsae_train_state;

/* 64 bytes; a state of 56 (written before data-parallel runs) is one
 * process's. */
#define MLSAE_TRAIN_STATE_BYTES 64

void mlsae_train_state_encode(const mlsae_train_state *st, uint8_t out[MLSAE_TRAIN_STATE_BYTES]);
int mlsae_train_state_decode(const uint8_t *in, size_t len, mlsae_train_state *st,
                             const char *where, mlsae_error *err);

/* Write a resumable checkpoint into dir atomically: the SAE with its
 * training state, this state, and the run configuration (run.yaml). */
int mlsae_train_checkpoint_save(mlsae_sae *sae, const char *dir, const mlsae_run_config *cfg,
                                const mlsae_train_state *st, mlsae_error *err);

/* Load a checkpoint written by mlsae_train_checkpoint_save onto be. */
int mlsae_train_checkpoint_load(const char *dir, mlsae_backend *be, mlsae_sae **sae,
                                mlsae_train_state *st, mlsae_error *err);

#endif
