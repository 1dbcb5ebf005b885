/* Ranked-merge byte-level BPE on one pre-tokenized piece (SPEC §3).
 *
 * A piece starts as one symbol per byte (the id of that byte's byte-level
 * character). Repeatedly, the adjacent pair with the lowest merge rank is
 * merged, the leftmost one first among equal ranks, until no adjacent pair
 * has a merge. A binary heap of candidate pairs over a linked list of
 * symbols makes this O(n log n) in the piece length n.
 */
#ifndef MLSAE_TOKENIZER_BPE_H
#define MLSAE_TOKENIZER_BPE_H

#include <stddef.h>
#include <stdint.h>
#include "tokenizer/ids.h"

typedef struct mlsae_bpe {
    int32_t byte_id[256];  /* id of each byte's symbol; -1: not in the vocabulary */
    uint64_t *merge_keys;  /* (left << 32 | right) + 1; 0 = empty slot */
    uint32_t *merge_ranks;
    int32_t *merge_ids;    /* id of the merged symbol */
    size_t merge_cap;      /* power of two */
    size_t n_merges;
} mlsae_bpe;

/* Scratch space for one encoding thread. */
typedef struct mlsae_bpe_work {
    struct mlsae_bpe_symbol *sym;
    size_t sym_cap;
    struct mlsae_bpe_cand *heap;
    size_t heap_len, heap_cap;
} mlsae_bpe_work;

int mlsae_bpe_init(mlsae_bpe *b, size_t expected_merges);
void mlsae_bpe_free(mlsae_bpe *b);
/* Add (or replace: a later duplicate wins) the merge left+right -> merged. */
int mlsae_bpe_add_merge(mlsae_bpe *b, int32_t left, int32_t right, int32_t merged, uint32_t rank);

void mlsae_bpe_work_free(mlsae_bpe_work *w);
/* Append the ids of piece[0..n) to out. Bytes whose symbol is missing from the
 * vocabulary are dropped (there is no unknown token). 0, or -1 out of memory. */
int mlsae_bpe_encode(const mlsae_bpe *b, mlsae_bpe_work *w, const unsigned char *piece, size_t n,
                     mlsae_ids *out);

#endif
