#include "config.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

uint64_t mlsae_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mlsae_rng_seed(mlsae_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = mlsae_splitmix64(&x);
    /* splitmix64 is a bijection of its counter, so four consecutive outputs
     * cannot all be zero; no further check needed. */
    r->has_spare = 0;
    r->spare_normal = 0.0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mlsae_rng_next(mlsae_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mlsae_rng_double(mlsae_rng *r)
{
    return (double)(mlsae_rng_next(r) >> 11) * 0x1.0p-53;
}

float mlsae_rng_uniform(mlsae_rng *r, float lo, float hi)
{
    double u = mlsae_rng_double(r);
    float v = (float)((double)lo + ((double)hi - (double)lo) * u);
    /* Rounding to float can land exactly on hi; keep the interval half-open. */
    if (v >= hi) v = nextafterf(hi, lo);
    if (v < lo) v = lo;
    return v;
}

uint64_t mlsae_rng_below(mlsae_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = mlsae_rng_next(r);
    while (x >= limit);
    return x % n;
}

double mlsae_rng_normal(mlsae_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare_normal;
    }
    /* Box-Muller: u1 in (0, 1] so log(u1) is finite. */
    double u1 = 1.0 - mlsae_rng_double(r);
    double u2 = mlsae_rng_double(r);
    double radius = sqrt(-2.0 * log(u1));
    double angle = 2.0 * M_PI * u2;
    r->spare_normal = radius * sin(angle);
    r->has_spare = 1;
    return radius * cos(angle);
}

void mlsae_rng_jump(mlsae_rng *r)
{
    static const uint64_t jump[4] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                     0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    uint64_t t[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (jump[i] & (1ULL << b))
                for (int j = 0; j < 4; j++) t[j] ^= r->s[j];
            mlsae_rng_next(r);
        }
    memcpy(r->s, t, sizeof t);
}

void mlsae_rng_get_state(const mlsae_rng *r, uint64_t words[MLSAE_RNG_STATE_WORDS])
{
    for (int i = 0; i < 4; i++) words[i] = r->s[i];
    words[4] = r->has_spare;
    uint64_t bits;
    memcpy(&bits, &r->spare_normal, sizeof bits);
    words[5] = bits;
}

int mlsae_rng_set_state(mlsae_rng *r, const uint64_t words[MLSAE_RNG_STATE_WORDS],
                        mlsae_error *err)
{
    if ((words[0] | words[1] | words[2] | words[3]) == 0)
        return mlsae_fail(err, "rng state: the generator words are all zero");
    if (words[4] > 1) return mlsae_fail(err, "rng state: spare flag must be 0 or 1");
    double spare;
    memcpy(&spare, &words[5], sizeof spare);
    if (!isfinite(spare)) return mlsae_fail(err, "rng state: spare normal deviate is not finite");
    for (int i = 0; i < 4; i++) r->s[i] = words[i];
    r->has_spare = words[4];
    r->spare_normal = spare;
    return 0;
}

void mlsae_rng_state_to_hex(const mlsae_rng *r, char *buf)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t w[MLSAE_RNG_STATE_WORDS];
    mlsae_rng_get_state(r, w);
    for (int i = 0; i < MLSAE_RNG_STATE_WORDS; i++)
        for (int d = 0; d < 16; d++) buf[i * 16 + d] = digits[(w[i] >> (60 - 4 * d)) & 0xf];
    buf[MLSAE_RNG_STATE_CHARS] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int mlsae_rng_state_from_hex(mlsae_rng *r, const char *hex, mlsae_error *err)
{
    if (!hex) return mlsae_fail(err, "rng state: missing");
    size_t n = strlen(hex);
    if (n != MLSAE_RNG_STATE_CHARS)
        return mlsae_fail(err, "rng state: expected %d hexadecimal digits, got %zu",
                          MLSAE_RNG_STATE_CHARS, n);
    uint64_t w[MLSAE_RNG_STATE_WORDS] = {0};
    for (size_t i = 0; i < n; i++) {
        int v = hex_value(hex[i]);
        if (v < 0) return mlsae_fail(err, "rng state: invalid hexadecimal digit at position %zu", i);
        w[i / 16] = (w[i / 16] << 4) | (uint64_t)v;
    }
    return mlsae_rng_set_state(r, w, err);
}
