/* Transformer ops of the OpenCL backend (backend_nn.h); kernels in
 * kernels/nn.cl. */
#include "config.h"
#include "ocl_internal.h"

#include <math.h>
#include <stdlib.h>

static int ocl_embedding(mlsae_backend *be, mlsae_ref table, mlsae_ref ids, int n, int dim,
                         mlsae_ref out)
{
    if (n <= 0 || dim <= 0) return 0;
    if (ocl_check_ref(be, "embedding", "ids", ids, (size_t)n) ||
        ocl_check_ref(be, "embedding", "out", out, (size_t)n * dim) ||
        ocl_check_ref(be, "embedding", "table", table, (size_t)dim))
        return -1;
    size_t cap = table.buf->n_bytes / 4;
    cl_ulong table_rows = (cl_ulong)((cap - table.off) / (size_t)dim); /* rows present */
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_embedding, (const ocl_arg[]){
        ocl_ref(table), ocl_ulong(table_rows), ocl_ref(ids), ocl_int(n), ocl_int(dim),
        ocl_ref(out), ocl_end()});
    size_t global[2] = {(size_t)dim, (size_t)n};
    return ocl_launch(&g, "embedding", 2, global, NULL);
}

static int ocl_layer_norm(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref gamma,
                          mlsae_ref beta, int rows, int dim, float eps)
{
    if (rows <= 0 || dim <= 0) return 0;
    size_t n = (size_t)rows * dim;
    if (ocl_check_ref(be, "layer_norm", "x", x, n) ||
        ocl_check_ref(be, "layer_norm", "out", out, n) ||
        (gamma.buf && ocl_check_ref(be, "layer_norm", "gamma", gamma, (size_t)dim)) ||
        (beta.buf && ocl_check_ref(be, "layer_norm", "beta", beta, (size_t)dim)))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_layer_norm, (const ocl_arg[]){
        ocl_ref(x), ocl_ref(out), ocl_ref(gamma), ocl_ref(beta), ocl_int(gamma.buf != NULL),
        ocl_int(beta.buf != NULL), ocl_int(dim), ocl_float(eps), ocl_end()});
    return ocl_launch_rows(&g, "layer_norm", OCLK_layer_norm, (size_t)rows);
}

/* y = x W^T + b: one GEMM with the bias added in its epilogue. */
static int ocl_linear(mlsae_backend *be, mlsae_ref x, mlsae_ref w, mlsae_ref b, int rows, int in,
                      int out, mlsae_ref y)
{
    return ocl_gemm(be, "linear", 0, 1, rows, out, in, 1.0f, x, in, w, in, 0.0f, y, out, b);
}

static int ocl_gelu(mlsae_backend *be, mlsae_ref x, size_t n)
{
    if (n == 0) return 0;
    if (ocl_check_ref(be, "gelu", "x", x, n)) return -1;
    ocl_backend *ob = ocl_of(be);
    ocl_args g = ocl_args_list(ob, OCLK_gelu, (const ocl_arg[]){
        ocl_ref(x), ocl_ulong(n), ocl_end()});
    return ocl_launch_1d(&g, "gelu", OCLK_gelu, n);
}

static int ocl_rotary(mlsae_backend *be, mlsae_ref qkv, int batch, int seq, int n_heads,
                      int head_dim, int rot_dims, float base)
{
    if (rot_dims < 0 || rot_dims > head_dim || rot_dims % 2)
        return mlsae_backend_fail(be, "opencl rotary: rot_dims %d must be even and at most head_dim %d",
                        rot_dims, head_dim);
    if (batch <= 0 || seq <= 0 || n_heads <= 0 || rot_dims == 0) return 0;
    size_t rows = (size_t)batch * seq;
    if (ocl_check_ref(be, "rotary", "qkv", qkv, rows * n_heads * 3 * head_dim)) return -1;
    ocl_backend *ob = ocl_of(be);
    int half = rot_dims / 2;
    /* inv_freq as torch computes it in float: 1 / base^(2i / rot_dims) */
    float *inv = malloc(half * sizeof *inv);
    if (!inv) return mlsae_backend_fail(be, "opencl rotary: out of host memory");
    for (int i = 0; i < half; i++) inv[i] = 1.0f / powf(base, (float)(2 * i) / (float)rot_dims);
    int rc = ocl_upload(ob, &ob->scratch_f, inv, half * sizeof *inv);
    free(inv);
    if (rc != 0) return -1;
    ocl_args g = ocl_args_list(ob, OCLK_rotary, (const ocl_arg[]){
        ocl_ref(qkv), ocl_int(seq), ocl_int(n_heads), ocl_int(head_dim), ocl_int(rot_dims),
        ocl_mem(ob->scratch_f.mem), ocl_ulong(0), ocl_end()});
    size_t global[3] = {(size_t)half, (size_t)n_heads, rows};
    return ocl_launch(&g, "rotary", 3, global, NULL);
}

