/* Matching a set of added tokens in text before BPE (SPEC §3).
 *
 * Matches are found leftmost-longest and do not overlap: scanning from the
 * left, at the first position where some token starts the longest such token
 * is taken, and scanning resumes after it. This is the semantics of HF
 * tokenizers' added-token splitting.
 */
#ifndef MLSAE_TOKENIZER_ADDED_TOKENS_H
#define MLSAE_TOKENIZER_ADDED_TOKENS_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlsae_token_trie {
    struct mlsae_trie_edge *edges; /* hash table of (node, byte) -> child */
    size_t edge_cap, n_edges;
    int32_t *node_token;           /* token id ending at each node, or -1 */
    size_t n_nodes, node_cap;
    uint8_t first_byte[256];       /* 1 when some token starts with that byte */
} mlsae_token_trie;

int mlsae_token_trie_init(mlsae_token_trie *t);
void mlsae_token_trie_free(mlsae_token_trie *t);
/* Add a non-empty token (bytes) with its id; a duplicate keeps the last id. */
int mlsae_token_trie_add(mlsae_token_trie *t, const char *token, size_t len, int32_t id);
int mlsae_token_trie_empty(const mlsae_token_trie *t);

/* Callbacks of mlsae_token_trie_split: on_text for the (non-empty) stretches
 * between matches, on_token for each match. Non-zero return stops the split
 * and is returned. */
typedef int (*mlsae_text_fn)(void *ctx, const char *s, size_t n);
typedef int (*mlsae_token_fn)(void *ctx, int32_t id);

int mlsae_token_trie_split(const mlsae_token_trie *t, const char *s, size_t n,
                           mlsae_text_fn on_text, mlsae_token_fn on_token, void *ctx);

#endif
