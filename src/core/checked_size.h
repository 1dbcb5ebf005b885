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

/* static inline int NAME(T a, T b, T *out): *out = a OP b, or -1 (out
 * untouched) when it overflows T; OVERFLOW is __builtin_OP_overflow. */
#define MLSAE_CHECKED_OP(NAME, T, OVERFLOW)                                                   \
    static inline int NAME(T a, T b, T *out)                                                  \
    {                                                                                         \
        T r;                                                                                  \
        if (OVERFLOW(a, b, &r)) return -1;                                                    \
        *out = r;                                                                             \
        return 0;                                                                             \
    }

MLSAE_CHECKED_OP(mlsae_mul_size, size_t, __builtin_mul_overflow)
MLSAE_CHECKED_OP(mlsae_add_size, size_t, __builtin_add_overflow)
MLSAE_CHECKED_OP(mlsae_mul_u64, uint64_t, __builtin_mul_overflow)
MLSAE_CHECKED_OP(mlsae_mul_i64_any_sign, int64_t, __builtin_mul_overflow)

/* a * b for non-negative a, b (sizes and counts from a file). */
static inline int mlsae_mul_nonneg_i64(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return -1;
    return mlsae_mul_i64_any_sign(a, b, out);
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
