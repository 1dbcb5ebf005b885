/* SAE ops of the CPU backend (backend_sae.h): the row-wise dense ops and
 * Adam here; TopK in cpu_sae_topk.c; the sparse ops in cpu_sae_sparse.c;
 * the column gather in cpu_sae_gather.c. */
#include "config.h"
#include "cpu_sae_ops.h"
#include "cpu_sae_vec.h"

#include <math.h>

#if defined(MLSAE_HAVE_AVX2)
#include <immintrin.h>
#endif

#define PAR_MIN 65536 /* elements below which an op stays on one thread */

/* Row mean and Bessel-corrected std, summed in double (SPEC §4 step 1). */
static int cpu_standardize(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref mu,
                           mlsae_ref sd, int rows, int d, float eps)
{
    (void)be;
    const float *xs = cpu_f32(x);
    float *o = cpu_f32(out), *m = cpu_f32(mu), *s = cpu_f32(sd);
#pragma omp parallel for schedule(static) if ((size_t)rows * d > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *row = xs + (size_t)r * d;
        double sum = 0;
        for (int i = 0; i < d; i++) sum += row[i];
        float mean = (float)(sum / d);
        double ss = 0;
        for (int i = 0; i < d; i++) {
            double c = (double)(row[i] - mean);
            ss += c * c;
        }
        float std = (float)sqrt(ss / (d - 1)); /* d == 1 gives NaN, as torch.std */
        float den = std + eps;
        float *orow = o + (size_t)r * d;
        for (int i = 0; i < d; i++) orow[i] = (row[i] - mean) / den;
        m[r] = mean;
        s[r] = std;
    }
    return 0;
}

static int cpu_row_affine(mlsae_backend *be, mlsae_ref x, mlsae_ref out, mlsae_ref scale,
                          mlsae_ref shift, int rows, int d)
{
    (void)be;
    const float *xs = cpu_f32(x), *sc = cpu_f32(scale), *sh = cpu_f32(shift);
    float *o = cpu_f32(out);
#pragma omp parallel for schedule(static) if ((size_t)rows * d > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *row = xs + (size_t)r * d;
        float *orow = o + (size_t)r * d;
        float a = sc[r], b = sh[r];
#pragma omp simd
        for (int i = 0; i < d; i++) orow[i] = row[i] * a + b;
    }
    return 0;
}

static int cpu_relu(mlsae_backend *be, mlsae_ref x, size_t n)
{
    (void)be;
    float *xs = cpu_f32(x);
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        if (xs[i] < 0.0f) xs[i] = 0.0f;
    return 0;
}

static int cpu_normalize_rows(mlsae_backend *be, mlsae_ref w, int rows, int d)
{
    float *ws = cpu_f32(w);
#pragma omp parallel for schedule(static) if ((size_t)rows * d > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        float *row = ws + (size_t)r * d;
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)row[i] * row[i];
        float norm = (float)sqrt(ss);
        if (norm == 0.0f) continue;
        for (int i = 0; i < d; i++) row[i] /= norm;
    }
    (void)be;
    return 0;
}

static int cpu_remove_parallel(mlsae_backend *be, mlsae_ref w, mlsae_ref g, int rows, int d)
{
    const float *ws = cpu_f32(w);
    float *gs = cpu_f32(g);
    cpu_vec_kernels vk = cpu_vec_select(cpu_of(be)->has_avx2);
#pragma omp parallel for schedule(static) if ((size_t)rows * d > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *wr = ws + (size_t)r * d;
        float *gr = gs + (size_t)r * d;
        float s = vk.dot(gr, wr, d);
        if (s != 0.0f) vk.axpy(gr, -s, wr, d);
    }
    return 0;
}

/* One Adam update of n parameters, in the order of operations of
 * torch.optim.Adam (single-tensor path): m.lerp_(g, 1 - b1);
 * v = v * b2 + (1 - b2) g^2; denom = sqrt(v) / sqrt(bc2) + eps;
 * p += -(lr / bc1) * m / denom, with the bias corrections in double. */
