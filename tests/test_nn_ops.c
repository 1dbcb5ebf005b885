/* The CPU backend's transformer ops (backend_nn.h) against naive double
 * references, on random shapes (many not multiples of 8), through both the
 * AVX2 kernels (when the CPU has them) and the portable ones.
 * Tolerance: max |ours - ref| / max |ref| < 1e-5 (float32 rounding over sums
 * of up to a few thousand terms stays well below); GELU 1e-6 (the AVX2 erf
 * approximation has absolute error < 1.5e-7). */
#include "config.h"
#include "testutil.h"
#include "backend/backend.h"
#include "../backends/cpu/cpu_internal.h"
#include "../backends/cpu/cpu_nn_math.h"

#include <math.h>
#include <string.h>

static mlsae_backend *be;
static tu_rng rng = {12345};

static mlsae_buffer *upload(const void *data, size_t n_elems)
{
    mlsae_buffer *b = mlsae_alloc_f32(be, n_elems ? n_elems : 1);
    if (n_elems) be->ops->core.write(be, b, 0, data, n_elems * 4);
    return b;
}

static float *rand_vec(size_t n, float scale)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * tu_normal(&rng);
    return v;
}

static float *host(mlsae_buffer *b) { return be->ops->core.host_ptr(be, b); }

static void test_embedding(int vocab, int dim, int n)
{
    float *table = rand_vec((size_t)vocab * dim, 1);
    int32_t *ids = malloc(n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(tu_uniform(&rng, 0, 1) * vocab) % vocab;
    mlsae_buffer *bt = upload(table, (size_t)vocab * dim), *bi = upload(ids, n),
                 *bo = mlsae_alloc_f32(be, (size_t)n * dim);
    CHECK(be->ops->nn.embedding(be, mlsae_at(bt, 0), mlsae_at(bi, 0), n, dim, mlsae_at(bo, 0)) == 0);
    int same = 1;
    for (int i = 0; i < n; i++)
        if (memcmp(host(bo) + (size_t)i * dim, table + (size_t)ids[i] * dim, dim * 4)) same = 0;
    CHECKF(same, "embedding %dx%d n=%d rows differ", vocab, dim, n);
    be->ops->core.free(be, bt), be->ops->core.free(be, bi), be->ops->core.free(be, bo);
    free(table), free(ids);
}

static void test_layer_norm(int rows, int dim)
{
    float *x = rand_vec((size_t)rows * dim, 3), *g = rand_vec(dim, 1), *b = rand_vec(dim, 1);
    for (int i = 0; i < rows * dim; i++) x[i] += 5.0f; /* a mean far from zero */
    float *ref = malloc((size_t)rows * dim * 4);
    for (int r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < dim; c++) m += x[r * dim + c];
        m /= dim;
        for (int c = 0; c < dim; c++) v += (x[r * dim + c] - m) * (x[r * dim + c] - m);
        v /= dim;
        for (int c = 0; c < dim; c++)
            ref[r * dim + c] = (float)((x[r * dim + c] - m) / sqrt(v + 1e-5) * g[c] + b[c]);
    }
    mlsae_buffer *bx = upload(x, (size_t)rows * dim), *bg = upload(g, dim), *bb = upload(b, dim),
                 *bo = mlsae_alloc_f32(be, (size_t)rows * dim);
    CHECK(be->ops->nn.layer_norm(be, mlsae_at(bx, 0), mlsae_at(bo, 0), mlsae_at(bg, 0),
                                 mlsae_at(bb, 0), rows, dim, 1e-5f) == 0);
    char what[64];
    snprintf(what, sizeof what, "layer_norm %dx%d", rows, dim);
    CHECK_REL(host(bo), ref, (size_t)rows * dim, 1e-5, what);
    be->ops->core.free(be, bx), be->ops->core.free(be, bg), be->ops->core.free(be, bb),
        be->ops->core.free(be, bo);
    free(x), free(g), free(b), free(ref);
}

static void test_linear(int rows, int in, int out, int with_bias)
{
    float *x = rand_vec((size_t)rows * in, 1), *w = rand_vec((size_t)out * in, 1),
          *b = rand_vec(out, 1);
    float *ref = malloc((size_t)rows * out * 4);
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = with_bias ? b[o] : 0;
            for (int i = 0; i < in; i++) s += (double)x[r * in + i] * w[o * in + i];
            ref[r * out + o] = (float)s;
        }
    mlsae_buffer *bx = upload(x, (size_t)rows * in), *bw = upload(w, (size_t)out * in),
                 *bb = upload(b, out), *by = mlsae_alloc_f32(be, (size_t)rows * out);
    CHECK(be->ops->nn.linear(be, mlsae_at(bx, 0), mlsae_at(bw, 0),
                             with_bias ? mlsae_at(bb, 0) : MLSAE_NOREF, rows, in, out,
                             mlsae_at(by, 0)) == 0);
    char what[64];
    snprintf(what, sizeof what, "linear %dx%d->%d%s", rows, in, out, with_bias ? " +bias" : "");
    CHECK_REL(host(by), ref, (size_t)rows * out, 1e-5, what);
    be->ops->core.free(be, bx), be->ops->core.free(be, bw), be->ops->core.free(be, bb),
        be->ops->core.free(be, by);
    free(x), free(w), free(b), free(ref);
}

