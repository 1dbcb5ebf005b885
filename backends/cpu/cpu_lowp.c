/* Mixed-precision ops of the CPU backend (backend.h, core ops; the
 * numerics are in doc/precision.md).
 *
 * bf16 on a CPU with AVX512_BF16 (chosen at run time): vdpbf16ps, which
 * multiplies pairs of bf16 values exactly and adds them to float32
 * accumulators (round to nearest even; bf16/float32 subnormals are read as
 * zero and flushed, which the SAE's inputs never reach). W [n, k] is packed
 * once per weight update as 32-column panels of bf16 pairs,
 * panel j0 = [k/2 pairs][nr columns] of uint32 (the low half is the even k,
 * the high half the odd one; an odd k is padded with zero), so the kernel
 * loads a whole panel row with one 64-byte load per 16 columns. A is
 * rounded to pairs per call (its rows are zero-padded to whole tiles). The
 * 12 x 32 micro-kernel keeps 24 zmm accumulators and runs over k in slices
 * of 512 (a 32 KiB panel slice: the whole of d <= 512, so C is written
 * once). Work items are (96-row block, panel) pairs taken block by block, so
 * each thread writes whole stretches of C's rows (the output of the encoder
 * is [rows, n_latents]: walking it panel by panel touches a new page per
 * row and was twice as slow on 4096 rows).
 *
 * Otherwise (F16, or bf16 on a CPU without AVX512_BF16): packed holds the
 * rounded float32 values of W, A is rounded into a scratch, and the float32
 * GEMM multiplies them: the same products, exact, summed in float32. */
#include "config.h"
#include "cpu_internal.h"
#include "cpu_sae_ops.h"
#include "core/fp16.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int bf16_native = -1;

int cpu_lowp_bf16_available(void)
{
#if defined(MLSAE_HAVE_AVX512BF16)
    if (bf16_native < 0) {
        __builtin_cpu_init();
        bf16_native = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    }
    return bf16_native;
#else
    return 0;
#endif
}

void cpu_lowp_bf16_set(int enabled)
{
    bf16_native = -1;
    if (!enabled || !cpu_lowp_bf16_available()) bf16_native = 0;
}

static inline float round_fmt(int fmt, float x)
{
    return fmt == MLSAE_LOWP_BF16 ? mlsae_round_bf16(x) : mlsae_round_f16(x);
}

static void round_span(int fmt, const float *x, float *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) y[i] = round_fmt(fmt, x[i]);
}

static int cpu_round_lowp(mlsae_backend *be, int fmt, mlsae_ref x, mlsae_ref y, size_t n)
{
    (void)be;
    round_span(fmt, cpu_f32(x), cpu_f32(y), n);
    return 0;
}

static int native(int fmt) { return fmt == MLSAE_LOWP_BF16 && cpu_lowp_bf16_available(); }

static inline uint32_t bf16_pair(const float *row, int k, int p)
{
    uint32_t lo = mlsae_f32_to_bf16(row[2 * p]);
    uint32_t hi = 2 * p + 1 < k ? mlsae_f32_to_bf16(row[2 * p + 1]) : 0;
    return lo | hi << 16;
}

enum { MR = 12, NR = 32, KP = 256 /* pairs per k slice */, MB = 96 /* rows per work item */ };
/* The fused product and TopK (lowp_gemm_topk): a work item's MB rows are
 * computed TG columns at a time into a strip of row stride TG + 16 (not a
 * multiple of 4 KiB, so that the micro-kernel's 12 rows do not share L1
 * sets), MB x TG floats that stay in L2, and fed to the rows' TopK heaps. */
enum { TG = 1024, TG_LD = TG + 16, TG_WORDS = TG / NR /* flag words of a row */ };

