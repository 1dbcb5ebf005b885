/* Core ops of the OpenCL backend: memory, copies, GEMM, axpby,
 * add_row_vector, sum_stats; and the helpers every op uses. */
#include "config.h"
#include "ocl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------- */

static ocl_args ocl_args_begin(ocl_backend *ob, int kernel)
{
    ocl_args a = {ob->kernel[kernel], 0, CL_SUCCESS, ob};
    return a;
}

static void set_arg(ocl_args *a, size_t size, const void *v)
{
    cl_int rc = clSetKernelArg(a->k, a->i++, size, v);
    if (rc != CL_SUCCESS && a->err == CL_SUCCESS) a->err = rc;
}

static void ocl_arg_mem(ocl_args *a, cl_mem m) { set_arg(a, sizeof m, &m); }

static void ocl_arg_ref(ocl_args *a, mlsae_ref r)
{
    /* an absent ref gets a real (small) buffer: some drivers reject NULL */
    cl_mem m = r.buf ? r.buf->mem : a->ob->partials.mem;
    cl_ulong off = r.buf ? (cl_ulong)r.off : 0;
    set_arg(a, sizeof m, &m);
    set_arg(a, sizeof off, &off);
}

static void ocl_arg_int(ocl_args *a, int v) { set_arg(a, sizeof v, &v); }
static void ocl_arg_float(ocl_args *a, float v) { set_arg(a, sizeof v, &v); }
static void ocl_arg_ulong(ocl_args *a, cl_ulong v) { set_arg(a, sizeof v, &v); }
static void ocl_arg_local(ocl_args *a, size_t bytes) { set_arg(a, bytes, NULL); }

ocl_args ocl_args_list(ocl_backend *ob, int kernel, const ocl_arg *list)
{
    ocl_args a = ocl_args_begin(ob, kernel);
    for (; list->kind != OCL_ARG_END; list++) {
        switch (list->kind) {
        case OCL_ARG_REF: ocl_arg_ref(&a, list->v.ref); break;
        case OCL_ARG_INT: ocl_arg_int(&a, list->v.i); break;
        case OCL_ARG_FLOAT: ocl_arg_float(&a, list->v.f); break;
        case OCL_ARG_ULONG: ocl_arg_ulong(&a, list->v.u); break;
        case OCL_ARG_MEM: ocl_arg_mem(&a, list->v.mem); break;
        case OCL_ARG_LOCAL: ocl_arg_local(&a, list->v.bytes); break;
        case OCL_ARG_END: break;
        }
    }
    return a;
}

