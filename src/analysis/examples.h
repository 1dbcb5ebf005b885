/* The top activating examples of every (latent, layer) (reference:
 * mlsae/analysis/examples.py; SPEC §6), kept in bounded memory: one min-heap
 * of at most n_examples entries per (latent, layer), filled as batches
 * stream by, so nothing is ever inserted and deleted again.
 *
 * A candidate is a TopK entry (latent j at layer l, position p of a
 * sequence) whose raw value is above 1e-3 (the reference's dead_threshold
 * default of get_examples). Its context is the window of positions
 * [p - n_tokens, p + n_tokens) (n_tokens before, the token itself and
 * n_tokens - 1 after, as the reference's slice), CLIPPED TO THE SAME
 * SEQUENCE; acts[t] is latent j's TopK value at layer l and window position
 * t (0 where j is not in that position's TopK).
 *
 * Differences from the reference: it takes the window over the flattened
 * batch, so the window crosses into the neighbouring sequence, and a slice
 * starting before position 0 of the batch is empty; it rounds act and acts
 * to float16 before ranking and storing them (here float32 is kept); ties in
 * act are broken by SQLite's order there and by stream order (the earlier
 * position ranks higher) here, also when the stream is split over MPI
 * ranks (doc/scaling.md).
 *
 * Memory: at most n_latents * n_layers * n_examples entries of
 * (24 + 16 * n_tokens bytes, rounded up to 8), allocated per (latent, layer) on its first
 * example; e.g. pythia-70m x64 (32768 latents, 6 layers), 32 examples,
 * n_tokens 4: at most 6.3M entries of 88 bytes, 0.56 GB; dead latents cost
 * nothing. */
#ifndef MLSAE_ANALYSIS_EXAMPLES_H
#define MLSAE_ANALYSIS_EXAMPLES_H

#include <stdint.h>
#include "core/status.h"

#define MLSAE_EXAMPLES_THRESHOLD 1e-3f

typedef struct mlsae_example {
    float act;
    int32_t token_id;
    uint64_t order;     /* stream order: the row's position across the whole stream */
    int32_t n_ctx;      /* window length (<= 2 * n_tokens) */
    int32_t self;       /* index of the activating token in the window */
    /* followed by int32 ids[2 n_tokens], float acts[2 n_tokens] */
} mlsae_example;

typedef struct mlsae_examples {
    int n_latents, n_layers, n_examples, n_tokens;
    size_t stride;      /* bytes per entry */
    unsigned char **heaps; /* [n_latents * n_layers], NULL until first used */
    int *sizes;
} mlsae_examples;

int mlsae_examples_init(mlsae_examples *ex, int n_latents, int n_layers, int n_examples,
                        int n_tokens, mlsae_error *err);
void mlsae_examples_free(mlsae_examples *ex);

/* One batch: ids [rows, seq]; values/indices [n_layers * rows * seq, k]
 * (layer-major, raw TopK); only rows with (row * seq + pos) < n_tokens_valid
 * are candidates. first_order is the stream order of the batch's first
 * position (the stream's tokens_before: every earlier batch is whole), so
 * position i of the batch has order first_order + i. Batches may come in
 * any order and from several streams: each heap holds the n_examples
 * greatest entries by (act descending, order ascending), a strict total
 * order, so the result does not depend on how the stream was split. */
int mlsae_examples_update(mlsae_examples *ex, const int32_t *ids, int rows, int seq,
                          const float *values, const int32_t *indices, int k,
                          int n_tokens_valid, uint64_t first_order, mlsae_error *err);

/* Slots are (latent, layer) pairs, slot = latent * n_layers + layer,
 * 0 .. n_latents * n_layers - 1. The heaps of slots [slot0, slot1) packed
 * into bytes for another process of the same build: per slot an int32
 * count, then that many entries of ex->stride bytes (heap order).
 * mlsae_examples_packed_size: the bytes mlsae_examples_pack writes. */
size_t mlsae_examples_packed_size(const mlsae_examples *ex, size_t slot0, size_t slot1);
void mlsae_examples_pack(const mlsae_examples *ex, size_t slot0, size_t slot1, unsigned char *buf);
/* Offer every entry packed by another mlsae_examples of the same shape
 * (n_latents, n_layers, n_examples, n_tokens) over the same slots: each
 * heap then holds the greatest of both (the top n of the union, as one
 * process that had seen both streams' batches). A count above n_examples
 * or a length that does not match is an error. */
int mlsae_examples_merge_packed(mlsae_examples *ex, size_t slot0, size_t slot1,
                                const unsigned char *buf, size_t bytes, mlsae_error *err);

/* The entries of (latent, layer), sorted by act descending (ties: earlier
 * first). Returns the count; *out points into the heap storage, which this
 * reorders: call it only after the last update. */
int mlsae_examples_sorted(mlsae_examples *ex, int latent, int layer, unsigned char **out);

static inline const int32_t *mlsae_example_ids(const mlsae_example *e)
{
    return (const int32_t *)(e + 1);
}
static inline const float *mlsae_example_acts(const mlsae_example *e, int n_tokens)
{
    return (const float *)(mlsae_example_ids(e) + 2 * n_tokens);
}

#endif
