/* Background batch loader: a thread reads, decompresses, tokenizes and packs
 * batches (text/sequences.h) ahead of the consumer into a bounded queue.
 *
 * The batch stream is identical to mlsae_seq_builder's. After each batch the
 * consumer may save mlsae_loader_position(); a loader opened with that
 * position continues with exactly the batches that would have followed.
 * Errors of the thread (bad data, truncated stream) reach the consumer from
 * mlsae_loader_next, after every batch made before the error.
 */
#ifndef MLSAE_DATASET_LOADER_H
#define MLSAE_DATASET_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "dataset/sequences.h"
#include "tokenizer/tokenizer.h"

typedef struct mlsae_loader_config {
    const char *const *sources;        /* dataset files, directories or globs */
    size_t n_sources;
    const mlsae_tokenizer *tok;        /* borrowed; must outlive the loader */
    mlsae_seq_config seq;
    size_t queue_depth;                /* batches prepared ahead; 0 means 4 */
    const mlsae_data_position *start;  /* NULL: from the beginning */
} mlsae_loader_config;

typedef struct mlsae_batch {
    const int32_t *ids;  /* [rows, max_length], row-major; valid until the next call */
    size_t rows;         /* batch_size, or fewer for the last batch */
    size_t max_length;
} mlsae_batch;

typedef struct mlsae_loader mlsae_loader;

/* Open the dataset (file errors are reported here) and start the thread. */
int mlsae_loader_open(const mlsae_loader_config *cfg, mlsae_loader **out, mlsae_error *err);
/* The next batch: 1, 0 at the end of the data, -1 on error. */
int mlsae_loader_next(mlsae_loader *ld, mlsae_batch *batch, mlsae_error *err);
/* Where the stream stands after the last batch returned (the resume point). */
void mlsae_loader_position(const mlsae_loader *ld, mlsae_data_position *pos);
/* Tokens in the batches returned so far (rows x max_length), counting those
 * before the start position. */
uint64_t mlsae_loader_tokens_seen(const mlsae_loader *ld);
/* Stop the thread and free everything (safe at any point). */
void mlsae_loader_close(mlsae_loader *ld);

#endif
