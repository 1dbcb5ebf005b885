/* C = A B^T (+ C) with AVX-512 for the transformer's linear layers, used
 * when the CPU has AVX-512F (OpenBLAS may run AVX2 kernels on CPUs newer
 * than itself). Single-threaded: the caller splits the rows over threads.
 *
 * Packed GEMM: the K dimension is cut in KC slices, B in NC-row blocks
 * packed as 32-wide column panels [KC][32] (zero-padded); a 12 x 32
 * micro-kernel keeps 24 zmm accumulators and does 24 FMAs per k with 2
 * loads of B and 12 broadcasts read straight from 12 rows of A (A is not
 * packed: its rows are contiguous in k already; only a last tile of fewer
 * than 12 rows is copied to a zero-padded block). Edge columns only need
 * masked stores. */
#include "config.h"
#include "cpu_nn_math.h"

#include <stdlib.h>
#include <string.h>

#if defined(MLSAE_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define HAVE_AVX512_KERNEL 1

enum { MR = 12, NR = 32, KC = 256, MC = 96, NC = 512 };

static int avx512_enabled = -1;

int cpu_nn_gemm_avx512_available(void)
{
    if (avx512_enabled < 0) {
        __builtin_cpu_init();
        avx512_enabled = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return avx512_enabled;
}

void cpu_nn_gemm_avx512_set(int enabled)
{
    avx512_enabled = -1;
    if (!enabled || !cpu_nn_gemm_avx512_available()) avx512_enabled = 0;
}

/* dst[t][r] = src[r][t] for r, t < 16 (row strides lds, ldd): the 16 x 16
 * transpose in registers (pairs of rows interleaved, then pairs of pairs,
 * then 128-bit lanes in two steps). */
__attribute__((target("avx512f"))) static void transpose16(const float *src, size_t lds,
                                                            float *dst, size_t ldd)
{
    __m512 r[16], t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#define PD(x) _mm512_castps_pd(x)
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(PD(t[i]), PD(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(PD(t[i]), PD(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(PD(t[i + 1]), PD(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(PD(t[i + 1]), PD(t[i + 3])));
    }
#undef PD
#pragma GCC unroll 2
    for (int h = 0; h < 16; h += 8)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
        }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

/* Bp[kk][j] = op(B)[k0 + kk][n0 + j] for j < nr, 0 beyond; b points at
 * element (n0, k0) of B [n, k] (trans_b) or (k0, n0) of B [k, n]. */
static void pack_b(int trans_b, const float *b, int ldb, int nr, int kc, float *bp)
{
    if (!trans_b) {
        for (int kk = 0; kk < kc; kk++) {
            memcpy(bp + kk * NR, b + (size_t)kk * ldb, (size_t)nr * sizeof(float));
            for (int j = nr; j < NR; j++) bp[kk * NR + j] = 0.0f;
        }
        return;
    }
    for (int j0 = 0; j0 < NR; j0 += 16) {
        int kk0 = 0;
        if (nr >= j0 + 16) /* whole 16-row halves: 16 x 16 transposes */
            for (; kk0 + 16 <= kc; kk0 += 16)
                transpose16(b + (size_t)j0 * ldb + kk0, (size_t)ldb, bp + kk0 * NR + j0, NR);
        for (int j = j0; j < j0 + 16; j++) {
            if (j < nr) {
                const float *row = b + (size_t)j * ldb;
                for (int kk = kk0; kk < kc; kk++) bp[kk * NR + j] = row[kk];
            } else {
                for (int kk = kk0; kk < kc; kk++) bp[kk * NR + j] = 0.0f;
            }
        }
    }
}

/* at[i][kk] = A[i][kk] for i < mr, 0 for mr <= i < MR: a full tile for the
 * kernel (row stride kc). */
static void copy_a_tail(const float *a, int lda, int mr, int kc, float *at)
{
    for (int i = 0; i < MR; i++) {
        if (i < mr)
            memcpy(at + (size_t)i * kc, a + (size_t)i * lda, (size_t)kc * sizeof(float));
        else
            memset(at + (size_t)i * kc, 0, (size_t)kc * sizeof(float));
    }
}

__attribute__((target("avx512f"))) static void kernel_12x32(int kc, const float *a, size_t lda,
                                                             const float *bp, float *c, int ldc,
                                                             int mr, int nr, int load_c)
{
    __m512 acc[MR][2];
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int i = 0; i < MR; i++) {
        if (load_c && i < mr) {
            acc[i][0] = _mm512_maskz_loadu_ps(m0, c + (size_t)i * ldc);
            acc[i][1] = _mm512_maskz_loadu_ps(m1, c + (size_t)i * ldc + 16);
        } else {
            acc[i][0] = _mm512_setzero_ps();
            acc[i][1] = _mm512_setzero_ps();
        }
    }
    for (int kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_loadu_ps(bp + kk * NR), b1 = _mm512_loadu_ps(bp + kk * NR + 16);
        const float *ak = a + kk;
#define ROW(i)                                                   \
    do {                                                         \
        __m512 av = _mm512_set1_ps(ak[(i) * lda]);               \
        acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);          \
        acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);          \
    } while (0)
        ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
        ROW(6); ROW(7); ROW(8); ROW(9); ROW(10); ROW(11);
#undef ROW
    }
    for (int i = 0; i < mr; i++) {
        _mm512_mask_storeu_ps(c + (size_t)i * ldc, m0, acc[i][0]);
        _mm512_mask_storeu_ps(c + (size_t)i * ldc + 16, m1, acc[i][1]);
    }
}

size_t cpu_nn_gemm_avx512_ws_floats(void) { return (size_t)(NC + MR) * KC; }

int cpu_nn_gemm_avx512(int trans_b, int m, int n, int k, const float *a, int lda, const float *b,
                       int ldb, int accumulate, float *c, int ldc, float *ws)
{
    float *owned = NULL;
    if (!ws) {
        ws = owned = aligned_alloc(64, cpu_nn_gemm_avx512_ws_floats() * sizeof(float));
        if (!ws) return -1;
    }
    float *bp = ws, *ap = ws + (size_t)NC * KC;
    if (k == 0 && !accumulate)
        for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
    for (int jc = 0; jc < n; jc += NC) {
        int nc = n - jc < NC ? n - jc : NC;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = k - pc < KC ? k - pc : KC;
            int load_c = accumulate || pc > 0;
            for (int jr = 0; jr < nc; jr += NR) {
                const float *src = trans_b ? b + (size_t)(jc + jr) * ldb + pc
                                           : b + (size_t)pc * ldb + jc + jr;
                pack_b(trans_b, src, ldb, nc - jr < NR ? nc - jr : NR, kc, bp + (size_t)jr * kc);
            }
            for (int ic = 0; ic < m; ic += MC) {
                int mc = m - ic < MC ? m - ic : MC;
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR) {
                        const float *at = a + (size_t)(ic + ir) * lda + pc;
                        size_t ld_at = (size_t)lda;
                        int mr = mc - ir < MR ? mc - ir : MR;
                        if (mr < MR) { /* only the last tile; copied again per panel */
                            copy_a_tail(at, lda, mr, kc, ap);
                            at = ap;
                            ld_at = (size_t)kc;
                        }
                        kernel_12x32(kc, at, ld_at, bp + (size_t)jr * kc,
                                     c + (size_t)(ic + ir) * ldc + jc + jr, ldc, mr,
                                     nc - jr < NR ? nc - jr : NR, load_c);
                    }
            }
        }
    }
    free(owned);
    return 0;
}

#else

int cpu_nn_gemm_avx512_available(void) { return 0; }
void cpu_nn_gemm_avx512_set(int enabled) { (void)enabled; }
size_t cpu_nn_gemm_avx512_ws_floats(void) { return 0; }
int cpu_nn_gemm_avx512(int trans_b, int m, int n, int k, const float *a, int lda, const float *b,
                       int ldb, int accumulate, float *c, int ldc, float *ws)
{
    (void)trans_b, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
    (void)accumulate, (void)c, (void)ldc, (void)ws;
    return -1;
}

#endif
