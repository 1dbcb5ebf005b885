/* Mixed-precision products of the OpenCL backend (backend.h core ops
 * lowp_pack, lowp_gemm, lowp_describe; doc/precision.md).
 *
 * In 16-bit storage (ob->lowp16: the device has cl_khr_fp16, or
 * MLSAE_OPENCL_FP16 asks for it): lowp_pack stores round(w) as 16-bit
 * values (bf16 or fp16 bits, the first n * k * 2 bytes of `packed`);
 * lowp_gemm stores round(a) likewise in a scratch and runs lowp_gemm_tiled
 * (kernels/lowp.cl), which reads both back exactly and sums in float32 in
 * sgemm_tiled's order. Otherwise: `packed` holds round(w) as float32,
 * round(a) is written to a float32 scratch, and the float32 GEMM multiplies
 * them. Either way the result is round(a) @ round(w)^T with exact products
 * and float32 sums in the same order. */
#include "config.h"
#include "ocl_internal.h"

static size_t span2(int rows, int cols, int ld)
{
    return rows > 0 ? (size_t)(rows - 1) * ld + cols : 0;
}

/* 16-bit storage y (a cl_mem, from 16-bit element yo) = round(x [rows, cols], stride ldx). */
static int store16(ocl_backend *ob, const char *op, int fmt, int rows, int cols, mlsae_ref x,
                   int ldx, cl_mem y, cl_ulong yo)
{
    ocl_args g = ocl_args_list(ob, OCLK_lowp_store, (const ocl_arg[]){
        ocl_int(fmt), ocl_int(rows), ocl_int(cols), ocl_ref(x), ocl_int(ldx), ocl_mem(y),
        ocl_ulong(yo), ocl_end()});
    size_t global[2] = {(size_t)cols, (size_t)rows};
    return ocl_launch(&g, op, 2, global, NULL);
}

static int ocl_lowp_pack(mlsae_backend *be, int fmt, mlsae_ref w, int n, int k, mlsae_ref packed)
{
    ocl_backend *ob = ocl_of(be);
    if (n <= 0 || k <= 0) return 0;
    size_t nk = (size_t)n * k;
    if (ocl_check_ref(be, "lowp_pack", "w", w, nk) ||
        ocl_check_ref(be, "lowp_pack", "packed", packed, ob->lowp16 ? (nk + 1) / 2 : nk))
        return -1;
    if (!ob->lowp16) return ocl_round_lowp(be, fmt, w, packed, nk);
    return store16(ob, "lowp_pack", fmt, n, k, w, k, packed.buf->mem, 2 * (cl_ulong)packed.off);
}

static int ocl_lowp_gemm(mlsae_backend *be, int fmt, int m, int n, int k, mlsae_ref a, int lda,
                         mlsae_ref packed, mlsae_ref c, int ldc)
{
    ocl_backend *ob = ocl_of(be);
    if (m <= 0 || n <= 0) return 0;
    if (k < 0 || lda < k || ldc < n)
        return mlsae_backend_fail(be, "opencl lowp_gemm: bad sizes (k %d, lda %d, ldc %d)", k,
                                  lda, ldc);
    size_t mk = (size_t)m * k;
    if (ocl_check_ref(be, "lowp_gemm", "a", a, span2(m, k, lda)) ||
        ocl_check_ref(be, "lowp_gemm", "packed", packed,
                      ob->lowp16 ? ((size_t)n * k + 1) / 2 : (size_t)n * k) ||
        ocl_check_ref(be, "lowp_gemm", "c", c, span2(m, n, ldc)))
        return -1;
    if (ocl_scratch(ob, &ob->scratch_lowp, (ob->lowp16 ? 2 : 4) * (mk ? mk : 1)) != 0) return -1;
    mlsae_ref s = mlsae_at(&ob->scratch_lowp, 0);
    if (!ob->lowp16) {
        if (lda == k) {
            if (ocl_round_lowp(be, fmt, a, s, mk)) return -1;
        } else {
            for (int r = 0; r < m; r++)
                if (ocl_round_lowp(be, fmt, mlsae_ref_add(a, (size_t)r * lda),
                                   mlsae_ref_add(s, (size_t)r * k), (size_t)k))
                    return -1;
        }
        return ocl_gemm(be, "lowp_gemm", 0, 1, m, n, k, 1.0f, s, k > 0 ? k : 1, packed,
                        k > 0 ? k : 1, 0.0f, c, ldc, MLSAE_NOREF);
    }
    if (k > 0 && store16(ob, "lowp_gemm", fmt, m, k, a, lda, ob->scratch_lowp.mem, 0)) return -1;
    ocl_args g = ocl_args_list(ob, OCLK_lowp_gemm_tiled, (const ocl_arg[]){
        ocl_int(fmt), ocl_int(m), ocl_int(n), ocl_int(k), ocl_mem(ob->scratch_lowp.mem),
        ocl_ulong(0), ocl_mem(packed.buf->mem), ocl_ulong(2 * (cl_ulong)packed.off), ocl_ref(c),
        ocl_int(ldc), ocl_end()});
    const ocl_gemm_tile *t = &ob->tile;
    size_t local[2] = {(size_t)(t->tsn / t->wptn), (size_t)(t->tsm / t->wptm)};
    size_t global[2] = {(size_t)((n + t->tsn - 1) / t->tsn) * local[0],
                        (size_t)((m + t->tsm - 1) / t->tsm) * local[1]};
    return ocl_launch(&g, "lowp_gemm", 2, global, local);
}

static const char *ocl_lowp_describe(mlsae_backend *be, int fmt)
{
    ocl_backend *ob = ocl_of(be);
    if (ob->lowp16 && !ob->lowp16_forced)
        return fmt == MLSAE_LOWP_BF16
                   ? "bf16 inputs in 16-bit storage, float32 sums on the device"
                   : "fp16 inputs in half storage (cl_khr_fp16), float32 sums on the device";
    if (ob->lowp16)
        return fmt == MLSAE_LOWP_BF16
                   ? "bf16 inputs in 16-bit storage, float32 sums on the device"
                   : "fp16 inputs in half storage read with vload_half (no cl_khr_fp16; "
                     "MLSAE_OPENCL_FP16), float32 sums on the device";
    return fmt == MLSAE_LOWP_BF16
               ? "inputs rounded to bf16 on the device, multiplied by the float32 GEMM"
               : "inputs rounded to fp16 on the device, multiplied by the float32 GEMM (the "
                 "device has no cl_khr_fp16)";
}

void ocl_lowp_fill_ops(mlsae_core_ops *core)
{
    core->lowp_pack = ocl_lowp_pack;
    core->lowp_gemm = ocl_lowp_gemm;
    core->lowp_describe = ocl_lowp_describe;
}
