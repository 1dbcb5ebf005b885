/* The residual stream's geometry across layers (reference:
 * figures/resid_cos_sim.py; SPEC §6): per layer the L2 norm of the residual
 * vectors (mean, var, std, sem), and per adjacent layer pair the cosine
 * similarity of the vectors after subtracting each layer's dataset mean
 * (two passes over the data: the means first, exact sums of the float32
 * activations: analysis/exact_sum.h). Statistics accumulate batch by batch
 * as the reference's VarianceMetric (count += n; mean += sum(x - mean_old)
 * / count; squared += sum((x - mean_old)(x - mean_new))), here as each
 * batch's own (count, mean, squared) (mlsae_running_of) merged in batch
 * order (mlsae_running_merge: the same update, Chan et al.); var = squared
 * / (count - 1), sem = std / sqrt(count). In double (the reference:
 * float32). */
#ifndef MLSAE_ANALYSIS_RESID_H
#define MLSAE_ANALYSIS_RESID_H

#include <stddef.h>

typedef struct mlsae_running {
    double count, mean, squared;
} mlsae_running;

/* Add n values. */
void mlsae_running_add(mlsae_running *r, const double *x, size_t n);
/* The statistics of n values alone: mean = sum x / n, squared =
 * sum (x - mean)^2 (two passes). */
mlsae_running mlsae_running_of(const double *x, size_t n);
/* Fold b into a: the statistics of both sets of values together (Chan,
 * Golub and LeVeque's pairwise update: delta = b.mean - a.mean, count =
 * a.count + b.count, mean = a.mean + delta * b.count / count, squared =
 * a.squared + b.squared + delta^2 a.count b.count / count); equal, up to
 * float rounding, to adding b's values to a. Used to merge the batches'
 * statistics in batch order, over MPI too (doc/scaling.md). */
void mlsae_running_merge(mlsae_running *a, const mlsae_running *b);
/* mean, var (unbiased), std, sem = std / sqrt(count). */
void mlsae_running_get(const mlsae_running *r, double out[4]);

#endif
