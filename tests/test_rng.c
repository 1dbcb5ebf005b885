/* xoshiro256** generator: known answers (published sequence for state
 * {1,2,3,4}; splitmix64 and seeded outputs from tests/gen/rng_kat.py),
 * interval properties, moments, and bit-exact state save/restore. */
#include "config.h"
#include "core/rng.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static void test_published_sequence(void)
{
    mlsae_rng r;
    uint64_t w[MLSAE_RNG_STATE_WORDS] = {1, 2, 3, 4, 0, 0};
    CHECK(mlsae_rng_set_state(&r, w, NULL) == 0);
    const uint64_t want[4] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL};
    for (int i = 0; i < 4; i++) CHECK(mlsae_rng_next(&r) == want[i]);
}

static void test_seeded_known_answers(void)
{
    uint64_t x = 0;
    const uint64_t sm[3] = {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL};
    for (int i = 0; i < 3; i++) CHECK(mlsae_splitmix64(&x) == sm[i]);

    mlsae_rng r;
    mlsae_rng_seed(&r, 42);
    const uint64_t nx[6] = {0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL,
                            0xecb8ad4703b360a1ULL, 0xfde6dc7fe2ec5e64ULL, 0xc50da53101795238ULL};
    for (int i = 0; i < 6; i++) CHECK(mlsae_rng_next(&r) == nx[i]);

    mlsae_rng_seed(&r, 42);
    const double dv[4] = {0.08386297105988216, 0.3789802506626686, 0.6800434110281394,
                          0.9246929453253876};
    for (int i = 0; i < 4; i++) CHECK(mlsae_rng_double(&r) == dv[i]);

    mlsae_rng_seed(&r, 7);
    const float uv[4] = {1.25144124f, 0.196878076f, 1.59906864f, 1.95274436f};
    for (int i = 0; i < 4; i++) CHECK(mlsae_rng_uniform(&r, -0.5f, 2.0f) == uv[i]);

    /* Normals go through libm log/sin/cos, which may differ from Python's in
     * the last ulp: allow 1e-12 relative (a wrong algorithm is off by O(1)). */
    mlsae_rng_seed(&r, 123);
    const double nv[5] = {0.6497871727569374, -0.12576422452104485, 0.7838080677923209,
                          0.8035953904598349, 0.9079201875481046};
    for (int i = 0; i < 5; i++) {
        double v = mlsae_rng_normal(&r);
        CHECKF(fabs(v - nv[i]) <= 1e-12 * fabs(nv[i]), "normal %d: %.17g vs %.17g", i, v, nv[i]);
    }
}

static void test_intervals_and_moments(void)
{
    mlsae_rng r;
    mlsae_rng_seed(&r, 2024);
    const int n = 200000;
    double sum = 0, sum2 = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float u = mlsae_rng_uniform(&r, -1.0f, 3.0f);
        if (!(u >= -1.0f && u < 3.0f)) bad++;
        sum += u;
    }
    CHECK(bad == 0);
    /* mean of U(-1,3) is 1, sd of the mean 4/sqrt(12 n) ~ 0.0026: 6 sigma. */
    CHECKF(fabs(sum / n - 1.0) < 0.016, "uniform mean %g", sum / n);

    /* A tiny interval where lo + (hi-lo)*u rounds up to hi for u near 1. */
    float lo = 1.0f, hi = nextafterf(1.0f, 2.0f);
    for (int i = 0; i < 1000; i++) {
        float u = mlsae_rng_uniform(&r, lo, hi);
        if (!(u >= lo && u < hi)) bad++;
    }
    CHECK(bad == 0);

    uint64_t counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = mlsae_rng_below(&r, 7);
        if (v >= 7) bad++;
        else counts[v]++;
    }
    CHECK(bad == 0);
    /* each expected 10000, sd ~ 93: 6 sigma = 560 */
    for (int i = 0; i < 7; i++) CHECKF(llabs((long long)counts[i] - 10000) < 560, "bucket %d", i);
    CHECK(mlsae_rng_below(&r, 1) == 0);

    sum = sum2 = 0;
    for (int i = 0; i < n; i++) {
        double z = mlsae_rng_normal(&r);
        if (!isfinite(z)) bad++;
        sum += z;
        sum2 += z * z;
    }
    CHECK(bad == 0);
    double mean = sum / n, var = sum2 / n - mean * mean;
    /* sd of the mean 1/sqrt(n) ~ 0.0022, of the variance sqrt(2/n) ~ 0.0032: 6 sigma. */
    CHECKF(fabs(mean) < 0.014, "normal mean %g", mean);
    CHECKF(fabs(var - 1.0) < 0.02, "normal variance %g", var);
}

static void test_state_round_trip(void)
{
    mlsae_rng a, b;
    mlsae_rng_seed(&a, 99);
    mlsae_rng_normal(&a); /* leaves a spare deviate in the state */
    CHECK(a.has_spare == 1);

    char hex[MLSAE_RNG_STATE_CHARS + 1];
    mlsae_rng_state_to_hex(&a, hex);
    CHECK(strlen(hex) == MLSAE_RNG_STATE_CHARS);
    mlsae_error err;
    CHECK(mlsae_rng_state_from_hex(&b, hex, &err) == 0);
    for (int i = 0; i < 100; i++) {
        double x = mlsae_rng_normal(&a), y = mlsae_rng_normal(&b);
        CHECK(memcmp(&x, &y, sizeof x) == 0);
        CHECK(mlsae_rng_next(&a) == mlsae_rng_next(&b));
    }

    uint64_t w[MLSAE_RNG_STATE_WORDS];
    mlsae_rng_get_state(&a, w);
    CHECK(mlsae_rng_set_state(&b, w, &err) == 0);
    CHECK(mlsae_rng_next(&a) == mlsae_rng_next(&b));

    /* Bad states are refused with a message. */
    CHECK(mlsae_rng_state_from_hex(&b, "12", &err) == -1 && strstr(err.msg, "96") != NULL);
    hex[5] = 'x';
    CHECK(mlsae_rng_state_from_hex(&b, hex, &err) == -1 && strstr(err.msg, "position 5"));
    uint64_t zero[MLSAE_RNG_STATE_WORDS] = {0};
    CHECK(mlsae_rng_set_state(&b, zero, &err) == -1);

    /* Jumped streams differ from the original and from each other. */
    mlsae_rng_seed(&a, 5);
    b = a;
    mlsae_rng_jump(&b);
    CHECK(mlsae_rng_next(&a) != mlsae_rng_next(&b));
}

int main(void)
{
    test_published_sequence();
    test_seeded_known_answers();
    test_intervals_and_moments();
    test_state_round_trip();
    return tu_finish("test_rng");
}
