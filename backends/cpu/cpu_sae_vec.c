/* Dense vector kernels for the SAE ops: portable and AVX2/FMA versions. */
#include "config.h"
#include "cpu_sae_vec.h"

#if defined(MLSAE_HAVE_AVX2)
#include <immintrin.h>
#endif

static void axpy_portable(float *y, float a, const float *x, int d)
{
    for (int i = 0; i < d; i++) y[i] += a * x[i];
}

static float dot_portable(const float *a, const float *b, int d)
{
    /* Four partial sums: a fixed order, and a little instruction parallelism. */
    float s[4] = {0, 0, 0, 0};
    int i = 0;
    for (; i + 4 <= d; i += 4)
        for (int l = 0; l < 4; l++) s[l] += a[i + l] * b[i + l];
    for (; i < d; i++) s[0] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

#if defined(MLSAE_HAVE_AVX2)
__attribute__((target("avx2,fma"))) static void axpy_avx2(float *y, float a, const float *x, int d)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 y0 = _mm256_loadu_ps(y + i), y1 = _mm256_loadu_ps(y + i + 8);
        y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), y0);
        y1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), y1);
        _mm256_storeu_ps(y + i, y0);
        _mm256_storeu_ps(y + i + 8, y1);
    }
    for (; i + 8 <= d; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < d; i++) y[i] += a * x[i];
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int d)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= d; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < d; i++) r += a[i] * b[i];
    return r;
}
#endif

cpu_vec_kernels cpu_vec_select(int has_avx2)
{
    cpu_vec_kernels k = {axpy_portable, dot_portable};
#if defined(MLSAE_HAVE_AVX2)
    if (has_avx2) {
        k.axpy = axpy_avx2;
        k.dot = dot_avx2;
    }
#else
    (void)has_avx2;
#endif
    return k;
}
