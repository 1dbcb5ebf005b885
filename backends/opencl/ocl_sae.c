/* Sparse autoencoder ops of the OpenCL backend (backend_sae.h, SPEC §4);
 * kernels in kernels/sae.cl. */
#include "config.h"
#include "ocl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whole rows of d elements that the table's buffer holds from its offset:
 * the kernels skip indices beyond them instead of reading out of bounds. */
static cl_ulong table_rows(mlsae_ref table, int d)
{
    size_t cap = table.buf->n_bytes / 4;
    return table.off < cap ? (cl_ulong)((cap - table.off) / (size_t)d) : 0;
}

static int ocl_standardize(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref mu,
                           mlsae_ref sd, int rows, int d, float eps)
{
    if (rows <= 0 || d <= 0) return 0;
    size_t n = (size_t)rows * d;
    if (ocl_check_ref(be, "standardize", "x", x, n) ||
        ocl_check_ref(be, "standardize", "out", out, n) ||
        (mu.buf && ocl_check_ref(be, "standardize", "mu", mu, (size_t)rows)) ||
        (sd.buf && ocl_check_ref(be, "standardize", "sd", sd, (size_t)rows)))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_standardize, (const ocl_arg[]){
        ocl_ref(x), ocl_ref(out), ocl_ref(mu), ocl_ref(sd), ocl_int(mu.buf != NULL),
        ocl_int(sd.buf != NULL), ocl_int(d), ocl_float(eps), ocl_end()});
    return ocl_launch_rows(&g, "standardize", OCLK_standardize, (size_t)rows);
}

static int ocl_row_affine(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref scale,
                          mlsae_ref shift, int rows, int d)
{
    if (rows <= 0 || d <= 0) return 0;
    size_t n = (size_t)rows * d;
    if (ocl_check_ref(be, "row_affine", "x", x, n) ||
        ocl_check_ref(be, "row_affine", "out", out, n) ||
        ocl_check_ref(be, "row_affine", "scale", scale, (size_t)rows) ||
        ocl_check_ref(be, "row_affine", "shift", shift, (size_t)rows))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_row_affine, (const ocl_arg[]){
        ocl_ref(x), ocl_ref(out), ocl_ref(scale), ocl_ref(shift), ocl_int(rows), ocl_int(d),
        ocl_end()});
    size_t global[2] = {(size_t)d, (size_t)rows};
    return ocl_launch(&g, "row_affine", 2, global, NULL);
}

static int ocl_topk(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k, mlsae_ref mask,
                    mlsae_ref values, mlsae_ref indices)
{
    if (rows <= 0 || k == 0) return 0;
    if (k < 0 || k > n)
        return mlsae_backend_fail(be, "opencl topk: k = %d must be in [0, n = %d]", k, n);
    size_t rk = (size_t)rows * k;
    if (ocl_check_ref(be, "topk", "pre", pre, (size_t)rows * n) ||
        (mask.buf && ocl_check_ref(be, "topk", "mask", mask, (size_t)n)) ||
        ocl_check_ref(be, "topk", "values", values, rk) ||
        ocl_check_ref(be, "topk", "indices", indices, rk))
        return -1;
    ocl_backend *ob = ocl_of(be);
    size_t local = ob->kernel_wg[OCLK_topk];
    ocl_args g = ocl_args_list(ob, OCLK_topk, (const ocl_arg[]){
        ocl_ref(pre), ocl_int(n), ocl_int(k), ocl_ref(mask), ocl_int(mask.buf != NULL),
        ocl_ref(values), ocl_ref(indices), ocl_local(2 * local * sizeof(cl_uint)), ocl_end()});
    size_t global = (size_t)rows * local;
    return ocl_launch(&g, "topk", 1, &global, &local);
}