int ocl_launch(ocl_args *a, const char *op, cl_uint dims, const size_t *global,
               const size_t *local)
{
    mlsae_backend *be = &a->ob->base;
    if (a->err != CL_SUCCESS)
        return mlsae_backend_fail(be, "opencl %s: setting kernel arguments failed (%s)", op,
                        ocl_strerror(a->err));
    size_t g[3];
    for (cl_uint d = 0; d < dims; d++) {
        if (global[d] == 0) return 0; /* nothing to do */
        g[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
    }
    cl_int rc = clEnqueueNDRangeKernel(a->ob->queue, a->k, dims, NULL, g, local, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return mlsae_backend_fail(be, "opencl %s: kernel launch failed (%s)%s", op, ocl_strerror(rc),
                        rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES
                            ? ": out of device memory or resources"
                            : "");
    return ocl_check_bad(be);
}

int ocl_launch_rows(ocl_args *a, const char *op, int kernel, size_t rows)
{
    size_t local = a->ob->kernel_wg[kernel];
    ocl_arg_local(a, local * sizeof(float));
    size_t global = rows * local;
    return ocl_launch(a, op, 1, &global, &local);
}

int ocl_launch_1d(ocl_args *a, const char *op, int kernel, size_t n)
{
    size_t local = a->ob->kernel_wg[kernel];
    return ocl_launch(a, op, 1, &n, &local);
}

int ocl_check_ref(mlsae_backend *be, const char *op, const char *what, mlsae_ref r, size_t n)
{
    if (!r.buf) return mlsae_backend_fail(be, "opencl %s: %s is missing", op, what);
    size_t cap = r.buf->n_bytes / 4;
    if (r.off > cap || n > cap - r.off)
        return mlsae_backend_fail(be, "opencl %s: %s [%zu, %zu) is outside its buffer of %zu elements", op,
                        what, r.off, r.off + n, cap);
    return 0;
}

int ocl_scratch(ocl_backend *ob, mlsae_buffer *s, size_t n_bytes)
{
    if (n_bytes == 0) n_bytes = 4;
    if (s->mem && s->n_bytes >= n_bytes) return 0;
    if (s->mem) clReleaseMemObject(s->mem);
    s->mem = NULL;
    s->n_bytes = 0;
    size_t want = n_bytes < 4096 ? 4096 : n_bytes + n_bytes / 2;
    cl_int rc;
    s->mem = clCreateBuffer(ob->ctx, CL_MEM_READ_WRITE, want, NULL, &rc);
    if (rc != CL_SUCCESS)
        return mlsae_backend_fail(&ob->base, "opencl: cannot allocate %zu bytes of scratch (%s)", want,
                        ocl_strerror(rc));
    s->n_bytes = want;
    return 0;
}

int ocl_upload(ocl_backend *ob, mlsae_buffer *s, const void *src, size_t n_bytes)
{
    if (ocl_scratch(ob, s, n_bytes) != 0) return -1;
    /* blocking: the host array may be freed right after; the in-order queue
     * runs it after every earlier kernel that used the scratch */
    cl_int rc = clEnqueueWriteBuffer(ob->queue, s->mem, CL_TRUE, 0, n_bytes, src, 0, NULL, NULL);
    if (rc != CL_SUCCESS)
        return mlsae_backend_fail(&ob->base, "opencl: upload of %zu bytes failed (%s)", n_bytes,
                        ocl_strerror(rc));
    return 0;
}

/* ---- memory ------------------------------------------------------------------- */

static mlsae_buffer *ocl_alloc(mlsae_backend *be, size_t n_bytes)
{
    ocl_backend *ob = ocl_of(be);
    if (n_bytes > ob->max_alloc) {
        mlsae_backend_fail(be, "opencl: cannot allocate %zu bytes: the device's largest buffer is %llu "
                 "bytes", n_bytes, (unsigned long long)ob->max_alloc);
        return NULL;
    }
    mlsae_buffer *b = calloc(1, sizeof *b);
    if (!b) {
        mlsae_backend_fail(be, "opencl: out of host memory");
        return NULL;
    }
    cl_int rc;
    b->mem = clCreateBuffer(ob->ctx, CL_MEM_READ_WRITE, n_bytes ? n_bytes : 4, NULL, &rc);
    if (rc != CL_SUCCESS) {
        mlsae_backend_fail(be, "opencl: cannot allocate %zu bytes of device memory (%s)", n_bytes,
                 ocl_strerror(rc));
        free(b);
        return NULL;
    }
    b->n_bytes = n_bytes;
    return b;
}

static void ocl_free(mlsae_backend *be, mlsae_buffer *b)
{
    (void)be;
    if (!b) return;
    clReleaseMemObject(b->mem);
    free(b);
}

static void *ocl_host_ptr(mlsae_backend *be, mlsae_buffer *b)
{
    (void)be;
    (void)b;
    return NULL;
}

static int ocl_write(mlsae_backend *be, mlsae_buffer *dst, size_t off, const void *src, size_t n)
{
    if (off > dst->n_bytes || n > dst->n_bytes - off)
        return mlsae_backend_fail(be, "opencl: write of %zu bytes at %zu past buffer end (%zu)", n, off,
                        dst->n_bytes);
    if (n == 0) return 0;
    cl_int rc = clEnqueueWriteBuffer(ocl_of(be)->queue, dst->mem, CL_TRUE, off, n, src, 0, NULL,
                                     NULL);
    if (rc != CL_SUCCESS)
        return mlsae_backend_fail(be, "opencl: write of %zu bytes failed (%s)", n, ocl_strerror(rc));
    return 0;
}

int ocl_check_bad(mlsae_backend *be)
{
    ocl_backend *ob = ocl_of(be);
    cl_int code = 0, zero = 0;
    if (clEnqueueReadBuffer(ob->queue, ob->bad, CL_TRUE, 0, sizeof code, &code, 0, NULL, NULL) !=
        CL_SUCCESS)
        return mlsae_backend_fail(be, "opencl: reading the error flag failed");
    if (code == OCL_BAD_NONE) return 0;
    clEnqueueWriteBuffer(ob->queue, ob->bad, CL_TRUE, 0, sizeof zero, &zero, 0, NULL, NULL);
    static const char *what[] = {"", "sparse_gather: index outside the table",
                                 "sparse_dot: index outside the table",
                                 "gather_columns: column outside the row",
                                 "update_dead: index outside the latents"};
    return mlsae_backend_fail(be, "opencl %s (an op queued before this wait)",
                              code > 0 && code < (cl_int)(sizeof what / sizeof what[0])
                                  ? what[code] : "op: unknown error code");
}

static int ocl_read(mlsae_backend *be, mlsae_buffer *src, size_t off, void *dst, size_t n)
{
    if (off > src->n_bytes || n > src->n_bytes - off)
        return mlsae_backend_fail(be, "opencl: read of %zu bytes at %zu past buffer end (%zu)", n, off,
                        src->n_bytes);
    if (n == 0) return ocl_of(be)->base.ops->core.finish(be);
    cl_int rc = clEnqueueReadBuffer(ocl_of(be)->queue, src->mem, CL_TRUE, off, n, dst, 0, NULL,
                                    NULL);
    if (rc != CL_SUCCESS)
        return mlsae_backend_fail(be, "opencl: read of %zu bytes failed (%s)", n, ocl_strerror(rc));
    return ocl_check_bad(be);
}

static int ocl_copy(mlsae_backend *be, mlsae_ref dst, mlsae_ref src, size_t n)
{
    if (n == 0) return 0;
    if (ocl_check_ref(be, "copy", "dst", dst, n) || ocl_check_ref(be, "copy", "src", src, n))
        return -1;
    cl_int rc = clEnqueueCopyBuffer(ocl_of(be)->queue, src.buf->mem, dst.buf->mem, src.off * 4,
                                    dst.off * 4, n * 4, 0, NULL, NULL);
    if (rc != CL_SUCCESS) return mlsae_backend_fail(be, "opencl copy: failed (%s)", ocl_strerror(rc));
    return 0;
}

static int ocl_fill(mlsae_backend *be, mlsae_ref dst, size_t n, float value)
{
    if (n == 0) return 0;
    if (ocl_check_ref(be, "fill", "dst", dst, n)) return -1;
    cl_int rc = clEnqueueFillBuffer(ocl_of(be)->queue, dst.buf->mem, &value, sizeof value,
                                    dst.off * 4, n * 4, 0, NULL, NULL);
    if (rc != CL_SUCCESS) return mlsae_backend_fail(be, "opencl fill: failed (%s)", ocl_strerror(rc));
    return 0;
}

static int ocl_finish(mlsae_backend *be)
{
    cl_int rc = clFinish(ocl_of(be)->queue);
    if (rc != CL_SUCCESS)
        return mlsae_backend_fail(be, "opencl: queued work failed (%s)%s", ocl_strerror(rc),
                        rc == CL_OUT_OF_RESOURCES || rc == CL_MEM_OBJECT_ALLOCATION_FAILURE
                            ? ": out of device memory or resources"
                            : "");
    return 0;
}

/* ---- dense ops ---------------------------------------------------------------- */

/* Elements spanned by a [rows, cols] matrix with row stride ld. */
static size_t span(int rows, int cols, int ld)
{
    return rows > 0 && cols > 0 ? (size_t)(rows - 1) * ld + cols : 0;
}

/* C = alpha op(A) op(B) + beta C (+ bias), shared by sgemm and linear. */
int ocl_gemm(mlsae_backend *be, const char *op, int ta, int tb, int m, int n, int k,
             float alpha, mlsae_ref a, int lda, mlsae_ref b, int ldb, float beta, mlsae_ref c,
             int ldc, mlsae_ref bias)
{
    ocl_backend *ob = ocl_of(be);
    if (m < 0 || n < 0 || k < 0) return mlsae_backend_fail(be, "opencl %s: negative size", op);
    if (m == 0 || n == 0) return 0;
    if (lda < (ta ? m : k) || ldb < (tb ? k : n) || ldc < n || lda < 1 || ldb < 1)
        return mlsae_backend_fail(be, "opencl %s: leading dimension too small (lda %d, ldb %d, ldc %d)",
                        op, lda, ldb, ldc);
    if (k > 0 && (ocl_check_ref(be, op, "A", a, ta ? span(k, m, lda) : span(m, k, lda)) ||
                  ocl_check_ref(be, op, "B", b, tb ? span(n, k, ldb) : span(k, n, ldb))))
        return -1;
    if (ocl_check_ref(be, op, "C", c, span(m, n, ldc))) return -1;
    if (bias.buf && ocl_check_ref(be, op, "bias", bias, (size_t)n)) return -1;
    int kid = ob->gemm_tiled ? OCLK_sgemm_tiled : OCLK_sgemm_simple;
    ocl_args g = ocl_args_list(ob, kid, (const ocl_arg[]){
        ocl_int(ta), ocl_int(tb), ocl_int(m), ocl_int(n), ocl_int(k), ocl_float(alpha), ocl_ref(a),
        ocl_int(lda), ocl_ref(b), ocl_int(ldb), ocl_float(beta), ocl_ref(c), ocl_int(ldc),
        ocl_ref(bias), ocl_int(bias.buf != NULL), ocl_end()});
    if (ob->gemm_tiled) {
        const ocl_gemm_tile *t = &ob->tile;
        size_t local[2] = {(size_t)(t->tsn / t->wptn), (size_t)(t->tsm / t->wptm)};
        size_t global[2] = {(size_t)((n + t->tsn - 1) / t->tsn) * local[0],
                            (size_t)((m + t->tsm - 1) / t->tsm) * local[1]};
        return ocl_launch(&g, op, 2, global, local);
    }
    size_t global[2] = {(size_t)n, (size_t)m};
    return ocl_launch(&g, op, 2, global, NULL);
}

static int ocl_sgemm(mlsae_backend *be, int trans_a, int trans_b, int m, int n, int k,
                     float alpha, mlsae_ref a, int lda, mlsae_ref b, int ldb, float beta,
                     mlsae_ref c, int ldc)
{
    return ocl_gemm(be, "sgemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                    MLSAE_NOREF);
}

static int ocl_axpby(mlsae_backend *be, size_t n, float alpha, mlsae_ref x, float beta,
                     mlsae_ref y)
{
    if (n == 0) return 0;
    if (ocl_check_ref(be, "axpby", "x", x, n) || ocl_check_ref(be, "axpby", "y", y, n)) return -1;
    ocl_backend *ob = ocl_of(be);
    ocl_args g = ocl_args_list(ob, OCLK_axpby, (const ocl_arg[]){
        ocl_ulong(n), ocl_float(alpha), ocl_ref(x), ocl_float(beta), ocl_ref(y), ocl_end()});
    return ocl_launch_1d(&g, "axpby", OCLK_axpby, n);
}

static int ocl_add_row_vector(mlsae_backend *be, mlsae_ref x, int rows, int cols, mlsae_ref v,
                              float alpha)
{
    if (rows <= 0 || cols <= 0) return 0;
    if (ocl_check_ref(be, "add_row_vector", "x", x, (size_t)rows * cols) ||
        ocl_check_ref(be, "add_row_vector", "v", v, (size_t)cols))
        return -1;
    ocl_backend *ob = ocl_of(be);
    ocl_args g = ocl_args_list(ob, OCLK_add_row_vector, (const ocl_arg[]){
        ocl_ref(x), ocl_int(rows), ocl_int(cols), ocl_ref(v), ocl_float(alpha), ocl_end()});
    size_t global[2] = {(size_t)cols, (size_t)rows};
    return ocl_launch(&g, "add_row_vector", 2, global, NULL);
}

/* A fixed number of groups (so the summation order depends only on n and
 * the device) writes partial sums; the host adds them in group order. */
static int ocl_sum_stats(mlsae_backend *be, size_t n, mlsae_ref x, mlsae_ref y, double out[2])
{
    out[0] = out[1] = 0;
    if (n == 0) return 0;
    if (ocl_check_ref(be, "sum_stats", "x", x, n) ||
        (y.buf && ocl_check_ref(be, "sum_stats", "y", y, n)))
        return -1;
    ocl_backend *ob = ocl_of(be);
    int kid = ob->use_fp64 ? OCLK_sum_stats_f64 : OCLK_sum_stats_f32;
    size_t local = ob->kernel_wg[kid];
    size_t groups = (n + local * 16 - 1) / (local * 16);
    if (groups > 256) groups = 256;
    size_t per_group = ob->use_fp64 ? 2 * sizeof(double) : 4 * sizeof(float);
    if (ocl_scratch(ob, &ob->partials, groups * per_group) != 0) return -1;
    ocl_args g = ocl_args_list(ob, kid, (const ocl_arg[]){
        ocl_ulong(n), ocl_ref(x), ocl_ref(y), ocl_int(y.buf != NULL), ocl_mem(ob->partials.mem),
        ocl_local(local * per_group), ocl_end()});
    size_t global = groups * local;
    if (ocl_launch(&g, "sum_stats", 1, &global, &local) != 0) return -1;
    void *host = malloc(groups * per_group);
    if (!host) return mlsae_backend_fail(be, "opencl sum_stats: out of host memory");
    cl_int rc = clEnqueueReadBuffer(ob->queue, ob->partials.mem, CL_TRUE, 0, groups * per_group,
                                    host, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        free(host);
        return mlsae_backend_fail(be, "opencl sum_stats: reading the partial sums failed (%s)",
                        ocl_strerror(rc));
    }
    for (size_t i = 0; i < groups; i++) {
        if (ob->use_fp64) {
            const double *p = (const double *)host + 2 * i;
            out[0] += p[0];
            out[1] += p[1];
        } else {
            const float *p = (const float *)host + 4 * i;
            out[0] += (double)p[0] + (double)p[1];
            out[1] += (double)p[2] + (double)p[3];
        }
    }
    free(host);
    return 0;
}

/* Mixed precision: the rounding (the product and the packing are in
 * ocl_lowp.c; doc/precision.md). */
int ocl_round_lowp(mlsae_backend *be, int fmt, mlsae_ref x, mlsae_ref y, size_t n)
{
    if (n == 0) return 0;
    if (ocl_check_ref(be, "round_lowp", "x", x, n) || ocl_check_ref(be, "round_lowp", "y", y, n))
        return -1;
    ocl_backend *ob = ocl_of(be);
    ocl_args g = ocl_args_list(ob, OCLK_round_lowp, (const ocl_arg[]){
        ocl_ulong(n), ocl_int(fmt), ocl_ref(x), ocl_ref(y), ocl_end()});
    return ocl_launch_1d(&g, "round_lowp", OCLK_round_lowp, n);
}

const mlsae_core_ops ocl_core_ops = {
    .alloc = ocl_alloc,
    .free = ocl_free,
    .host_ptr = ocl_host_ptr,
    .write = ocl_write,
    .read = ocl_read,
    .copy = ocl_copy,
    .fill = ocl_fill,
    .finish = ocl_finish,
    .sgemm = ocl_sgemm,
    .axpby = ocl_axpby,
    .add_row_vector = ocl_add_row_vector,
    .sum_stats = ocl_sum_stats,
    .round_lowp = ocl_round_lowp,
};
