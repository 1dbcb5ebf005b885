/* Every SAE op of the CPU backend (backend_sae.h) against naive C, on
 * random shapes that are not multiples of the vector width, with both the
 * AVX2 and the portable kernels. Tolerances: 1e-6 relative to the largest
 * reference value (single-precision sums of <= 100 terms computed in a
 * different order); exact where the op makes no arithmetic (selection,
 * counters, gathers). */
#include "config.h"
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/cpu/cpu_internal.h"

static mlsae_backend *be;
static tu_rng rng = {12345};

static mlsae_buffer *buf(size_t n) { return mlsae_alloc_f32(be, n); }
static float *F(mlsae_buffer *b) { return (float *)b->data; }
static int32_t *I(mlsae_buffer *b) { return (int32_t *)b->data; }
static mlsae_ref R(mlsae_buffer *b) { return mlsae_at(b, 0); }

static void fill_rand(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * tu_normal(&rng);
}

static void test_standardize(int rows, int d)
{
    mlsae_buffer *x = buf((size_t)rows * d), *o = buf((size_t)rows * d), *mu = buf(rows),
                 *sd = buf(rows);
    fill_rand(F(x), (size_t)rows * d, 3.0f);
    for (int i = 0; i < d; i++) F(x)[i] = 0; /* an all-zero row */
    CHECK(be->ops->sae.standardize(be, R(x), R(o), R(mu), R(sd), rows, d, 1e-5f) == 0);
    float *want = malloc((size_t)rows * d * 4), *wmu = malloc(rows * 4), *wsd = malloc(rows * 4);
    /* As torch does it: float mean, float x - mean, then the std of that. */
    for (int r = 0; r < rows; r++) {
        double s = 0, ss = 0;
        for (int i = 0; i < d; i++) s += F(x)[r * d + i];
        float m = (float)(s / d);
        for (int i = 0; i < d; i++) {
            float c = F(x)[r * d + i] - m;
            ss += (double)c * c;
        }
        float sdv = (float)sqrt(ss / (d - 1));
        wmu[r] = m, wsd[r] = sdv;
        for (int i = 0; i < d; i++) want[r * d + i] = (F(x)[r * d + i] - m) / (sdv + 1e-5f);
    }
    CHECK_REL(F(o), want, (size_t)rows * d, 1e-6, "standardize out");
    CHECK_REL(F(mu), wmu, rows, 1e-6, "standardize mu");
    CHECK_REL(F(sd), wsd, rows, 1e-6, "standardize sd");
    CHECK(F(o)[0] == 0 && F(sd)[0] == 0);
    /* row_affine undoes it */
    CHECK(be->ops->sae.row_affine(be, R(o), R(o), R(sd), R(mu), rows, d) == 0);
    CHECK_REL(F(o), F(x), (size_t)rows * d, 1e-5, "row_affine(standardize(x))");
    free(want), free(wmu), free(wsd);
    be->ops->core.free(be, x), be->ops->core.free(be, o), be->ops->core.free(be, mu);
    be->ops->core.free(be, sd);
}

/* v above w in torch.topk's order: NaN above every number. */
static int ranks_above(float v, float w)
{
    if (w != w) return 0;
    return v != v || v > w;
}

