/* The built-in CPU backend: host memory, OpenBLAS sgemm, OpenMP + SIMD
 * kernels. Transformer ops live in cpu_nn*.c, SAE ops in cpu_sae*.c. */
#include "config.h"
#include "cpu_internal.h"
#include "cpu_nn_math.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mlsae_buffer *cpu_alloc(mlsae_backend *be, size_t n_bytes)
{
    mlsae_buffer *b = malloc(sizeof *b);
    if (!b) return NULL;
    size_t rounded = (n_bytes + 63) & ~(size_t)63;
    b->data = aligned_alloc(64, rounded ? rounded : 64);
    if (!b->data) {
        free(b);
        mlsae_backend_fail(be, "cpu: cannot allocate %zu bytes", n_bytes);
        return NULL;
    }
    b->n_bytes = n_bytes;
    return b;
}

static void cpu_free(mlsae_backend *be, mlsae_buffer *b)
{
    (void)be;
    if (!b) return;
    free(b->data);
    free(b);
}

static void *cpu_host_ptr(mlsae_backend *be, mlsae_buffer *b)
{
    (void)be;
    return b->data;
}

static int cpu_write(mlsae_backend *be, mlsae_buffer *dst, size_t off, const void *src, size_t n)
{
    if (off > dst->n_bytes || n > dst->n_bytes - off)
        return mlsae_backend_fail(be, "cpu: write of %zu bytes at %zu past buffer end (%zu)", n, off,
                        dst->n_bytes);
    memcpy((char *)dst->data + off, src, n);
    return 0;
}

static int cpu_read(mlsae_backend *be, mlsae_buffer *src, size_t off, void *dst, size_t n)
{
    if (off > src->n_bytes || n > src->n_bytes - off)
        return mlsae_backend_fail(be, "cpu: read of %zu bytes at %zu past buffer end (%zu)", n, off,
                        src->n_bytes);
    memcpy(dst, (const char *)src->data + off, n);
    return 0;
}

static int cpu_copy(mlsae_backend *be, mlsae_ref dst, mlsae_ref src, size_t n)
{
    (void)be;
    memcpy(cpu_f32(dst), cpu_f32(src), n * 4);
    return 0;
}

static int cpu_fill(mlsae_backend *be, mlsae_ref dst, size_t n, float value)
{
    (void)be;
    float *d = cpu_f32(dst);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) d[i] = value;
    return 0;
}

static int cpu_finish(mlsae_backend *be)
{
    (void)be;
    return 0;
}

/* C = alpha op(A) op(B) + beta C on the OpenMP threads: the product is cut
 * along its longer side into whole 32-row/column panels, one share per
 * thread; each share runs the AVX-512 kernel where it applies (A not
 * transposed, alpha 1, beta 0 or 1), else a single-threaded OpenBLAS call.
 * OpenBLAS is kept to one thread: two thread pools spinning on the same
 * cores cost more than they bring. */
void cpu_gemm(mlsae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    mlsae_cpu_backend *cb = cpu_of(be);
    int nt = cb->n_threads > 0 ? cb->n_threads : 1;
    const int avx512 = !trans_a && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) &&
                       cpu_nn_gemm_avx512_available();
    const int split_m = m >= n;
    const int len = split_m ? m : n;
    const int panels = (len + 31) / 32;
    if ((double)m * n * (k > 0 ? k : 1) < 1e6) nt = 1;
    if (nt > panels) nt = panels;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), parts = omp_get_num_threads();
        int p0 = (int)((long)panels * t / parts), p1 = (int)((long)panels * (t + 1) / parts);
        int lo = p0 * 32, hi = p1 * 32 < len ? p1 * 32 : len;
        if (hi > lo) {
            const float *pa = a, *pb = b;
            float *pc;
            int pm = m, pn = n;
            if (split_m) {
                pa = trans_a ? a + lo : a + (size_t)lo * lda;
                pc = c + (size_t)lo * ldc;
                pm = hi - lo;
            } else {
                pb = trans_b ? b + (size_t)lo * ldb : b + lo;
                pc = c + lo;
                pn = hi - lo;
            }
            if (!avx512 || cpu_nn_gemm_avx512(trans_b, pm, pn, k, pa, lda, pb, ldb,
                                              beta == 1.0f, pc, ldc, NULL))
                cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                            trans_b ? CblasTrans : CblasNoTrans, pm, pn, k, alpha, pa, lda, pb,
                            ldb, beta, pc, ldc);
        }
    }
}

static int cpu_sgemm(mlsae_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
                     mlsae_ref a, int lda, mlsae_ref b, int ldb, float beta, mlsae_ref c, int ldc)
{
    cpu_gemm(be, trans_a, trans_b, m, n, k, alpha, cpu_f32(a), lda, cpu_f32(b), ldb, beta,
             cpu_f32(c), ldc);
    return 0;
}

static int cpu_axpby(mlsae_backend *be, size_t n, float alpha, mlsae_ref x, float beta, mlsae_ref y)
{
    (void)be;
    const float *xs = cpu_f32(x);
    float *ys = cpu_f32(y);
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) ys[i] = alpha * xs[i] + beta * ys[i];
    return 0;
}

