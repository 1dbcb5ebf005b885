/* Transformer ops of the CPU backend (backend_nn.h): embedding, LayerNorm,
 * linear, GELU, rotary, cross-entropy and KL. Attention is in
 * cpu_nn_attention.c, the vector kernels in cpu_nn_math.c. */
#include "config.h"
#include "cpu_internal.h"
#include "cpu_nn_math.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void cpu_nn_gemm_nt(mlsae_backend *be, int m, int n, int k, const float *a, int lda,
                    const float *b, int ldb, int accumulate, float *c, int ldc);
int cpu_nn_attention(mlsae_backend *be, mlsae_ref qkv, mlsae_ref out, int batch, int seq,
                     int n_heads, int head_dim);

static int cpu_embedding(mlsae_backend *be, mlsae_ref table, mlsae_ref ids, int n, int dim,
                         mlsae_ref out)
{
    const float *t = cpu_f32(table);
    const int32_t *id = cpu_i32(ids);
    float *o = cpu_f32(out);
    for (int i = 0; i < n; i++)
        if (id[i] < 0) return mlsae_backend_fail(be, "embedding: negative token id %d at position %d", id[i], i);
#pragma omp parallel for schedule(static) if ((size_t)n * dim > 65536)
    for (int i = 0; i < n; i++)
        memcpy(o + (size_t)i * dim, t + (size_t)id[i] * dim, (size_t)dim * sizeof(float));
    return 0;
}

/* Mean and variance in double (two passes), as torch's biased variance. */
static int cpu_layer_norm(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref gamma,
                          mlsae_ref beta, int rows, int dim, float eps)
{
    (void)be;
    const float *xs = cpu_f32(x), *g = cpu_f32(gamma), *b = cpu_f32(beta);
    float *o = cpu_f32(out);
#pragma omp parallel for schedule(static) if ((size_t)rows * dim > 32768)
    for (int r = 0; r < rows; r++) {
        const float *xr = xs + (size_t)r * dim;
        float *orow = o + (size_t)r * dim;
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int c = 0; c < dim; c++) sum += xr[c];
        double mean = sum / dim, sq = 0;
#pragma omp simd reduction(+ : sq)
        for (int c = 0; c < dim; c++) sq += (xr[c] - mean) * (xr[c] - mean);
        float inv = (float)(1.0 / sqrt(sq / dim + (double)eps));
        float m = (float)mean;
#pragma omp simd
        for (int c = 0; c < dim; c++) orow[c] = (xr[c] - m) * inv * g[c] + b[c];
    }
    return 0;
}

/* C = A B^T (+ C when accumulate): A [m, k], B [n, k], row-major. */
void cpu_nn_gemm_nt(mlsae_backend *be, int m, int n, int k, const float *a, int lda,
                    const float *b, int ldb, int accumulate, float *c, int ldc)
{
    cpu_gemm(be, 0, 1, m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc);
}

/* y = x W^T + b: the bias is written first, then the product accumulates. */
static int cpu_linear(mlsae_backend *be, mlsae_ref x, mlsae_ref w, mlsae_ref b, int rows, int in,
                      int out, mlsae_ref y)
{
    if (rows <= 0 || out <= 0) return 0;
    float *ys = cpu_f32(y);
    int accumulate = 0;
    if (cpu_present(b)) {
        const float *bs = cpu_f32(b);
#pragma omp parallel for schedule(static) if ((size_t)rows * out > 65536)
        for (int r = 0; r < rows; r++) memcpy(ys + (size_t)r * out, bs, (size_t)out * sizeof(float));
        accumulate = 1;
    }
    cpu_nn_gemm_nt(be, rows, out, in, cpu_f32(x), in, cpu_f32(w), in, accumulate, ys, out);
    return 0;
}

static int cpu_gelu(mlsae_backend *be, mlsae_ref x, size_t n)
{
    float *xs = cpu_f32(x);
    int avx2 = cpu_of(be)->has_avx2;
    const size_t chunk = 16384;
    size_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n_chunks > 1)
    for (size_t c = 0; c < n_chunks; c++) {
        size_t lo = c * chunk, len = lo + chunk < n ? chunk : n - lo;
        cpu_gelu_span(xs + lo, len, avx2);
    }
    return 0;
}

/* Angles as HF computes them in float32: inv_freq = 1 / base^(2i/rot),
 * angle = float(pos) * inv_freq rounded to float, then cos/sin of it. */
