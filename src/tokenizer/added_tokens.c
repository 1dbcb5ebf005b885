/* A byte trie for leftmost-longest added-token matching (see added_tokens.h). */
#include "config.h"
#include "tokenizer/added_tokens.h"

#include <stdlib.h>
#include <string.h>

struct mlsae_trie_edge {
    uint64_t key; /* (parent << 8 | byte) + 1; 0 = empty */
    uint32_t child;
};

static size_t edge_slot(uint64_t key, size_t cap)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static int add_node(mlsae_token_trie *t)
{
    if (t->n_nodes == t->node_cap) {
        size_t cap = t->node_cap ? t->node_cap * 2 : 64;
        int32_t *nt = realloc(t->node_token, cap * sizeof *nt);
        if (!nt) return -1;
        t->node_token = nt;
        t->node_cap = cap;
    }
    t->node_token[t->n_nodes] = -1;
    return (int)t->n_nodes++;
}

int mlsae_token_trie_init(mlsae_token_trie *t)
{
    memset(t, 0, sizeof *t);
    t->edge_cap = 64;
    t->edges = calloc(t->edge_cap, sizeof *t->edges);
    if (!t->edges || add_node(t) < 0) {
        mlsae_token_trie_free(t);
        return -1;
    }
    return 0;
}

void mlsae_token_trie_free(mlsae_token_trie *t)
{
    free(t->edges);
    free(t->node_token);
    memset(t, 0, sizeof *t);
}

int mlsae_token_trie_empty(const mlsae_token_trie *t)
{
    return t->n_edges == 0;
}

static inline int64_t find_child(const mlsae_token_trie *t, uint32_t node, unsigned char b)
{
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    size_t mask = t->edge_cap - 1;
    for (size_t j = edge_slot(key, t->edge_cap);; j = (j + 1) & mask) {
        if (t->edges[j].key == key) return t->edges[j].child;
        if (!t->edges[j].key) return -1;
    }
}

static int insert_edge(struct mlsae_trie_edge *edges, size_t cap, uint64_t key, uint32_t child)
{
    size_t j = edge_slot(key, cap);
    while (edges[j].key) j = (j + 1) & (cap - 1);
    edges[j].key = key;
    edges[j].child = child;
    return 0;
}

static int grow_edges(mlsae_token_trie *t)
{
    size_t cap = t->edge_cap * 2;
    struct mlsae_trie_edge *e = calloc(cap, sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; i < t->edge_cap; i++)
        if (t->edges[i].key) insert_edge(e, cap, t->edges[i].key, t->edges[i].child);
    free(t->edges);
    t->edges = e;
    t->edge_cap = cap;
    return 0;
}

int mlsae_token_trie_add(mlsae_token_trie *t, const char *token, size_t len, int32_t id)
{
    if (len == 0) return 0;
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)token[i];
        int64_t child = find_child(t, node, b);
        if (child < 0) {
            if ((t->n_edges + 1) * 2 > t->edge_cap && grow_edges(t) != 0) return -1;
            int c = add_node(t);
            if (c < 0) return -1;
            insert_edge(t->edges, t->edge_cap, (((uint64_t)node << 8) | b) + 1, (uint32_t)c);
            t->n_edges++;
            child = c;
        }
        node = (uint32_t)child;
    }
    t->node_token[node] = id;
    t->first_byte[(unsigned char)token[0]] = 1;
    return 0;
}

int mlsae_token_trie_split(const mlsae_token_trie *t, const char *s, size_t n,
                           mlsae_text_fn on_text, mlsae_token_fn on_token, void *ctx)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t done = 0, i = 0;
    int rc;
    if (t->n_edges == 0) return n ? on_text(ctx, s, n) : 0;
    while (i < n) {
        if (!t->first_byte[u[i]]) {
            i++;
            continue;
        }
        /* Longest token starting at i. */
        uint32_t node = 0;
        size_t best_len = 0;
        int32_t best_id = -1;
        for (size_t j = i; j < n; j++) {
            int64_t child = find_child(t, node, u[j]);
            if (child < 0) break;
            node = (uint32_t)child;
            if (t->node_token[node] >= 0) {
                best_len = j - i + 1;
                best_id = t->node_token[node];
            }
        }
        if (!best_len) {
            i++;
            continue;
        }
        if (i > done && (rc = on_text(ctx, s + done, i - done)) != 0) return rc;
        if ((rc = on_token(ctx, best_id)) != 0) return rc;
        i += best_len;
        done = i;
    }
    if (n > done) return on_text(ctx, s + done, n - done);
    return 0;
}
