/* Byte-level BPE merging with a heap of candidate pairs (see bpe.h). */
#include "config.h"
#include "tokenizer/bpe.h"

#include <stdlib.h>
#include <string.h>

struct mlsae_bpe_symbol {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
};

struct mlsae_bpe_cand {
    uint32_t rank;
    uint32_t pos; /* index of the left symbol */
    int32_t merged;
};

static uint64_t pair_key(int32_t left, int32_t right)
{
    return (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
}

static size_t key_slot(uint64_t key, size_t cap)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

int mlsae_bpe_init(mlsae_bpe *b, size_t expected_merges)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    size_t cap = 64;
    while (cap < expected_merges * 2) cap <<= 1;
    b->merge_keys = calloc(cap, sizeof *b->merge_keys);
    b->merge_ranks = malloc(cap * sizeof *b->merge_ranks);
    b->merge_ids = malloc(cap * sizeof *b->merge_ids);
    b->merge_cap = cap;
    if (!b->merge_keys || !b->merge_ranks || !b->merge_ids) {
        mlsae_bpe_free(b);
        return -1;
    }
    return 0;
}

void mlsae_bpe_free(mlsae_bpe *b)
{
    free(b->merge_keys);
    free(b->merge_ranks);
    free(b->merge_ids);
    memset(b, 0, sizeof *b);
}

static int grow_merges(mlsae_bpe *b)
{
    mlsae_bpe big;
    if (mlsae_bpe_init(&big, b->merge_cap) != 0) return -1; /* doubles the capacity */
    memcpy(big.byte_id, b->byte_id, sizeof b->byte_id);
    for (size_t i = 0; i < b->merge_cap; i++) {
        uint64_t k = b->merge_keys[i];
        if (!k) continue;
        size_t j = key_slot(k, big.merge_cap);
        while (big.merge_keys[j]) j = (j + 1) & (big.merge_cap - 1);
        big.merge_keys[j] = k;
        big.merge_ranks[j] = b->merge_ranks[i];
        big.merge_ids[j] = b->merge_ids[i];
    }
    big.n_merges = b->n_merges;
    mlsae_bpe_free(b);
    *b = big;
    return 0;
}

int mlsae_bpe_add_merge(mlsae_bpe *b, int32_t left, int32_t right, int32_t merged, uint32_t rank)
{
    if ((b->n_merges + 1) * 2 > b->merge_cap && grow_merges(b) != 0) return -1;
    uint64_t k = pair_key(left, right);
    size_t j = key_slot(k, b->merge_cap);
    while (b->merge_keys[j] && b->merge_keys[j] != k) j = (j + 1) & (b->merge_cap - 1);
    if (!b->merge_keys[j]) b->n_merges++;
    b->merge_keys[j] = k;
    b->merge_ranks[j] = rank;
    b->merge_ids[j] = merged;
    return 0;
}

/* Index of the merge of (left, right), or -1. */
static inline ptrdiff_t find_merge(const mlsae_bpe *b, int32_t left, int32_t right)
{
    uint64_t k = pair_key(left, right);
    size_t mask = b->merge_cap - 1;
    for (size_t j = key_slot(k, b->merge_cap);; j = (j + 1) & mask) {
        uint64_t have = b->merge_keys[j];
        if (have == k) return (ptrdiff_t)j;
        if (!have) return -1;
    }
}

void mlsae_bpe_work_free(mlsae_bpe_work *w)
{
    free(w->sym);
    free(w->heap);
    memset(w, 0, sizeof *w);
}

static inline int cand_less(const struct mlsae_bpe_cand *a, const struct mlsae_bpe_cand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(mlsae_bpe_work *w, struct mlsae_bpe_cand c)
{
    if (w->heap_len == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        struct mlsae_bpe_cand *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return -1;
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = c;
    return 0;
}

static struct mlsae_bpe_cand heap_pop(mlsae_bpe_work *w)
{
    struct mlsae_bpe_cand top = w->heap[0];
    struct mlsae_bpe_cand last = w->heap[--w->heap_len];
    size_t n = w->heap_len, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && cand_less(&w->heap[child + 1], &w->heap[child])) child++;
        if (!cand_less(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* Queue the pair starting at symbol pos, if it has a merge. */
static int push_pair(const mlsae_bpe *b, mlsae_bpe_work *w, int32_t pos)
{
    if (pos < 0) return 0;
    int32_t next = w->sym[pos].next;
    if (next < 0) return 0;
    ptrdiff_t m = find_merge(b, w->sym[pos].id, w->sym[next].id);
    if (m < 0) return 0;
    struct mlsae_bpe_cand c = {b->merge_ranks[m], (uint32_t)pos, b->merge_ids[m]};
    return heap_push(w, c);
}

int mlsae_bpe_encode(const mlsae_bpe *b, mlsae_bpe_work *w, const unsigned char *piece, size_t n,
                     mlsae_ids *out)
{
    if (n > INT32_MAX) return -1;
    if (n > w->sym_cap) {
        size_t cap = w->sym_cap ? w->sym_cap : 64;
        while (cap < n) cap *= 2;
        struct mlsae_bpe_symbol *s = realloc(w->sym, cap * sizeof *s);
        if (!s) return -1;
        w->sym = s;
        w->sym_cap = cap;
    }
    int32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = b->byte_id[piece[i]];
        if (id < 0) continue;
        w->sym[count].id = id;
        w->sym[count].prev = count - 1;
        w->sym[count].next = count + 1;
        count++;
    }
    if (count == 0) return 0;
    w->sym[count - 1].next = -1;

    w->heap_len = 0;
    for (int32_t i = 0; i + 1 < count; i++)
        if (push_pair(b, w, i) != 0) return -1;
    while (w->heap_len) {
        struct mlsae_bpe_cand c = heap_pop(w);
        struct mlsae_bpe_symbol *left = &w->sym[c.pos];
        if (left->id < 0 || left->next < 0) continue;
        struct mlsae_bpe_symbol *right = &w->sym[left->next];
        /* Stale entry: the pair at pos changed since it was queued (a changed
         * pair always spans more bytes, hence has a different merged id). */
        ptrdiff_t m = find_merge(b, left->id, right->id);
        if (m < 0 || b->merge_ids[m] != c.merged) continue;
        left->id = c.merged;
        right->id = -1;
        left->next = right->next;
        if (right->next >= 0) w->sym[right->next].prev = (int32_t)c.pos;
        if (push_pair(b, w, left->prev) != 0 || push_pair(b, w, (int32_t)c.pos) != 0) return -1;
    }
    if (mlsae_ids_reserve(out, (size_t)count) != 0) return -1;
    for (int32_t i = 0; i >= 0; i = w->sym[i].next) out->data[out->len++] = w->sym[i].id;
    return 0;
}
