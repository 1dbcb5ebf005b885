/* Byte-string hash map (see strmap.h). */
#include "config.h"
#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

struct mlsae_strmap_slot {
    uint64_t hash; /* 0 marks an empty slot */
    size_t key_off;
    size_t key_len;
    uint64_t value;
};

uint64_t mlsae_hash_bytes(const void *data, size_t n)
{
    /* FNV-1a, then a final avalanche so that linear probing spreads well. */
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

int mlsae_strmap_init(mlsae_strmap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return -1;
    m->cap = cap;
    return 0;
}

void mlsae_strmap_free(mlsae_strmap *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void mlsae_strmap_clear(mlsae_strmap *m)
{
    if (m->slots) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
    m->arena_len = 0;
}

size_t mlsae_strmap_bytes(const mlsae_strmap *m)
{
    return m->cap * sizeof *m->slots + m->arena_cap;
}

static struct mlsae_strmap_slot *find_slot(struct mlsae_strmap_slot *slots, size_t cap,
                                           const char *arena, uint64_t h, const void *key,
                                           size_t len)
{
    size_t mask = cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct mlsae_strmap_slot *s = &slots[i];
        if (s->hash == 0) return s;
        if (s->hash == h && s->key_len == len && memcmp(arena + s->key_off, key, len) == 0)
            return s;
    }
}

static int grow(mlsae_strmap *m)
{
    size_t cap = m->cap * 2;
    struct mlsae_strmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct mlsae_strmap_slot *s = &m->slots[i];
        if (s->hash == 0) continue;
        size_t mask = cap - 1, j = s->hash & mask;
        while (slots[j].hash) j = (j + 1) & mask;
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int mlsae_strmap_put(mlsae_strmap *m, const void *key, size_t len, uint64_t value)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0) return -1;
    uint64_t h = mlsae_hash_bytes(key, len);
    struct mlsae_strmap_slot *s = find_slot(m->slots, m->cap, m->arena, h, key, len);
    if (s->hash) {
        s->value = value;
        return 0;
    }
    if (m->arena_len + len > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap < m->arena_len + len) cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    if (len) memcpy(m->arena + m->arena_len, key, len);
    s->hash = h;
    s->key_off = m->arena_len;
    s->key_len = len;
    s->value = value;
    m->arena_len += len;
    m->count++;
    return 0;
}

int mlsae_strmap_get(const mlsae_strmap *m, const void *key, size_t len, uint64_t *value)
{
    if (!m->slots) return 0;
    uint64_t h = mlsae_hash_bytes(key, len);
    struct mlsae_strmap_slot *s = find_slot(m->slots, m->cap, m->arena, h, key, len);
    if (!s->hash) return 0;
    *value = s->value;
    return 1;
}
