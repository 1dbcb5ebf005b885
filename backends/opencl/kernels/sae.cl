/* ---- sparse autoencoder ops (backend_sae.h, SPEC section 4) ------------- */

/* Per row: mu = mean, sd = std (Bessel), out = (x - mu) / (sd + eps). */
__kernel void standardize(__global const float *x, ulong xo, __global float *out, ulong oo,
                          __global float *mu, ulong muo, __global float *sd, ulong sdo,
                          int has_mu, int has_sd, int d, float eps, __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + xo + r * d;
    __global float *orow = out + oo + r * d;
    float a = 0;
    for (int c = lid; c < d; c += L) a += xr[c];
    float mean = wg_sum(s, a) / d;
    a = 0;
    for (int c = lid; c < d; c += L) {
        float t = xr[c] - mean;
        a += t * t;
    }
    float sdev = sqrt(wg_sum(s, a) / (d - 1));
    float inv = 1.0f / (sdev + eps);
    for (int c = lid; c < d; c += L) orow[c] = (xr[c] - mean) * inv;
    if (lid == 0) {
        if (has_mu) mu[muo + r] = mean;
        if (has_sd) sd[sdo + r] = sdev;
    }
}

/* out[r, c] = x[r, c] * scale[r] + shift[r]; global (d, rows). */
__kernel void row_affine(__global const float *x, ulong xo, __global float *out, ulong oo,
                         __global const float *scale, ulong so, __global const float *shift,
                         ulong sho, int rows, int d)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= d || r >= rows) return;
    size_t i = (size_t)r * d + c;
    out[oo + i] = x[xo + i] * scale[so + r] + shift[sho + r];
}

/* Float -> unsigned key with the same order (-0 and +0 equal). */
uint f2key(float f)
{
    if (f == 0.0f) f = 0.0f;
    uint u = as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

#define TOPK_KEY(i) f2key((has_mask && mask[mo + (i)] == 0) ? 0.0f : x[i])

/* TopK of one row per work-group by radix select: four 8-bit passes find
 * the key T of the k-th largest entry (local histograms, integer atomics:
 * exact counts whatever the order); then every entry > T and the first
 * (lowest-index) entries == T are written in index order, positions from a
 * prefix sum, so the output is deterministic. scan: 2 * local size uints. */
__kernel void topk(__global const float *pre, ulong po, int n, int k, __global const int *mask,
                   ulong mo, int has_mask, __global float *vals, ulong vo, __global int *idx,
                   ulong io, __local uint *scan)
{
    __local uint hist[256];
    __local uint sel_prefix, sel_need;
    size_t row = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *x = pre + po + row * n;
    uint prefix = 0, pmask = 0, need = (uint)k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (uint b = lid; b < 256; b += L) hist[b] = 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int i = lid; i < n; i += L) {
            uint key = TOPK_KEY(i);
            if ((key & pmask) == prefix) atomic_inc(&hist[(key >> shift) & 255u]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0) {
            uint above = 0;
            int b = 255;
            for (; b > 0; b--) {
                if (above + hist[b] >= need) break;
                above += hist[b];
            }
            sel_prefix = prefix | ((uint)b << shift);
            sel_need = need - above;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        prefix = sel_prefix;
        need = sel_need;
        pmask |= 255u << shift;
    }
    /* prefix is T; `need` entries equal to T are taken, lowest indices first */
    int chunk = (n + L - 1) / L;
    int lo = min((int)lid * chunk, n), hi = min(lo + chunk, n);
    uint gt = 0, eq = 0;
    for (int i = lo; i < hi; i++) {
        uint key = TOPK_KEY(i);
        gt += key > prefix;
        eq += key == prefix;
    }
    scan[lid] = gt;
    scan[L + lid] = eq;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) { /* exclusive prefix sums, in order */
        uint a = 0, e = 0;
        for (uint t = 0; t < L; t++) {
            uint g = scan[t], q = scan[L + t];
            scan[t] = a;
            scan[L + t] = e;
            a += g;
            e += q;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint eq_before = scan[L + lid];
    uint pos = scan[lid] + min(eq_before, need);
    uint eq_take = eq_before >= need ? 0 : min(eq, need - eq_before);
    __global float *vr = vals + vo + row * k;
    __global int *ir = idx + io + row * k;
    for (int i = lo; i < hi; i++) {
        uint key = TOPK_KEY(i);
        int take = key > prefix;
        if (key == prefix && eq_take > 0) {
            take = 1;
            eq_take--;
        }
        if (take) {
            vr[pos] = (has_mask && mask[mo + i] == 0) ? 0.0f : x[i];
            ir[pos] = i;
            pos++;
        }
    }
}

/* out[r, c] = beta out[r, c] + sum_j f(coef[r, j]) table[idx[r, j], c], summed
 * in j order; beta == 0 overwrites. global (d, rows). */
__kernel void sparse_gather(__global const float *coef, ulong co, __global const int *idx,
                            ulong io, int k, __global const float *table, ulong to, int d,
                            int relu, float beta, __global float *out, ulong oo, int rows)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= d || r >= rows) return;
    size_t oi = oo + (size_t)r * d + c;
    float acc = beta != 0.0f ? beta * out[oi] : 0.0f;
    for (int j = 0; j < k; j++) {
        float w = coef[co + (size_t)r * k + j];
        if (relu) w = fmax(w, 0.0f);
        acc += w * table[to + (size_t)idx[io + (size_t)r * k + j] * d + c];
    }
    out[oi] = acc;
}

