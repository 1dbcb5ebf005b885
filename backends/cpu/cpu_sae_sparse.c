/* Sparse SAE ops of the CPU backend: the decode (gather), the dots against
 * selected table rows, the gradient scatter into selected table rows, and
 * the dead-latent bookkeeping (SPEC §4). Their cost is O(rows * k * d).
 *
 * The scatter is deterministic and independent of the thread count: the
 * (r, j) pairs are counting-sorted by destination row (stable, so each
 * destination keeps (r, j) order) and each thread owns a range of
 * destination rows. */
#include "config.h"
#include "cpu_sae_ops.h"
#include "cpu_sae_vec.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline void prefetch_row(const float *row, int d)
{
    for (int b = 0; b < d; b += 16) __builtin_prefetch(row + b);
}

int cpu_sae_sparse_gather(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                          mlsae_ref table, int d, int relu, float beta, mlsae_ref out)
{
    if (rows <= 0 || d <= 0) return 0;
    const float *c = cpu_f32(coef);
    const int32_t *ix = cpu_i32(idx);
    const float *t = cpu_f32(table);
    float *o = cpu_f32(out);
    size_t n_table = (table.buf->n_bytes / 4 - table.off) / (size_t)d;
    const size_t n_pairs = (size_t)rows * (k > 0 ? k : 0);
    cpu_vec_kernels vk = cpu_vec_select(cpu_of(be)->has_avx2);
    int bad = 0;
#pragma omp parallel for schedule(static) if ((size_t)rows * k * d > 32768)
    for (int r = 0; r < rows; r++) {
        float *orow = o + (size_t)r * d;
        if (beta == 0.0f)
            memset(orow, 0, (size_t)d * sizeof *orow);
        else if (beta != 1.0f)
            for (int i = 0; i < d; i++) orow[i] *= beta;
        for (int j = 0; j < k; j++) {
            /* the table row two pairs ahead (random rows: start the loads
             * before they are needed) */
            size_t pn = (size_t)r * k + j + 2;
            if (pn < n_pairs && ix[pn] >= 0 && (size_t)ix[pn] < n_table)
                prefetch_row(t + (size_t)ix[pn] * d, d);
            float a = c[(size_t)r * k + j];
            /* ReLU drops negatives; a NaN goes through, as with torch.relu. */
            if ((relu && a < 0.0f) || a == 0.0f) continue;
            int32_t i = ix[(size_t)r * k + j];
            if (i < 0 || (size_t)i >= n_table) {
#pragma omp atomic write
                bad = 1;
                continue;
            }
            vk.axpy(orow, a, t + (size_t)i * d, d);
        }
    }
    if (bad) return mlsae_backend_fail(be, "cpu sparse_gather: index outside the table");
    return 0;
}

int cpu_sae_sparse_dot(mlsae_backend *be, mlsae_ref x, mlsae_ref idx, int rows, int k,
                       mlsae_ref table, int d, mlsae_ref gate, mlsae_ref out)
{
    if (rows <= 0) return 0;
    const float *xs = cpu_f32(x);
    const int32_t *ix = cpu_i32(idx);
    const float *t = cpu_f32(table);
    const float *g = cpu_present(gate) ? cpu_f32(gate) : NULL;
    float *o = cpu_f32(out);
    size_t n_table = d > 0 ? (table.buf->n_bytes / 4 - table.off) / (size_t)d : 0;
    cpu_vec_kernels vk = cpu_vec_select(cpu_of(be)->has_avx2);
    int bad = 0;
#pragma omp parallel for schedule(static) if ((size_t)rows * k * d > 32768)
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < k; j++) {
            size_t p = (size_t)r * k + j;
            if (g && !(g[p] > 0.0f)) {
                o[p] = 0.0f;
                continue;
            }
            int32_t i = ix[p];
            if (i < 0 || (size_t)i >= n_table) {
#pragma omp atomic write
                bad = 1;
                o[p] = 0.0f;
                continue;
            }
            o[p] = vk.dot(xs + (size_t)r * d, t + (size_t)i * d, d);
        }
    }
    if (bad) return mlsae_backend_fail(be, "cpu sparse_dot: index outside the table");
    return 0;
}

