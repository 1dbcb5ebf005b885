/* Per-batch partial results of an analysis, kept so that a run over MPI
 * combines them in the order of one process (doc/scaling.md, "The analyses
 * over MPI"): each record is the batch's global number (mlsae_stream_batch
 * index) and `width` doubles. One process appends its batches in order;
 * with N ranks, rank 0 gathers every rank's records and sorts them by batch
 * number, so the same doubles reach the same sequence of additions and the
 * files are byte-identical. Memory: (width + 1) * 8 bytes per batch. */
#ifndef MLSAE_ANALYSIS_BATCH_LOG_H
#define MLSAE_ANALYSIS_BATCH_LOG_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct mlsae_batch_log {
    size_t width;  /* doubles per record */
    size_t n, cap; /* records */
    double *rec;   /* [n, 1 + width]: the batch number (exact in a double), then the values */
} mlsae_batch_log;

void mlsae_batch_log_init(mlsae_batch_log *log, size_t width);
void mlsae_batch_log_free(mlsae_batch_log *log);
/* Append batch `index`'s `width` values. */
int mlsae_batch_log_append(mlsae_batch_log *log, int64_t index, const double *values,
                           mlsae_error *err);
/* Over MPI, every rank calls it: rank 0's log becomes all ranks' records
 * sorted by batch number (an error if a number repeats); the others' logs
 * are left as they were. One process: sorted in place (already in order). */
int mlsae_batch_log_gather(mlsae_batch_log *log, mlsae_error *err);
/* Record i's values. */
static inline const double *mlsae_batch_log_values(const mlsae_batch_log *log, size_t i)
{
    return log->rec + i * (log->width + 1) + 1;
}

#endif