/* Naive TopK: repeatedly take the largest remaining (lowest index on ties). */
static void naive_topk(const float *row, const int32_t *mask, int n, int k, int32_t *out)
{
    char *taken = calloc(n, 1);
    for (int j = 0; j < k; j++) {
        int best = -1;
        float bv = 0;
        for (int i = 0; i < n; i++) {
            if (taken[i]) continue;
            float v = (mask && !mask[i]) ? 0.0f : row[i];
            if (best < 0 || ranks_above(v, bv)) best = i, bv = v;
        }
        taken[best] = 1;
        out[j] = best;
    }
    free(taken);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* ties: 0 normal values, 1 small integers (many ties), 2 normal values with
 * about one NaN in 16 (torch ranks NaN first) */
static void test_topk(int rows, int n, int k, int with_mask, int ties)
{
    mlsae_buffer *pre = buf((size_t)rows * n), *mask = buf(n), *v = buf((size_t)rows * k),
                 *ix = buf((size_t)rows * k);
    for (size_t i = 0; i < (size_t)rows * n; i++)
        F(pre)[i] = ties == 1 ? (float)((int)(tu_uniform(&rng, -4, 4)))
                    : ties == 2 && tu_uniform(&rng, 0, 1) < 1.0f / 16 ? NAN : tu_normal(&rng);
    for (int i = 0; i < n; i++) I(mask)[i] = tu_uniform(&rng, 0, 1) < 0.3f;
    CHECK(be->ops->sae.topk(be, R(pre), rows, n, k, with_mask ? R(mask) : MLSAE_NOREF, R(v), R(ix)) == 0);
    int32_t *want = malloc(k * 4), *got = malloc(k * 4);
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        naive_topk(F(pre) + (size_t)r * n, with_mask ? I(mask) : NULL, n, k, want);
        memcpy(got, I(ix) + (size_t)r * k, k * 4);
        for (int j = 0; j < k; j++) {
            int32_t i = got[j];
            float expect = (with_mask && !I(mask)[i]) ? 0.0f : F(pre)[(size_t)r * n + i];
            float have = F(v)[(size_t)r * k + j];
            if (have != expect && !(have != have && expect != expect)) bad++;
        }
        qsort(want, k, 4, cmp_i32);
        qsort(got, k, 4, cmp_i32);
        if (memcmp(want, got, k * 4)) bad++;
    }
    CHECKF(bad == 0, "topk rows=%d n=%d k=%d mask=%d ties=%d: %d mismatches", rows, n, k,
           with_mask, ties, bad);
    free(want), free(got);
    be->ops->core.free(be, pre), be->ops->core.free(be, mask), be->ops->core.free(be, v);
    be->ops->core.free(be, ix);
}

static void test_sparse(int rows, int k, int n, int d)
{
    size_t rk = (size_t)rows * k, rd = (size_t)rows * d, nd = (size_t)n * d;
    mlsae_buffer *coef = buf(rk), *ix = buf(rk), *table = buf(nd), *x = buf(rd), *out = buf(rd),
                 *dots = buf(rk), *dst = buf(nd);
    fill_rand(F(coef), rk, 1.0f);
    for (size_t i = 0; i < rk; i += 5) F(coef)[i] = 0.0f;
    for (size_t i = 0; i < rk; i++) I(ix)[i] = (int32_t)tu_uniform(&rng, 0, (float)n - 0.01f);
    fill_rand(F(table), nd, 1.0f);
    fill_rand(F(x), rd, 1.0f);
    float *want = malloc((nd > rd ? nd : rd) * 4);
    for (int relu = 0; relu < 2; relu++) {
        float beta = relu ? 0.5f : 0.0f;
        fill_rand(F(out), rd, 1.0f);
        for (size_t i = 0; i < rd; i++) want[i] = beta * F(out)[i];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < k; j++) {
                float a = F(coef)[r * k + j];
                if (relu && a < 0) a = 0;
                for (int i = 0; i < d; i++)
                    want[(size_t)r * d + i] += a * F(table)[(size_t)I(ix)[r * k + j] * d + i];
            }
        CHECK(be->ops->sae.sparse_gather(be, R(coef), R(ix), rows, k, R(table), d, relu, beta, R(out)) == 0);
        CHECK_REL(F(out), want, rd, 1e-6, relu ? "sparse_gather relu beta 0.5" : "sparse_gather");
    }
    /* NaN in out is not read with beta 0 */
    for (size_t i = 0; i < rd; i++) F(out)[i] = NAN;
    CHECK(be->ops->sae.sparse_gather(be, R(coef), R(ix), rows, k, R(table), d, 0, 0.0f, R(out)) == 0);
    int nan_seen = 0;
    for (size_t i = 0; i < rd; i++) nan_seen |= isnan(F(out)[i]);
    CHECK(!nan_seen);

    for (int gated = 0; gated < 2; gated++) {
        for (size_t p = 0; p < rk; p++) {
            double s = 0;
            for (int i = 0; i < d; i++)
                s += (double)F(x)[(p / k) * d + i] * F(table)[(size_t)I(ix)[p] * d + i];
            want[p] = (gated && !(F(coef)[p] > 0)) ? 0.0f : (float)s;
        }
        CHECK(be->ops->sae.sparse_dot(be, R(x), R(ix), rows, k, R(table), d,
                                      gated ? R(coef) : MLSAE_NOREF, R(dots)) == 0);
        CHECK_REL(F(dots), want, rk, 1e-6, gated ? "sparse_dot gated" : "sparse_dot");
    }

    fill_rand(F(dst), nd, 1.0f);
    memcpy(want, F(dst), nd * 4);
    for (size_t p = 0; p < rk; p++)
        for (int i = 0; i < d; i++)
            want[(size_t)I(ix)[p] * d + i] += F(coef)[p] * F(x)[(p / k) * d + i];
    float *start = malloc(nd * 4);
    memcpy(start, F(dst), nd * 4);
    CHECK(be->ops->sae.sparse_scatter(be, R(coef), R(ix), rows, k, R(x), d, R(dst), n) == 0);
    CHECK_REL(F(dst), want, nd, 1e-6, "sparse_scatter");
    /* Deterministic: bit-identical with one thread. */
    float *two = malloc(nd * 4);
    memcpy(two, F(dst), nd * 4);
    memcpy(F(dst), start, nd * 4);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(be->ops->sae.sparse_scatter(be, R(coef), R(ix), rows, k, R(x), d, R(dst), n) == 0);
    omp_set_num_threads(threads);
    CHECK(memcmp(two, F(dst), nd * 4) == 0);
    /* An index outside the table is an error, not a write. */
    I(ix)[rk / 2] = n;
    CHECK(be->ops->sae.sparse_scatter(be, R(coef), R(ix), rows, k, R(x), d, R(dst), n) != 0);
    free(want), free(start), free(two);
    mlsae_buffer *all[] = {coef, ix, table, x, out, dots, dst};
    for (int i = 0; i < 7; i++) be->ops->core.free(be, all[i]);
}