static int ocl_sparse_gather(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                             mlsae_ref table, int d, int relu, float beta, mlsae_ref out)
{
    if (rows <= 0 || d <= 0) return 0;
    size_t rk = (size_t)rows * (k > 0 ? k : 0);
    if (ocl_check_ref(be, "sparse_gather", "out", out, (size_t)rows * d) ||
        (rk && (ocl_check_ref(be, "sparse_gather", "coef", coef, rk) ||
                ocl_check_ref(be, "sparse_gather", "idx", idx, rk) ||
                ocl_check_ref(be, "sparse_gather", "table", table, (size_t)d))))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_sparse_gather, (const ocl_arg[]){
        ocl_ref(coef), ocl_ref(idx), ocl_int(k > 0 ? k : 0), ocl_ref(table), ocl_int(d),
        ocl_ulong(rk ? table_rows(table, d) : 0), ocl_int(relu), ocl_float(beta), ocl_ref(out),
        ocl_int(rows), ocl_mem(ocl_of(be)->bad), ocl_end()});
    size_t global[2] = {(size_t)d, (size_t)rows};
    return ocl_launch(&g, "sparse_gather", 2, global, NULL);
}

static int ocl_sparse_dot(mlsae_backend *be, mlsae_ref x, mlsae_ref idx, int rows, int k,
                          mlsae_ref table, int d, mlsae_ref gate, mlsae_ref out)
{
    if (rows <= 0 || k <= 0) return 0;
    size_t rk = (size_t)rows * k;
    if (d > 0 && (ocl_check_ref(be, "sparse_dot", "x", x, (size_t)rows * d) ||
                  ocl_check_ref(be, "sparse_dot", "table", table, (size_t)d)))
        return -1;
    if (ocl_check_ref(be, "sparse_dot", "idx", idx, rk) ||
        (gate.buf && ocl_check_ref(be, "sparse_dot", "gate", gate, rk)) ||
        ocl_check_ref(be, "sparse_dot", "out", out, rk))
        return -1;
    size_t local = ocl_of(be)->kernel_wg[OCLK_sparse_dot], global = rk * local;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_sparse_dot, (const ocl_arg[]){
        ocl_ref(x), ocl_ref(idx), ocl_int(k), ocl_ref(table), ocl_int(d > 0 ? d : 0),
        ocl_ulong(d > 0 ? table_rows(table, d) : 0), ocl_ref(gate), ocl_int(gate.buf != NULL),
        ocl_ref(out), ocl_local(local * sizeof(float)), ocl_mem(ocl_of(be)->bad), ocl_end()});
    return ocl_launch(&g, "sparse_dot", 1, &global, &local);
}

/* The entries (r, j) grouped by destination latent with a counting sort on
 * the host (indices are read back: rows * k ints), so that every dst row is
 * summed in (r, j) order by one work-item per column: deterministic, no
 * float atomics. csr = [latents (t) | start (t + 1) | entries (rows * k)]. */
static int ocl_sparse_scatter(mlsae_backend *be, mlsae_ref coef, mlsae_ref idx, int rows, int k,
                              mlsae_ref x, int d, mlsae_ref dst, int n_table)
{
    if (rows <= 0 || k <= 0 || d <= 0) return 0;
    size_t rk = (size_t)rows * k;
    if (ocl_check_ref(be, "sparse_scatter", "coef", coef, rk) ||
        ocl_check_ref(be, "sparse_scatter", "idx", idx, rk) ||
        ocl_check_ref(be, "sparse_scatter", "x", x, (size_t)rows * d) ||
        ocl_check_ref(be, "sparse_scatter", "dst", dst, (size_t)n_table * d))
        return -1;
    ocl_backend *ob = ocl_of(be);
    int32_t *ids = malloc(rk * sizeof *ids);
    int32_t *count = calloc((size_t)n_table + 1, sizeof *count);
    int32_t *csr = malloc((2 * (size_t)n_table + 1 + rk) * sizeof *csr);
    int rc = -1;
    if (!ids || !count || !csr) {
        mlsae_backend_fail(be, "opencl sparse_scatter: out of host memory");
        goto done;
    }
    cl_int cl = clEnqueueReadBuffer(ob->queue, idx.buf->mem, CL_TRUE, idx.off * 4,
                                    rk * sizeof *ids, ids, 0, NULL, NULL);
    if (cl != CL_SUCCESS) {
        mlsae_backend_fail(be, "opencl sparse_scatter: reading idx failed (%s)", ocl_strerror(cl));
        goto done;
    }
    for (size_t e = 0; e < rk; e++) {
        if (ids[e] < 0 || ids[e] >= n_table) {
            mlsae_backend_fail(be, "opencl sparse_scatter: idx[%zu, %zu] = %d is outside [0, %d)",
                     e / (size_t)k, e % (size_t)k, ids[e], n_table);
            goto done;
        }
        count[ids[e]]++;
    }
    int n_touched = 0;
    for (int u = 0; u < n_table; u++) n_touched += count[u] > 0;
    int32_t *latents = csr, *start = csr + n_touched, *entries = start + n_touched + 1;
    int32_t *slot = count; /* reused: next free position per latent */
    int t = 0, pos = 0;
    for (int u = 0; u < n_table; u++) {
        int c = count[u];
        if (!c) continue;
        latents[t] = u;
        start[t++] = pos;
        slot[u] = pos;
        pos += c;
    }
    start[t] = pos;
    for (size_t e = 0; e < rk; e++) entries[slot[ids[e]]++] = (int32_t)e; /* stable */
    size_t csr_len = 2 * (size_t)n_touched + 1 + rk;
    if (ocl_upload(ob, &ob->scratch_i, csr, csr_len * sizeof *csr) != 0) goto done;
    ocl_args g = ocl_args_list(ob, OCLK_sparse_scatter, (const ocl_arg[]){
        ocl_ref(coef), ocl_int(k), ocl_ref(x), ocl_int(d), ocl_ref(dst), ocl_mem(ob->scratch_i.mem),
        ocl_ulong(0), ocl_ulong((cl_ulong)n_touched), ocl_ulong(2 * (cl_ulong)n_touched + 1),
        ocl_int(n_touched), ocl_end()});
    size_t global[2] = {(size_t)d, (size_t)n_touched};
    rc = ocl_launch(&g, "sparse_scatter", 2, global, NULL);
done:
    free(ids);
    free(count);
    free(csr);
    return rc;
}

