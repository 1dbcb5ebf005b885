#include "config.h"
#include "backend_ops_ref.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float *F(mlsae_backend *be, mlsae_ref r)
{
    return (float *)be->ops->core.host_ptr(be, r.buf) + r.off;
}
static int32_t *I(mlsae_backend *be, mlsae_ref r)
{
    return (int32_t *)be->ops->core.host_ptr(be, r.buf) + r.off;
}

/* ---- nn ---- */

static int embedding(mlsae_backend *be, mlsae_ref table, mlsae_ref ids, int n, int dim,
                     mlsae_ref out)
{
    for (int i = 0; i < n; i++)
        memcpy(F(be, out) + (size_t)i * dim, F(be, table) + (size_t)I(be, ids)[i] * dim,
               (size_t)dim * 4);
    return 0;
}

static int layer_norm(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref gamma,
                      mlsae_ref beta, int rows, int dim, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = F(be, x) + (size_t)r * dim;
        double mean = 0, var = 0;
        for (int c = 0; c < dim; c++) mean += xr[c];
        mean /= dim;
        for (int c = 0; c < dim; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= dim;
        float *o = F(be, out) + (size_t)r * dim;
        for (int c = 0; c < dim; c++) {
            double v = (xr[c] - mean) / sqrt(var + eps);
            if (gamma.buf) v *= F(be, gamma)[c];
            if (beta.buf) v += F(be, beta)[c];
            o[c] = (float)v;
        }
    }
    return 0;
}

static int linear(mlsae_backend *be, mlsae_ref x, mlsae_ref w, mlsae_ref b, int rows, int in,
                  int out, mlsae_ref y)
{
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = b.buf ? F(be, b)[o] : 0;
            for (int i = 0; i < in; i++)
                s += (double)F(be, x)[(size_t)r * in + i] * F(be, w)[(size_t)o * in + i];
            F(be, y)[(size_t)r * out + o] = (float)s;
        }
    return 0;
}

static int gelu(mlsae_backend *be, mlsae_ref x, size_t n)
{
    float *v = F(be, x);
    for (size_t i = 0; i < n; i++) v[i] = (float)(0.5 * v[i] * (1 + erf(v[i] / sqrt(2.0))));
    return 0;
}

static int rotary(mlsae_backend *be, mlsae_ref qkv, int batch, int seq, int n_heads,
                  int head_dim, int rot_dims, float base)
{
    int half = rot_dims / 2;
    for (int row = 0; row < batch * seq; row++) {
        int pos = row % seq;
        for (int h = 0; h < n_heads; h++)
            for (int part = 0; part < 2; part++) {
                float *v = F(be, qkv) + (size_t)row * n_heads * 3 * head_dim +
                           (size_t)h * 3 * head_dim + part * head_dim;
                for (int i = 0; i < half; i++) {
                    double angle = pos * pow(base, -2.0 * i / rot_dims);
                    double x1 = v[i], x2 = v[i + half];
                    v[i] = (float)(x1 * cos(angle) - x2 * sin(angle));
                    v[i + half] = (float)(x2 * cos(angle) + x1 * sin(angle));
                }
            }
    }
    return 0;
}

static int attention(mlsae_backend *be, mlsae_ref qkv, mlsae_ref out, int batch, int seq,
                     int n_heads, int head_dim)
{
    size_t stride = (size_t)n_heads * 3 * head_dim;
    double *w = malloc((size_t)seq * sizeof *w);
    if (!w) return -1;
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < n_heads; h++)
            for (int p = 0; p < seq; p++) {
                const float *base = F(be, qkv) + (size_t)b * seq * stride + (size_t)h * 3 * head_dim;
                const float *q = base + (size_t)p * stride;
                double mx = -INFINITY, sum = 0;
                for (int t = 0; t <= p; t++) {
                    double s = 0;
                    for (int d = 0; d < head_dim; d++) s += (double)q[d] * base[t * stride + head_dim + d];
                    w[t] = s / sqrt((double)head_dim);
                    if (w[t] > mx) mx = w[t];
                }
                for (int t = 0; t <= p; t++) sum += (w[t] = exp(w[t] - mx));
                float *o = F(be, out) + ((size_t)b * seq + p) * n_heads * head_dim + h * head_dim;
                for (int d = 0; d < head_dim; d++) {
                    double a = 0;
                    for (int t = 0; t <= p; t++) a += w[t] * base[t * stride + 2 * head_dim + d];
                    o[d] = (float)(a / sum);
                }
            }
    free(w);
    return 0;
}