static int cpu_lowp_pack(mlsae_backend *be, int fmt, mlsae_ref w, int n, int k, mlsae_ref packed)
{
    (void)be;
    const float *ws = cpu_f32(w);
    if (!native(fmt)) {
        round_span(fmt, ws, cpu_f32(packed), (size_t)n * k);
        return 0;
    }
    const int k2 = (k + 1) / 2, panels = (n + NR - 1) / NR;
    uint32_t *out = (uint32_t *)cpu_f32(packed);
#pragma omp parallel for schedule(static) if ((size_t)n * k > 65536)
    for (int pi = 0; pi < panels; pi++) {
        int j0 = pi * NR, nr = n - j0 < NR ? n - j0 : NR;
        uint32_t *panel = out + (size_t)j0 * k2;
        for (int j = 0; j < nr; j++) {
            const float *row = ws + (size_t)(j0 + j) * k;
            for (int p = 0; p < k2; p++) panel[(size_t)p * nr + j] = bf16_pair(row, k, p);
        }
    }
    return 0;
}

#if defined(MLSAE_HAVE_AVX512BF16)
#include <immintrin.h>

/* c[i][0..nr) (+)= sum over the kp pairs of a's row i and the panel slice
 * bp [kp][nr]; a: MR rows of pairs with row stride lda. The 24 accumulators
 * are named variables (an array of them ends up spilled to the stack).
 * With thr (the last k slice of the fused TopK), bit j of bits[i * bits_ld]
 * is also set where c[i][j] > thr[i] or is unordered with it (NaN): the
 * columns row i's TopK must look at, found while the sums are in registers. */
#define FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
__attribute__((target("avx512f,avx512bf16"))) static void kernel_12x32(
    int kp, const uint32_t *a, size_t lda, const uint32_t *bp, int nr, float *c, int ldc, int mr,
    int load_c, const float *thr, uint32_t *bits, int bits_ld)
{
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
#define DECL(i) __m512 acc##i##_0 = _mm512_setzero_ps(), acc##i##_1 = _mm512_setzero_ps();
    FOR_ROWS(DECL)
#undef DECL
    if (load_c) {
#define LOAD(i)                                                                   \
        if (i < mr) {                                                             \
            acc##i##_0 = _mm512_maskz_loadu_ps(m0, c + (size_t)(i) * ldc);        \
            acc##i##_1 = _mm512_maskz_loadu_ps(m1, c + (size_t)(i) * ldc + 16);   \
        }
        FOR_ROWS(LOAD)
#undef LOAD
    }
    for (int p = 0; p < kp; p++) {
        const uint32_t *brow = bp + (size_t)p * nr;
        __m512bh b0, b1;
        if (nr == NR) {
            b0 = (__m512bh)_mm512_loadu_si512(brow);
            b1 = (__m512bh)_mm512_loadu_si512(brow + 16);
        } else {
            b0 = (__m512bh)_mm512_maskz_loadu_epi32(m0, brow);
            b1 = (__m512bh)_mm512_maskz_loadu_epi32(m1, brow + 16);
        }
        const uint32_t *ap = a + p;
#define ROW(i)                                                                    \
        {                                                                         \
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[(size_t)(i) * lda]); \
            acc##i##_0 = _mm512_dpbf16_ps(acc##i##_0, av, b0);                    \
            acc##i##_1 = _mm512_dpbf16_ps(acc##i##_1, av, b1);                    \
        }
        FOR_ROWS(ROW)
#undef ROW
    }