static int cpu_add_row_vector(mlsae_backend *be, mlsae_ref x, int rows, int cols, mlsae_ref v,
                              float alpha)
{
    (void)be;
    float *xs = cpu_f32(x);
    const float *vs = cpu_f32(v);
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > 65536)
    for (int r = 0; r < rows; r++) {
        float *row = xs + (size_t)r * cols;
#pragma omp simd
        for (int c = 0; c < cols; c++) row[c] += alpha * vs[c];
    }
    return 0;
}

/* Deterministic: fixed blocks summed in double, then combined in block order. */
static int cpu_sum_stats(mlsae_backend *be, size_t n, mlsae_ref x, mlsae_ref y, double out[2])
{
    const float *xs = cpu_f32(x);
    const float *ys = cpu_present(y) ? cpu_f32(y) : NULL;
    const size_t block = 1 << 14;
    size_t n_blocks = (n + block - 1) / block;
    double *part = malloc((n_blocks ? n_blocks : 1) * 2 * sizeof *part);
    if (!part) return mlsae_backend_fail(be, "cpu: out of memory");
#pragma omp parallel for schedule(static) if (n_blocks > 1)
    for (size_t bi = 0; bi < n_blocks; bi++) {
        size_t lo = bi * block, hi = lo + block < n ? lo + block : n;
        double s = 0, s2 = 0;
        for (size_t i = lo; i < hi; i++) {
            double d = ys ? (double)xs[i] - (double)ys[i] : (double)xs[i];
            s += d;
            s2 += d * d;
        }
        part[2 * bi] = s;
        part[2 * bi + 1] = s2;
    }
    out[0] = out[1] = 0;
    for (size_t bi = 0; bi < n_blocks; bi++) {
        out[0] += part[2 * bi];
        out[1] += part[2 * bi + 1];
    }
    free(part);
    return 0;
}

static const char *cpu_describe(mlsae_backend *be) { return cpu_of(be)->description; }

static void cpu_destroy(mlsae_backend *be) { free(be); }

static mlsae_backend_ops cpu_ops = {
    .api_version = MLSAE_BACKEND_API_VERSION,
    .name = "cpu",
    .destroy = cpu_destroy,
    .describe = cpu_describe,
    .core = {
        .alloc = cpu_alloc,
        .free = cpu_free,
        .host_ptr = cpu_host_ptr,
        .write = cpu_write,
        .read = cpu_read,
        .copy = cpu_copy,
        .fill = cpu_fill,
        .finish = cpu_finish,
        .sgemm = cpu_sgemm,
        .axpby = cpu_axpby,
        .add_row_vector = cpu_add_row_vector,
        .sum_stats = cpu_sum_stats,
    },
};

size_t cpu_llc_bytes(void)
{
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], text[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *fp = fopen(path, "r");
        if (!fp) continue;
        unsigned long v = 0;
        char unit = 0;
        if (fgets(text, sizeof text, fp) && sscanf(text, "%lu%c", &v, &unit) >= 1) {
            size_t bytes = v * (unit == 'K' ? 1024ul : unit == 'M' ? 1048576ul : 1ul);
            if (bytes > best) best = bytes;
        }
        fclose(fp);
    }
#if defined(_SC_LEVEL3_CACHE_SIZE)
    if (best == 0) {
        long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
        if (l3 > 0) best = (size_t)l3;
    }
#endif
    return best > 0 ? best : (size_t)32 << 20;
}

void cpu_llc_bytes_set(mlsae_backend *be, size_t bytes)
{
    cpu_of(be)->llc_bytes = bytes > 0 ? bytes : cpu_llc_bytes();
}

int mlsae_backend_cpu_new(const mlsae_backend_params *params, mlsae_backend **out,
                          mlsae_error *err)
{
    mlsae_cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return mlsae_fail(err, "cpu backend: out of memory");
    /* The op tables are filled here once (the sub-tables live in other files). */
    cpu_ops.nn = mlsae_cpu_nn_ops;
    cpu_ops.sae = mlsae_cpu_sae_ops;
    cpu_lowp_fill_ops(&cpu_ops.core);
    cb->base.ops = &cpu_ops;
    if (params && params->n_threads > 0) omp_set_num_threads(params->n_threads);
    /* every product is threaded by cpu_gemm; OpenBLAS itself stays serial */
    openblas_set_num_threads(1);
    cb->n_threads = omp_get_max_threads();
    cb->llc_bytes = cpu_llc_bytes();
#if defined(MLSAE_HAVE_AVX2)
    __builtin_cpu_init();
    cb->has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    snprintf(cb->description, sizeof cb->description,
             "cpu: %d threads, %s kernels, %s%s, OpenBLAS %s (serial)", cb->n_threads,
             cb->has_avx2 ? "AVX2/FMA" : "portable",
             cpu_nn_gemm_avx512_available() ? "AVX-512 GEMM" : "OpenBLAS GEMM",
             cpu_lowp_bf16_available() ? ", AVX512_BF16" : "",
             openblas_get_corename());
    *out = &cb->base;
    return 0;
}