static void test_update_dead(int rows, int k, int n)
{
    mlsae_buffer *v = buf((size_t)rows * k), *ix = buf((size_t)rows * k), *ln = buf(n),
                 *mask = buf(n);
    fill_rand(F(v), (size_t)rows * k, 0.01f);
    for (size_t i = 0; i < (size_t)rows * k; i++) I(ix)[i] = (int32_t)tu_uniform(&rng, 0, n - 0.01f);
    int32_t *want = malloc(n * 4);
    for (int i = 0; i < n; i++) I(ln)[i] = (int32_t)tu_uniform(&rng, 0, 10);
    I(ln)[0] = INT32_MAX;
    for (int i = 0; i < n; i++) want[i] = I(ln)[i];
    char *fired = calloc(n, 1);
    for (size_t p = 0; p < (size_t)rows * k; p++)
        if (F(v)[p] > 1e-3f) fired[I(ix)[p]] = 1;
    for (int i = 0; i < n; i++) {
        if (fired[i]) want[i] = 0;
        if (want[i] < INT32_MAX) want[i]++;
    }
    CHECK(be->ops->sae.update_dead(be, R(v), R(ix), rows, k, 1e-3f, R(ln), n, 6, R(mask)) == 0);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += I(ln)[i] != want[i] || I(mask)[i] != (want[i] >= 6);
    CHECKF(bad == 0, "update_dead: %d mismatches", bad);
    free(want), free(fired);
    be->ops->core.free(be, v), be->ops->core.free(be, ix), be->ops->core.free(be, ln);
    be->ops->core.free(be, mask);
}

/* gather_columns: a bit-exact copy (NaN payloads, -0.0 and int32 words
 * included), repeated and unordered columns; a column outside 0..n-1 fails. */
static void test_gather_columns(int rows, int n, int n_cols)
{
    mlsae_buffer *src = buf((size_t)rows * n), *cols = buf(n_cols);
    mlsae_buffer *dst = buf((size_t)rows * n_cols);
    fill_rand(F(src), (size_t)rows * n, 1.0f);
    for (size_t i = 0; i < (size_t)rows * n; i += 7) I(src)[i] = (int32_t)(0x7fc00000u + i % 1000);
    for (size_t i = 3; i < (size_t)rows * n; i += 11) F(src)[i] = -0.0f;
    for (int j = 0; j < n_cols; j++) I(cols)[j] = (int32_t)tu_uniform(&rng, 0, n - 0.01f);
    I(cols)[0] = n - 1;
    if (n_cols > 1) I(cols)[n_cols - 1] = 0;
    if (n_cols > 2) I(cols)[1] = I(cols)[2]; /* a repeat */
    CHECK(be->ops->sae.gather_columns(be, R(src), rows, n, R(cols), n_cols, R(dst)) == 0);
    size_t bad = 0;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n_cols; j++)
            bad += I(dst)[(size_t)r * n_cols + j] != I(src)[(size_t)r * n + I(cols)[j]];
    CHECKF(bad == 0, "gather_columns %dx%d -> %d: %zu words differ", rows, n, n_cols, bad);
    I(cols)[n_cols / 2] = n;
    CHECK(be->ops->sae.gather_columns(be, R(src), rows, n, R(cols), n_cols, R(dst)) != 0);
    I(cols)[n_cols / 2] = -1;
    CHECK(be->ops->sae.gather_columns(be, R(src), rows, n, R(cols), n_cols, R(dst)) != 0);
    CHECK(be->ops->sae.gather_columns(be, R(src), rows, n, R(cols), 0, R(dst)) == 0); /* no columns */
    be->ops->core.free(be, src), be->ops->core.free(be, cols), be->ops->core.free(be, dst);
}