static void test_gelu(size_t n)
{
    float *x = malloc(n * 4), *ref = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        x[i] = i < 6 ? (float[]){0.0f, -0.0f, 12.0f, -12.0f, 1e-4f, -40.0f}[i]
                     : tu_uniform(&rng, -8, 8);
        ref[i] = (float)(0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0))));
    }
    mlsae_buffer *bx = upload(x, n);
    CHECK(be->ops->nn.gelu(be, mlsae_at(bx, 0), n) == 0);
    char what[64];
    snprintf(what, sizeof what, "gelu n=%zu", n);
    CHECK_REL(host(bx), ref, n, 1e-6, what);
    /* The negative tail must be small, not cancelled to a wrong sign. */
    CHECK(host(bx)[3] <= 0 && host(bx)[3] > -1e-20f);
    be->ops->core.free(be, bx);
    free(x), free(ref);
}

static void test_rotary(int batch, int seq, int heads, int hd, int rot, float base)
{
    size_t n = (size_t)batch * seq * heads * 3 * hd;
    float *x = rand_vec(n, 1), *ref = malloc(n * 4);
    memcpy(ref, x, n * 4);
    int half = rot / 2;
    for (int b = 0; b < batch; b++)
        for (int p = 0; p < seq; p++)
            for (int h = 0; h < heads; h++)
                for (int part = 0; part < 2; part++) {
                    float *v = ref + (((size_t)b * seq + p) * heads * 3 + h * 3 + part) * hd;
                    const float *src = x + (v - ref);
                    for (int i = 0; i < half; i++) {
                        double ang = p * pow(base, -2.0 * i / rot);
                        v[i] = (float)(src[i] * cos(ang) - src[i + half] * sin(ang));
                        v[i + half] = (float)(src[i + half] * cos(ang) + src[i] * sin(ang));
                    }
                }
    mlsae_buffer *bx = upload(x, n);
    CHECK(be->ops->nn.rotary(be, mlsae_at(bx, 0), batch, seq, heads, hd, rot, base) == 0);
    char what[96];
    snprintf(what, sizeof what, "rotary b%d s%d h%d hd%d rot%d", batch, seq, heads, hd, rot);
    CHECK_REL(host(bx), ref, n, 1e-5, what);
    /* v and the unrotated tail are untouched */
    int untouched = 1;
    for (size_t r = 0; r < (size_t)batch * seq * heads; r++)
        for (int part = 0; part < 3; part++)
            for (int d = part == 2 ? 0 : rot; d < hd; d++)
                if (host(bx)[(r * 3 + part) * hd + d] != x[(r * 3 + part) * hd + d]) untouched = 0;
    CHECK(untouched);
    be->ops->core.free(be, bx);
    free(x), free(ref);
}

static void test_attention(int batch, int seq, int heads, int hd)
{
    size_t n = (size_t)batch * seq * heads * 3 * hd, d = (size_t)heads * hd;
    float *x = rand_vec(n, 1.5f), *ref = malloc((size_t)batch * seq * d * 4);
    double *w = malloc(seq * sizeof *w);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
            for (int p = 0; p < seq; p++) {
                const float *q = x + (((size_t)b * seq + p) * heads * 3 + h * 3) * hd;
                double mx = -INFINITY, sum = 0;
                for (int t = 0; t <= p; t++) {
                    const float *k = x + (((size_t)b * seq + t) * heads * 3 + h * 3 + 1) * hd;
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += (double)q[i] * k[i];
                    w[t] = s / sqrt(hd);
                    if (w[t] > mx) mx = w[t];
                }
                for (int t = 0; t <= p; t++) sum += (w[t] = exp(w[t] - mx));
                for (int i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int t = 0; t <= p; t++)
                        acc += w[t] * x[(((size_t)b * seq + t) * heads * 3 + h * 3 + 2) * hd + i];
                    ref[((size_t)b * seq + p) * d + h * hd + i] = (float)(acc / sum);
                }
            }
    mlsae_buffer *bx = upload(x, n), *bo = mlsae_alloc_f32(be, (size_t)batch * seq * d);
    CHECK(be->ops->nn.attention(be, mlsae_at(bx, 0), mlsae_at(bo, 0), batch, seq, heads, hd) == 0);
    char what[96];
    snprintf(what, sizeof what, "attention b%d s%d h%d hd%d", batch, seq, heads, hd);
    CHECK_REL(host(bo), ref, (size_t)batch * seq * d, 1e-5, what);
    be->ops->core.free(be, bx), be->ops->core.free(be, bo);
    free(x), free(ref), free(w);
}