static double row_lse(const float *x, int n)
{
    double mx = -INFINITY, s = 0;
    for (int c = 0; c < n; c++)
        if (x[c] > mx) mx = x[c];
    for (int c = 0; c < n; c++) s += exp(x[c] - mx);
    return mx + log(s);
}

static int cross_entropy(mlsae_backend *be, mlsae_ref logits, mlsae_ref target, int rows,
                         int vocab, mlsae_ref loss)
{
    for (int r = 0; r < rows; r++) {
        const float *x = F(be, logits) + (size_t)r * vocab;
        int t = I(be, target)[r];
        F(be, loss)[r] = t < 0 ? 0.0f : (float)(row_lse(x, vocab) - x[t]);
    }
    return 0;
}

static int kl_div(mlsae_backend *be, mlsae_ref logits_true, mlsae_ref logits_pred, int rows,
                  int vocab, mlsae_ref out)
{
    for (int r = 0; r < rows; r++) {
        const float *t = F(be, logits_true) + (size_t)r * vocab;
        const float *p = F(be, logits_pred) + (size_t)r * vocab;
        double lt = row_lse(t, vocab), lp = row_lse(p, vocab), s = 0;
        for (int c = 0; c < vocab; c++) s += exp(p[c] - lp) * ((p[c] - lp) - (t[c] - lt));
        F(be, out)[r] = (float)s;
    }
    return 0;
}

const mlsae_nn_ops ref_nn_ops = {
    .embedding = embedding,
    .layer_norm = layer_norm,
    .linear = linear,
    .gelu = gelu,
    .rotary = rotary,
    .attention = attention,
    .cross_entropy = cross_entropy,
    .kl_div = kl_div,
};

/* ---- sae ---- */

static int standardize(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref mu,
                       mlsae_ref sd, int rows, int d, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = F(be, x) + (size_t)r * d;
        double m = 0, v = 0;
        for (int c = 0; c < d; c++) m += xr[c];
        m /= d;
        for (int c = 0; c < d; c++) v += (xr[c] - m) * (xr[c] - m);
        double s = sqrt(v / (d - 1));
        float *o = F(be, out) + (size_t)r * d;
        for (int c = 0; c < d; c++) o[c] = (float)((xr[c] - m) / (s + eps));
        if (mu.buf) F(be, mu)[r] = (float)m;
        if (sd.buf) F(be, sd)[r] = (float)s;
    }
    return 0;
}

static int row_affine(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref scale,
                      mlsae_ref shift, int rows, int d)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < d; c++)
            F(be, out)[(size_t)r * d + c] =
                F(be, x)[(size_t)r * d + c] * F(be, scale)[r] + F(be, shift)[r];
    return 0;
}

/* k passes of "largest not yet taken, lower index first on ties". */
static int topk(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                mlsae_ref values, mlsae_ref indices)
{
    char *taken = malloc((size_t)n);
    if (!taken) return -1;
    for (int r = 0; r < rows; r++) {
        memset(taken, 0, (size_t)n);
        const float *x = F(be, pre) + (size_t)r * n;
        for (int j = 0; j < k; j++) {
            int best = -1;
            float bv = 0;
            for (int i = 0; i < n; i++) {
                float v = (mask.buf && I(be, mask)[i] == 0) ? 0.0f : x[i];
                if (!taken[i] && (best < 0 || v > bv)) {
                    best = i;
                    bv = v;
                }
            }
            taken[best] = 1;
            F(be, values)[(size_t)r * k + j] = bv;
            I(be, indices)[(size_t)r * k + j] = best;
        }
    }
    free(taken);
    return 0;
}

static int sparse_gather(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                         mlsae_ref table, int d, int relu, float beta, mlsae_ref out)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < d; c++) {
            double s = beta != 0 ? (double)beta * F(be, out)[(size_t)r * d + c] : 0;
            for (int j = 0; j < k; j++) {
                double w = F(be, coef)[(size_t)r * k + j];
                if (relu && w < 0) w = 0;
                s += w * F(be, table)[(size_t)I(be, idx)[(size_t)r * k + j] * d + c];
            }
            F(be, out)[(size_t)r * d + c] = (float)s;
        }
    return 0;
}

