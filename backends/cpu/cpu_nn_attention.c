/* Causal softmax attention of the CPU backend, fused and memory-bounded.
 *
 * Work item = (sequence, head, block of queries). For each item the keys up
 * to the block's last query are visited in blocks:
 *   S = (scale Q) K^T            ([queries, keys] product)
 *   online softmax: running row max m and row sum l; when m grows, the
 *   accumulated output and l are rescaled by exp(m_old - m_new)
 *   O += P V                     ([queries, head_dim] product)
 * and finally out = O / l. A thread holds one S block, one O block and the
 * row statistics: O(block * (block + head_dim)) floats, whatever seq.
 * Q, K and V are read in place from the fused per-head [q, k, v] layout
 * (row stride n_heads * 3 * head_dim). Items are spread over the threads;
 * each item is computed by one thread, so the result does not depend on
 * the schedule. With AVX-512 a dedicated kernel runs (below); otherwise
 * the products go through the GEMM (OpenBLAS, single-threaded here). */
#include "config.h"
#include "cpu_internal.h"
#include "cpu_nn_math.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int cpu_nn_attention(mlsae_backend *be, mlsae_ref qkv, mlsae_ref out, int batch, int seq,
                     int n_heads, int head_dim);

enum { Q_BLOCK = 64, K_BLOCK = 256 };

/* Per-thread buffers, 64-byte aligned; sized for both paths. */
typedef struct attn_scratch {
    float *s;    /* [Q_BLOCK, K_BLOCK] scores, then probabilities */
    float *o;    /* [Q_BLOCK, head_dim] unnormalised output */
    float *q;    /* [Q_BLOCK, head_dim] queries times the scale */
    float *gemm; /* AVX-512 GEMM packing scratch, NULL when not used */
    _Alignas(64) float m[Q_BLOCK];
    _Alignas(64) float l[Q_BLOCK];
    _Alignas(64) float corr[Q_BLOCK];
} attn_scratch;

/* C = A op(B) (+ C): the AVX-512 kernel when available, else OpenBLAS. */
static void gemm(attn_scratch *ws, int trans_b, int m, int n, int k, const float *a, int lda,
                 const float *b, int ldb, int accumulate, float *c, int ldc)
{
    if (ws->gemm &&
        cpu_nn_gemm_avx512(trans_b, m, n, k, a, lda, b, ldb, accumulate, c, ldc, ws->gemm) == 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc);
}

#if defined(MLSAE_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#include "cpu_vec_exp.h"
#define HAVE_AVX512_ATTENTION 1

/* AVX-512 path. Scores are kept transposed, S^T [keys, FQ_BLOCK queries],
 * so every softmax statistic (running max, sum, correction) is a vector
 * over 16 queries and no horizontal reduction is needed:
 *   S^T[j][i] = sum_d K[j][d] Q^T[d][i]   K rows read in place (broadcasts),
 *                                         Q^T packed once per block, scaled
 *   O[i][:]  = corr[i] O[i][:] + sum_j P^T[j][i] V[j][:]   V rows in place
 * Nothing is transposed per key block. Masked (future) scores become
 * exact zeros in P, and each 4-query tile of O stops at its last visible key. */
enum { FQ_BLOCK = 64, FK_BLOCK = 96, FK_ROWS = 6, FO_ROWS = 4 };
/* the work items and buffers are those of the generic path */
_Static_assert((int)FQ_BLOCK == (int)Q_BLOCK && (int)FK_BLOCK <= (int)K_BLOCK,
               "attention block sizes");

/* exp(x) for x <= 0 (clamped at -100, where the result is ~4e-44):
 * cpu_vec_exp.h's reduction and polynomial, times 2^n by scalef. */
__attribute__((target("avx512f"))) static inline __m512 exp_nonpos_512(__m512 x)
{
    __m512 n, p = cpu_exp_reduced_512(_mm512_max_ps(x, _mm512_set1_ps(-100.0f)), &n);
    return _mm512_scalef_ps(p, n);
}

