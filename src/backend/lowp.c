/* Mixed-precision products: the backend's ops, or their composition from
 * the mandatory ones (see lowp.h). */
#include "config.h"
#include "backend/lowp.h"
#include "backend/backend_ops.h"
#include "core/fp16.h"

#include <stdlib.h>
#include <string.h>

int mlsae_precision_parse(const char *name, mlsae_precision *out)
{
    if (strcmp(name, "32") == 0 || strcmp(name, "32-true") == 0) *out = MLSAE_PRECISION_32;
    else if (strcmp(name, "bf16-mixed") == 0) *out = MLSAE_PRECISION_BF16_MIXED;
    else if (strcmp(name, "16-mixed") == 0) *out = MLSAE_PRECISION_16_MIXED;
    else return -1;
    return 0;
}

const char *mlsae_precision_name(mlsae_precision p)
{
    switch (p) {
    case MLSAE_PRECISION_BF16_MIXED: return "bf16-mixed";
    case MLSAE_PRECISION_16_MIXED: return "16-mixed";
    default: return "32";
    }
}

int mlsae_precision_lowp(mlsae_precision p)
{
    switch (p) {
    case MLSAE_PRECISION_BF16_MIXED: return MLSAE_LOWP_BF16;
    case MLSAE_PRECISION_16_MIXED: return MLSAE_LOWP_F16;
    default: return 0;
    }
}

static int fail(mlsae_backend *be, const char *msg)
{
    mlsae_fail(&be->last_error, "%s", msg);
    return -1;
}

static int check_fmt(mlsae_backend *be, int fmt)
{
    if (fmt == MLSAE_LOWP_BF16 || fmt == MLSAE_LOWP_F16) return 0;
    return fail(be, "mixed precision: unknown 16-bit format");
}

int mlsae_lowp_round(mlsae_backend *be, int fmt, mlsae_ref x, mlsae_ref y, size_t n)
{
    if (check_fmt(be, fmt)) return -1;
    if (be->ops->core.round_lowp) return be->ops->core.round_lowp(be, fmt, x, y, n);
    if (n == 0) return 0;
    float *h = malloc(n * sizeof *h);
    if (!h) return fail(be, "mixed precision: out of memory");
    int rc = be->ops->core.read(be, x.buf, x.off * 4, h, n * 4);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            h[i] = fmt == MLSAE_LOWP_BF16 ? mlsae_round_bf16(h[i]) : mlsae_round_f16(h[i]);
        rc = be->ops->core.write(be, y.buf, y.off * 4, h, n * 4);
    }
    free(h);
    return rc;
}

static int has_pair(const mlsae_backend *be)
{
    return be->ops->core.lowp_pack && be->ops->core.lowp_gemm;
}

int mlsae_lowp_needs_scratch(const mlsae_backend *be) { return !has_pair(be); }

int mlsae_lowp_pack(mlsae_backend *be, int fmt, mlsae_ref w, int n, int k, mlsae_ref packed)
{
    if (check_fmt(be, fmt)) return -1;
    if (has_pair(be)) return be->ops->core.lowp_pack(be, fmt, w, n, k, packed);
    return mlsae_lowp_round(be, fmt, w, packed, (size_t)n * (size_t)k);
}

int mlsae_lowp_gemm(mlsae_backend *be, int fmt, int m, int n, int k, mlsae_ref a, int lda,
                    mlsae_ref packed, mlsae_ref c, int ldc, mlsae_ref scratch)
{
    if (check_fmt(be, fmt)) return -1;
    if (has_pair(be)) return be->ops->core.lowp_gemm(be, fmt, m, n, k, a, lda, packed, c, ldc);
    if (!scratch.buf) return fail(be, "mixed precision: the composed product needs a scratch");
    if (lda == k) {
        if (mlsae_lowp_round(be, fmt, a, scratch, (size_t)m * k)) return -1;
    } else {
        for (int r = 0; r < m; r++)
            if (mlsae_lowp_round(be, fmt, mlsae_ref_add(a, (size_t)r * lda),
                                 mlsae_ref_add(scratch, (size_t)r * k), (size_t)k))
                return -1;
    }
    return be->ops->core.sgemm(be, 0, 1, m, n, k, 1.0f, scratch, k, packed, k, 0.0f, c, ldc);
}

int mlsae_lowp_gemm_topk(mlsae_backend *be, int fmt, int m, int n, int k_in, mlsae_ref a,
                         int lda, mlsae_ref packed, mlsae_ref pre, int chunk, mlsae_ref scratch,
                         int k, mlsae_ref values, mlsae_ref indices, mlsae_ref cols, int n_cols,
                         mlsae_ref gathered)
{
    if (check_fmt(be, fmt)) return -1;
    if (chunk < 1) return fail(be, "mixed precision: encoder chunk of no rows");
    if (has_pair(be) && be->ops->sae.lowp_gemm_topk) {
        int rc = be->ops->sae.lowp_gemm_topk(be, fmt, m, n, k_in, a, lda, packed, pre, k, values,
                                             indices, cols, n_cols, gathered);
        if (rc <= 0) return rc;
    }
    for (int r0 = 0; r0 < m; r0 += chunk) {
        int c = m - r0 < chunk ? m - r0 : chunk;
        if (mlsae_lowp_gemm(be, fmt, c, n, k_in, mlsae_ref_add(a, (size_t)r0 * lda), lda, packed,
                            pre, n, scratch) ||
            mlsae_op_topk_gather(be, pre, c, n, k, MLSAE_NOREF,
                                 mlsae_ref_add(values, (size_t)r0 * k),
                                 mlsae_ref_add(indices, (size_t)r0 * k), cols, n_cols,
                                 n_cols > 0 ? mlsae_ref_add(gathered, (size_t)r0 * n_cols)
                                            : gathered))
            return -1;
    }
    return 0;
}

const char *mlsae_lowp_describe(mlsae_backend *be, int fmt)
{
    if (be->ops->core.lowp_describe) return be->ops->core.lowp_describe(be, fmt);
    return fmt == MLSAE_LOWP_BF16 ? "inputs rounded to bf16, multiplied with float32 instructions"
                                  : "inputs rounded to fp16, multiplied with float32 instructions";
}