#define STORE(i)                                                                  \
    if (i < mr) {                                                                 \
        _mm512_mask_storeu_ps(c + (size_t)(i) * ldc, m0, acc##i##_0);             \
        _mm512_mask_storeu_ps(c + (size_t)(i) * ldc + 16, m1, acc##i##_1);        \
    }
    FOR_ROWS(STORE)
#undef STORE
    if (!thr) return;
#define FLAG(i)                                                                          \
    if (i < mr) {                                                                        \
        __m512 t = _mm512_set1_ps(thr[i]);                                               \
        uint32_t lo = _mm512_mask_cmp_ps_mask(m0, acc##i##_0, t, _CMP_NLE_UQ);           \
        uint32_t hi = _mm512_mask_cmp_ps_mask(m1, acc##i##_1, t, _CMP_NLE_UQ);           \
        bits[(size_t)(i) * bits_ld] = lo | hi << 16;                                     \
    }
    FOR_ROWS(FLAG)
#undef FLAG
}

static int gemm_bf16(mlsae_backend *be, int m, int n, int k, const float *a, int lda,
                     const uint32_t *packed, float *c, int ldc)
{
    const int k2 = (k + 1) / 2, panels = (n + NR - 1) / NR, blocks = (m + MB - 1) / MB;
    const int mpad = (m + MR - 1) / MR * MR;
    uint32_t *ab = aligned_alloc(64, ((size_t)mpad * (k2 > 0 ? k2 : 1) * 4 + 63) / 64 * 64);
    if (!ab) return mlsae_backend_fail(be, "cpu lowp_gemm: out of memory (%d x %d)", m, k);
#pragma omp parallel for schedule(static) if ((size_t)m * k > 65536)
    for (int r = 0; r < mpad; r++)
        for (int p = 0; p < k2; p++)
            ab[(size_t)r * k2 + p] = r < m ? bf16_pair(a + (size_t)r * lda, k, p) : 0;
    if (k2 == 0)
        for (int r = 0; r < m; r++) memset(c + (size_t)r * ldc, 0, (size_t)n * sizeof *c);
    const int nt = (double)m * n * k < 1e6 ? 1 : cpu_of(be)->n_threads;
#pragma omp parallel for collapse(2) schedule(static) num_threads(nt) if (nt > 1)
    for (int bi = 0; bi < blocks; bi++)
        for (int pi = 0; pi < panels; pi++) {
            int j0 = pi * NR, nr = n - j0 < NR ? n - j0 : NR;
            const uint32_t *panel = packed + (size_t)j0 * k2;
            int r0 = bi * MB, r1 = r0 + MB < m ? r0 + MB : m;
            for (int p0 = 0; p0 < k2; p0 += KP) {
                int kp = k2 - p0 < KP ? k2 - p0 : KP;
                for (int r = r0; r < r1; r += MR)
                    kernel_12x32(kp, ab + (size_t)r * k2 + p0, (size_t)k2,
                                 panel + (size_t)p0 * nr, nr, c + (size_t)r * ldc + j0, ldc,
                                 r1 - r < MR ? r1 - r : MR, p0 > 0, NULL, NULL, 0);
            }
        }
    free(ab);
    return 0;
}

/* The product of a [m, kd] and the packed W [n, kd], fed to the TopK of
 * each row (k <= TG) group by group in increasing columns: the offers of
 * topk's own pass, so values and indices are bit for bit topk_gather's on
 * the product gemm_bf16 writes (the same kernel calls, the same sums).
 * After the first group the micro-kernel also flags, while the sums are in
 * registers, the columns above each row's threshold as it stood before the
 * group; the TopK offers only those (a column left out is at most a lower
 * threshold, so it would have been rejected): on 12288 rows of 32768
 * latents this removed the second pass over every pre-activation. The
 * candidates' columns (cols, visited in the order `order` sorts them) are
 * copied out of each group. */
static int gemm_topk_bf16(mlsae_backend *be, int m, int n, int kd, const float *a, int lda,
                          const uint32_t *packed, int k, float *vals, int32_t *idx,
                          const int32_t *cols, const int32_t *order, int n_cols, uint32_t *gath)
{
    const int k2 = (kd + 1) / 2, blocks = (m + MB - 1) / MB;
    const int nt = (double)m * n * kd < 1e6 ? 1 : cpu_of(be)->n_threads;
    const int use_avx2 = cpu_of(be)->has_avx2;
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        uint32_t *ab = aligned_alloc(64, (size_t)MB * (k2 > 0 ? k2 : 16) * 4);
        float *strip = aligned_alloc(64, (size_t)MB * TG_LD * sizeof *strip);
        cpu_topk_item *heap = malloc((size_t)MB * k * sizeof *heap);
        float *thr = malloc((size_t)MB * sizeof *thr);
        uint32_t *bits = malloc((size_t)MB * TG_WORDS * sizeof *bits);
        int ok = ab && strip && heap && thr && bits;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int bi = 0; bi < blocks; bi++) {
            if (!ok) continue;
            const int r0 = bi * MB, mb = m - r0 < MB ? m - r0 : MB;
            const int mpad = (mb + MR - 1) / MR * MR;
            for (int r = 0; r < mpad; r++)
                for (int p = 0; p < k2; p++)
                    ab[(size_t)r * k2 + p] = r < mb ? bf16_pair(a + (size_t)(r0 + r) * lda, kd, p) : 0;
            int oi = 0; /* the next candidate, in column order */
            for (int g0 = 0; g0 < n; g0 += TG) {
                const int gw = n - g0 < TG ? n - g0 : TG;
                /* after the first group the kernel flags the columns above
                 * each row's threshold, and the TopK reads only those */
                const int flag = g0 > 0 && k2 > 0;
                for (int j0 = g0; j0 < g0 + gw; j0 += NR) {
                    const int nr = n - j0 < NR ? n - j0 : NR;
                    const uint32_t *panel = packed + (size_t)j0 * k2;
                    float *c = strip + (j0 - g0);
                    if (k2 == 0)
                        for (int r = 0; r < mb; r++) memset(c + (size_t)r * TG_LD, 0, (size_t)nr * 4);
                    for (int p0 = 0; p0 < k2; p0 += KP) {
                        const int kp = k2 - p0 < KP ? k2 - p0 : KP, last = p0 + kp >= k2;
                        for (int r = 0; r < mb; r += MR)
                            kernel_12x32(kp, ab + (size_t)r * k2 + p0, (size_t)k2,
                                         panel + (size_t)p0 * nr, nr, c + (size_t)r * TG_LD,
                                         TG_LD, mb - r < MR ? mb - r : MR, p0 > 0,
                                         flag && last ? thr + r : NULL,
                                         bits + (size_t)r * TG_WORDS + (j0 - g0) / NR, TG_WORDS);
                    }
                }
                for (int r = 0; r < mb; r++) {
                    const float *srow = strip + (size_t)r * TG_LD;
                    cpu_topk_item *h = heap + (size_t)r * k;
                    if (flag) {
                        thr[r] = cpu_topk_row_feed_bits(srow, g0, bits + (size_t)r * TG_WORDS,
                                                        (gw + NR - 1) / NR, k, h, thr[r]);
                        continue;
                    }
                    int from = g0;
                    if (g0 == 0) thr[r] = cpu_topk_row_start(srow, NULL, k, h), from = k;
                    thr[r] = cpu_topk_row_feed(use_avx2, srow, NULL, g0, from, g0 + gw, k, h,
                                               thr[r]);
                }
                int oe = oi;
                while (oe < n_cols && cols[order[oe]] < g0 + gw) oe++;
                for (int r = 0; r < mb && oe > oi; r++) {
                    const uint32_t *srow = (const uint32_t *)(strip + (size_t)r * TG_LD);
                    uint32_t *dst = gath + (size_t)(r0 + r) * n_cols;
                    for (int q = oi; q < oe; q++) dst[order[q]] = srow[cols[order[q]] - g0];
                }
                oi = oe;
            }
            for (int r = 0; r < mb; r++)
                for (int j = 0; j < k; j++) {
                    vals[(size_t)(r0 + r) * k + j] = heap[(size_t)r * k + j].v;
                    idx[(size_t)(r0 + r) * k + j] = heap[(size_t)r * k + j].i;
                }
        }
        free(ab);
        free(strip);
        free(heap);
        free(thr);
        free(bits);
    }
    if (failed) return mlsae_backend_fail(be, "cpu lowp_gemm_topk: out of memory (%d x %d)", m, n);
    return 0;
}
#else
static int gemm_bf16(mlsae_backend *be, int m, int n, int k, const float *a, int lda,
                     const uint32_t *packed, float *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)packed, (void)c, (void)ldc;
    return mlsae_backend_fail(be, "cpu lowp_gemm: built without the AVX512_BF16 kernel");
}
#endif

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int cpu_lowp_gemm_topk(mlsae_backend *be, int fmt, int m, int n, int kd, mlsae_ref a, int lda,
                       mlsae_ref packed, mlsae_ref pre, int k, mlsae_ref values, mlsae_ref indices,
                       mlsae_ref cols, int n_cols, mlsae_ref gathered)
{
    (void)pre;
#if defined(MLSAE_HAVE_AVX512BF16)
    if (!native(fmt) || m <= 0 || k < 1 || k > n || k > TG) return 1;
    const int32_t *cl = n_cols > 0 ? cpu_i32(cols) : NULL;
    if (n_cols > 0 && cpu_sae_check_columns(be, "lowp_gemm_topk", cl, n_cols, n) != 0) return -1;
    int32_t *order = malloc((size_t)(n_cols > 0 ? n_cols : 1) * sizeof *order);
    if (!order) return mlsae_backend_fail(be, "cpu lowp_gemm_topk: out of memory");
    for (int j = 0; j < n_cols; j++) order[j] = j;
    /* usually sorted already (the AuxK candidates are listed in order) */
    int sorted = 1;
    for (int j = 1; j < n_cols && sorted; j++) sorted = cl[j - 1] <= cl[j];
    if (!sorted) {
        int64_t *key = malloc((size_t)n_cols * sizeof *key);
        if (!key) {
            free(order);
            return mlsae_backend_fail(be, "cpu lowp_gemm_topk: out of memory");
        }
        for (int j = 0; j < n_cols; j++) key[j] = (int64_t)cl[j] << 32 | (uint32_t)j;
        qsort(key, (size_t)n_cols, sizeof *key, cmp_i64);
        for (int j = 0; j < n_cols; j++) order[j] = (int32_t)(key[j] & 0xffffffff);
        free(key);
    }
    int rc = gemm_topk_bf16(be, m, n, kd, cpu_f32(a), lda, (const uint32_t *)cpu_f32(packed), k,
                            cpu_f32(values), cpu_i32(indices), cl, order, n_cols,
                            n_cols > 0 ? (uint32_t *)cpu_i32(gathered) : NULL);
    free(order);
    return rc;
#else
    (void)be, (void)fmt, (void)m, (void)n, (void)kd, (void)a, (void)lda, (void)packed, (void)k;
    (void)values, (void)indices, (void)cols, (void)n_cols, (void)gathered;
    return 1;
#endif
}

