/* TopK per row (SPEC §4 steps 3 and 5): one pass over the row with a
 * running threshold (the smallest value kept) and a min-heap of the k
 * entries kept so far. Only entries above the threshold touch the heap, so
 * after the first few hundred entries almost every block of 8 is rejected by
 * one vector compare. Ties keep the lower index (the heap's minimum is the
 * smallest value, and among equal values the highest index). NaN ranks
 * above every number, as in torch.topk. topk_gather also copies each row's
 * requested columns right after its TopK, while the row is in cache. */
#include "config.h"
#include "cpu_internal.h"
#include "cpu_sae_ops.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(MLSAE_HAVE_AVX2)
#include <immintrin.h>
#endif

typedef cpu_topk_item topk_item;

/* a should be evicted before b: smaller value, or equal value and higher
 * index; NaN is above every number and equal to NaN. */
static inline int item_below(topk_item a, topk_item b)
{
    int a_nan = a.v != a.v, b_nan = b.v != b.v;
    if (a_nan || b_nan) return a_nan && b_nan ? a.i > b.i : b_nan;
    return a.v < b.v || (a.v == b.v && a.i > b.i);
}

/* Worth offering to the heap: above the threshold, or NaN. */
static inline int candidate(float v, float thr) { return v > thr || v != v; }

static void sift_down(topk_item *h, int k, int pos)
{
    topk_item x = h[pos];
    for (;;) {
        int c = 2 * pos + 1;
        if (c >= k) break;
        if (c + 1 < k && item_below(h[c + 1], h[c])) c++;
        if (!item_below(h[c], x)) break;
        h[pos] = h[c];
        pos = c;
    }
    h[pos] = x;
}

/* Column i of a row given as a segment seg starting at column col0 (and
 * its mask segment, or NULL). */
static inline float masked(const float *seg, const int32_t *mask, int col0, int i)
{
    return (mask && mask[i - col0] == 0) ? 0.0f : seg[i - col0];
}

/* Offer entry i; returns the new threshold. */
static inline float offer(topk_item *h, int k, float v, int32_t i)
{
    /* An equal value has a higher index than every kept one: not better. */
    topk_item x = {v, i};
    if (item_below(h[0], x)) {
        h[0].v = v;
        h[0].i = i;
        sift_down(h, k, 0);
    }
    return h[0].v;
}

float cpu_topk_row_start(const float *seg, const int32_t *mask, int k, topk_item *h)
{
    for (int i = 0; i < k; i++) {
        h[i].v = masked(seg, mask, 0, i);
        h[i].i = i;
    }
    for (int p = k / 2 - 1; p >= 0; p--) sift_down(h, k, p);
    return h[0].v;
}

static float feed_portable(const float *seg, const int32_t *mask, int col0, int from, int to,
                           int k, topk_item *h, float thr)
{
    for (int i = from; i < to; i++) {
        float v = masked(seg, mask, col0, i);
        if (candidate(v, thr)) thr = offer(h, k, v, i);
    }
    return thr;
}

#if defined(MLSAE_HAVE_AVX2)
__attribute__((target("avx2,fma"))) static float feed_avx2(const float *seg, const int32_t *mask,
                                                            int col0, int from, int to, int k,
                                                            topk_item *h, float thr)
{
    int i = from;
    /* Scalar up to a multiple of 8 so that blocks are aligned with i. */
    for (; i < to && (i & 7); i++) {
        float v = masked(seg, mask, col0, i);
        if (candidate(v, thr)) thr = offer(h, k, v, i);
    }
    __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= to; i += 8) {
        __m256 v = _mm256_loadu_ps(seg + (i - col0));
        if (mask) {
            __m256i m = _mm256_loadu_si256((const __m256i *)(mask + (i - col0)));
            __m256 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(m, _mm256_setzero_si256()));
            v = _mm256_blendv_ps(v, zero, keep);
        }
        /* v > thr, or unordered (v is NaN; or thr is NaN, when offer rejects) */
        int bits = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(thr), _CMP_NLE_UQ));
        while (bits) {
            int b = __builtin_ctz(bits);
            bits &= bits - 1;
            float x = masked(seg, mask, col0, i + b);
            if (candidate(x, thr)) thr = offer(h, k, x, i + b);
        }
    }
    for (; i < to; i++) {
        float v = masked(seg, mask, col0, i);
        if (candidate(v, thr)) thr = offer(h, k, v, i);
    }
    return thr;
}
#endif

