/* Merging the partial results of an analysis split over MPI ranks
 * (doc/scaling.md), without MPI: each "rank" here is a separate
 * accumulator fed the batches g % R == r of one stream.
 *
 * examples: the merged heaps equal, byte for byte, the heaps of one
 * accumulator fed every batch, on random TopK values drawn from three
 * levels so that most comparisons are ties (broken by stream order), for
 * several heap sizes, context widths and numbers of ranks, merged in two
 * orders and in rounds of slots; a damaged packed buffer is an error.
 *
 * resid: mlsae_running_merge of the parts equals adding every value to one
 * accumulator within 1e-12 relative (double sums in another order; the
 * values are O(1), 10^3 of them) and a two-pass mean / variance within the
 * same.
 *
 * exact sums (analysis/exact_sum.h): float32 values from subnormal to
 * FLT_MAX, added in order, in reverse, and split over 1-4 "ranks" whose
 * limbs are added: the same limbs and the same double bit for bit; values
 * with their negatives give exactly 0, 1e30 + 1 - 1e30 gives 1, and sums
 * of O(1) values agree with a long double sum within 1e-15 relative. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/examples.h"
#include "analysis/exact_sum.h"
#include "analysis/resid.h"
#include "testutil.h"

enum { LATENTS = 5, LAYERS = 2, K = 2, ROWS = 2, SEQ = 4, BATCHES = 7 };
enum { RPL = ROWS * SEQ };

typedef struct batch {
    int32_t ids[RPL];
    float values[LAYERS * RPL * K];
    int32_t indices[LAYERS * RPL * K];
    int n_valid;
} batch;

static void make_batches(batch *b, tu_rng *rng)
{
    static const float levels[] = {0.0005f, 0.5f, 1.0f, 2.0f}; /* the first: below 1e-3 */
    for (int g = 0; g < BATCHES; g++) {
        for (int i = 0; i < RPL; i++) b[g].ids[i] = (int32_t)tu_uniform(rng, 0, 50);
        for (int row = 0; row < LAYERS * RPL; row++) {
            /* K distinct latents */
            int first = (int)tu_uniform(rng, 0, LATENTS);
            if (first >= LATENTS) first = LATENTS - 1;
            for (int t = 0; t < K; t++) {
                int lv = (int)tu_uniform(rng, 0, 4);
                b[g].indices[row * K + t] = (first + t) % LATENTS;
                b[g].values[row * K + t] = levels[lv > 3 ? 3 : lv];
            }
        }
        /* the last batch crosses the budget */
        b[g].n_valid = g == BATCHES - 1 ? RPL - 3 : RPL;
    }
}

static int feed(mlsae_examples *ex, const batch *b, int g)
{
    mlsae_error err;
    int rc = mlsae_examples_update(ex, b[g].ids, ROWS, SEQ, b[g].values, b[g].indices, K,
                                   b[g].n_valid, (uint64_t)g * RPL, &err);
    if (rc) fprintf(stderr, "update: %s\n", err.msg);
    return rc;
}

/* merge src's heaps into dst in rounds of `round` slots */
static int merge(mlsae_examples *dst, const mlsae_examples *src, size_t round)
{
    size_t slots = (size_t)src->n_latents * src->n_layers;
    for (size_t s0 = 0; s0 < slots; s0 += round) {
        size_t s1 = s0 + round < slots ? s0 + round : slots;
        size_t n = mlsae_examples_packed_size(src, s0, s1);
        unsigned char *buf = malloc(n);
        mlsae_error err;
        if (!buf) return -1;
        mlsae_examples_pack(src, s0, s1, buf);
        int rc = mlsae_examples_merge_packed(dst, s0, s1, buf, n, &err);
        if (rc) fprintf(stderr, "merge: %s\n", err.msg);
        free(buf);
        if (rc) return -1;
    }
    return 0;
}

/* every slot's sorted entries byte for byte; returns the slots that differ */
static int differ(mlsae_examples *a, mlsae_examples *b, int *entries)
{
    int bad = 0;
    *entries = 0;
    for (int j = 0; j < LATENTS; j++)
        for (int l = 0; l < LAYERS; l++) {
            unsigned char *ha, *hb;
            int na = mlsae_examples_sorted(a, j, l, &ha), nb = mlsae_examples_sorted(b, j, l, &hb);
            *entries += na;
            if (na != nb || (na > 0 && memcmp(ha, hb, (size_t)na * a->stride) != 0)) bad++;
        }
    return bad;
}

