/* A hash map from byte strings to 64-bit values (open addressing, linear
 * probing). Keys are copied into an arena owned by the map. Not thread-safe:
 * one writer, or readers only. */
#ifndef MLSAE_TOKENIZER_STRMAP_H
#define MLSAE_TOKENIZER_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlsae_strmap {
    struct mlsae_strmap_slot *slots;
    size_t cap;   /* power of two */
    size_t count;
    char *arena;  /* concatenated keys */
    size_t arena_len, arena_cap;
} mlsae_strmap;

uint64_t mlsae_hash_bytes(const void *data, size_t n);

int mlsae_strmap_init(mlsae_strmap *m, size_t expected);
void mlsae_strmap_free(mlsae_strmap *m);
/* Remove every key (keeps the allocated memory). */
void mlsae_strmap_clear(mlsae_strmap *m);
/* Insert or overwrite. Returns 0, or -1 when out of memory. */
int mlsae_strmap_put(mlsae_strmap *m, const void *key, size_t len, uint64_t value);
/* 1 and *value when found, else 0. */
int mlsae_strmap_get(const mlsae_strmap *m, const void *key, size_t len, uint64_t *value);
/* Bytes held by the map (slots + keys). */
size_t mlsae_strmap_bytes(const mlsae_strmap *m);

#endif
