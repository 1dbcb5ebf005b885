/* Overflow-checked arithmetic for sizes read from files.
 *
 * Every product or sum of values a file supplies (a tensor's shape times
 * its dtype size, a config's batch_size x max_length, an offset plus a
 * length) goes through these before it sizes an allocation, an mmap range
 * or a loop bound. Each returns 0 and stores the result, or -1 (result
 * untouched) when the exact value does not fit the type; negative inputs
 * to the int64 forms are refused as well, since no size is negative. */
#ifndef MLSAE_CORE_CHECKED_SIZE_H
#define MLSAE_CORE_CHECKED_SIZE_H

#include <stddef.h>
#include <stdint.h>

static inline int mlsae_mul_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}

static inline int mlsae_add_size(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}

static inline int mlsae_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}

/* a * b for non-negative a, b (sizes and counts from a file). */
static inline int mlsae_mul_nonneg_i64(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}

/* The product of n non-negative dimensions; -1 on a negative one or overflow. */
static inline int mlsae_numel_i64(const int64_t *dims, int n, int64_t *out)
{
    int64_t r = 1;
    for (int i = 0; i < n; i++)
        if (mlsae_mul_nonneg_i64(r, dims[i], &r)) return -1;
    *out = r;
    return 0;
}

#endif
