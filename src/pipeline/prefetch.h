/* The transformer one batch ahead, on a thread of its own.
 *
 * When the transformer and the SAE run on different backends (session.h),
 * the trainer takes its batches from here: while the SAE trains on batch i,
 * a producer thread pulls batch i+1 from the loader and computes its
 * activations on the model's backend into the other of two host buffers,
 * [n_layers, rows, seq, d_model] with special tokens masked.
 *
 * The producer works only when asked: mlsae_prefetch_next hands out a
 * finished batch and starts the next one; mlsae_prefetch_idle waits for
 * the batch under way, after which the model's backend (and the session's
 * model) belong to the caller until the next mlsae_prefetch_next.
 *
 * The loader runs ahead of the trainer, so its own position is not the
 * resume point: each batch carries the loader's position right after it
 * was pulled, which is the resume point once that batch is trained.
 *
 * Data parallel (stream.h): opened with ranks > 1, each request pulls a
 * group of `ranks` batches from the loader and computes only the batch at
 * position `rank` of the group; the others are read (their row counts are
 * reported) but not run. */
#ifndef MLSAE_PIPELINE_PREFETCH_H
#define MLSAE_PIPELINE_PREFETCH_H

#include "core/status.h"
#include "dataset/loader.h"
#include "dataset/sequences.h"
#include "pipeline/session.h"

typedef struct mlsae_prefetch mlsae_prefetch;

typedef struct mlsae_prefetched {
    /* host [n_layers, rows, seq, d_model]; valid until the next call of
     * mlsae_prefetch_next. NULL at the end of the data. */
    const float *x;
    const int32_t *ids;           /* [rows, seq], valid as long as x */
    int rows;                     /* sequences in this batch (<= batch); 0 when this
                                   * rank's batch is past the end of the data */
    mlsae_data_position position; /* the loader's position after this batch (group) */
    /* the group (ranks > 1; with one rank: 1, 0, rows) */
    int n_batches;                /* batches read, 1..ranks */
    int rows_before;              /* sequences of the group's batches before this rank's */
    int rows_all;                 /* sequences of all the group's batches */
} mlsae_prefetched;

/* Where the producer's time went (seconds): waiting for the loader, and
 * the transformer forward with masking. */
typedef struct mlsae_prefetch_times {
    double data_s, forward_s;
} mlsae_prefetch_times;

/* The session and the loader are borrowed; the loader must not be used by
 * the caller while the prefetcher is open. batch, seq: the loader's. */
int mlsae_prefetch_open(mlsae_session *s, mlsae_loader *loader, int batch, int seq,
                        mlsae_prefetch **out, mlsae_error *err);
/* The same, for rank `rank` of `ranks` (0 <= rank < ranks). */
int mlsae_prefetch_open_strided(mlsae_session *s, mlsae_loader *loader, int batch, int seq,
                                int rank, int ranks, mlsae_prefetch **out, mlsae_error *err);
/* The next batch (group): 1, 0 at the end of the data (out->position is then the
 * loader's final position), -1 on error. No batch is started after 0 or -1. */
int mlsae_prefetch_next(mlsae_prefetch *pf, mlsae_prefetched *out, mlsae_error *err);
/* Wait until no batch is under way. */
void mlsae_prefetch_idle(mlsae_prefetch *pf);
/* The producer's times so far (waits for it to be idle). */
void mlsae_prefetch_get_times(mlsae_prefetch *pf, mlsae_prefetch_times *t);
/* Wait for the batch under way, stop the thread, free (NULL is fine). */
void mlsae_prefetch_close(mlsae_prefetch *pf);

#endif