/* topk_gather: the same values, indices (same order) and gathered words as
 * topk followed by gather_columns, with and without a mask, NaN and ties in
 * the rows; a column outside 0..n-1 fails. */
static void test_topk_gather(int rows, int n, int k, int n_cols, int with_mask)
{
    size_t total = (size_t)rows * n, rk = (size_t)rows * k, rc = (size_t)rows * n_cols;
    mlsae_buffer *pre = buf(total), *mask = buf(n), *cols = buf(n_cols ? n_cols : 1);
    mlsae_buffer *v1 = buf(rk), *i1 = buf(rk), *g1 = buf(rc ? rc : 1);
    mlsae_buffer *v2 = buf(rk), *i2 = buf(rk), *g2 = buf(rc ? rc : 1);
    fill_rand(F(pre), total, 1.0f);
    for (size_t i = 0; i < total; i += 13) F(pre)[i] = 0.75f; /* ties */
    for (size_t i = 5; i < total; i += 97) I(pre)[i] = (int32_t)(0x7fc00000u + i % 1000);
    for (int i = 0; i < n; i++) I(mask)[i] = i % 3 != 0;
    for (int j = 0; j < n_cols; j++) I(cols)[j] = (int32_t)tu_uniform(&rng, 0, n - 0.01f);
    mlsae_ref M = with_mask ? R(mask) : MLSAE_NOREF;
    CHECK(be->ops->sae.topk_gather(be, R(pre), rows, n, k, M, R(v1), R(i1), R(cols), n_cols,
                                   R(g1)) == 0);
    CHECK(be->ops->sae.topk(be, R(pre), rows, n, k, M, R(v2), R(i2)) == 0);
    if (n_cols)
        CHECK(be->ops->sae.gather_columns(be, R(pre), rows, n, R(cols), n_cols, R(g2)) == 0);
    CHECKF(memcmp(F(v1), F(v2), rk * 4) == 0 && memcmp(I(i1), I(i2), rk * 4) == 0 &&
               memcmp(I(g1), I(g2), rc * 4) == 0,
           "topk_gather %dx%d k=%d n_cols=%d mask=%d differs from topk + gather_columns", rows,
           n, k, n_cols, with_mask);
    if (n_cols) {
        I(cols)[n_cols - 1] = n;
        CHECK(be->ops->sae.topk_gather(be, R(pre), rows, n, k, M, R(v1), R(i1), R(cols),
                                       n_cols, R(g1)) != 0);
    }
    mlsae_buffer *all[] = {pre, mask, cols, v1, i1, g1, v2, i2, g2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->ops->core.free(be, all[i]);
}

static void test_rows_ops(int rows, int d)
{
    size_t nd = (size_t)rows * d;
    mlsae_buffer *w = buf(nd), *g = buf(nd);
    fill_rand(F(w), nd, 2.0f);
    fill_rand(F(g), nd, 1.0f);
    for (int i = 0; i < d; i++) F(w)[i] = 0; /* a zero row stays zero */
    float *ww = malloc(nd * 4), *wg = malloc(nd * 4);
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int i = 0; i < d; i++) s += (double)F(w)[r * d + i] * F(w)[r * d + i];
        for (int i = 0; i < d; i++) ww[r * d + i] = s > 0 ? (float)(F(w)[r * d + i] / sqrt(s)) : 0;
        double p = 0;
        for (int i = 0; i < d; i++) p += (double)F(g)[r * d + i] * ww[r * d + i];
        for (int i = 0; i < d; i++) wg[r * d + i] = (float)(F(g)[r * d + i] - p * ww[r * d + i]);
    }
    CHECK(be->ops->sae.normalize_rows(be, R(w), rows, d) == 0);
    CHECK_REL(F(w), ww, nd, 1e-6, "normalize_rows");
    CHECK(be->ops->sae.remove_parallel(be, R(w), R(g), rows, d) == 0);
    CHECK_REL(F(g), wg, nd, 1e-6, "remove_parallel");
    /* relu */
    F(g)[1] = NAN;
    memcpy(wg, F(g), nd * 4);
    CHECK(be->ops->sae.relu(be, R(g), nd) == 0);
    int bad = 0;
    for (size_t i = 0; i < nd; i++) bad += i != 1 && F(g)[i] != (wg[i] < 0 ? 0.0f : wg[i]);
    CHECK(bad == 0 && isnan(F(g)[1]));
    free(ww), free(wg);
    be->ops->core.free(be, w), be->ops->core.free(be, g);
}

