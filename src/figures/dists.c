#include "config.h"
#include "figures/dists.h"
#include "core/safetensors.h"
#include "sae/validate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mlsae_dists_file_free(mlsae_dists_file *d)
{
    free(d->counts);
    free(d->totals);
    memset(d, 0, sizeof *d);
}

int mlsae_dists_file_load(const char *path, mlsae_dists_file *d, mlsae_error *err)
{
    memset(d, 0, sizeof *d);
    mlsae_safetensors *st;
    if (mlsae_st_open(path, &st, err) != 0) return -1;
    const char *names[2] = {"counts", "totals"};
    int64_t shape[2] = {-1, -1};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        const mlsae_st_tensor *t = mlsae_st_find(st, names[i]);
        if (!t) rc = mlsae_fail(err, "%s: no tensor '%s'", path, names[i]);
        else if (t->ndim != 2)
            rc = mlsae_fail(err, "%s: tensor '%s' has %d dimensions, expected 2 [n_layers, "
                            "n_latents]", path, names[i], t->ndim);
        else if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > 1024 ||
                 t->shape[1] > (1 << 24))
            rc = mlsae_fail(err, "%s: tensor '%s' has an implausible shape [%lld, %lld]", path,
                            names[i], (long long)t->shape[0], (long long)t->shape[1]);
        else if (i == 0)
            shape[0] = t->shape[0], shape[1] = t->shape[1];
        else if (t->shape[0] != shape[0] || t->shape[1] != shape[1])
            rc = mlsae_fail(err, "%s: 'totals' is [%lld, %lld] but 'counts' is [%lld, %lld]",
                            path, (long long)t->shape[0], (long long)t->shape[1],
                            (long long)shape[0], (long long)shape[1]);
    }
    if (rc == 0) {
        size_t n = (size_t)shape[0] * (size_t)shape[1];
        d->n_layers = (int)shape[0];
        d->n_latents = (int)shape[1];
        d->counts = malloc(n * sizeof *d->counts);
        d->totals = malloc(n * sizeof *d->totals);
        if (!d->counts || !d->totals) rc = mlsae_fail(err, "%s: out of memory", path);
        else if (mlsae_st_read_f32(st, "counts", 2, shape, d->counts, err) != 0 ||
                 mlsae_st_read_f32(st, "totals", 2, shape, d->totals, err) != 0 ||
                 /* finite, or a latent would silently drop out of the figures */
                 mlsae_validate_f32(path, "counts", d->counts, n, NULL, err) != 0 ||
                 mlsae_validate_f32(path, "totals", d->totals, n, NULL, err) != 0)
            rc = -1;
    }
    mlsae_st_close(st);
    if (rc) mlsae_dists_file_free(d);
    return rc;
}

void mlsae_dists_file_derive(const mlsae_dists_file *d, double *probs, double *layer_mean,
                        double *layer_std)
{
    int L = d->n_layers, N = d->n_latents;
    for (int j = 0; j < N; j++) {
        double sum = 0;
        for (int l = 0; l < L; l++) sum += d->totals[(size_t)l * N + j];
        double m1 = 0, m2 = 0;
        for (int l = 0; l < L; l++) {
            double p = d->totals[(size_t)l * N + j] / sum; /* NaN when sum == 0 */
            if (probs) probs[(size_t)l * N + j] = p;
            m1 += l * p;
            m2 += (double)l * l * p;
        }
        if (layer_mean) layer_mean[j] = m1;
        if (layer_std) layer_std[j] = sqrt(m2 - m1 * m1);
    }
}

int mlsae_dists_file_layer_std_stats(const mlsae_dists_file *d, mlsae_summary *st, int *n_dead,
                                     mlsae_error *err)
{
    double *std = malloc((size_t)d->n_latents * sizeof *std);
    if (!std) return mlsae_fail(err, "out of memory");
    mlsae_dists_file_derive(d, NULL, NULL, std);
    mlsae_summary_of(std, (size_t)d->n_latents, 1, st);
    if (n_dead) {
        *n_dead = 0;
        for (int j = 0; j < d->n_latents; j++) *n_dead += isnan(std[j]);
    }
    free(std);
    return 0;
}

typedef struct keyed {
    double key;
    int64_t index;
} keyed;

static int cmp_desc(const void *a, const void *b)
{
    const keyed *p = a, *q = b;
    int xn = isnan(p->key), yn = isnan(q->key);
    if (xn != yn) return xn ? -1 : 1;
    if (!xn && p->key != q->key) return p->key > q->key ? -1 : 1;
    return p->index < q->index ? -1 : p->index > q->index;
}

int mlsae_argsort_desc(const double *key, size_t n, int64_t *order)
{
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    if (!k) return -1;
    for (size_t i = 0; i < n; i++) k[i].key = key[i], k[i].index = (int64_t)i;
    qsort(k, n, sizeof *k, cmp_desc);
    for (size_t i = 0; i < n; i++) order[i] = k[i].index;
    free(k);
    return 0;
}

double mlsae_hist_edge(int i, int bins, double lo, double hi)
{
    return i == bins ? hi : lo + i * ((hi - lo) / bins);
}

int mlsae_hist_bin(double v, int bins, double lo, double hi)
{
    if (!(v >= lo && v <= hi)) return -1;
    if (v == hi) return bins - 1;
    int i = (int)((v - lo) * (bins / (hi - lo)));
    if (i >= bins) i = bins - 1;
    if (i < 0) i = 0;
    while (i > 0 && v < mlsae_hist_edge(i, bins, lo, hi)) i--;
    while (i < bins - 1 && v >= mlsae_hist_edge(i + 1, bins, lo, hi)) i++;
    return i;
}