/* Counting sort of the pairs p < n_pairs by destination ix[p] (stable),
 * skipping those with keep[p] == 0 when keep is given: order[offs[i] ..
 * offs[i + 1]) are destination i's pairs in increasing p. Both arrays are
 * the caller's to free; -1 (with the error naming op) for an index outside
 * 0..n_table-1 or no memory. */
static int sort_pairs(mlsae_backend *be, const char *op, const int32_t *ix, const float *keep,
                      size_t n_pairs, int n_table, size_t **offs_out, size_t **order_out)
{
    size_t *offs = calloc((size_t)n_table + 1, sizeof *offs);
    size_t *order = malloc((n_pairs ? n_pairs : 1) * sizeof *order);
    size_t *fill = malloc((size_t)n_table * sizeof *fill);
    if (!offs || !order || !fill) {
        free(offs);
        free(order);
        free(fill);
        return mlsae_backend_fail(be, "cpu %s: out of memory", op);
    }
    for (size_t p = 0; p < n_pairs; p++) {
        int32_t i = ix[p];
        if (i < 0 || i >= n_table) {
            free(offs);
            free(order);
            free(fill);
            return mlsae_backend_fail(be, "cpu %s: index %ld outside 0..%d", op, (long)i,
                                      n_table - 1);
        }
        if (!keep || keep[p] != 0.0f) offs[i + 1]++;
    }
    for (int i = 0; i < n_table; i++) offs[i + 1] += offs[i];
    memcpy(fill, offs, (size_t)n_table * sizeof *fill);
    for (size_t p = 0; p < n_pairs; p++)
        if (!keep || keep[p] != 0.0f) order[fill[ix[p]]++] = p;
    free(fill);
    *offs_out = offs;
    *order_out = order;
    return 0;
}

