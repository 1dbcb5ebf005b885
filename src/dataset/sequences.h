/* Building fixed-length token sequences from documents exactly as the
 * reference does (SPEC §3):
 *
 *   documents are taken in order, in groups of group_size (1024; the last
 *   group may be smaller); a group's text is EOS + doc1 + EOS + doc2 + ...
 *   (eos.join(["", *texts])); its tokens are cut into consecutive sequences
 *   of max_length, and the LAST sequence of every group is dropped, even when
 *   it happens to be complete. So a group of T tokens yields
 *   ceil(T / max_length) - 1 sequences, all full. Sequences from consecutive
 *   groups are then batched batch_size at a time (the last batch may be
 *   short).
 *
 * The reference tokenizes a group's joined text in one call. Added-token
 * matching splits that text at every "<|endoftext|>" before anything else,
 * and no match can straddle a document and its EOS, so the same ids come
 * from [eos] + encode(doc) per document: that is what is computed here, with
 * the documents of a group encoded in parallel.
 */
#ifndef MLSAE_DATASET_SEQUENCES_H
#define MLSAE_DATASET_SEQUENCES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "dataset/dataset.h"
#include "tokenizer/tokenizer.h"

#define MLSAE_DEFAULT_GROUP_SIZE 1024

typedef struct mlsae_seq_config {
    size_t max_length; /* tokens per sequence (reference default 2048) */
    size_t batch_size; /* sequences per batch (reference default 1) */
    size_t group_size; /* documents per group; 0 means 1024 */
    int n_threads;     /* tokenizer threads; 0: all CPUs */
} mlsae_seq_config;

/* Where the stream stands, for exact resumption: the next sequence is number
 * group_seq (0-based) of the group that starts at document group_doc.
 * batches and tokens count what was delivered before (tokens = rows x
 * max_length of every batch). */
typedef struct mlsae_data_position {
    uint64_t group_doc;
    uint64_t group_seq;
    uint64_t batches;
    uint64_t tokens;
} mlsae_data_position;

typedef struct mlsae_seq_builder mlsae_seq_builder;

/* Takes ownership of ds (which must be at its first document). start: NULL
 * for the beginning, else a position saved from a builder or loader with the
 * same data and configuration. */
int mlsae_seq_builder_open(mlsae_dataset *ds, const mlsae_tokenizer *tok,
                           const mlsae_seq_config *cfg, const mlsae_data_position *start,
                           mlsae_seq_builder **out, mlsae_error *err);
/* Fill ids [batch_size, max_length] (row-major) with the next batch; *rows is
 * its number of sequences (batch_size except maybe for the last batch).
 * Returns 1, 0 when no sequence is left, -1 on error. */
int mlsae_seq_builder_next_batch(mlsae_seq_builder *b, int32_t *ids, size_t *rows,
                                 mlsae_error *err);
/* The position of the next batch (valid after open or any next_batch). */
void mlsae_seq_builder_position(const mlsae_seq_builder *b, mlsae_data_position *pos);
/* Bytes of document text read so far. */
uint64_t mlsae_seq_builder_text_bytes(const mlsae_seq_builder *b);
/* Stop early: when *flag becomes non-zero, next_batch fails with "cancelled". */
void mlsae_seq_builder_set_cancel(mlsae_seq_builder *b, atomic_int *flag);
void mlsae_seq_builder_close(mlsae_seq_builder *b);

#endif
