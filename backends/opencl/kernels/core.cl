/* ---- core ops ------------------------------------------------------------ */

/* y = alpha x + beta y */
__kernel void axpby(ulong n, float alpha, __global const float *x, ulong xo, float beta,
                    __global float *y, ulong yo)
{
    size_t i = get_global_id(0);
    if (i < n) y[yo + i] = alpha * x[xo + i] + beta * y[yo + i];
}

/* y = round(x) to bf16 (fmt 1) or fp16 (fmt 2), widened back to float
 * (backend.h, round_lowp): nearest even; NaN stays NaN. fp16 goes through
 * vstore_half_rte / vload_half (core OpenCL, no cl_khr_fp16 needed) in the
 * first two bytes of y's own element; y may equal x. */
__kernel void round_lowp(ulong n, int fmt, __global const float *x, ulong xo, __global float *y,
                         ulong yo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    float v = x[xo + i];
    if (fmt == 1) {
        uint u = as_uint(v);
        if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;
        else u += 0x7fffu + ((u >> 16) & 1u);
        y[yo + i] = as_float(u & 0xffff0000u);
    } else {
        __global half *h = (__global half *)(y + yo + i);
        vstore_half_rte(v, 0, h);
        y[yo + i] = vload_half(0, h);
    }
}

/* x[r, c] += alpha v[c]; global (cols, rows). */
__kernel void add_row_vector(__global float *x, ulong xo, int rows, int cols,
                             __global const float *v, ulong vo, float alpha)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c < cols && r < rows) x[xo + (size_t)r * cols + c] += alpha * v[vo + c];
}

/* Partial sums of d and d^2 (d = x or x - y) per work-group: part[2g],
 * part[2g+1]. Item i of the launch sums elements i, i + G, i + 2G, ... (G =
 * global size), then the group reduces in a fixed tree. */
#ifdef MLSAE_FP64
__kernel void sum_stats_f64(ulong n, __global const float *x, ulong xo, __global const float *y,
                            ulong yo, int has_y, __global double *part, __local double *s)
{
    size_t gid = get_global_id(0), G = get_global_size(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    double a = 0, a2 = 0;
    for (size_t i = gid; i < n; i += G) {
        double d = has_y ? (double)x[xo + i] - (double)y[yo + i] : (double)x[xo + i];
        a += d;
        a2 += d * d;
    }
    s[lid] = a;
    s[L + lid] = a2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = L / 2; h > 0; h >>= 1) {
        if (lid < h) {
            s[lid] += s[lid + h];
            s[L + lid] += s[L + lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        part[2 * get_group_id(0)] = s[0];
        part[2 * get_group_id(0) + 1] = s[L];
    }
}
#endif

/* Compensated float accumulation (Kahan per item, TwoSum in the tree): for
 * devices without fp64. The host adds the (sum, error) pairs in double. */
void two_sum(float a, float b, float *s, float *e)
{
    float t = a + b, bb = t - a;
    *s = t;
    *e = (a - (t - bb)) + (b - bb);
}

__kernel void sum_stats_f32(ulong n, __global const float *x, ulong xo, __global const float *y,
                            ulong yo, int has_y, __global float *part, __local float *s)
{
    size_t gid = get_global_id(0), G = get_global_size(0);
    uint lid = get_local_id(0), L = get_local_size(0);
    float a = 0, ca = 0, a2 = 0, ca2 = 0, t, e;
    for (size_t i = gid; i < n; i += G) {
        /* d + de is x - y exactly; d^2 + its rounding error + 2 d de ~ (x - y)^2 */
        float d = x[xo + i], de = 0.0f;
        if (has_y) two_sum(d, -y[yo + i], &d, &de);
        two_sum(a, d, &t, &e);
        a = t;
        ca += e + de;
        float d2 = d * d;
        two_sum(a2, d2, &t, &e);
        a2 = t;
        ca2 += e + fma(d, d, -d2) + 2.0f * d * de;
    }
    /* s: [sum | err | sum2 | err2], L each */
    s[lid] = a;
    s[L + lid] = ca;
    s[2 * L + lid] = a2;
    s[3 * L + lid] = ca2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = L / 2; h > 0; h >>= 1) {
        if (lid < h) {
            two_sum(s[lid], s[lid + h], &t, &e);
            s[lid] = t;
            s[L + lid] += s[L + lid + h] + e;
            two_sum(s[2 * L + lid], s[2 * L + lid + h], &t, &e);
            s[2 * L + lid] = t;
            s[3 * L + lid] += s[3 * L + lid + h] + e;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        size_t g = get_group_id(0);
        part[4 * g] = s[0];
        part[4 * g + 1] = s[L];
        part[4 * g + 2] = s[2 * L];
        part[4 * g + 3] = s[3 * L];
    }
}
