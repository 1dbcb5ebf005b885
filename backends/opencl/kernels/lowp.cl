/* ---- mixed precision in 16-bit storage (doc/precision.md) ---------------
 * Used when the device has cl_khr_fp16 (the host then defines MLSAE_FP16),
 * or when MLSAE_OPENCL_FP16 asks for it on a device without: the encoder
 * weights and the activations are stored as 16-bit values (bf16: the high
 * half of a float32; fp16: IEEE half), half the bytes of float32, and the
 * product reads them back exactly into float and sums in float32.
 * vload_half / vstore_half_rte are core OpenCL and need no extension; with
 * cl_khr_fp16 the halves are read as the native type. */
#ifdef MLSAE_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

/* Element i of 16-bit storage p as a float (exact). fmt 1 bf16, 2 fp16. */
inline float lowp_load(int fmt, __global const ushort *p, size_t i)
{
    if (fmt == 1) return as_float((uint)p[i] << 16);
#ifdef MLSAE_FP16
    return (float)((__global const half *)p)[i];
#else
    return vload_half(i, (__global const half *)p);
#endif
}

/* y [rows, cols] (16-bit, dense, from element yo) = round(x [rows, cols]
 * with row stride ldx), rounded as round_lowp (nearest even, NaN stays
 * NaN, fp16 overflows to inf). global (cols, rows). */
__kernel void lowp_store(int fmt, int rows, int cols, __global const float *x, ulong xo, int ldx,
                         __global ushort *y, ulong yo)
{
    int c = get_global_id(0), r = get_global_id(1);
    if (c >= cols || r >= rows) return;
    float v = x[xo + (size_t)r * ldx + c];
    size_t i = yo + (size_t)r * cols + c;
    if (fmt == 1) {
        uint u = as_uint(v);
        if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;
        else u += 0x7fffu + ((u >> 16) & 1u);
        y[i] = (ushort)(u >> 16);
    } else {
        vstore_half_rte(v, i, (__global half *)y);
    }
}

/* C [M, N] (row stride ldc) = A [M, K] @ B [N, K]^T with A, B in 16-bit
 * storage (dense rows of K). sgemm_tiled's tiles and summation order (so
 * the result is that of sgemm_tiled on the rounded float32 inputs), with the
 * tiles loaded from 16-bit storage. */
__kernel void lowp_gemm_tiled(int fmt, int M, int N, int K, __global const ushort *A, ulong ao,
                              __global const ushort *B, ulong bo, __global float *C, ulong co,
                              int ldc)
{
    __local float As[TSK][TSM];
    __local float Bs[TSK][TSN];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int tid = ty * RTSN + tx, nthreads = RTSM * RTSN;
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    float acc[WPTM][WPTN];
    for (int i = 0; i < WPTM; i++)
        for (int j = 0; j < WPTN; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TSK) {
        for (int e = tid; e < TSM * TSK; e += nthreads) {
            int m = e / TSK, kk = e % TSK;
            int gm = m0 + m, gk = k0 + kk;
            As[kk][m] = gm < M && gk < K ? lowp_load(fmt, A, ao + (size_t)gm * K + gk) : 0.0f;
        }
        for (int e = tid; e < TSN * TSK; e += nthreads) {
            int n = e / TSK, kk = e % TSK;
            int gn = n0 + n, gk = k0 + kk;
            Bs[kk][n] = gn < N && gk < K ? lowp_load(fmt, B, bo + (size_t)gn * K + gk) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        tile_accumulate(As, Bs, tx, ty, acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    tile_store(M, N, m0, n0, tx, ty, acc, 1.0f, 0.0f, C, co, ldc, 0, 0, 0);
}