static void check_examples_case(int n_examples, int n_tokens, int ranks, uint64_t seed)
{
    tu_rng rng = {seed};
    batch b[BATCHES];
    make_batches(b, &rng);
    /* two copies of the one-process heaps: mlsae_examples_sorted sorts in place */
    mlsae_examples one, one2, part[4], rev[4];
    mlsae_error err;
    CHECK(mlsae_examples_init(&one, LATENTS, LAYERS, n_examples, n_tokens, &err) == 0);
    CHECK(mlsae_examples_init(&one2, LATENTS, LAYERS, n_examples, n_tokens, &err) == 0);
    for (int r = 0; r < ranks; r++) {
        CHECK(mlsae_examples_init(&part[r], LATENTS, LAYERS, n_examples, n_tokens, &err) == 0);
        CHECK(mlsae_examples_init(&rev[r], LATENTS, LAYERS, n_examples, n_tokens, &err) == 0);
    }
    for (int g = 0; g < BATCHES; g++) {
        CHECK(feed(&one, b, g) == 0);
        CHECK(feed(&one2, b, g) == 0);
        CHECK(feed(&part[g % ranks], b, g) == 0);
        CHECK(feed(&rev[g % ranks], b, g) == 0);
    }
    /* rank 0 takes the others in rank order, in rounds of 3 slots; and the
     * other way round, into the last rank, one slot at a time */
    for (int r = 1; r < ranks; r++) CHECK(merge(&part[0], &part[r], 3) == 0);
    for (int r = ranks - 2; r >= 0; r--) CHECK(merge(&rev[ranks - 1], &rev[r], 1) == 0);
    int entries, entries2;
    int bad = differ(&part[0], &one, &entries);
    CHECKF(bad == 0, "n_examples %d n_tokens %d ranks %d: %d slots differ from one process",
           n_examples, n_tokens, ranks, bad);
    bad = differ(&rev[ranks - 1], &one2, &entries2);
    CHECKF(bad == 0, "reverse merge, n_examples %d ranks %d: %d slots differ", n_examples, ranks,
           bad);
    CHECKF(entries > 0, "no examples kept");
    mlsae_examples_free(&one);
    mlsae_examples_free(&one2);
    for (int r = 0; r < ranks; r++) {
        mlsae_examples_free(&part[r]);
        mlsae_examples_free(&rev[r]);
    }
}

/* Two equal acts: the earlier position stays, whichever accumulator saw it. */
static void check_tie(void)
{
    mlsae_examples a, b;
    mlsae_error err;
    int32_t ids[SEQ] = {1, 2, 3, 4};
    float values[SEQ] = {0, 0, 3.0f, 0};
    int32_t indices[SEQ] = {0, 0, 0, 0};
    CHECK(mlsae_examples_init(&a, 1, 1, 1, 1, &err) == 0);
    CHECK(mlsae_examples_init(&b, 1, 1, 1, 1, &err) == 0);
    /* a holds the later position (batch 1), b the earlier (batch 0) */
    CHECK(mlsae_examples_update(&a, ids, 1, SEQ, values, indices, 1, SEQ, SEQ, &err) == 0);
    ids[2] = 9;
    CHECK(mlsae_examples_update(&b, ids, 1, SEQ, values, indices, 1, SEQ, 0, &err) == 0);
    CHECK(merge(&a, &b, 1) == 0);
    unsigned char *h;
    CHECK(mlsae_examples_sorted(&a, 0, 0, &h) == 1);
    const mlsae_example *e = (const mlsae_example *)h;
    CHECKF(e->token_id == 9 && e->order == 2, "tie kept token %d order %llu, not 9 at 2",
           e->token_id, (unsigned long long)e->order);
    /* a damaged buffer: a count above n_examples, then a short one */
    size_t n = mlsae_examples_packed_size(&b, 0, 1);
    unsigned char *buf = malloc(n);
    CHECK(buf != NULL);
    if (buf) {
        mlsae_examples_pack(&b, 0, 1, buf);
        CHECK(mlsae_examples_merge_packed(&a, 0, 1, buf, n - 1, &err) != 0);
        int32_t big = 5;
        memcpy(buf, &big, sizeof big);
        CHECK(mlsae_examples_merge_packed(&a, 0, 1, buf, n, &err) != 0);
        CHECKF(strstr(err.msg, "5 entries") != NULL, "message: %s", err.msg);
        free(buf);
    }
    mlsae_examples_free(&a);
    mlsae_examples_free(&b);
}

static void check_running(void)
{
    enum { N = 1000 };
    tu_rng rng = {17};
    double x[N];
    for (int i = 0; i < N; i++) x[i] = 3.0 + tu_normal(&rng);
    for (int ranks = 1; ranks <= 4; ranks++) {
        mlsae_running one = {0}, parts[4], merged = {0};
        memset(parts, 0, sizeof parts);
        /* batches of 7 values, rank-strided */
        for (int g = 0; g * 7 < N; g++) {
            size_t n = N - g * 7 < 7 ? (size_t)(N - g * 7) : 7;
            mlsae_running_add(&one, x + g * 7, n);
            mlsae_running_add(&parts[g % ranks], x + g * 7, n);
        }
        for (int r = 0; r < ranks; r++) mlsae_running_merge(&merged, &parts[r]);
        double a[4], b[4];
        mlsae_running_get(&merged, a);
        mlsae_running_get(&one, b);
        double mean = 0, var = 0;
        for (int i = 0; i < N; i++) mean += x[i];
        mean /= N;
        for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= N - 1;
        CHECKF(merged.count == N, "count %g", merged.count);
        for (int i = 0; i < 4; i++)
            CHECKF(fabs(a[i] - b[i]) <= 1e-12 * fabs(b[i]), "ranks %d stat %d: %.17g vs %.17g",
                   ranks, i, a[i], b[i]);
        CHECKF(fabs(a[0] - mean) <= 1e-12 * fabs(mean) && fabs(a[1] - var) <= 1e-12 * var,
               "ranks %d: mean %.17g var %.17g, two-pass %.17g %.17g", ranks, a[0], a[1], mean,
               var);
    }
    /* an empty part changes nothing */
    mlsae_running a = {3, 1.5, 2}, e = {0};
    mlsae_running_merge(&a, &e);
    CHECK(a.count == 3 && a.mean == 1.5 && a.squared == 2);
    mlsae_running_merge(&e, &a);
    CHECK(e.count == 3 && e.mean == 1.5 && e.squared == 2);
}

