/* Throughput of the OpenCL backend against the CPU backend, same run, same
 * shapes: GEMM (the SAE encoder product in float32 and in the 16-bit inputs
 * of 16-mixed / bf16-mixed (backend/lowp.h), and a transformer linear), TopK
 * and the sparse decode/gradient ops. Prints the device, a rough peak estimate
 * and the figures. Usage: bench_opencl [rows [reps [device]]] */
#include "config.h"
#include "backend/backend.h"
#include "backend/lowp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    mlsae_backend *be;
    mlsae_buffer *x, *enc, *pre, *vals, *idx, *dots, *out, *grad, *lin_w, *lin_y;
    mlsae_buffer *enc_f16, *enc_bf16, *scratch; /* packed encoder weights, rounded rows */
} side;

enum { D = 512, EXPANSION = 16, K = 32, FF = 2048 };

static void fill_random(mlsae_backend *be, mlsae_buffer *b, size_t n, unsigned seed, int ints,
                        int modulo)
{
    void *h = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        if (ints) ((int32_t *)h)[i] = (int32_t)((seed >> 8) % (unsigned)modulo);
        else ((float *)h)[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    if (be->ops->core.write(be, b, 0, h, n * 4) != 0) {
        fprintf(stderr, "write: %s\n", mlsae_backend_error(be));
        exit(1);
    }
    free(h);
}

static int setup(side *s, int rows)
{
    mlsae_backend *be = s->be;
    size_t nl = (size_t)EXPANSION * D;
    s->x = mlsae_alloc_f32(be, (size_t)rows * D);
    s->enc = mlsae_alloc_f32(be, nl * D);
    s->pre = mlsae_alloc_f32(be, (size_t)rows * nl);
    s->vals = mlsae_alloc_f32(be, (size_t)rows * K);
    s->idx = mlsae_alloc_f32(be, (size_t)rows * K);
    s->dots = mlsae_alloc_f32(be, (size_t)rows * K);
    s->out = mlsae_alloc_f32(be, (size_t)rows * D);
    s->grad = mlsae_alloc_f32(be, nl * D);
    s->lin_w = mlsae_alloc_f32(be, (size_t)FF * D);
    s->lin_y = mlsae_alloc_f32(be, (size_t)rows * FF);
    s->enc_f16 = mlsae_alloc_f32(be, mlsae_lowp_packed_elems((int)nl, D));
    s->enc_bf16 = mlsae_alloc_f32(be, mlsae_lowp_packed_elems((int)nl, D));
    s->scratch = mlsae_alloc_f32(be, (size_t)rows * D);
    if (!s->x || !s->enc || !s->pre || !s->vals || !s->idx || !s->dots || !s->out || !s->grad ||
        !s->lin_w || !s->lin_y || !s->enc_f16 || !s->enc_bf16 || !s->scratch)
        return -1;
    fill_random(be, s->x, (size_t)rows * D, 1, 0, 0);
    fill_random(be, s->enc, nl * D, 2, 0, 0);
    fill_random(be, s->vals, (size_t)rows * K, 3, 0, 0);
    fill_random(be, s->idx, (size_t)rows * K, 4, 1, (int)nl);
    fill_random(be, s->lin_w, (size_t)FF * D, 5, 0, 0);
    fill_random(be, s->pre, (size_t)rows * nl, 6, 0, 0);
    be->ops->core.fill(be, mlsae_at(s->grad, 0), nl * D, 0.0f);
    /* packed once, as the SAE does once per weight update */
    if (mlsae_lowp_pack(be, MLSAE_LOWP_F16, mlsae_at(s->enc, 0), (int)nl, D,
                        mlsae_at(s->enc_f16, 0)) ||
        mlsae_lowp_pack(be, MLSAE_LOWP_BF16, mlsae_at(s->enc, 0), (int)nl, D,
                        mlsae_at(s->enc_bf16, 0)))
        return -1;
    return 0;
}

typedef enum {
    OP_ENC, OP_ENC_F16, OP_ENC_BF16, OP_LINEAR, OP_TOPK, OP_GATHER, OP_DOT, OP_SCATTER, N_OPS
} op_id;
static const char *op_name[N_OPS] = {"sgemm SAE encoder", "encoder 16-mixed", "encoder bf16-mixed",
                                      "linear d->4d", "topk k=32", "sparse_gather",
                                      "sparse_dot gated", "sparse_scatter"};

/* One call of op on side s; 1 = not implemented by this backend. */
static int run_op(side *s, op_id op, int rows)
{
    mlsae_backend *be = s->be;
    const mlsae_backend_ops *o = be->ops;
    int nl = EXPANSION * D;
    switch (op) {
    case OP_ENC:
        return o->core.sgemm(be, 0, 1, rows, nl, D, 1.0f, mlsae_at(s->x, 0), D,
                             mlsae_at(s->enc, 0), D, 0.0f, mlsae_at(s->pre, 0), nl);
    case OP_ENC_F16:
    case OP_ENC_BF16:
        return mlsae_lowp_gemm(be, op == OP_ENC_F16 ? MLSAE_LOWP_F16 : MLSAE_LOWP_BF16, rows, nl, D,
                               mlsae_at(s->x, 0), D,
                               mlsae_at(op == OP_ENC_F16 ? s->enc_f16 : s->enc_bf16, 0),
                               mlsae_at(s->pre, 0), nl, mlsae_at(s->scratch, 0));
    case OP_LINEAR:
        if (!o->nn.linear) return 1;
        return o->nn.linear(be, mlsae_at(s->x, 0), mlsae_at(s->lin_w, 0), MLSAE_NOREF, rows, D,
                            FF, mlsae_at(s->lin_y, 0));
    case OP_TOPK:
        if (!o->sae.topk) return 1;
        return o->sae.topk(be, mlsae_at(s->pre, 0), rows, nl, K, MLSAE_NOREF,
                           mlsae_at(s->vals, 0), mlsae_at(s->idx, 0));
    case OP_GATHER:
        if (!o->sae.sparse_gather) return 1;
        return o->sae.sparse_gather(be, mlsae_at(s->vals, 0), mlsae_at(s->idx, 0), rows, K,
                                    mlsae_at(s->enc, 0), D, 1, 0.0f, mlsae_at(s->out, 0));
    case OP_DOT:
        if (!o->sae.sparse_dot) return 1;
        return o->sae.sparse_dot(be, mlsae_at(s->x, 0), mlsae_at(s->idx, 0), rows, K,
                                 mlsae_at(s->enc, 0), D, mlsae_at(s->vals, 0),
                                 mlsae_at(s->dots, 0)); /* gated by the values, as in training */
    case OP_SCATTER:
        if (!o->sae.sparse_scatter) return 1;
        return o->sae.sparse_scatter(be, mlsae_at(s->vals, 0), mlsae_at(s->idx, 0), rows, K,
                                     mlsae_at(s->x, 0), D, mlsae_at(s->grad, 0), nl);
    default:
        return 1;
    }
}

/* Best time of reps calls after one warm-up (kernel compilation, caches). */
static double time_op(side *s, op_id op, int rows, int reps)
{
    int rc = run_op(s, op, rows);
    if (rc == 1) return -1;
    if (rc != 0 || s->be->ops->core.finish(s->be) != 0) {
        fprintf(stderr, "%s: %s\n", op_name[op], mlsae_backend_error(s->be));
        return -2;
    }
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (run_op(s, op, rows) != 0 || s->be->ops->core.finish(s->be) != 0) return -2;
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static void print_cell(double t, double work, const char *unit)
{
    if (t == -1) printf(" %22s", "n/a (not implemented)");
    else if (t < 0) printf(" %22s", "error");
    else printf(" %9.2f ms %6.1f %-4s", t * 1e3, work / t * 1e-9, unit);
}

int main(int argc, char **argv)
{
    int rows = argc > 1 ? atoi(argv[1]) : 2048;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    const char *device = argc > 3 ? argv[3] : "opencl";
    if (rows < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_opencl [rows [reps [device]]]\n");
        return 2;
    }
    mlsae_error err;
    mlsae_backend_params p = {0};
    side ocl = {0}, cpu = {0};
    if (mlsae_backend_open(device, &p, &ocl.be, &err) != 0) {
        fprintf(stderr, "bench_opencl: %s\n", err.msg);
        return 77;
    }
    if (mlsae_backend_cpu_new(&p, &cpu.be, &err) != 0) {
        fprintf(stderr, "bench_opencl: %s\n", err.msg);
        return 1;
    }
    printf("OpenCL: %s\n", ocl.be->ops->describe(ocl.be));
    printf("CPU:    %s\n", cpu.be->ops->describe(cpu.be));
    printf("16-bit inputs: opencl %s; cpu %s\n", mlsae_lowp_describe(ocl.be, MLSAE_LOWP_F16),
           mlsae_lowp_describe(cpu.be, MLSAE_LOWP_BF16));
    if (setup(&ocl, rows) != 0 || setup(&cpu, rows) != 0) {
        fprintf(stderr, "bench_opencl: allocation failed\n");
        return 1;
    }
    double nl = (double)EXPANSION * D;
    double work[N_OPS] = {
        2.0 * rows * nl * D,               /* GFLOP */
        2.0 * rows * nl * D,
        2.0 * rows * nl * D,
        2.0 * rows * (double)FF * D,       /* GFLOP */
        4.0 * rows * nl,                   /* GB read (one pass) */
        2.0 * rows * K * D,                /* GFLOP */
        2.0 * rows * K * D,
        2.0 * rows * K * D,
    };
    const char *unit[N_OPS] = {"GF/s", "GF/s", "GF/s", "GF/s", "GB/s", "GF/s", "GF/s", "GF/s"};
    printf("rows %d, d %d, latents %.0f, k %d, best of %d\n\n", rows, D, nl, K, reps);
    printf("%-18s %22s %22s %8s\n", "op", "opencl", "cpu", "speedup");
    for (int op = 0; op < N_OPS; op++) {
        double to = time_op(&ocl, op, rows, reps), tc = time_op(&cpu, op, rows, reps);
        printf("%-18s", op_name[op]);
        print_cell(to, work[op], unit[op]);
        print_cell(tc, work[op], unit[op]);
        if (to > 0 && tc > 0) printf(" %7.2fx", tc / to);
        printf("\n");
    }
    return 0;
}
