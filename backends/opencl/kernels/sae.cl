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
    float ss;
    float mean = wg_row_mean_ss(s, xr, d, &ss);
    float sdev = sqrt(ss / (d - 1));
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

/* Float -> unsigned key with the same order (-0 and +0 equal; every NaN
 * above +inf, as torch.topk ranks NaN). */
uint f2key(float f)
{
    if (isnan(f)) return 0xffffffffu;
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
 * in j order; beta == 0 overwrites without reading. f = ReLU keeps NaN (as
 * torch.relu). Zero coefficients are skipped, as the CPU backend does. An
 * index outside [0, n_table) contributes nothing and raises the backend's
 * error flag (bad[0] = OCL_BAD_SPARSE_GATHER), which the host reports at the
 * next finish or read, as the CPU backend reports it from the op.
 * global (d, rows). */
__kernel void sparse_gather(__global const float *coef, ulong co, __global const int *idx,
                            ulong io, int k, __global const float *table, ulong to, int d,
                            ulong n_table, int relu, float beta, __global float *out, ulong oo,
                            int rows, __global int *bad)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= d || r >= rows) return;
    size_t oi = oo + (size_t)r * d + c;
    float acc = beta != 0.0f ? beta * out[oi] : 0.0f;
    for (int j = 0; j < k; j++) {
        float w = coef[co + (size_t)r * k + j];
        if ((relu && w < 0.0f) || w == 0.0f) continue;
        int u = idx[io + (size_t)r * k + j];
        if (u < 0 || (ulong)u >= n_table) {
            bad[0] = OCL_BAD_SPARSE_GATHER;
            continue;
        }
        acc += w * table[to + (size_t)u * d + c];
    }
    out[oi] = acc;
}

/* out[r, j] = dot(x[r], table[idx[r, j]]): one work-group per (r, j). With a
 * gate, out = 0 where !(gate[r, j] > 0) (NaN included) and the dot is
 * skipped (uniform per group, so the early return is safe). An index outside
 * [0, n_table) gives 0 and raises the error flag (OCL_BAD_SPARSE_DOT). */
__kernel void sparse_dot(__global const float *x, ulong xo, __global const int *idx, ulong io,
                         int k, __global const float *table, ulong to, int d, ulong n_table,
                         __global const float *gate, ulong go, int has_gate,
                         __global float *out, ulong oo, __local float *s, __global int *bad)
{
    size_t e = get_group_id(0), r = e / k;
    uint lid = get_local_id(0), L = get_local_size(0);
    int u = idx[io + e];
    if (has_gate && !(gate[go + e] > 0.0f)) {
        if (lid == 0) out[oo + e] = 0.0f;
        return;
    }
    if (u < 0 || (ulong)u >= n_table) {
        if (lid == 0) {
            out[oo + e] = 0.0f;
            bad[0] = OCL_BAD_SPARSE_DOT;
        }
        return;
    }
    __global const float *xr = x + xo + r * d;
    __global const float *tr = table + to + (size_t)u * d;
    float a = 0;
    for (int c = lid; c < d; c += L) a += xr[c] * tr[c];
    a = wg_sum(s, a);
    if (lid == 0) out[oo + e] = a;
}

/* dst[u, c] += sum over the entries e of latent u, in (r, j) order, of
 * coef[e] x[e / k, c] (zero coefficients skipped). The host groups the entries by latent (counting
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
        float w = coef[co + e];
        if (w != 0.0f) acc += w * x[xo + (size_t)(e / k) * d + c]; /* as the CPU backend */
    }
    dst[di] = acc;
}

/* Latents selected with value > threshold get last_nonzero = 0; an index
 * outside [0, n) raises the error flag. global rows*k. */
__kernel void dead_reset(__global const float *vals, ulong vo, __global const int *idx,
                         ulong io, ulong total, float threshold, __global int *last, ulong lo,
                         int n, __global int *bad)
{
    size_t e = get_global_id(0);
    if (e >= total) return;
    int u = idx[io + e];
    if (u < 0 || u >= n) {
        bad[0] = OCL_BAD_UPDATE_DEAD;
        return;
    }
    if (vals[vo + e] > threshold) last[lo + u] = 0;
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

/* dst[r, j] = src[r, cols[j]], 4-byte words copied bit for bit (float32 or
 * int32); a column outside [0, n) gives 0 (the host cannot check
 * device-resident indices without a round trip; this keeps reads in
 * bounds). global (n_cols, rows). */
__kernel void gather_columns(__global const uint *src, ulong so, int n, __global const int *cols,
                             ulong co, int n_cols, __global uint *dst, ulong dsto, int rows,
                             __global int *bad)
{
    int j = get_global_id(0), r = get_global_id(1);
    if (j >= n_cols || r >= rows) return;
    int c = cols[co + j];
    int ok = c >= 0 && c < n;
    if (!ok) bad[0] = OCL_BAD_GATHER_COLUMNS;
    dst[dsto + (size_t)r * n_cols + j] = ok ? src[so + (size_t)r * n + c] : 0u;
}

/* x[i] = max(x[i], 0) in place; NaN stays NaN (as torch.relu). */
__kernel void relu(__global float *x, ulong xo, ulong n)
{
    size_t i = get_global_id(0);
    if (i < n && x[xo + i] < 0.0f) x[xo + i] = 0.0f;
}

/* Each row of w scaled to unit L2 norm (a zero row is left as it is); one
 * group per row. */
__kernel void normalize_rows(__global float *w, ulong wo, int d, __local float *s)
{
    size_t r = get_group_id(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    __global float *wr = w + wo + r * d;
    float a = 0;
    for (int c = lid; c < d; c += L) a += wr[c] * wr[c];
    float norm = sqrt(wg_sum(s, a));
    if (norm == 0.0f) return; /* uniform per group */
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

/* Adam in torch.optim.Adam's order of operations (single-tensor path):
 * m.lerp_(g, w1); v = v b2 + w2 g^2; denom = sqrt(v) / bc2_sqrt + eps;
 * p += neg_step * m / denom, with w1 = 1 - b1, w2 = 1 - b2,
 * neg_step = -lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t) computed on the host
 * in double. No contraction into fma: the same roundings as the CPU backend. */
__kernel void adam(__global float *p, ulong po, __global const float *g, ulong go,
                   __global float *m, ulong mo, __global float *v, ulong vo, ulong n,
                   float w1, float beta2, float w2, float eps, float neg_step, float bc2_sqrt)
{
#pragma OPENCL FP_CONTRACT OFF
    size_t i = get_global_id(0);
    if (i >= n) return;
    float gi = g[go + i];
    float mi = m[mo + i];
    mi = mi + w1 * (gi - mi);
    float vi = v[vo + i] * beta2 + w2 * gi * gi;
    float denom = sqrt(vi) / bc2_sqrt + eps;
    m[mo + i] = mi;
    v[vo + i] = vi;
    p[po + i] = p[po + i] + neg_step * mi / denom;
}
