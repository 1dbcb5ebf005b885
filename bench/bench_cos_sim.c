/* dists-cos-sim at paper scale: the blocked pairwise cosine histogram over
 * N latents of a d-dimensional decoder (random unit columns, random layer
 * distributions), beside the same run's sgemm-only time for the same blocks
 * (the binning's share is the rest). Prints one JSON object.
 *   bench_cos_sim D N [BLOCK] */
#include "config.h"
#include "backend/backend.h"
#include "core/progress.h"
#include "figures/figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static uint64_t rng = 88172645463325252ull;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_cos_sim D N [BLOCK]\n");
        return 2;
    }
    int D = atoi(argv[1]), N = atoi(argv[2]), B = argc > 3 ? atoi(argv[3]) : 1024, L = 6;
    float *dec = malloc((size_t)D * N * sizeof *dec);
    float *counts = calloc((size_t)L * N, sizeof *counts), *totals = calloc((size_t)L * N, 4);
    int64_t *hist = malloc(64 * 512 * sizeof *hist);
    if (!dec || !counts || !totals || !hist) return 1;
    for (size_t i = 0; i < (size_t)D * N; i++) dec[i] = (float)(uniform() * 2 - 1);
    for (int j = 0; j < N; j++)
        for (int l = 0; l < L; l++)
            if (uniform() < 0.5) counts[(size_t)l * N + j] = 1, totals[(size_t)l * N + j] = (float)uniform();
    mlsae_dists_file d = {L, N, counts, totals};
    mlsae_backend *be;
    mlsae_error err;
    mlsae_backend_params params = {.n_threads = 0, .device_index = -1};
    if (mlsae_backend_open(getenv("DEVICE") ? getenv("DEVICE") : "cpu", &params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t0 = mlsae_monotonic_seconds(NULL);
    if (mlsae_dists_cos_sim_counts(&d, dec, D, be, B, hist, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_all = mlsae_monotonic_seconds(NULL) - t0;
    /* the same products alone */
    mlsae_buffer *bu = mlsae_alloc_f32(be, (size_t)N * D), *bc = mlsae_alloc_f32(be, (size_t)B * B);
    float *c = malloc((size_t)B * B * sizeof *c);
    be->ops->core.write(be, bu, 0, dec, (size_t)N * D * 4);
    t0 = mlsae_monotonic_seconds(NULL);
    for (int i0 = 0; i0 < N; i0 += B)
        for (int j0 = i0; j0 < N; j0 += B) {
            int bi = N - i0 < B ? N - i0 : B, bj = N - j0 < B ? N - j0 : B;
            be->ops->core.sgemm(be, 0, 1, bi, bj, D, 1.0f, mlsae_at(bu, (size_t)i0 * D), D,
                                mlsae_at(bu, (size_t)j0 * D), D, 0.0f, mlsae_at(bc, 0), bj);
            be->ops->core.read(be, bc, 0, c, (size_t)bi * bj * 4);
        }
    double t_gemm = mlsae_monotonic_seconds(NULL) - t0;
    int64_t total = 0;
    for (int i = 0; i < 64 * 512; i++) total += hist[i];
    double pairs = (double)N * (N - 1) / 2, flops = 2.0 * D * pairs; /* upper triangle */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"d\": %d, \"n_latents\": %d, \"block\": %d, \"pairs\": %.0f, \"binned\": %lld, "
           "\"seconds\": %.3f, \"pairs_per_s\": %.4g, \"sgemm_s\": %.3f, \"sgemm_gflops\": %.1f, "
           "\"peak_rss_mb\": %.0f}\n",
           D, N, B, pairs, (long long)total, t_all, pairs / t_all, t_gemm, flops / t_gemm / 1e9,
           ru.ru_maxrss / 1024.0);
    be->ops->core.free(be, bu);
    be->ops->core.free(be, bc);
    mlsae_backend_close(be);
    free(dec), free(counts), free(totals), free(hist), free(c);
    return 0;
}
