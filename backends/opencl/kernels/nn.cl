/* ---- transformer ops (backend_nn.h) -------------------------------------- */

/* out[i, c] = table[ids[i], c]; an id outside [0, n_table) gives a NaN row
 * (visible, and no read out of bounds). global (dim, n). */
__kernel void embedding(__global const float *table, ulong to, ulong n_table,
                        __global const int *ids, ulong io, int n, int dim, __global float *out,
                        ulong oo)
{
    int c = get_global_id(0), i = get_global_id(1);
    if (c >= dim || i >= n) return;
    int id = ids[io + i];
    out[oo + (size_t)i * dim + c] =
        id >= 0 && (ulong)id < n_table ? table[to + (size_t)id * dim + c] : NAN;
}

/* One work-group per row: two-pass mean / biased variance (torch LayerNorm). */
__kernel void layer_norm(__global const float *x, ulong xo, __global float *out, ulong oo,
                         __global const float *gamma, ulong go, __global const float *beta,
                         ulong bo, int has_gamma, int has_beta, int dim, float eps,
                         __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + xo + r * dim;
    __global float *orow = out + oo + r * dim;
    float ss;
    float mean = wg_row_mean_ss(s, xr, dim, &ss);
    float inv = 1.0f / sqrt(ss / dim + eps);
    for (int c = lid; c < dim; c += L) {
        float v = (xr[c] - mean) * inv;
        if (has_gamma) v *= gamma[go + c];
        if (has_beta) v += beta[bo + c];
        orow[c] = v;
    }
}

/* x = 0.5 x (1 + erf(x / sqrt 2)) */
__kernel void gelu(__global float *x, ulong xo, ulong n)
{
    size_t i = get_global_id(0);
    if (i < n) {
        float v = x[xo + i];
        x[xo + i] = 0.5f * v * (1.0f + erf(v * M_SQRT1_2_F));
    }
}

/* Rotate-half rotary on q and k of every head; inv_freq [rot/2] from the host
 * (computed as torch does, in float). global (rot/2, n_heads, rows). */
__kernel void rotary(__global float *qkv, ulong qo, int seq, int n_heads, int head_dim,
                     int rot_dims, __global const float *inv_freq, ulong fo)
{
    int i = get_global_id(0), h = get_global_id(1);
    size_t row = get_global_id(2);
    int hr = rot_dims / 2;
    if (i >= hr || h >= n_heads) return;
    float angle = (float)(row % seq) * inv_freq[fo + i];
    float cs = cos(angle), sn = sin(angle);
    __global float *q = qkv + qo + row * (size_t)(n_heads * 3 * head_dim) + h * 3 * head_dim;
    for (int part = 0; part < 2; part++) {
        __global float *v = q + part * head_dim;
        float x1 = v[i], x2 = v[i + hr];
        v[i] = x1 * cs - x2 * sn;
        v[i + hr] = x2 * cs + x1 * sn;
    }
}

/* Causal attention, flash style: a work-group holds ATT_BQ consecutive
 * queries of one (batch, head); key/value tiles of bk rows are staged in local
 * memory (kv: 2 * bk * head_dim floats) and folded into a running softmax
 * (max m, normaliser l, accumulator acc) once per tile.
 * global (ceil(seq/BQ)*BQ, n_heads, batch), local (BQ, 1, 1). */
