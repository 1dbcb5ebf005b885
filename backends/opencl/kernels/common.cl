/* Kernels of the mlsae OpenCL backend: portable OpenCL C 1.2, no vendor
 * extensions (cl_khr_fp64 is used only when the host found it and defined
 * MLSAE_FP64). Every buffer argument comes with an element offset (ulong):
 * refs are {buffer, element offset}, never sub-buffers.
 *
 * Reductions run in a fixed tree order over power-of-two work-groups, so
 * results are deterministic for a given device and work-group size. */
#ifdef MLSAE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef MLSAE_FORCE_BUILD_ERROR
#error "build failure requested by MLSAE_FORCE_BUILD_ERROR"
#endif

/* Sum of v over the work-group (power-of-two size); every item must call it. */
float wg_sum(__local float *s, float v)
{
    uint lid = get_local_id(0), n = get_local_size(0);
    s[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = n / 2; h > 0; h >>= 1) {
        if (lid < h) s[lid] += s[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Two-pass statistics of the row xr[0..n) over the work-group: returns the
 * mean and sets *ss to the sum of squared deviations from it (every item
 * must call it; all get the same values). */
float wg_row_mean_ss(__local float *s, __global const float *xr, int n, float *ss)
{
    uint lid = get_local_id(0), L = get_local_size(0);
    float a = 0;
    for (int c = lid; c < n; c += L) a += xr[c];
    float mean = wg_sum(s, a) / n;
    a = 0;
    for (int c = lid; c < n; c += L) {
        float t = xr[c] - mean;
        a += t * t;
    }
    *ss = wg_sum(s, a);
    return mean;
}

/* Maximum of v over the work-group (power-of-two size). */
float wg_max(__local float *s, float v)
{
    uint lid = get_local_id(0), n = get_local_size(0);
    s[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = n / 2; h > 0; h >>= 1) {
        if (lid < h) s[lid] = fmax(s[lid], s[lid + h]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