static int ocl_update_dead(mlsae_backend *be, mlsae_ref values, mlsae_ref idx, int rows, int k,
                           float threshold, mlsae_ref last_nonzero, int n, int dead_steps,
                           mlsae_ref mask)
{
    if (n <= 0) return 0;
    size_t rk = rows > 0 && k > 0 ? (size_t)rows * k : 0;
    if (ocl_check_ref(be, "update_dead", "last_nonzero", last_nonzero, (size_t)n) ||
        (mask.buf && ocl_check_ref(be, "update_dead", "mask", mask, (size_t)n)) ||
        (rk && (ocl_check_ref(be, "update_dead", "values", values, rk) ||
                ocl_check_ref(be, "update_dead", "idx", idx, rk))))
        return -1;
    ocl_backend *ob = ocl_of(be);
    if (rk) {
        ocl_args g = ocl_args_list(ob, OCLK_dead_reset, (const ocl_arg[]){
            ocl_ref(values), ocl_ref(idx), ocl_ulong(rk), ocl_float(threshold),
            ocl_ref(last_nonzero), ocl_int(n), ocl_mem(ob->bad), ocl_end()});
        if (ocl_launch_1d(&g, "update_dead", OCLK_dead_reset, rk) != 0) return -1;
    }
    ocl_args g = ocl_args_list(ob, OCLK_dead_tick, (const ocl_arg[]){
        ocl_ref(last_nonzero), ocl_int(n), ocl_int(dead_steps), ocl_ref(mask),
        ocl_int(mask.buf != NULL), ocl_end()});
    return ocl_launch_1d(&g, "update_dead", OCLK_dead_tick, (size_t)n);
}

static int ocl_relu(mlsae_backend *be, mlsae_ref x, size_t n)
{
    if (n == 0) return 0;
    if (ocl_check_ref(be, "relu", "x", x, n)) return -1;
    ocl_backend *ob = ocl_of(be);
    ocl_args g = ocl_args_list(ob, OCLK_relu, (const ocl_arg[]){
        ocl_ref(x), ocl_ulong(n), ocl_end()});
    return ocl_launch_1d(&g, "relu", OCLK_relu, n);
}

static int ocl_normalize_rows(mlsae_backend *be, mlsae_ref w, int rows, int d)
{
    if (rows <= 0 || d <= 0) return 0;
    if (ocl_check_ref(be, "normalize_rows", "w", w, (size_t)rows * d)) return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_normalize_rows, (const ocl_arg[]){
        ocl_ref(w), ocl_int(d), ocl_end()});
    return ocl_launch_rows(&g, "normalize_rows", OCLK_normalize_rows, (size_t)rows);
}

