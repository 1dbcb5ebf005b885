#include "config.h"
#include "sae/geomedian.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mlsae_geometric_median(const float *points, size_t n, int d, int max_iter, double tol,
                           float *out, mlsae_error *err)
{
    if (n == 0 || d <= 0) return mlsae_fail(err, "geometric median: no points");
    double *curr = calloc((size_t)d, sizeof *curr);
    double *next = calloc((size_t)d, sizeof *next);
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
                free(curr);
                free(next);
                free(w);
                return mlsae_fail(err, "geometric median: non-finite input at vector %zu, "
                                  "element %d", i, j);
            }
            curr[j] += points[i * d + j];
        }
    for (int j = 0; j < d; j++) curr[j] /= (double)n;
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
        if (on_point) break;
        memset(next, 0, (size_t)d * sizeof *next);
        for (size_t i = 0; i < n; i++) {
            double wi = w[i] / wsum;
            for (int j = 0; j < d; j++) next[j] += wi * points[i * d + j];
        }
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
}