/* st[r][0..64) = sum_d k_r[d] qt[d][0..64) for FK_ROWS key rows k_r = k + r ld
 * (rows >= valid re-read the last valid row and are not stored). */
__attribute__((target("avx512f"))) static void scores_tile(const float *qt, int hd,
                                                            const float *k, size_t ld,
                                                            int valid, float *st)
{
    const float *kr[FK_ROWS];
    for (int r = 0; r < FK_ROWS; r++) kr[r] = k + (size_t)(r < valid ? r : valid - 1) * ld;
    __m512 acc[FK_ROWS][4];
#pragma GCC unroll 8
    for (int r = 0; r < FK_ROWS; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d++) {
        const float *q = qt + (size_t)d * FQ_BLOCK;
        __m512 q0 = _mm512_load_ps(q), q1 = _mm512_load_ps(q + 16);
        __m512 q2 = _mm512_load_ps(q + 32), q3 = _mm512_load_ps(q + 48);
#pragma GCC unroll 8
        for (int r = 0; r < FK_ROWS; r++) {
            __m512 kv = _mm512_set1_ps(kr[r][d]);
            acc[r][0] = _mm512_fmadd_ps(kv, q0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(kv, q1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(kv, q2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(kv, q3, acc[r][3]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < FK_ROWS; r++)
        if (r < valid)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) _mm512_store_ps(st + r * FQ_BLOCK + c * 16, acc[r][c]);
}

/* For FO_ROWS query rows: o[i][0..16 nv) = corr[i] o[i] + sum_{j<jn} pt[j][i] v_j,
 * v_j = v + j ld; the lanes outside mask[] (head_dim tail) are not touched
 * (mask is NULL when all 16 nv lanes are in). */
__attribute__((target("avx512f"), always_inline)) static inline void
output_tile(const float *pt, int jn, const float *v, size_t ld, const float *corr, float *o,
            int hd, const __mmask16 *mask, const int nv)
{
    __m512 acc[FO_ROWS][4];
#pragma GCC unroll 4
    for (int r = 0; r < FO_ROWS; r++) {
        __m512 cr = _mm512_set1_ps(corr[r]);
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            acc[r][c] = _mm512_mul_ps(cr, mask ? _mm512_maskz_loadu_ps(mask[c], o + r * hd + c * 16)
                                               : _mm512_loadu_ps(o + r * hd + c * 16));
    }
    for (int j = 0; j < jn; j++) {
        const float *vj = v + (size_t)j * ld;
        __m512 vc[4];
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++)
            vc[c] = mask ? _mm512_maskz_loadu_ps(mask[c], vj + c * 16)
                         : _mm512_loadu_ps(vj + c * 16);
#pragma GCC unroll 4
        for (int r = 0; r < FO_ROWS; r++) {
            __m512 p = _mm512_set1_ps(pt[j * FQ_BLOCK + r]);
#pragma GCC unroll 4
            for (int c = 0; c < nv; c++) acc[r][c] = _mm512_fmadd_ps(p, vc[c], acc[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < FO_ROWS; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nv; c++) {
            if (mask)
                _mm512_mask_storeu_ps(o + r * hd + c * 16, mask[c], acc[r][c]);
            else
                _mm512_storeu_ps(o + r * hd + c * 16, acc[r][c]);
        }
}

__attribute__((target("avx512f"))) static void output_tile64(const float *pt, int jn,
                                                              const float *v, size_t ld,
                                                              const float *corr, float *o, int hd,
                                                              const __mmask16 *mask)
{
    output_tile(pt, jn, v, ld, corr, o, hd, mask, 4);
}

__attribute__((target("avx512f"))) static void output_tile64_full(const float *pt, int jn,
                                                                   const float *v, size_t ld,
                                                                   const float *corr, float *o,
                                                                   int hd)
{
    output_tile(pt, jn, v, ld, corr, o, hd, NULL, 4);
}

__attribute__((target("avx512f"))) static void output_tile16(const float *pt, int jn,
                                                              const float *v, size_t ld,
                                                              const float *corr, float *o, int hd,
                                                              const __mmask16 *mask)
{
    output_tile(pt, jn, v, ld, corr, o, hd, mask, 1);
}

/* Online softmax over one key block of S^T (kn rows, keys k0..): updates the
 * running max m and sum l of the FQ_BLOCK queries q0.., writes corr =
 * exp(m_old - m_new) and replaces S^T by P^T (0 where the key is in the
 * query's future). */
__attribute__((target("avx512f"))) static void softmax_block(float *st, int kn, int k0, int q0,
                                                              float *m, float *l, float *corr)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int c = 0; c < FQ_BLOCK; c += 16) {
        __m512i query = _mm512_add_epi32(lane, _mm512_set1_epi32(q0 + c));
        __m512 m_old = _mm512_load_ps(m + c), m_new = m_old;
        for (int j = 0; j < kn; j++) {
            __mmask16 vis =
                _mm512_cmp_epi32_mask(_mm512_set1_epi32(k0 + j), query, _MM_CMPINT_LE);
            m_new = _mm512_mask_max_ps(m_new, vis, m_new, _mm512_load_ps(st + j * FQ_BLOCK + c));
        }
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < kn; j++) {
            float *s = st + j * FQ_BLOCK + c;
            __mmask16 vis =
                _mm512_cmp_epi32_mask(_mm512_set1_epi32(k0 + j), query, _MM_CMPINT_LE);
            __m512 e = exp_nonpos_512(_mm512_sub_ps(_mm512_load_ps(s), m_new));
            __m512 p = _mm512_maskz_mov_ps(vis, e);
            _mm512_store_ps(s, p);
            sum = _mm512_add_ps(sum, p);
        }
        /* first block: m_old = -inf gives corr ~0 against l = 0, O = 0 */
        __m512 cr = exp_nonpos_512(_mm512_sub_ps(m_old, m_new));
        _mm512_store_ps(corr + c, cr);
        _mm512_store_ps(l + c, _mm512_fmadd_ps(_mm512_load_ps(l + c), cr, sum));
        _mm512_store_ps(m + c, m_new);
    }
}

/* One work item on the AVX-512 path (see above); same arguments as
 * attend_block. */
__attribute__((target("avx512f"))) static void attend_block_avx512(const float *qkv, float *out,
                                                                    int seq, int n_heads, int hd,
                                                                    int b, int h, int q0,
                                                                    attn_scratch *ws)
{
    const size_t ld = (size_t)n_heads * 3 * hd;
    const int d_model = n_heads * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *base = qkv + (size_t)b * seq * ld + (size_t)h * 3 * hd;
    const float *q = base + (size_t)q0 * ld;
    int qn = seq - q0 < FQ_BLOCK ? seq - q0 : FQ_BLOCK;
    int q_end = q0 + qn; /* keys [0, q_end) are visible to some query of the block */
    int o_rows = (qn + FO_ROWS - 1) / FO_ROWS * FO_ROWS;
    float *qt = ws->q, *st = ws->s, *o = ws->o;
    /* Q^T [hd, FQ_BLOCK], scaled, zero beyond qn */
    for (int i = 0; i < FQ_BLOCK; i++)
        for (int d = 0; d < hd; d++)
            qt[(size_t)d * FQ_BLOCK + i] = i < qn ? q[(size_t)i * ld + d] * scale : 0.0f;
    for (int i = 0; i < FQ_BLOCK; i += 16) {
        _mm512_store_ps(ws->m + i, _mm512_set1_ps(-INFINITY));
        _mm512_store_ps(ws->l + i, _mm512_setzero_ps());
    }
    memset(o, 0, (size_t)o_rows * hd * sizeof(float));
    for (int k0 = 0; k0 < q_end; k0 += FK_BLOCK) {
        int kn = q_end - k0 < FK_BLOCK ? q_end - k0 : FK_BLOCK;
        const float *k = base + (size_t)k0 * ld + hd, *v = base + (size_t)k0 * ld + 2 * hd;
        for (int j0 = 0; j0 < kn; j0 += FK_ROWS)
            scores_tile(qt, hd, k + (size_t)j0 * ld, ld, kn - j0 < FK_ROWS ? kn - j0 : FK_ROWS,
                        st + (size_t)j0 * FQ_BLOCK);
        softmax_block(st, kn, k0, q0, ws->m, ws->l, ws->corr);
        for (int d0 = 0; d0 < hd; d0 += 64) {
            int dn = hd - d0 < 64 ? hd - d0 : 64;
            __mmask16 mask[4];
            for (int c = 0; c < 4; c++) {
                int w = dn - 16 * c;
                mask[c] = w >= 16 ? 0xffff : w <= 0 ? 0 : (__mmask16)((1u << w) - 1);
            }
            for (int i0 = 0; i0 < o_rows; i0 += FO_ROWS) {
                /* P = 0 for keys after the tile's last query q0 + i0 + FO_ROWS - 1 */
                int jn = q0 + i0 + FO_ROWS - k0;
                jn = jn < 0 ? 0 : jn > kn ? kn : jn;
                const float *pt = st + i0;
                float *ot = o + (size_t)i0 * hd + d0;
                if (dn == 64)
                    output_tile64_full(pt, jn, v + d0, ld, ws->corr + i0, ot, hd);
                else if (dn > 16)
                    output_tile64(pt, jn, v + d0, ld, ws->corr + i0, ot, hd, mask);
                else
                    output_tile16(pt, jn, v + d0, ld, ws->corr + i0, ot, hd, mask);
            }
        }
    }
    for (int i = 0; i < qn; i++) {
        __m512 inv = _mm512_set1_ps(1.0f / ws->l[i]);
        const float *orow = o + (size_t)i * hd;
        float *dst = out + ((size_t)b * seq + q0 + i) * d_model + (size_t)h * hd;
        for (int d = 0; d < hd; d += 16) {
            __mmask16 mk = hd - d >= 16 ? 0xffff : (__mmask16)((1u << (hd - d)) - 1);
            __m512 od = _mm512_maskz_loadu_ps(mk, orow + d);
            _mm512_mask_storeu_ps(dst + d, mk, _mm512_mul_ps(od, inv));
        }
    }
}
#endif

static void attend_block(const float *qkv, float *out, int seq, int n_heads, int head_dim,
                         int b, int h, int q0, attn_scratch *ws, int avx2)
{
    const int ld = n_heads * 3 * head_dim, d_model = n_heads * head_dim;
    const float scale = 1.0f / sqrtf((float)head_dim);
    const float *base = qkv + (size_t)b * seq * ld + (size_t)h * 3 * head_dim;
    const float *q = base + (size_t)q0 * ld;
    int qn = seq - q0 < Q_BLOCK ? seq - q0 : Q_BLOCK;
    int q_end = q0 + qn; /* keys [0, q_end) are visible to some row of the block */
    for (int i = 0; i < qn; i++) {
        ws->m[i] = -INFINITY;
        ws->l[i] = 0;
    }
    memset(ws->o, 0, (size_t)qn * head_dim * sizeof(float));
    for (int i = 0; i < qn; i++)
        for (int d = 0; d < head_dim; d++)
            ws->q[(size_t)i * head_dim + d] = q[(size_t)i * ld + d] * scale;
    for (int k0 = 0; k0 < q_end; k0 += K_BLOCK) {
        int kn = q_end - k0 < K_BLOCK ? q_end - k0 : K_BLOCK;
        const float *k = base + (size_t)k0 * ld + head_dim;
        const float *v = base + (size_t)k0 * ld + 2 * head_dim;
        gemm(ws, 1, qn, kn, head_dim, ws->q, head_dim, k, ld, 0, ws->s, K_BLOCK);
        for (int i = 0; i < qn; i++) {
            float *srow = ws->s + (size_t)i * K_BLOCK;
            int visible = q0 + i - k0 + 1; /* keys k0 .. q0+i */
            if (visible > kn) visible = kn;
            if (visible <= 0) { /* whole block is in this row's future */
                memset(srow, 0, (size_t)kn * sizeof(float));
                continue;
            }
            float bm = cpu_max_span(srow, visible, avx2);
            float m_new = bm > ws->m[i] ? bm : ws->m[i];
            float corr = expf(ws->m[i] - m_new); /* 0 on the first block (m = -inf) */
            float sum = cpu_exp_shift_sum(srow, visible, m_new, avx2);
            if (visible < kn) memset(srow + visible, 0, (size_t)(kn - visible) * sizeof(float));
            ws->l[i] = ws->l[i] * corr + sum;
            ws->m[i] = m_new;
            if (corr != 1.0f) {
                float *orow = ws->o + (size_t)i * head_dim;
                for (int d = 0; d < head_dim; d++) orow[d] *= corr;
            }
        }
        gemm(ws, 0, qn, head_dim, kn, ws->s, K_BLOCK, v, ld, 1, ws->o, head_dim);
    }
    for (int i = 0; i < qn; i++) {
        float inv = 1.0f / ws->l[i];
        const float *orow = ws->o + (size_t)i * head_dim;
        float *dst = out + ((size_t)b * seq + q0 + i) * d_model + (size_t)h * head_dim;
        for (int d = 0; d < head_dim; d++) dst[d] = orow[d] * inv;
    }
}

int cpu_nn_attention(mlsae_backend *be, mlsae_ref qkv, mlsae_ref out, int batch, int seq,
                     int n_heads, int head_dim)
{
    if (batch <= 0 || seq <= 0) return 0;
    mlsae_cpu_backend *cb = cpu_of(be);
    const float *x = cpu_f32(qkv);
    float *o = cpu_f32(out);
    int n_qblocks = (seq + Q_BLOCK - 1) / Q_BLOCK;
    long n_items = (long)batch * n_heads * n_qblocks;
    int n_threads = cb->n_threads > 0 ? cb->n_threads : 1;
    if (n_threads > n_items) n_threads = (int)n_items;
    int failed = 0;
    /* decided before the threads start; the dedicated kernel also stands
     * aside when the portable elementwise kernels are asked for */
    int use_avx512 = cpu_nn_gemm_avx512_available();
#ifdef HAVE_AVX512_ATTENTION
    int fast = use_avx512 && cb->has_avx2;
#else
    int fast = 0;
#endif
    /* OpenBLAS is serial (cpu_backend.c): one sgemm per thread at a time. */
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        attn_scratch ws;
        /* sizes are multiples of 64 bytes, as aligned_alloc wants */
        ws.s = aligned_alloc(64, (size_t)Q_BLOCK * K_BLOCK * sizeof(float));
        ws.o = aligned_alloc(64, (size_t)Q_BLOCK * head_dim * sizeof(float));
        ws.q = aligned_alloc(64, (size_t)Q_BLOCK * head_dim * sizeof(float));
        ws.gemm = NULL;
        if (use_avx512 && !fast)
            ws.gemm = aligned_alloc(64, cpu_nn_gemm_avx512_ws_floats() * sizeof(float));
        int ok = ws.s && ws.o && ws.q;
        /* Later query blocks see more keys: hand them out first. */
#pragma omp for schedule(dynamic, 1)
        for (long it = 0; it < n_items; it++) {
            if (!ok) {
                failed = 1;
                continue;
            }
            int qb = n_qblocks - 1 - (int)(it / ((long)batch * n_heads));
            long bh = it % ((long)batch * n_heads);
            int b = (int)(bh / n_heads), h = (int)(bh % n_heads);
#ifdef HAVE_AVX512_ATTENTION
            if (fast) {
                attend_block_avx512(x, o, seq, n_heads, head_dim, b, h, qb * Q_BLOCK, &ws);
                continue;
            }
#endif
            attend_block(x, o, seq, n_heads, head_dim, b, h, qb * Q_BLOCK, &ws, cb->has_avx2);
        }
        free(ws.s);
        free(ws.o);
        free(ws.q);
        free(ws.gemm);
    }
    if (failed) return mlsae_backend_fail(be, "attention: out of memory for the per-thread blocks");
    return 0;
}
