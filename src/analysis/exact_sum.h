/* Exact sums of float32 values (a fixed-point accumulator wide enough for
 * every finite float32: Kulisch's long accumulator). The sum does not
 * depend on the order of the additions, so the ranks of an MPI run add
 * their accumulators limb by limb (mlsae_comm_sum_i64) and get the one
 * process's sum bit for bit (doc/scaling.md, "The analyses over MPI").
 *
 * An accumulator is MLSAE_EXACT_LIMBS int64 limbs of 32 bits each, the
 * value sum_i limb[i] 2^(32 i - 149) (2^-149: float32's smallest
 * subnormal); limbs carry headroom for 2^31 additions between two calls
 * of mlsae_exact_normalize, and the top limb, signed, for 2^40 values of
 * any size. Infinities and NaN go to a separate double (`special`), added
 * as usual (the order does not matter for them either). */
#ifndef MLSAE_ANALYSIS_EXACT_SUM_H
#define MLSAE_ANALYSIS_EXACT_SUM_H

#include <stdint.h>

#define MLSAE_EXACT_LIMBS 10

/* acc += x (acc: MLSAE_EXACT_LIMBS limbs). */
void mlsae_exact_add_f32(int64_t *acc, double *special, float x);
/* Carry every limb into 0 .. 2^32 - 1 but the top one: one form per value,
 * so that equal sums read back as equal doubles. */
void mlsae_exact_normalize(int64_t *acc);
/* The (normalized) sum as a double (plus special), rounded in a fixed
 * sequence of operations: the same limbs give the same double. */
double mlsae_exact_value(const int64_t *acc, double special);

#endif