static void adam_portable(float *p, const float *g, float *m, float *v, size_t lo, size_t hi,
                          float w1, float b2, float w2, float bc2_sqrt, float eps, float step_size)
{
    for (size_t i = lo; i < hi; i++) {
        float gi = g[i];
        float mi = m[i] + w1 * (gi - m[i]);
        float vi = v[i] * b2 + w2 * gi * gi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] + step_size * mi / denom;
    }
}

#if defined(MLSAE_HAVE_AVX2)
__attribute__((target("avx2,fma"))) static void adam_avx2(float *p, const float *g, float *m,
                                                           float *v, size_t lo, size_t hi,
                                                           float w1, float b2, float w2,
                                                           float bc2_sqrt, float eps,
                                                           float step_size)
{
    __m256 vw1 = _mm256_set1_ps(w1), vb2 = _mm256_set1_ps(b2), vw2 = _mm256_set1_ps(w2);
    __m256 vbc = _mm256_set1_ps(bc2_sqrt), veps = _mm256_set1_ps(eps);
    __m256 vss = _mm256_set1_ps(step_size);
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i), mi = _mm256_loadu_ps(m + i);
        __m256 vi = _mm256_loadu_ps(v + i);
        /* No FMA contraction: keep torch's separate roundings. */
        mi = _mm256_add_ps(mi, _mm256_mul_ps(vw1, _mm256_sub_ps(gi, mi)));
        vi = _mm256_add_ps(_mm256_mul_ps(vi, vb2), _mm256_mul_ps(_mm256_mul_ps(vw2, gi), gi));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc), veps);
        __m256 pi = _mm256_add_ps(_mm256_loadu_ps(p + i),
                                  _mm256_div_ps(_mm256_mul_ps(vss, mi), denom));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        _mm256_storeu_ps(p + i, pi);
    }
    adam_portable(p, g, m, v, i, hi, w1, b2, w2, bc2_sqrt, eps, step_size);
}
#endif

static int cpu_adam(mlsae_backend *be, mlsae_ref p, mlsae_ref g, mlsae_ref m, mlsae_ref v,
                    size_t n, float lr, float beta1, float beta2, float eps, int step)
{
    if (step < 1) return mlsae_backend_fail(be, "cpu adam: step %d < 1", step);
    double bc1 = 1.0 - pow((double)beta1, step);
    double bc2 = 1.0 - pow((double)beta2, step);
    float step_size = (float)-((double)lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float w1 = (float)(1.0 - (double)beta1), w2 = (float)(1.0 - (double)beta2);
    float *ps = cpu_f32(p), *ms = cpu_f32(m), *vs = cpu_f32(v);
    const float *gs = cpu_f32(g);
    int use_avx2 = cpu_of(be)->has_avx2;
    const size_t block = 1 << 14;
    size_t n_blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t bi = 0; bi < n_blocks; bi++) {
        size_t lo = bi * block, hi = lo + block < n ? lo + block : n;
#if defined(MLSAE_HAVE_AVX2)
        if (use_avx2) {
            adam_avx2(ps, gs, ms, vs, lo, hi, w1, beta2, w2, bc2_sqrt, eps, step_size);
            continue;
        }
#endif
        adam_portable(ps, gs, ms, vs, lo, hi, w1, beta2, w2, bc2_sqrt, eps, step_size);
    }
    (void)use_avx2;
    return 0;
}

const mlsae_sae_ops mlsae_cpu_sae_ops = {
    .standardize = cpu_standardize,
    .row_affine = cpu_row_affine,
    .topk = cpu_sae_topk,
    .sparse_gather = cpu_sae_sparse_gather,
    .sparse_dot = cpu_sae_sparse_dot,
    .sparse_scatter = cpu_sae_sparse_scatter,
    .update_dead = cpu_sae_update_dead,
    .relu = cpu_relu,
    .normalize_rows = cpu_normalize_rows,
    .remove_parallel = cpu_remove_parallel,
    .adam = cpu_adam,
    .gather_columns = cpu_sae_gather_columns,
    .topk_gather = cpu_sae_topk_gather,
    .lowp_gemm_topk = cpu_lowp_gemm_topk,
    .sparse_backward = cpu_sae_sparse_backward,
};
