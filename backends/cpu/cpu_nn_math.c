/* Elementwise kernels for the CPU transformer ops (see cpu_nn_math.h). */
#include "config.h"
#include "cpu_nn_math.h"

#include <math.h>

#if defined(MLSAE_HAVE_AVX2)
#include <immintrin.h>
#include "cpu_vec_exp.h"

/* exp(x) for a vector (cpu_vec_exp.h), 2^n by building the exponent bits.
 * Inputs are clamped to the float range. */
__attribute__((target("avx2,fma"))) static inline __m256 exp_avx2(__m256 x)
{
    const __m256 hi = _mm256_set1_ps(88.37626f), lo = _mm256_set1_ps(-87.33654f);
    __m256 n, p = cpu_exp_reduced_256(_mm256_min_ps(_mm256_max_ps(x, lo), hi), &n);
    /* n in [-126, 128]: split 2^n = 2^(n/2) 2^(n - n/2) to stay representable. */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

__attribute__((target("avx2,fma"))) static inline float hsum_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float exp_shift_sum_avx2(float *x, int n, float shift)
{
    __m256 vs = _mm256_set1_ps(shift), acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), idx);
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vs));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + i, mask, e);
        acc = _mm256_add_ps(acc, e);
    }
    return hsum_avx2(acc);
}

/* gelu(x) = x - 0.5 x erfc(x/sqrt2) for x >= 0 and 0.5 x erfc(|x|/sqrt2)
 * for x < 0, with erfc(z) = t P(t) exp(-z^2), t = 1 / (1 + p z). */
__attribute__((target("avx2,fma"))) static inline __m256 gelu_avx2(__m256 x)
{
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(0.70710678118654752f));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(z, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 erfc = _mm256_mul_ps(p, exp_avx2(_mm256_mul_ps(_mm256_xor_ps(z, sign_mask), z)));
    __m256 half_x_erfc = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), erfc);
    __m256 pos = _mm256_sub_ps(x, half_x_erfc);
    __m256 is_neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(pos, half_x_erfc, is_neg);
}

__attribute__((target("avx2,fma"))) static void gelu_span_avx2(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu_avx2(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tail[8] = {0};
        size_t rem = n - i;
        for (size_t k = 0; k < rem; k++) tail[k] = x[i + k];
        _mm256_storeu_ps(tail, gelu_avx2(_mm256_loadu_ps(tail)));
        for (size_t k = 0; k < rem; k++) x[i + k] = tail[k];
    }
}

__attribute__((target("avx2,fma"))) static float max_span_avx2(const float *x, int n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

/* Sum of exp(x - shift) without storing; lanes flushed to double every
 * 1024 elements so long rows (a vocabulary) keep double-like accuracy. */
__attribute__((target("avx2,fma"))) static double sum_exp_shift_avx2(const float *x, int n,
                                                                     float shift)
{
    __m256 vs = _mm256_set1_ps(shift);
    double total = 0;
    int i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        int end = i + 1024 < n ? i + 1024 : n;
        for (; i + 8 <= end; i += 8)
            acc = _mm256_add_ps(acc, exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs)));
        total += hsum_avx2(acc);
    }
    for (; i < n; i++) total += expf(x[i] - shift);
    return total;
}

/* sum_v exp(lp_v) (lp_v - lt_v), lp = pred - lse_pred, lt = true - lse_true. */
__attribute__((target("avx2,fma"))) static double kl_terms_avx2(const float *t, const float *p,
                                                               int n, float lse_t, float lse_p)
{
    __m256 vt = _mm256_set1_ps(lse_t), vp = _mm256_set1_ps(lse_p);
    double total = 0;
    int i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        int end = i + 1024 < n ? i + 1024 : n;
        for (; i + 8 <= end; i += 8) {
            __m256 lp = _mm256_sub_ps(_mm256_loadu_ps(p + i), vp);
            __m256 lt = _mm256_sub_ps(_mm256_loadu_ps(t + i), vt);
            acc = _mm256_fmadd_ps(exp_avx2(lp), _mm256_sub_ps(lp, lt), acc);
        }
        total += hsum_avx2(acc);
    }
    for (; i < n; i++) {
        float lp = p[i] - lse_p, lt = t[i] - lse_t;
        total += (double)expf(lp) * (double)(lp - lt);
    }
    return total;
}
#endif

float cpu_exp_shift_sum(float *x, int n, float shift, int avx2)
{
#if defined(MLSAE_HAVE_AVX2)
    if (avx2) return exp_shift_sum_avx2(x, n, shift);
#else
    (void)avx2;
#endif
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - shift);
        sum += x[i];
    }
    return sum;
}

void cpu_gelu_span(float *x, size_t n, int avx2)
{
#if defined(MLSAE_HAVE_AVX2)
    if (avx2) {
        gelu_span_avx2(x, n);
        return;
    }
#else
    (void)avx2;
#endif
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

float cpu_max_span(const float *x, int n, int avx2)
{
#if defined(MLSAE_HAVE_AVX2)
    if (avx2) return max_span_avx2(x, n);
#else
    (void)avx2;
#endif
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

double cpu_sum_exp_shift(const float *x, int n, float shift, int avx2)
{
#if defined(MLSAE_HAVE_AVX2)
    if (avx2) return sum_exp_shift_avx2(x, n, shift);
#else
    (void)avx2;
#endif
    double total = 0;
    for (int i = 0; i < n; i++) total += expf(x[i] - shift);
    return total;
}

double cpu_kl_terms(const float *t, const float *p, int n, float lse_t, float lse_p, int avx2)
{
#if defined(MLSAE_HAVE_AVX2)
    if (avx2) return kl_terms_avx2(t, p, n, lse_t, lse_p);
#else
    (void)avx2;
#endif
    double total = 0;
    for (int i = 0; i < n; i++) {
        float lp = p[i] - lse_p, lt = t[i] - lse_t;
        total += (double)expf(lp) * (double)(lp - lt);
    }
    return total;
}
