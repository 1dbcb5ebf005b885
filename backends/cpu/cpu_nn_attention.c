/* Causal softmax attention of the CPU backend, fused and memory-bounded.
 *
 * Work item = (sequence, head, block of Q_BLOCK queries). For each item the
 * keys up to the block's last query are visited in blocks of K_BLOCK:
 *   S = (scale Q) K^T            ([Q_BLOCK, K_BLOCK] product)
 *   online softmax: running row max m and row sum l; when m grows, the
 *   accumulated output and l are rescaled by exp(m_old - m_new)
 *   O += P V                     ([Q_BLOCK, head_dim] product)
 * and finally out = O / l. A thread holds one S block, one O block and the
 * row statistics: O(Q_BLOCK * (K_BLOCK + head_dim)) floats, whatever seq.
 * Q, K and V are read in place from the fused per-head [q, k, v] layout
 * (row stride n_heads * 3 * head_dim). The products run single-threaded
 * inside the OpenMP region (the AVX-512 kernel when the CPU has it, else
 * OpenBLAS); the items are spread over the threads. */
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

typedef struct attn_scratch {
    float *s;   /* [Q_BLOCK, K_BLOCK] scores, then probabilities */
    float *o;   /* [Q_BLOCK, head_dim] unnormalised output */
    float *q;   /* [Q_BLOCK, head_dim] queries times the scale */
    float *gemm; /* AVX-512 GEMM packing scratch, NULL when not used */
    float m[Q_BLOCK], l[Q_BLOCK];
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
    int use_avx512 = cpu_nn_gemm_avx512_available(); /* decided before the threads start */
    /* OpenBLAS is serial (cpu_backend.c): one sgemm per thread at a time. */
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        attn_scratch ws;
        ws.s = malloc((size_t)Q_BLOCK * K_BLOCK * sizeof(float));
        ws.o = malloc((size_t)Q_BLOCK * head_dim * sizeof(float));
        ws.q = malloc((size_t)Q_BLOCK * head_dim * sizeof(float));
        ws.gemm = NULL;
        if (use_avx512)
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
            attend_block(x, o, seq, n_heads, head_dim, (int)(bh / n_heads), (int)(bh % n_heads),
                         qb * Q_BLOCK, &ws, cb->has_avx2);
        }
        free(ws.s);
        free(ws.o);
        free(ws.q);
        free(ws.gemm);
    }
    if (failed) return cpu_fail(be, "attention: out of memory for the per-thread blocks");
    return 0;
}