/* First position p in offs[0..n] with offs[p] >= target. */
static int lower_bound(const size_t *offs, int n, size_t target)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (offs[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int cpu_sae_sparse_scatter(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                           mlsae_ref x, int d, mlsae_ref dst, int n_table)
{
    if (rows <= 0 || k <= 0 || d <= 0 || n_table <= 0) return 0;
    const float *c = cpu_f32(coef);
    const int32_t *ix = cpu_i32(idx);
    const float *xs = cpu_f32(x);
    float *out = cpu_f32(dst);
    size_t n_pairs = (size_t)rows * k, *offs, *order;
    if (sort_pairs(be, "sparse_scatter", ix, c, n_pairs, n_table, &offs, &order)) return -1;
    size_t total = offs[n_table];
    cpu_vec_kernels vk = cpu_vec_select(cpu_of(be)->has_avx2);
    int n_threads = total * (size_t)d > 32768 ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(n_threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        /* Balance by number of contributions; boundaries fall between rows. */
        int lo = lower_bound(offs, n_table, total * (size_t)t / nt);
        int hi = t + 1 == nt ? n_table : lower_bound(offs, n_table, total * (size_t)(t + 1) / nt);
        for (int i = lo; i < hi; i++) {
            float *row = out + (size_t)i * d;
            for (size_t q = offs[i]; q < offs[i + 1]; q++) {
                size_t p = order[q];
                vk.axpy(row, c[p], xs + (p / (size_t)k) * d, d);
            }
        }
    }
    free(offs);
    free(order);
    return 0;
}

/* sparse_dot, then the two scatters (backend_sae.h sparse_backward), in one
 * pass over the pairs grouped by latent (one counting sort): each latent's
 * dec row is read, and its g_dec and g_enc rows written, while its pairs
 * use them, instead of one random table row per pair and op. The pairs'
 * rows of g and x are read at random, so the rows are taken in blocks whose
 * g and x fit in a third of the last-level cache (the tables stream past
 * once a block; on 12288 rows of d 512 this halved the time against one
 * block of 50 MB): a latent's pairs of block 0, then of block 1, ... which
 * is still increasing (r, j). Per pair the dot is the same call as
 * sparse_dot's, and each destination row sums its terms in (r, j) order
 * skipping zero coefficients as sparse_scatter does: bit for bit the three
 * ops. */
int cpu_sae_sparse_backward(mlsae_backend *be, mlsae_ref g, mlsae_ref x, mlsae_ref vals,
                            mlsae_ref idx, int rows, int k, mlsae_ref dec, int d, int n,
                            mlsae_ref ga, mlsae_ref g_dec, mlsae_ref g_enc)
{
    if (rows <= 0 || k <= 0) return 0;
    if (n <= 0) return mlsae_backend_fail(be, "cpu sparse_backward: empty table");
    const float *gs = cpu_f32(g), *xs = cpu_f32(x), *v = cpu_f32(vals), *t = cpu_f32(dec);
    const int32_t *ix = cpu_i32(idx);
    float *o = cpu_f32(ga), *gd = cpu_f32(g_dec), *ge = cpu_f32(g_enc);
    const size_t n_pairs = (size_t)rows * k;
    size_t *offs, *order;
    if (sort_pairs(be, "sparse_backward", ix, NULL, n_pairs, n, &offs, &order)) return -1;
    size_t *next = malloc((size_t)n * sizeof *next); /* each latent's first pair not done */
    if (!next) {
        free(offs);
        free(order);
        return mlsae_backend_fail(be, "cpu sparse_backward: out of memory");
    }
    memcpy(next, offs, (size_t)n * sizeof *next);
    const size_t row_bytes = 2 * sizeof(float) * (size_t)(d > 0 ? d : 1);
    const size_t per_block = cpu_of(be)->llc_bytes / 3 / row_bytes;
    const int block = per_block < 1 ? 1 : per_block > (size_t)rows ? rows : (int)per_block;
    cpu_vec_kernels vk = cpu_vec_select(cpu_of(be)->has_avx2);
    int n_threads = n_pairs * (size_t)(d > 0 ? d : 1) > 32768 ? omp_get_max_threads() : 1;
#pragma omp parallel num_threads(n_threads)
    {
        int th = omp_get_thread_num(), nth = omp_get_num_threads();
        int lo = lower_bound(offs, n, n_pairs * (size_t)th / nth);
        int hi = th + 1 == nth ? n : lower_bound(offs, n, n_pairs * (size_t)(th + 1) / nth);
        for (int r0 = 0; r0 < rows; r0 += block) {
            const size_t p_end = (size_t)(rows - r0 > block ? r0 + block : rows) * k;
            for (int i = lo; i < hi; i++) {
                const float *trow = t + (size_t)i * d;
                float *drow = gd + (size_t)i * d, *erow = ge + (size_t)i * d;
                size_t q = next[i];
                for (; q < offs[i + 1] && order[q] < p_end; q++) {
                    size_t p = order[q];
                    const float *grow = gs + (p / (size_t)k) * d, *xrow = xs + (p / (size_t)k) * d;
                    float a = !(v[p] > 0.0f) ? 0.0f : vk.dot(grow, trow, d);
                    o[p] = a;
                    if (v[p] != 0.0f) vk.axpy(drow, v[p], grow, d);
                    if (a != 0.0f) vk.axpy(erow, a, xrow, d);
                }
                next[i] = q;
            }
        }
    }
    free(next);
    free(offs);
    free(order);
    return 0;
}

int cpu_sae_update_dead(mlsae_backend *be, mlsae_ref values, mlsae_ref idx, int rows, int k,
                        float threshold, mlsae_ref last_nonzero, int n, int dead_steps,
                        mlsae_ref mask)
{
    const float *v = cpu_f32(values);
    const int32_t *ix = cpu_i32(idx);
    int32_t *ln = cpu_i32(last_nonzero);
    int32_t *m = cpu_present(mask) ? cpu_i32(mask) : NULL;
    unsigned char *fired = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!fired) return mlsae_backend_fail(be, "cpu update_dead: out of memory");
    size_t n_pairs = rows > 0 && k > 0 ? (size_t)rows * k : 0;
    for (size_t p = 0; p < n_pairs; p++) {
        int32_t i = ix[p];
        if (i < 0 || i >= n) {
            free(fired);
            return mlsae_backend_fail(be, "cpu update_dead: index %ld outside 0..%d", (long)i, n - 1);
        }
        if (v[p] > threshold) fired[i] = 1;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int i = 0; i < n; i++) {
        /* Reset to 0 when fired, then count this step; saturate instead of overflowing. */
        int32_t c = fired[i] ? 0 : ln[i];
        ln[i] = c < INT32_MAX ? c + 1 : c;
        if (m) m[i] = ln[i] >= dead_steps;
    }
    free(fired);
    return 0;
}