static int ocl_remove_parallel(mlsae_backend *be, mlsae_ref w, mlsae_ref g_, int rows, int d)
{
    if (rows <= 0 || d <= 0) return 0;
    if (ocl_check_ref(be, "remove_parallel", "w", w, (size_t)rows * d) ||
        ocl_check_ref(be, "remove_parallel", "g", g_, (size_t)rows * d))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_remove_parallel, (const ocl_arg[]){
        ocl_ref(w), ocl_ref(g_), ocl_int(d), ocl_end()});
    return ocl_launch_rows(&g, "remove_parallel", OCLK_remove_parallel, (size_t)rows);
}

static int ocl_adam(mlsae_backend *be, mlsae_ref p, mlsae_ref grad, mlsae_ref m, mlsae_ref v,
                    size_t n, float lr, float beta1, float beta2, float eps, int step)
{
    if (step < 1) return mlsae_backend_fail(be, "opencl adam: step %d must be >= 1", step);
    if (n == 0) return 0;
    if (ocl_check_ref(be, "adam", "p", p, n) || ocl_check_ref(be, "adam", "g", grad, n) ||
        ocl_check_ref(be, "adam", "m", m, n) || ocl_check_ref(be, "adam", "v", v, n))
        return -1;
    /* bias corrections and weights in double, as the CPU backend (and
     * PyTorch's Python scalars) */
    double bc1 = 1.0 - pow((double)beta1, step), bc2 = 1.0 - pow((double)beta2, step);
    ocl_backend *ob = ocl_of(be);
    ocl_args g = ocl_args_list(ob, OCLK_adam, (const ocl_arg[]){
        ocl_ref(p), ocl_ref(grad), ocl_ref(m), ocl_ref(v), ocl_ulong(n),
        ocl_float((float)(1.0 - (double)beta1)), ocl_float(beta2),
        ocl_float((float)(1.0 - (double)beta2)), ocl_float(eps),
        ocl_float((float)-((double)lr / bc1)), ocl_float((float)sqrt(bc2)), ocl_end()});
    return ocl_launch_1d(&g, "adam", OCLK_adam, n);
}

static int ocl_gather_columns(mlsae_backend *be, mlsae_ref src, int rows, int n, mlsae_ref cols,
                              int n_cols, mlsae_ref dst)
{
    if (rows <= 0 || n_cols <= 0) return 0;
    if (n <= 0) return mlsae_backend_fail(be, "opencl gather_columns: n = %d with %d columns", n, n_cols);
    if (ocl_check_ref(be, "gather_columns", "src", src, (size_t)rows * n) ||
        ocl_check_ref(be, "gather_columns", "cols", cols, (size_t)n_cols) ||
        ocl_check_ref(be, "gather_columns", "dst", dst, (size_t)rows * n_cols))
        return -1;
    ocl_args g = ocl_args_list(ocl_of(be), OCLK_gather_columns, (const ocl_arg[]){
        ocl_ref(src), ocl_int(n), ocl_ref(cols), ocl_int(n_cols), ocl_ref(dst), ocl_int(rows),
        ocl_mem(ocl_of(be)->bad), ocl_end()});
    size_t global[2] = {(size_t)n_cols, (size_t)rows};
    return ocl_launch(&g, "gather_columns", 2, global, NULL);
}

/* topk then gather_columns: the two kernels in sequence on the queue. */
static int ocl_topk_gather(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k,
                           mlsae_ref mask, mlsae_ref values, mlsae_ref indices, mlsae_ref cols,
                           int n_cols, mlsae_ref gathered)
{
    if (ocl_topk(be, pre, rows, n, k, mask, values, indices)) return -1;
    return ocl_gather_columns(be, pre, rows, n, cols, n_cols, gathered);
}

const mlsae_sae_ops ocl_sae_ops = {
    .standardize = ocl_standardize,
    .row_affine = ocl_row_affine,
    .topk = ocl_topk,
    .sparse_gather = ocl_sparse_gather,
    .sparse_dot = ocl_sparse_dot,
    .sparse_scatter = ocl_sparse_scatter,
    .update_dead = ocl_update_dead,
    .relu = ocl_relu,
    .normalize_rows = ocl_normalize_rows,
    .remove_parallel = ocl_remove_parallel,
    .adam = ocl_adam,
    .gather_columns = ocl_gather_columns,
    .topk_gather = ocl_topk_gather,
};