static int sparse_dot(mlsae_backend *be, mlsae_ref x, mlsae_ref idx, int rows, int k,
                      mlsae_ref table, int d, mlsae_ref gate, mlsae_ref out)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < k; j++) {
            size_t e = (size_t)r * k + j;
            if (gate.buf && !(F(be, gate)[e] > 0)) { /* NaN gates too */
                F(be, out)[e] = 0.0f;
                continue;
            }
            double s = 0;
            const float *t = F(be, table) + (size_t)I(be, idx)[e] * d;
            for (int c = 0; c < d; c++) s += (double)F(be, x)[(size_t)r * d + c] * t[c];
            F(be, out)[e] = (float)s;
        }
    return 0;
}

static int sparse_scatter(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                          mlsae_ref x, int d, mlsae_ref dst, int n_table)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < k; j++) {
            int u = I(be, idx)[(size_t)r * k + j];
            if (u < 0 || u >= n_table) return -1;
            for (int c = 0; c < d; c++)
                F(be, dst)[(size_t)u * d + c] +=
                    F(be, coef)[(size_t)r * k + j] * F(be, x)[(size_t)r * d + c];
        }
    return 0;
}

static int update_dead(mlsae_backend *be, mlsae_ref values, mlsae_ref idx, int rows, int k,
                       float threshold, mlsae_ref last_nonzero, int n, int dead_steps,
                       mlsae_ref mask)
{
    int32_t *last = I(be, last_nonzero);
    for (size_t e = 0; e < (size_t)rows * k; e++)
        if (F(be, values)[e] > threshold) last[I(be, idx)[e]] = 0;
    for (int u = 0; u < n; u++) {
        if (last[u] < INT32_MAX) last[u] += 1; /* saturates */
        if (mask.buf) I(be, mask)[u] = last[u] >= dead_steps;
    }
    return 0;
}

static int relu(mlsae_backend *be, mlsae_ref x, size_t n)
{
    float *v = F(be, x);
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0) v[i] = 0.0f; /* NaN compares false and stays */
    return 0;
}

static int normalize_rows(mlsae_backend *be, mlsae_ref w, int rows, int d)
{
    for (int r = 0; r < rows; r++) {
        float *v = F(be, w) + (size_t)r * d;
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)v[c] * v[c];
        if (s == 0) continue; /* a zero row is left as it is */
        s = sqrt(s);
        for (int c = 0; c < d; c++) v[c] = (float)(v[c] / s);
    }
    return 0;
}

static int remove_parallel(mlsae_backend *be, mlsae_ref w, mlsae_ref g, int rows, int d)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = F(be, w) + (size_t)r * d;
        float *gr = F(be, g) + (size_t)r * d;
        double dot = 0;
        for (int c = 0; c < d; c++) dot += (double)gr[c] * wr[c];
        for (int c = 0; c < d; c++) gr[c] = (float)(gr[c] - dot * wr[c]);
    }
    return 0;
}

static int adam(mlsae_backend *be, mlsae_ref p, mlsae_ref g, mlsae_ref m, mlsae_ref v, size_t n,
                float lr, float beta1, float beta2, float eps, int step)
{
    double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
    for (size_t i = 0; i < n; i++) {
        double gi = F(be, g)[i];
        double mi = beta1 * (double)F(be, m)[i] + (1 - beta1) * gi;
        double vi = beta2 * (double)F(be, v)[i] + (1 - beta2) * gi * gi;
        F(be, m)[i] = (float)mi;
        F(be, v)[i] = (float)vi;
        F(be, p)[i] = (float)(F(be, p)[i] - lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
    }
    return 0;
}

static int gather_columns(mlsae_backend *be, mlsae_ref src, int rows, int n, mlsae_ref cols,
                          int n_cols, mlsae_ref dst)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n_cols; j++) /* 4-byte words, bit for bit */
            I(be, dst)[(size_t)r * n_cols + j] = I(be, src)[(size_t)r * n + I(be, cols)[j]];
    return 0;
}

static int topk_gather(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                       mlsae_ref values, mlsae_ref indices, mlsae_ref cols, int n_cols,
                       mlsae_ref gathered)
{
    if (topk(be, pre, rows, n, k, mask, values, indices)) return -1;
    return gather_columns(be, pre, rows, n, cols, n_cols, gathered);
}

const mlsae_sae_ops ref_sae_ops = {
    .standardize = standardize,
    .row_affine = row_affine,
    .topk = topk,
    .sparse_gather = sparse_gather,
    .sparse_dot = sparse_dot,
    .sparse_scatter = sparse_scatter,
    .update_dead = update_dead,
    .relu = relu,
    .normalize_rows = normalize_rows,
    .remove_parallel = remove_parallel,
    .adam = adam,
    .gather_columns = gather_columns,
    .topk_gather = topk_gather,
};
