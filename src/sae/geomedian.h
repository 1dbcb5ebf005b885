/* Geometric median of a set of points (SPEC §4 training step 1), used to
 * initialise pre_encoder_bias: Weiszfeld's iteration from the mean with
 * weights 1/||p - c|| (normalised to sum 1), at most max_iter iterations,
 * stopping once ||c - c_prev|| < tol. Computed on the host in double.
 *
 * The reference divides by zero when the estimate lands exactly on a point
 * (and returns NaN); here the iteration stops at that point instead, so
 * the median of coincident points (e.g. all zero) is that point. */
#ifndef MLSAE_SAE_GEOMEDIAN_H
#define MLSAE_SAE_GEOMEDIAN_H

#include <stddef.h>
#include "core/status.h"

/* points [n, d] row-major; out [d]. Returns the number of iterations run,
 * or -1 (out of memory, n == 0, a NaN or infinite coordinate). */
int mlsae_geometric_median(const float *points, size_t n, int d, int max_iter, double tol,
                           float *out, mlsae_error *err);

/* The same over the union of several processes' points (sae_reduce.h):
 * sum_f64 sums a double array in place over the processes (NULL: this
 * process alone). The mean, the weight sum and the weighted sum are
 * reduced, so every process runs the same iterations to the same median.
 * Every process calls it, each with n >= 1 points of the same d. */
int mlsae_geometric_median_reduced(const float *points, size_t n, int d, int max_iter,
                                   double tol,
                                   int (*sum_f64)(double *v, size_t n, mlsae_error *err),
                                   float *out, mlsae_error *err);

#endif
