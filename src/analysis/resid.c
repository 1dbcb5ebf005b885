#include "config.h"
#include "analysis/resid.h"

#include <math.h>

void mlsae_running_add(mlsae_running *r, const double *x, size_t n)
{
    if (n == 0) return;
    double old = r->mean, s = 0;
    r->count += (double)n;
    for (size_t i = 0; i < n; i++) s += x[i] - old;
    r->mean = old + s / r->count;
    double sq = 0;
    for (size_t i = 0; i < n; i++) sq += (x[i] - old) * (x[i] - r->mean);
    r->squared += sq;
}

mlsae_running mlsae_running_of(const double *x, size_t n)
{
    mlsae_running r = {0, 0, 0};
    if (n == 0) return r;
    double s = 0, sq = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    r.count = (double)n;
    r.mean = s / r.count;
    for (size_t i = 0; i < n; i++) sq += (x[i] - r.mean) * (x[i] - r.mean);
    r.squared = sq;
    return r;
}

void mlsae_running_merge(mlsae_running *a, const mlsae_running *b)
{
    if (b->count == 0) return;
    if (a->count == 0) {
        *a = *b;
        return;
    }
    double count = a->count + b->count, delta = b->mean - a->mean;
    a->mean += delta * (b->count / count);
    a->squared += b->squared + delta * delta * (a->count * b->count / count);
    a->count = count;
}

void mlsae_running_get(const mlsae_running *r, double out[4])
{
    double var = r->count > 1 ? r->squared / (r->count - 1) : NAN;
    out[0] = r->count > 0 ? r->mean : NAN;
    out[1] = var;
    out[2] = sqrt(var);
    out[3] = out[2] / sqrt(r->count);
}