static void lse_rows(const float *x, int rows, int vocab, double *lse)
{
    for (int r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (int v = 0; v < vocab; v++) m = fmax(m, x[(size_t)r * vocab + v]);
        for (int v = 0; v < vocab; v++) s += exp(x[(size_t)r * vocab + v] - m);
        lse[r] = m + log(s);
    }
}

static void test_losses(int rows, int vocab)
{
    float *a = rand_vec((size_t)rows * vocab, 4), *b = rand_vec((size_t)rows * vocab, 4);
    for (size_t i = 0; i < (size_t)rows * vocab; i++) b[i] = 0.7f * a[i] + b[i] * 0.5f + 3.0f;
    int32_t *t = malloc(rows * sizeof *t);
    for (int r = 0; r < rows; r++) t[r] = r == 1 ? -1 : (int32_t)((r * 7919) % vocab);
    double *la = malloc(rows * sizeof *la), *lb = malloc(rows * sizeof *lb);
    lse_rows(a, rows, vocab, la);
    lse_rows(b, rows, vocab, lb);
    float *ce = malloc(rows * 4), *kl = malloc(rows * 4);
    for (int r = 0; r < rows; r++) {
        ce[r] = t[r] < 0 ? 0.0f : (float)(la[r] - a[(size_t)r * vocab + t[r]]);
        double s = 0;
        for (int v = 0; v < vocab; v++) {
            double lp = b[(size_t)r * vocab + v] - lb[r], lt = a[(size_t)r * vocab + v] - la[r];
            s += exp(lp) * (lp - lt);
        }
        kl[r] = (float)s;
    }
    mlsae_buffer *ba = upload(a, (size_t)rows * vocab), *bb = upload(b, (size_t)rows * vocab),
                 *bt = upload(t, rows), *bo = mlsae_alloc_f32(be, rows);
    char what[64];
    CHECK(be->ops->nn.cross_entropy(be, mlsae_at(ba, 0), mlsae_at(bt, 0), rows, vocab,
                                    mlsae_at(bo, 0)) == 0);
    snprintf(what, sizeof what, "cross_entropy %dx%d", rows, vocab);
    CHECK_REL(host(bo), ce, rows, 1e-5, what);
    CHECK(be->ops->nn.kl_div(be, mlsae_at(ba, 0), mlsae_at(bb, 0), rows, vocab, mlsae_at(bo, 0)) == 0);
    snprintf(what, sizeof what, "kl_div %dx%d", rows, vocab);
    CHECK_REL(host(bo), kl, rows, 1e-5, what);
    /* a target outside the vocabulary is an error, not a read past the row */
    t[0] = vocab;
    be->ops->core.write(be, bt, 0, t, 4);
    CHECK(be->ops->nn.cross_entropy(be, mlsae_at(ba, 0), mlsae_at(bt, 0), rows, vocab,
                                    mlsae_at(bo, 0)) == -1);
    CHECK(strstr(mlsae_backend_error(be), "target") != NULL);
    be->ops->core.free(be, ba), be->ops->core.free(be, bb), be->ops->core.free(be, bt),
        be->ops->core.free(be, bo);
    free(a), free(b), free(t), free(la), free(lb), free(ce), free(kl);
}

static void run_all(void)
{
    test_embedding(37, 13, 29);
    test_embedding(300, 64, 5);
    test_layer_norm(7, 13);
    test_layer_norm(33, 64);
    test_layer_norm(1, 517);
    test_linear(5, 13, 11, 1);
    test_linear(67, 40, 33, 0);
    test_linear(130, 64, 197, 1);
    test_linear(301, 300, 45, 1);  /* K over one 256 slice, N under one panel */
    test_linear(37, 530, 1100, 0); /* split over columns, several K slices and N blocks */
    test_gelu(1001);
    test_gelu(7);
    test_rotary(2, 11, 3, 10, 4, 10000.0f);
    test_rotary(1, 37, 2, 16, 16, 10000.0f);
    test_rotary(3, 5, 1, 6, 6, 500.0f);
    test_attention(1, 1, 1, 8);
    test_attention(2, 5, 3, 12);
    test_attention(1, 70, 2, 16);
    test_attention(2, 300, 2, 20);
    test_attention(1, 600, 1, 64);
    test_attention(1, 211, 2, 80);  /* head sizes of larger Pythia models */
    test_attention(1, 150, 1, 128);
    test_attention(1, 97, 1, 33);
    test_losses(9, 1037);
    test_losses(3, 5);
}

int main(void)
{
    mlsae_error err = {{0}};
    mlsae_backend_params params = {.n_threads = 2};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%s\n", be->ops->describe(be));
    run_all();
    if (cpu_nn_gemm_avx512_available()) {
        printf("(linear ran the AVX-512 kernel) OpenBLAS for the linear layers:\n");
        cpu_nn_gemm_avx512_set(0);
        run_all();
        cpu_nn_gemm_avx512_set(1);
    }
    if (cpu_of(be)->has_avx2) {
        printf("portable kernels:\n");
        cpu_of(be)->has_avx2 = 0;
        run_all();
    }
    mlsae_backend_close(be);
    return tu_finish("test_nn_ops");
}
