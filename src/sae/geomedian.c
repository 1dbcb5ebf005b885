#include "config.h"
#include "sae/geomedian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mlsae_geometric_median(const float *points, size_t n, int d, int max_iter, double tol,
                           float *out, mlsae_error *err)
{
    return mlsae_geometric_median_reduced(points, n, d, max_iter, tol, NULL, out, err);
}

int mlsae_geometric_median_reduced(const float *points, size_t n, int d, int max_iter,
                                   double tol,
                                   int (*sum_f64)(double *v, size_t n, mlsae_error *err),
                                   float *out, mlsae_error *err)
{
    if (n == 0 || d <= 0) return mlsae_fail(err, "geometric median: no points");
    /* curr[d]: the point count, summed with the coordinates */
    double *curr = calloc((size_t)d + 1, sizeof *curr);
    double *next = calloc((size_t)d + 1, sizeof *next);
    double *w = malloc(n * sizeof *w);
    if (!curr || !next || !w) {
        free(curr);
        free(next);
        free(w);
        return mlsae_fail(err, "geometric median: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            if (!isfinite(points[i * d + j])) {
                mlsae_fail(err, "geometric median: non-finite input at vector %zu, element %d", i,
                           j);
                goto fail;
            }
            curr[j] += points[i * d + j];
        }
    curr[d] = (double)n;
    if (sum_f64 && sum_f64(curr, (size_t)d + 1, err)) goto fail;
    const double n_all = curr[d];
    for (int j = 0; j < d; j++) curr[j] /= n_all;
    int it = 0;
    while (it < max_iter) {
        it++;
        double wsum = 0;
        int on_point = 0;
        for (size_t i = 0; i < n && !on_point; i++) {
            double ss = 0;
            for (int j = 0; j < d; j++) {
                double c = points[i * d + j] - curr[j];
                ss += c * c;
            }
            if (ss == 0) on_point = 1;
            w[i] = 1.0 / sqrt(ss);
            wsum += w[i];
        }
        if (sum_f64) {
            double sw[2] = {wsum, on_point};
            if (sum_f64(sw, 2, err)) goto fail;
            wsum = sw[0];
            on_point = sw[1] != 0;
        }
        if (on_point) break;
        memset(next, 0, (size_t)d * sizeof *next);
        for (size_t i = 0; i < n; i++) {
            double wi = w[i] / wsum;
            for (int j = 0; j < d; j++) next[j] += wi * points[i * d + j];
        }
        if (sum_f64 && sum_f64(next, (size_t)d, err)) goto fail;
        double moved = 0;
        for (int j = 0; j < d; j++) {
            double c = next[j] - curr[j];
            moved += c * c;
        }
        memcpy(curr, next, (size_t)d * sizeof *curr);
        if (sqrt(moved) < tol) break;
    }
    for (int j = 0; j < d; j++) out[j] = (float)curr[j];
    free(curr);
    free(next);
    free(w);
    return it;
fail:
    free(curr);
    free(next);
    free(w);
    return -1;
}
