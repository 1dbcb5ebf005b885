/* exp(x) on AVX2 and AVX-512 vectors: the range reduction and polynomial
 * both widths share, defined once for each width.
 *
 *   n = round(x log2(e)),  r = x - n ln2   (ln2 in two parts, Cody-Waite),
 *   |r| <= ln2/2,  exp(r) ~ sum_{i=0..7} r^i / i!  (Horner; truncation
 *   error < 1e-8 relative),  exp(x) = exp(r) 2^n.
 *
 * cpu_exp_reduced_256 / cpu_exp_reduced_512 return exp(r) and store n; the
 * caller clamps x beforehand and applies 2^n its own way (AVX2: exponent
 * bits, AVX-512: scalef). Include after <immintrin.h>, in code built for
 * x86 with MLSAE_HAVE_AVX2. Not a public header. */
#ifndef MLSAE_CPU_VEC_EXP_H
#define MLSAE_CPU_VEC_EXP_H

#include <immintrin.h>

#define CPU_DEFINE_EXP_REDUCED(W, V, ROUND, TARGET)                                          \
    __attribute__((target(TARGET))) static inline V cpu_exp_reduced_##W(V x, V *n_out)      \
    {                                                                                        \
        V n = ROUND(_mm##W##_mul_ps(x, _mm##W##_set1_ps(1.44269504088896341f)),               \
                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                          \
        V r = _mm##W##_fnmadd_ps(n, _mm##W##_set1_ps(0.693359375f), x);                       \
        r = _mm##W##_fnmadd_ps(n, _mm##W##_set1_ps(-2.12194440e-4f), r);                      \
        V p = _mm##W##_set1_ps(1.0f / 5040.0f);                                               \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f / 720.0f));                         \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f / 120.0f));                         \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f / 24.0f));                          \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f / 6.0f));                           \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(0.5f));                                  \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f));                                  \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.0f));                                  \
        *n_out = n;                                                                          \
        return p;                                                                            \
    }

CPU_DEFINE_EXP_REDUCED(256, __m256, _mm256_round_ps, "avx2,fma")
CPU_DEFINE_EXP_REDUCED(512, __m512, _mm512_roundscale_ps, "avx512f")

#undef CPU_DEFINE_EXP_REDUCED

#endif