#define ATT_MAX_HD 256 /* as in nn.cl */
#define ATT_MAX_BK 32

static int ocl_attention(mlsae_backend *be, mlsae_ref qkv, mlsae_ref out, int batch, int seq,
                         int n_heads, int head_dim)
{
    if (batch <= 0 || seq <= 0 || n_heads <= 0 || head_dim <= 0) return 0;
    if (head_dim > ATT_MAX_HD)
        return mlsae_backend_fail(be, "opencl attention: head_dim %d is above the supported %d", head_dim,
                        ATT_MAX_HD);
    size_t rows = (size_t)batch * seq;
    if (ocl_check_ref(be, "attention", "qkv", qkv, rows * n_heads * 3 * head_dim) ||
        ocl_check_ref(be, "attention", "out", out, rows * n_heads * head_dim))
        return -1;
    ocl_backend *ob = ocl_of(be);
    /* key tile: as many rows of K and V as fit in local memory, up to 32 */
    cl_ulong local_static = 0;
    clGetKernelWorkGroupInfo(ob->kernel[OCLK_attention], ob->device, CL_KERNEL_LOCAL_MEM_SIZE,
                             sizeof local_static, &local_static, NULL);
    cl_ulong avail = ob->local_mem > local_static ? ob->local_mem - local_static : 0;
    cl_ulong fit = avail / (2 * 4 * (cl_ulong)head_dim);
    int bk = fit < ATT_MAX_BK ? (int)fit : ATT_MAX_BK;
    if (bk < 1)
        return mlsae_backend_fail(be, "opencl attention: head_dim %d does not fit local memory", head_dim);
    ocl_args g = ocl_args_list(ob, OCLK_attention, (const ocl_arg[]){
        ocl_ref(qkv), ocl_ref(out), ocl_int(seq), ocl_int(n_heads), ocl_int(head_dim),
        ocl_float(1.0f / sqrtf((float)head_dim)), ocl_int(bk),
        ocl_local((size_t)2 * bk * head_dim * sizeof(float)), ocl_end()});
    size_t local[3] = {(size_t)ob->att_bq, 1, 1};
    size_t global[3] = {(size_t)seq, (size_t)n_heads, (size_t)batch};
    return ocl_launch(&g, "attention", 3, global, local);
}

static int ocl_cross_entropy(mlsae_backend *be, mlsae_ref logits, mlsae_ref target, int rows,
                             int vocab, mlsae_ref loss)
{
    if (rows <= 0) return 0;
    if (vocab <= 0) return mlsae_backend_fail(be, "opencl cross_entropy: vocab %d", vocab);
    if (ocl_check_ref(be, "cross_entropy", "logits", logits, (size_t)rows * vocab) ||
        ocl_check_ref(be, "cross_entropy", "target", target, (size_t)rows) ||
        ocl_check_ref(be, "cross_entropy", "loss", loss, (size_t)rows))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_cross_entropy, (const ocl_arg[]){
        ocl_ref(logits), ocl_ref(target), ocl_int(vocab), ocl_ref(loss), ocl_end()});
    return ocl_launch_rows(&g, "cross_entropy", OCLK_cross_entropy, (size_t)rows);
}

static int ocl_kl_div(mlsae_backend *be, mlsae_ref logits_true, mlsae_ref logits_pred, int rows,
                      int vocab, mlsae_ref out)
{
    if (rows <= 0) return 0;
    if (vocab <= 0) return mlsae_backend_fail(be, "opencl kl_div: vocab %d", vocab);
    size_t n = (size_t)rows * vocab;
    if (ocl_check_ref(be, "kl_div", "logits_true", logits_true, n) ||
        ocl_check_ref(be, "kl_div", "logits_pred", logits_pred, n) ||
        ocl_check_ref(be, "kl_div", "out", out, (size_t)rows))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_kl_div, (const ocl_arg[]){
        ocl_ref(logits_true), ocl_ref(logits_pred), ocl_int(vocab), ocl_ref(out), ocl_end()});
    return ocl_launch_rows(&g, "kl_div", OCLK_kl_div, (size_t)rows);
}

const mlsae_nn_ops ocl_nn_ops = {
    .embedding = ocl_embedding,
    .layer_norm = ocl_layer_norm,
    .linear = ocl_linear,
    .gelu = ocl_gelu,
    .rotary = ocl_rotary,
    .attention = ocl_attention,
    .cross_entropy = ocl_cross_entropy,
    .kl_div = ocl_kl_div,
};
