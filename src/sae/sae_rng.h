/* A small deterministic PRNG for the SAE's initialisation (xoshiro256**
 * seeded with splitmix64). The state is 4 x u64 so it can be saved. */
#ifndef MLSAE_SAE_RNG_H
#define MLSAE_SAE_RNG_H

#include <stdint.h>

typedef struct sae_init_rng {
    uint64_t s[4];
} sae_init_rng;

void sae_init_rng_seed(sae_init_rng *r, uint64_t seed);
uint64_t sae_init_rng_next(sae_init_rng *r);
/* Uniform in [lo, hi) from the top 24 bits. */
float sae_init_rng_uniform(sae_init_rng *r, float lo, float hi);

#endif