float cpu_topk_row_feed(int use_avx2, const float *seg, const int32_t *mask, int col0, int from,
                        int to, int k, topk_item *h, float thr)
{
#if defined(MLSAE_HAVE_AVX2)
    if (use_avx2) return feed_avx2(seg, mask, col0, from, to, k, h, thr);
#else
    (void)use_avx2;
#endif
    return feed_portable(seg, mask, col0, from, to, k, h, thr);
}

float cpu_topk_row_feed_bits(const float *seg, int col0, const uint32_t *bits, int n_words, int k,
                             topk_item *h, float thr)
{
    for (int w = 0; w < n_words; w++)
        for (uint32_t b = bits[w]; b; b &= b - 1) {
            int i = col0 + 32 * w + __builtin_ctz(b);
            float x = seg[i - col0];
            if (candidate(x, thr)) thr = offer(h, k, x, i);
        }
    return thr;
}

/* TopK of rows of pre into values/indices; with n_cols > 0 each row's
 * columns cols are then copied into gathered (gather_columns) while the
 * row is still in cache. */
static int topk_rows(mlsae_backend *be, const char *op, mlsae_ref pre, int rows, int n, int k,
                     mlsae_ref mask, mlsae_ref values, mlsae_ref indices, const int32_t *cols,
                     int n_cols, mlsae_ref gathered)
{
    if (k < 0 || k > n)
        return mlsae_backend_fail(be, "cpu %s: k = %d must be in [0, n = %d]", op, k, n);
    if (rows <= 0) return 0;
    if (k == 0) { /* nothing selected; the columns are still gathered */
        const uint32_t *src = (const uint32_t *)cpu_f32(pre);
        uint32_t *dst = n_cols > 0 ? (uint32_t *)cpu_i32(gathered) : NULL;
        for (int r = 0; dst && r < rows; r++)
            cpu_sae_gather_row(cpu_of(be)->has_avx2, src + (size_t)r * n, cols, n_cols,
                               dst + (size_t)r * n_cols);
        return 0;
    }
    const float *p = cpu_f32(pre);
    const int32_t *m = cpu_present(mask) ? cpu_i32(mask) : NULL;
    float *vals = cpu_f32(values);
    int32_t *idx = cpu_i32(indices);
    uint32_t *g = n_cols > 0 ? (uint32_t *)cpu_i32(gathered) : NULL;
    int use_avx2 = cpu_of(be)->has_avx2;
    int failed = 0;
#pragma omp parallel
    {
        topk_item *h = malloc((size_t)k * sizeof *h);
        if (!h) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            if (!h) continue;
            const float *row = p + (size_t)r * n;
            float thr = cpu_topk_row_start(row, m, k, h);
            cpu_topk_row_feed(use_avx2, row, m, 0, k, n, k, h, thr);
            for (int j = 0; j < k; j++) {
                vals[(size_t)r * k + j] = h[j].v;
                idx[(size_t)r * k + j] = h[j].i;
            }
            if (g)
                cpu_sae_gather_row(use_avx2, (const uint32_t *)row, cols, n_cols,
                                   g + (size_t)r * n_cols);
        }
        free(h);
    }
    if (failed) return mlsae_backend_fail(be, "cpu %s: out of memory", op);
    return 0;
}

int cpu_sae_topk(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                 mlsae_ref values, mlsae_ref indices)
{
    return topk_rows(be, "topk", pre, rows, n, k, mask, values, indices, NULL, 0, MLSAE_NOREF);
}

int cpu_sae_topk_gather(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                        mlsae_ref values, mlsae_ref indices, mlsae_ref cols, int n_cols,
                        mlsae_ref gathered)
{
    const int32_t *c = n_cols > 0 ? cpu_i32(cols) : NULL;
    if (n_cols > 0 && rows > 0 &&
        cpu_sae_check_columns(be, "topk_gather", c, n_cols, n) != 0)
        return -1;
    return topk_rows(be, "topk_gather", pre, rows, n, k, mask, values, indices, c, n_cols,
                     gathered);
}
