/* Column gather of the CPU backend (backend_sae.h gather_columns): per row,
 * dst[r, j] = src[r, cols[j]], copied as 32-bit words so that the values
 * are bit-identical to the source (float32 or int32). Rows are split over
 * the threads; within a row the AVX2 version gathers 8 columns at a time. */
#include "config.h"
#include "cpu_internal.h"
#include "cpu_sae_ops.h"

#include <stdint.h>

#if defined(MLSAE_HAVE_AVX2)
#include <immintrin.h>
#endif

#define PAR_MIN 65536 /* elements below which the gather stays on one thread */

static void gather_row_portable(const uint32_t *src, const int32_t *cols, int n_cols,
                                uint32_t *dst)
{
    for (int j = 0; j < n_cols; j++) dst[j] = src[cols[j]];
}

#if defined(MLSAE_HAVE_AVX2)
__attribute__((target("avx2"))) static void gather_row_avx2(const uint32_t *src,
                                                            const int32_t *cols, int n_cols,
                                                            uint32_t *dst)
{
    int j = 0;
    for (; j + 8 <= n_cols; j += 8) {
        __m256i ix = _mm256_loadu_si256((const __m256i *)(cols + j));
        __m256i v = _mm256_i32gather_epi32((const int *)src, ix, 4);
        _mm256_storeu_si256((__m256i *)(dst + j), v);
    }
    for (; j < n_cols; j++) dst[j] = src[cols[j]];
}
#endif

void cpu_sae_gather_row(int use_avx2, const uint32_t *src, const int32_t *cols, int n_cols,
                        uint32_t *dst)
{
#if defined(MLSAE_HAVE_AVX2)
    if (use_avx2) {
        gather_row_avx2(src, cols, n_cols, dst);
        return;
    }
#endif
    (void)use_avx2;
    gather_row_portable(src, cols, n_cols, dst);
}

int cpu_sae_check_columns(mlsae_backend *be, const char *op, const int32_t *cols, int n_cols,
                          int n)
{
    for (int j = 0; j < n_cols; j++)
        if (cols[j] < 0 || cols[j] >= n)
            return mlsae_backend_fail(be, "cpu %s: cols[%d] = %ld outside 0..%d", op, j, (long)cols[j],
                            n - 1);
    return 0;
}

int cpu_sae_gather_columns(mlsae_backend *be, mlsae_ref src, int rows, int n, mlsae_ref cols,
                           int n_cols, mlsae_ref dst)
{
    if (rows <= 0 || n_cols <= 0) return 0;
    const int32_t *c = cpu_i32(cols);
    if (cpu_sae_check_columns(be, "gather_columns", c, n_cols, n) != 0) return -1;
    const uint32_t *s = (const uint32_t *)cpu_i32(src);
    uint32_t *d = (uint32_t *)cpu_i32(dst);
    int use_avx2 = cpu_of(be)->has_avx2;
#pragma omp parallel for schedule(static) if ((size_t)rows * n_cols > PAR_MIN)
    for (int r = 0; r < rows; r++)
        cpu_sae_gather_row(use_avx2, s + (size_t)r * n, c, n_cols, d + (size_t)r * n_cols);
    return 0;
}
