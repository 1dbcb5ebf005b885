/* A small, fast, seedable pseudo-random generator: xoshiro256** (Blackman &
 * Vigna), seeded through splitmix64. Its whole state is a few words, so a
 * training run can save it in a checkpoint and resume bit-for-bit.
 *
 * Not for cryptography.
 */
#ifndef MLSAE_CORE_RNG_H
#define MLSAE_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct mlsae_rng {
    uint64_t s[4];          /* xoshiro256** state (never all zero) */
    uint64_t has_spare;     /* 1 when spare_normal holds an unused deviate */
    double spare_normal;    /* second Box-Muller deviate of the last pair */
} mlsae_rng;

/* Number of 64-bit words in a serialised state (s[4], has_spare, spare bits). */
#define MLSAE_RNG_STATE_WORDS 6
/* Characters of the hexadecimal state string, without the terminating NUL. */
#define MLSAE_RNG_STATE_CHARS (MLSAE_RNG_STATE_WORDS * 16)

/* One step of splitmix64 (advances *x); used to expand a seed into a state. */
uint64_t mlsae_splitmix64(uint64_t *x);

/* Seed: s[i] = successive splitmix64 outputs starting from `seed`. */
void mlsae_rng_seed(mlsae_rng *r, uint64_t seed);

/* Next raw 64-bit output. */
uint64_t mlsae_rng_next(mlsae_rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double mlsae_rng_double(mlsae_rng *r);

/* Uniform float in [lo, hi) (lo < hi); never returns hi, even after rounding. */
float mlsae_rng_uniform(mlsae_rng *r, float lo, float hi);

/* Uniform integer in [0, n) without modulo bias (n >= 1). */
uint64_t mlsae_rng_below(mlsae_rng *r, uint64_t n);

/* Standard normal deviate (Box-Muller in double precision; the second
 * deviate of each pair is kept for the next call and is part of the state). */
double mlsae_rng_normal(mlsae_rng *r);

/* Advance by 2^128 outputs: gives non-overlapping streams for parallel use. */
void mlsae_rng_jump(mlsae_rng *r);

/* Serialise / restore the complete state (bit-exact). */
void mlsae_rng_get_state(const mlsae_rng *r, uint64_t words[MLSAE_RNG_STATE_WORDS]);
int mlsae_rng_set_state(mlsae_rng *r, const uint64_t words[MLSAE_RNG_STATE_WORDS],
                        mlsae_error *err);

/* The same as lowercase hexadecimal text (MLSAE_RNG_STATE_CHARS digits), for
 * JSON files where 64-bit integers do not survive. buf needs
 * MLSAE_RNG_STATE_CHARS + 1 bytes. */
void mlsae_rng_state_to_hex(const mlsae_rng *r, char *buf);
int mlsae_rng_state_from_hex(mlsae_rng *r, const char *hex, mlsae_error *err);

#endif