static double exact_of(const float *x, int n, int64_t *acc)
{
    double special = 0;
    memset(acc, 0, MLSAE_EXACT_LIMBS * sizeof *acc);
    for (int i = 0; i < n; i++) mlsae_exact_add_f32(acc, &special, x[i]);
    mlsae_exact_normalize(acc);
    return mlsae_exact_value(acc, special);
}

static void check_exact_sum(void)
{
    enum { N = 2000 };
    static float x[2 * N], rev[2 * N];
    tu_rng rng = {23};
    for (int i = 0; i < N; i++) {
        int e = (int)tu_uniform(&rng, -160, 127);
        float v = ldexpf(tu_normal(&rng), e);
        x[i] = isfinite(v) ? v : FLT_MAX;
    }
    x[0] = FLT_MAX;
    x[1] = FLT_TRUE_MIN;
    x[2] = -FLT_MIN;
    int64_t one[MLSAE_EXACT_LIMBS], other[MLSAE_EXACT_LIMBS];
    double v1 = exact_of(x, N, one);
    for (int i = 0; i < N; i++) rev[i] = x[N - 1 - i];
    double v2 = exact_of(rev, N, other);
    CHECKF(memcmp(one, other, sizeof one) == 0 && memcmp(&v1, &v2, sizeof v1) == 0,
           "reverse order: %.17g vs %.17g", v1, v2);
    for (int ranks = 2; ranks <= 4; ranks++) {
        int64_t part[4][MLSAE_EXACT_LIMBS], sum[MLSAE_EXACT_LIMBS] = {0};
        double special[4] = {0};
        memset(part, 0, sizeof part);
        for (int i = 0; i < N; i++) mlsae_exact_add_f32(part[i % ranks], &special[i % ranks], x[i]);
        for (int r = 0; r < ranks; r++) {
            mlsae_exact_normalize(part[r]);
            for (int j = 0; j < MLSAE_EXACT_LIMBS; j++) sum[j] += part[r][j];
        }
        mlsae_exact_normalize(sum);
        double v = mlsae_exact_value(sum, 0);
        CHECKF(memcmp(one, sum, sizeof one) == 0 && memcmp(&v, &v1, sizeof v) == 0,
               "%d ranks: %.17g vs one %.17g", ranks, v, v1);
    }
    /* x and -x, shuffled: exactly 0 */
    for (int i = 0; i < N; i++) x[N + i] = -x[i];
    for (int i = 2 * N - 1; i > 0; i--) {
        int j = (int)tu_uniform(&rng, 0, (float)(i + 1));
        if (j > i) j = i;
        float t = x[j];
        x[j] = x[i];
        x[i] = t;
    }
    CHECKF(exact_of(x, 2 * N, one) == 0.0, "x and -x: %.17g", exact_of(x, 2 * N, one));
    const float cancel[] = {1e30f, 1.0f, -1e30f};
    CHECKF(exact_of(cancel, 3, one) == 1.0, "1e30 + 1 - 1e30 = %.17g", exact_of(cancel, 3, one));
    long double ref = 0;
    for (int i = 0; i < N; i++) {
        x[i] = 3.0f + tu_normal(&rng);
        ref += x[i];
    }
    double v = exact_of(x, N, one);
    CHECKF(fabsl(v - ref) <= 1e-15L * fabsl(ref), "O(1) values: %.17g, long double %.17Lg", v, ref);
    const float inf[] = {1.0f, INFINITY, 2.0f};
    CHECKF(isinf(exact_of(inf, 3, one)), "an infinity: %.17g", exact_of(inf, 3, one));
}

int main(void)
{
    static const int n_examples[] = {1, 2, 3, 6}, n_tokens[] = {0, 1, 2, 2};
    for (int c = 0; c < 4; c++)
        for (int ranks = 2; ranks <= 4; ranks++)
            check_examples_case(n_examples[c], n_tokens[c], ranks, 1000u * c + ranks);
    check_tie();
    check_running();
    check_exact_sum();
    return tu_finish("test_analysis_merge");
}
