/* The machine's sgemm rate through the CPU backend (OpenMP panels over
 * serial OpenBLAS or the AVX-512 kernel, exactly what training uses), for
 * given shapes C[m,n] = A[m,k] B[n,k]^T. Prints one JSON object per shape.
 *
 * Usage: bench_gemm M N K [M N K ...]   (best of 3 after a warm-up) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/backend.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (argc - 1) % 3) {
        fprintf(stderr, "usage: %s M N K [M N K ...]\n", argv[0]);
        return 2;
    }
    mlsae_backend *be;
    mlsae_error err;
    if (mlsae_backend_cpu_new(NULL, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int i = 1; i + 2 < argc; i += 3) {
        int m = atoi(argv[i]), n = atoi(argv[i + 1]), k = atoi(argv[i + 2]);
        mlsae_buffer *a = mlsae_alloc_f32(be, (size_t)m * k), *b = mlsae_alloc_f32(be, (size_t)n * k),
                     *c = mlsae_alloc_f32(be, (size_t)m * n);
        if (!a || !b || !c) {
            fprintf(stderr, "out of memory for %d x %d x %d\n", m, n, k);
            return 1;
        }
        float *ha = be->ops->core.host_ptr(be, a), *hb = be->ops->core.host_ptr(be, b);
        for (size_t j = 0; j < (size_t)m * k; j++) ha[j] = (float)((j * 2654435761u) % 1000) / 1000 - 0.5f;
        for (size_t j = 0; j < (size_t)n * k; j++) hb[j] = (float)((j * 40503u) % 1000) / 1000 - 0.5f;
        double best = 1e30;
        for (int rep = 0; rep < 4; rep++) {
            double t0 = now();
            be->ops->core.sgemm(be, 0, 1, m, n, k, 1.0f, mlsae_at(a, 0), k, mlsae_at(b, 0), k, 0.0f,
                                mlsae_at(c, 0), n);
            double t = now() - t0;
            if (rep > 0 && t < best) best = t;
        }
        printf("{\"m\": %d, \"n\": %d, \"k\": %d, \"seconds\": %.6f, \"gflops\": %.2f}\n", m, n, k,
               best, 2.0 * m * n * k / best / 1e9);
        be->ops->core.free(be, a);
        be->ops->core.free(be, b);
        be->ops->core.free(be, c);
    }
    mlsae_backend_close(be);
    return 0;
}