static int cpu_lowp_gemm(mlsae_backend *be, int fmt, int m, int n, int k, mlsae_ref a, int lda,
                         mlsae_ref packed, mlsae_ref c, int ldc)
{
    if (m <= 0 || n <= 0) return 0;
    if (native(fmt))
        return gemm_bf16(be, m, n, k, cpu_f32(a), lda, (const uint32_t *)cpu_f32(packed),
                         cpu_f32(c), ldc);
    float *ar = malloc(((size_t)m * k > 0 ? (size_t)m * k : 1) * sizeof *ar);
    if (!ar) return mlsae_backend_fail(be, "cpu lowp_gemm: out of memory (%d x %d)", m, k);
    const float *as = cpu_f32(a);
#pragma omp parallel for schedule(static) if ((size_t)m * k > 65536)
    for (int r = 0; r < m; r++)
        for (int j = 0; j < k; j++) ar[(size_t)r * k + j] = round_fmt(fmt, as[(size_t)r * lda + j]);
    cpu_gemm(be, 0, 1, m, n, k, 1.0f, ar, k, cpu_f32(packed), k, 0.0f, cpu_f32(c), ldc);
    free(ar);
    return 0;
}

static const char *cpu_lowp_describe(mlsae_backend *be, int fmt)
{
    (void)be;
    if (native(fmt)) return "bf16 inputs, float32 sums (AVX512_BF16 vdpbf16ps)";
    if (fmt == MLSAE_LOWP_BF16)
        return "inputs rounded to bf16, multiplied with float32 instructions (this CPU or build "
               "has no AVX512_BF16)";
    return "inputs rounded to fp16, multiplied with float32 instructions (no fp16 dot-product "
           "instructions are used on the CPU)";
}

void cpu_lowp_fill_ops(mlsae_core_ops *core)
{
    core->round_lowp = cpu_round_lowp;
    core->lowp_pack = cpu_lowp_pack;
    core->lowp_gemm = cpu_lowp_gemm;
    core->lowp_describe = cpu_lowp_describe;
}