/* out[r, j] = dot(x[r], table[idx[r, j]]): one work-group per (r, j). */
__kernel void sparse_dot(__global const float *x, ulong xo, __global const int *idx, ulong io,
                         int k, __global const float *table, ulong to, int d,
                         __global float *out, ulong oo, __local float *s)
{
    size_t e = get_group_id(0), r = e / k;
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *xr = x + xo + r * d;
    __global const float *tr = table + to + (size_t)idx[io + e] * d;
    float a = 0;
    for (int c = lid; c < d; c += L) a += xr[c] * tr[c];
    a = wg_sum(s, a);
    if (lid == 0) out[oo + e] = a;
}

/* dst[u, c] += sum over the entries e of latent u, in (r, j) order, of
 * coef[e] x[e / k, c]. The host groups the entries by latent (counting
 * sort): latents[t] is the t-th touched latent, its entries are
 * entries[start[t] .. start[t+1]). global (d, n_touched). No atomics. */
__kernel void sparse_scatter(__global const float *coef, ulong co, int k,
                             __global const float *x, ulong xo, int d, __global float *dst,
                             ulong dsto, __global const int *csr, ulong latents,
                             ulong start, ulong entries, int n_touched)
{
    int c = get_global_id(0), t = get_global_id(1);
    if (c >= d || t >= n_touched) return;
    size_t di = dsto + (size_t)csr[latents + t] * d + c;
    float acc = dst[di];
    for (int q = csr[start + t]; q < csr[start + t + 1]; q++) {
        int e = csr[entries + q];
        acc += coef[co + e] * x[xo + (size_t)(e / k) * d + c];
    }
    dst[di] = acc;
}

/* Latents selected with value > threshold get last_nonzero = 0. global rows*k. */
__kernel void dead_reset(__global const float *vals, ulong vo, __global const int *idx,
                         ulong io, ulong total, float threshold, __global int *last, ulong lo,
                         int n)
{
    size_t e = get_global_id(0);
    if (e >= total) return;
    int u = idx[io + e];
    if (vals[vo + e] > threshold && u >= 0 && u < n) last[lo + u] = 0;
}

/* last_nonzero += 1; mask = last_nonzero >= dead_steps. global n. */
__kernel void dead_tick(__global int *last, ulong lo, int n, int dead_steps,
                        __global int *mask, ulong mo, int has_mask)
{
    int u = get_global_id(0);
    if (u >= n) return;
    int v = last[lo + u];
    if (v < INT_MAX) v++;
    last[lo + u] = v;
    if (has_mask) mask[mo + u] = v >= dead_steps;
}

/* Each row of w scaled to unit L2 norm; one group per row. */
__kernel void normalize_rows(__global float *w, ulong wo, int d, __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global float *wr = w + wo + r * d;
    float a = 0;
    for (int c = lid; c < d; c += L) a += wr[c] * wr[c];
    float norm = sqrt(wg_sum(s, a));
    for (int c = lid; c < d; c += L) wr[c] = wr[c] / norm;
}

/* g[r] -= dot(g[r], w[r]) w[r]; one group per row. */
__kernel void remove_parallel(__global const float *w, ulong wo, __global float *g, ulong go,
                              int d, __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global const float *wr = w + wo + r * d;
    __global float *gr = g + go + r * d;
    float a = 0;
    for (int c = lid; c < d; c += L) a += gr[c] * wr[c];
    float dot = wg_sum(s, a);
    for (int c = lid; c < d; c += L) gr[c] -= dot * wr[c];
}

/* Adam as PyTorch computes it: m.lerp_(g, 1-b1); v = b2 v + (1-b2) g^2;
 * p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), step_size = lr / (1 - b1^t),
 * bc2_sqrt = sqrt(1 - b2^t) (host scalars). */
__kernel void adam(__global float *p, ulong po, __global const float *g, ulong go,
                   __global float *m, ulong mo, __global float *v, ulong vo, ulong n,
                   float beta1, float beta2, float eps, float step_size, float bc2_sqrt)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    float gi = g[go + i];
    float mi = m[mo + i];
    mi = mi + (1.0f - beta1) * (gi - mi);
    float vi = beta2 * v[vo + i] + (1.0f - beta2) * gi * gi;
    m[mo + i] = mi;
    v[vo + i] = vi;
    p[po + i] -= step_size * (mi / (sqrt(vi) / bc2_sqrt + eps));
}