static int cpu_rotary(mlsae_backend *be, mlsae_ref qkv, int batch, int seq, int n_heads,
                      int head_dim, int rot_dims, float base)
{
    if (rot_dims <= 0) return 0;
    if (rot_dims > head_dim || rot_dims % 2)
        return mlsae_backend_fail(be, "rotary: rot_dims %d must be even and <= head_dim %d", rot_dims,
                        head_dim);
    int half = rot_dims / 2;
    float *tab = malloc((size_t)seq * half * 2 * sizeof(float));
    float *inv = malloc((size_t)half * sizeof(float));
    if (!tab || !inv) {
        free(tab);
        free(inv);
        return mlsae_backend_fail(be, "rotary: out of memory");
    }
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)rot_dims;
        inv[i] = 1.0f / powf(base, e);
    }
#pragma omp parallel for schedule(static) if ((size_t)seq * half > 4096)
    for (int p = 0; p < seq; p++)
        for (int i = 0; i < half; i++) {
            float ang = (float)p * inv[i];
            tab[((size_t)p * half + i) * 2] = (float)cos((double)ang);
            tab[((size_t)p * half + i) * 2 + 1] = (float)sin((double)ang);
        }
    float *xs = cpu_f32(qkv);
    size_t row = (size_t)n_heads * 3 * head_dim;
    size_t rows = (size_t)batch * seq;
#pragma omp parallel for schedule(static) if (rows * n_heads * rot_dims > 32768)
    for (size_t r = 0; r < rows; r++) {
        const float *cs = tab + (r % (size_t)seq) * half * 2;
        for (int h = 0; h < n_heads; h++)
            for (int part = 0; part < 2; part++) { /* q then k */
                float *v = xs + r * row + ((size_t)h * 3 + part) * head_dim;
                for (int i = 0; i < half; i++) {
                    float c = cs[2 * i], s = cs[2 * i + 1];
                    float x1 = v[i], x2 = v[i + half];
                    float a = x1 * c, b = x2 * s, d = x2 * c, e = x1 * s;
                    v[i] = a - b;
                    v[i + half] = d + e;
                }
            }
    }
    free(tab);
    free(inv);
    return 0;
}

static int check_targets(mlsae_backend *be, const int32_t *t, int rows, int vocab)
{
    for (int r = 0; r < rows; r++)
        if (t[r] >= vocab)
            return mlsae_backend_fail(be, "cross_entropy: target %d at row %d is outside the vocabulary (%d)",
                            t[r], r, vocab);
    return 0;
}

static int cpu_cross_entropy(mlsae_backend *be, mlsae_ref logits, mlsae_ref target, int rows,
                             int vocab, mlsae_ref loss)
{
    const float *x = cpu_f32(logits);
    const int32_t *t = cpu_i32(target);
    float *l = cpu_f32(loss);
    int avx2 = cpu_of(be)->has_avx2;
    if (check_targets(be, t, rows, vocab)) return -1;
#pragma omp parallel for schedule(static) if ((size_t)rows * vocab > 65536)
    for (int r = 0; r < rows; r++) {
        if (t[r] < 0) {
            l[r] = 0;
            continue;
        }
        const float *xr = x + (size_t)r * vocab;
        float m = cpu_max_span(xr, vocab, avx2);
        double lse = m + log(cpu_sum_exp_shift(xr, vocab, m, avx2));
        l[r] = (float)(lse - xr[t[r]]);
    }
    return 0;
}

static int cpu_kl_div(mlsae_backend *be, mlsae_ref logits_true, mlsae_ref logits_pred, int rows,
                      int vocab, mlsae_ref out)
{
    const float *xt = cpu_f32(logits_true), *xp = cpu_f32(logits_pred);
    float *o = cpu_f32(out);
    int avx2 = cpu_of(be)->has_avx2;
#pragma omp parallel for schedule(static) if ((size_t)rows * vocab > 65536)
    for (int r = 0; r < rows; r++) {
        const float *t = xt + (size_t)r * vocab, *p = xp + (size_t)r * vocab;
        float mt = cpu_max_span(t, vocab, avx2), mp = cpu_max_span(p, vocab, avx2);
        float lse_t = (float)(mt + log(cpu_sum_exp_shift(t, vocab, mt, avx2)));
        float lse_p = (float)(mp + log(cpu_sum_exp_shift(p, vocab, mp, avx2)));
        o[r] = (float)cpu_kl_terms(t, p, vocab, lse_t, lse_p, avx2);
    }
    return 0;
}

const mlsae_nn_ops mlsae_cpu_nn_ops = {
    .embedding = cpu_embedding,
    .layer_norm = cpu_layer_norm,
    .linear = cpu_linear,
    .gelu = cpu_gelu,
    .rotary = cpu_rotary,
    .attention = cpu_nn_attention,
    .cross_entropy = cpu_cross_entropy,
    .kl_div = cpu_kl_div,
};
