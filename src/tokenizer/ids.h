/* A growable array of token ids. */
#ifndef MLSAE_TOKENIZER_IDS_H
#define MLSAE_TOKENIZER_IDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct mlsae_ids {
    int32_t *data;
    size_t len;
    size_t cap;
} mlsae_ids;

/* Make room for `extra` more ids. Returns 0, or -1 when out of memory. */
static inline int mlsae_ids_reserve(mlsae_ids *v, size_t extra)
{
    if (v->len + extra <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < v->len + extra) {
        if (cap > SIZE_MAX / 2 / sizeof(int32_t)) return -1;
        cap *= 2;
    }
    int32_t *d = realloc(v->data, cap * sizeof *d);
    if (!d) return -1;
    v->data = d;
    v->cap = cap;
    return 0;
}

static inline int mlsae_ids_push(mlsae_ids *v, int32_t id)
{
    if (v->len == v->cap && mlsae_ids_reserve(v, 1) != 0) return -1;
    v->data[v->len++] = id;
    return 0;
}

static inline void mlsae_ids_free(mlsae_ids *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

#endif
