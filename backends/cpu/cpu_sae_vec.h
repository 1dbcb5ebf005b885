/* Small dense vector kernels shared by the CPU backend's SAE ops: a
 * portable version and an AVX2/FMA version of each, chosen at run time
 * (cpu_of(be)->has_avx2). Not a public header. */
#ifndef MLSAE_CPU_SAE_VEC_H
#define MLSAE_CPU_SAE_VEC_H

#include <stddef.h>

/* y[0..d) += a * x[0..d) */
typedef void (*cpu_axpy_fn)(float *y, float a, const float *x, int d);
/* sum_i a[i] * b[i] */
typedef float (*cpu_dot_fn)(const float *a, const float *b, int d);

typedef struct cpu_vec_kernels {
    cpu_axpy_fn axpy;
    cpu_dot_fn dot;
} cpu_vec_kernels;

/* The kernels for this backend instance (AVX2 when usable). */
cpu_vec_kernels cpu_vec_select(int has_avx2);

#endif