#ifndef ATT_MAX_HD
#define ATT_MAX_HD 256
#endif
#ifndef ATT_MAX_BK
#define ATT_MAX_BK 32
#endif
__kernel void attention(__global const float *qkv, ulong qo, __global float *out, ulong oo,
                        int seq, int n_heads, int head_dim, float scale, int bk,
                        __local float *kv)
{
    const int p = get_global_id(0), h = get_global_id(1), b = get_global_id(2);
    const int lid = get_local_id(0), BQ = get_local_size(0);
    const size_t stride = (size_t)n_heads * 3 * head_dim;
    __global const float *base = qkv + qo + (size_t)b * seq * stride + (size_t)h * 3 * head_dim;
    __local float *ks = kv, *vs = kv + bk * head_dim;
    float q[ATT_MAX_HD], acc[ATT_MAX_HD], s[ATT_MAX_BK];
    const int valid = p < seq;
    for (int d = 0; d < head_dim; d++) {
        q[d] = valid ? base[(size_t)p * stride + d] * scale : 0.0f;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    int last = min((int)get_group_id(0) * BQ + BQ - 1, seq - 1); /* last query of the group */
    for (int t0 = 0; t0 <= last; t0 += bk) {
        for (int e = lid; e < bk * head_dim; e += BQ) {
            int j = e / head_dim, d = e % head_dim, t = t0 + j;
            if (t < seq) {
                ks[e] = base[(size_t)t * stride + head_dim + d];
                vs[e] = base[(size_t)t * stride + 2 * head_dim + d];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (valid && t0 <= p) {
            int n = min(bk, p - t0 + 1);
            float mt = -INFINITY;
            for (int j = 0; j < n; j++) {
                float dot = 0.0f;
                for (int d = 0; d < head_dim; d++) dot += q[d] * ks[j * head_dim + d];
                s[j] = dot;
                mt = fmax(mt, dot);
            }
            float mn = fmax(m, mt);
            float corr = exp(m - mn);
            l *= corr;
            for (int d = 0; d < head_dim; d++) acc[d] *= corr;
            for (int j = 0; j < n; j++) {
                float w = exp(s[j] - mn);
                l += w;
                for (int d = 0; d < head_dim; d++) acc[d] += w * vs[j * head_dim + d];
            }
            m = mn;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (valid) {
        __global float *o = out + oo + ((size_t)b * seq + p) * (size_t)(n_heads * head_dim) +
                            h * head_dim;
        for (int d = 0; d < head_dim; d++) o[d] = acc[d] / l;
    }
}

/* loss[r] = logsumexp(logits[r]) - logits[r, target[r]]; one group per row. */
__kernel void cross_entropy(__global const float *logits, ulong lo, __global const int *target,
                            ulong to, int vocab, __global float *loss, ulong so,
                            __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *x = logits + lo + r * vocab;
    float mx = -INFINITY;
    for (int c = lid; c < vocab; c += L) mx = fmax(mx, x[c]);
    mx = wg_max(s, mx);
    float a = 0;
    for (int c = lid; c < vocab; c += L) a += exp(x[c] - mx);
    a = wg_sum(s, a);
    if (lid == 0) {
        int t = target[to + r];
        float v = 0.0f;
        if (t >= vocab) v = NAN; /* an impossible target is visible, not silent */
        else if (t >= 0) v = log(a) + mx - x[t];
        loss[so + r] = v;
    }
}

/* out[r] = sum_v p_pred (log p_pred - log p_true); one group per row. */
__kernel void kl_div(__global const float *lt, ulong lto, __global const float *lp, ulong lpo,
                     int vocab, __global float *out, ulong oo, __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *xt = lt + lto + r * vocab, *xp = lp + lpo + r * vocab;
    float mt = -INFINITY, mp = -INFINITY;
    for (int c = lid; c < vocab; c += L) {
        mt = fmax(mt, xt[c]);
        mp = fmax(mp, xp[c]);
    }
    mt = wg_max(s, mt);
    mp = wg_max(s, mp);
    float at = 0, ap = 0;
    for (int c = lid; c < vocab; c += L) {
        at += exp(xt[c] - mt);
        ap += exp(xp[c] - mp);
    }
    float lse_t = mt + log(wg_sum(s, at)), lse_p = mp + log(wg_sum(s, ap));
    float a = 0;
    for (int c = lid; c < vocab; c += L) {
        float lpp = xp[c] - lse_p, ltt = xt[c] - lse_t;
        a += exp(lpp) * (lpp - ltt);
    }
    a = wg_sum(s, a);
    if (lid == 0) out[oo + r] = a;
}
