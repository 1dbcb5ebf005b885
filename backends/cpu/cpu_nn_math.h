/* Vectorised elementwise kernels shared by the CPU transformer ops. Each has
 * an AVX2/FMA body (used when avx2 != 0 and the build has MLSAE_HAVE_AVX2)
 * and a portable body. Not a public header. */
#ifndef MLSAE_CPU_NN_MATH_H
#define MLSAE_CPU_NN_MATH_H

#include <stddef.h>

/* x[i] = exp(x[i] - shift) for i < n; returns sum of the results (float
 * accumulation per lane, then combined). Relative error of each term
 * below 2e-7 in the AVX2 path (degree-7 polynomial after ln2 reduction). */
float cpu_exp_shift_sum(float *x, int n, float shift, int avx2);

/* Exact GELU in place: x = 0.5 x (1 + erf(x / sqrt 2)). The AVX2 path uses
 * the Abramowitz-Stegun 7.1.26 erfc form (absolute error of erf < 1.5e-7),
 * written so that the negative side has no cancellation. */
void cpu_gelu_span(float *x, size_t n, int avx2);

/* Maximum of x[0..n). */
float cpu_max_span(const float *x, int n, int avx2);

/* sum_i exp(x[i] - shift), accumulated in double (per 1024-element chunk). */
double cpu_sum_exp_shift(const float *x, int n, float shift, int avx2);

/* sum_v exp(lp_v) (lp_v - lt_v) with lp = p - lse_p, lt = t - lse_t: the
 * row's KL(pred || true) given both log-sum-exps. */
double cpu_kl_terms(const float *t, const float *p, int n, float lse_t, float lse_p, int avx2);

/* C = A op(B) (+ C when accumulate), single-threaded AVX-512
 * (cpu_nn_gemm.c): A [m, k]; B [n, k] when trans_b (op = transpose), else
 * B [k, n]; C [m, n]; all with row strides. ws: scratch of
 * cpu_nn_gemm_avx512_ws_floats() floats (64-byte aligned), or NULL to
 * allocate. Returns -1 when the kernel is not built or memory is short
 * (the caller falls back). */
int cpu_nn_gemm_avx512(int trans_b, int m, int n, int k, const float *a, int lda, const float *b,
                       int ldb, int accumulate, float *c, int ldc, float *ws);
size_t cpu_nn_gemm_avx512_ws_floats(void);
/* Whether the CPU (and build) has the AVX-512 kernel enabled; set() lets
 * tests switch it off and on. */
int cpu_nn_gemm_avx512_available(void);
void cpu_nn_gemm_avx512_set(int enabled);

#endif
