/* ---- GEMM: C = alpha op(A) op(B) + beta C (+ bias[col]) -------------------
 * Tiled in local memory with register blocking. The host picks the tile
 * (TSM x TSN output tile, TSK deep, WPTM x WPTN outputs per item) from the
 * device's work-group and local-memory limits and defines it at build time.
 * The work-group is (TSN/WPTN, TSM/WPTM); edges are zero-padded in the tiles
 * so any M, N, K, leading dimensions and offsets work. beta == 0 never reads
 * C (BLAS convention). */
#ifndef TSM
#define TSM 64
#define TSN 64
#define TSK 16
#define WPTM 4
#define WPTN 4
#endif
#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)

/* acc[i][j] += sum over kk of As[kk][ty + i*RTSM] * Bs[kk][tx + j*RTSN]: the
 * item's WPTM x WPTN outputs from one TSK-deep pair of tiles, kk in order
 * (the summation order that sgemm_tiled and lowp_gemm_tiled share). */
inline void tile_accumulate(__local const float (*As)[TSM], __local const float (*Bs)[TSN],
                            int tx, int ty, float (*acc)[WPTN])
{
    for (int kk = 0; kk < TSK; kk++) {
        float a[WPTM], b[WPTN];
        for (int i = 0; i < WPTM; i++) a[i] = As[kk][ty + i * RTSM];
        for (int j = 0; j < WPTN; j++) b[j] = Bs[kk][tx + j * RTSN];
        for (int i = 0; i < WPTM; i++)
            for (int j = 0; j < WPTN; j++) acc[i][j] += a[i] * b[j];
    }
}

/* The item's outputs that fall inside C [M, N] (row stride ldc, from element
 * co; the tile's corner at row m0, column n0): C = alpha acc + beta C
 * (+ bias[col] when has_bias); beta == 0 never reads C. */
inline void tile_store(int M, int N, int m0, int n0, int tx, int ty, float (*acc)[WPTN],
                       float alpha, float beta, __global float *C, ulong co, int ldc,
                       __global const float *bias, ulong biaso, int has_bias)
{
    for (int i = 0; i < WPTM; i++) {
        int gm = m0 + ty + i * RTSM;
        if (gm >= M) continue;
        for (int j = 0; j < WPTN; j++) {
            int gn = n0 + tx + j * RTSN;
            if (gn >= N) continue;
            size_t ci = co + (size_t)gm * ldc + gn;
            float v = alpha * acc[i][j];
            if (beta != 0.0f) v += beta * C[ci];
            if (has_bias) v += bias[biaso + gn];
            C[ci] = v;
        }
    }
}

__kernel void sgemm_tiled(int ta, int tb, int M, int N, int K, float alpha,
                          __global const float *A, ulong ao, int lda,
                          __global const float *B, ulong bo, int ldb, float beta,
                          __global float *C, ulong co, int ldc,
                          __global const float *bias, ulong biaso, int has_bias)
{
    __local float As[TSK][TSM];
    __local float Bs[TSK][TSN];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int tid = ty * RTSN + tx, nthreads = RTSM * RTSN;
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    A += ao;
    B += bo;
    float acc[WPTM][WPTN];
    for (int i = 0; i < WPTM; i++)
        for (int j = 0; j < WPTN; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TSK) {
        for (int e = tid; e < TSM * TSK; e += nthreads) {
            /* consecutive items read consecutive addresses of A */
            int m = ta ? e % TSM : e / TSK, kk = ta ? e / TSM : e % TSK;
            int gm = m0 + m, gk = k0 + kk;
            float v = 0.0f;
            if (gm < M && gk < K)
                v = ta ? A[(size_t)gk * lda + gm] : A[(size_t)gm * lda + gk];
            As[kk][m] = v;
        }
        for (int e = tid; e < TSN * TSK; e += nthreads) {
            int n = tb ? e / TSK : e % TSN, kk = tb ? e % TSK : e / TSN;
            int gn = n0 + n, gk = k0 + kk;
            float v = 0.0f;
            if (gn < N && gk < K)
                v = tb ? B[(size_t)gn * ldb + gk] : B[(size_t)gk * ldb + gn];
            Bs[kk][n] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        tile_accumulate(As, Bs, tx, ty, acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    tile_store(M, N, m0, n0, tx, ty, acc, alpha, beta, C, co, ldc, bias, biaso, has_bias);
}

/* Fallback for devices whose limits do not fit any tile: one item per C element. */
__kernel void sgemm_simple(int ta, int tb, int M, int N, int K, float alpha,
                           __global const float *A, ulong ao, int lda,
                           __global const float *B, ulong bo, int ldb, float beta,
                           __global float *C, ulong co, int ldc,
                           __global const float *bias, ulong biaso, int has_bias)
{
    int gn = get_global_id(0), gm = get_global_id(1);
    if (gm >= M || gn >= N) return;
    A += ao;
    B += bo;
    float acc = 0.0f;
    for (int k = 0; k < K; k++) {
        float a = ta ? A[(size_t)k * lda + gm] : A[(size_t)gm * lda + k];
        float b = tb ? B[(size_t)gn * ldb + k] : B[(size_t)k * ldb + gn];
        acc += a * b;
    }
    size_t ci = co + (size_t)gm * ldc + gn;
    float v = alpha * acc;
    if (beta != 0.0f) v += beta * C[ci];
    if (has_bias) v += bias[biaso + gn];
    C[ci] = v;
}