static void test_adam(size_t n)
{
    mlsae_buffer *p = buf(n), *g = buf(n), *m = buf(n), *v = buf(n);
    fill_rand(F(p), n, 1.0f);
    memset(F(m), 0, n * 4);
    memset(F(v), 0, n * 4);
    double *pp = malloc(n * 8), *mm = calloc(n, 8), *vv = calloc(n, 8);
    for (size_t i = 0; i < n; i++) pp[i] = F(p)[i];
    for (int step = 1; step <= 3; step++) {
        fill_rand(F(g), n, step == 2 ? 1e-6f : 1.0f);
        for (size_t i = 0; i < n; i++) {
            double gi = F(g)[i];
            mm[i] = 0.9 * mm[i] + 0.1 * gi;
            vv[i] = 0.999 * vv[i] + 0.001 * gi * gi;
            double mh = mm[i] / (1 - pow(0.9, step)), vh = vv[i] / (1 - pow(0.999, step));
            pp[i] -= 1e-3 * mh / (sqrt(vh) + 6.25e-10);
        }
        CHECK(be->ops->sae.adam(be, R(p), R(g), R(m), R(v), n, 1e-3f, 0.9f, 0.999f, 6.25e-10f, step) == 0);
    }
    float *want = malloc(n * 4);
    for (size_t i = 0; i < n; i++) want[i] = (float)pp[i];
    CHECK_REL(F(p), want, n, 1e-6, "adam, 3 steps");
    CHECK(be->ops->sae.adam(be, R(p), R(g), R(m), R(v), n, 1e-3f, 0.9f, 0.999f, 6.25e-10f, 0) != 0);
    free(pp), free(mm), free(vv), free(want);
    be->ops->core.free(be, p), be->ops->core.free(be, g), be->ops->core.free(be, m);
    be->ops->core.free(be, v);
}

int main(void)
{
    mlsae_error err;
    mlsae_backend_params params = {0};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int have_avx2 = cpu_of(be)->has_avx2;
    for (int pass = 0; pass < 2; pass++) {
        cpu_of(be)->has_avx2 = pass == 0 ? have_avx2 : 0;
        printf("kernels: %s\n", cpu_of(be)->has_avx2 ? "AVX2/FMA" : "portable");
        test_standardize(37, 29);
        test_standardize(5, 2);
        test_topk(23, 203, 7, 0, 0);
        test_topk(23, 203, 7, 1, 0);
        test_topk(9, 97, 13, 0, 1); /* many ties: lowest index wins */
        test_topk(9, 97, 13, 1, 1);
        test_topk(4, 11, 11, 0, 0); /* k == n */
        test_topk(17, 301, 9, 0, 2); /* NaN ranks above every number */
        test_topk(17, 301, 40, 1, 2);
        test_topk(300, 1001, 1, 0, 0);
        test_sparse(41, 7, 67, 29);
        test_sparse(3, 1, 5, 3);
        test_sparse(200, 17, 333, 45); /* large enough to run threaded */
        test_update_dead(31, 5, 77);
        test_gather_columns(1, 1, 1);
        test_gather_columns(13, 101, 37);
        test_gather_columns(7, 50, 200); /* more columns than n: repeats */
        test_gather_columns(300, 1001, 333); /* large enough to run threaded */
        test_topk_gather(1, 1, 1, 1, 0);
        test_topk_gather(23, 203, 7, 0, 0); /* no columns: topk alone */
        test_topk_gather(23, 203, 7, 41, 1);
        test_topk_gather(300, 1001, 32, 333, 0);
        test_topk_gather(64, 2048, 64, 4000, 1); /* repeats */
        test_rows_ops(33, 21);
        test_rows_ops(400, 200);
        test_adam(1001);
        test_adam(100003);
    }
    mlsae_backend_close(be);
    return tu_finish("test_sae_ops");
}
