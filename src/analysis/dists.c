#include "config.h"
#include "analysis/dists.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/csv_out.h"
#include "core/safetensors.h"

int mlsae_dists_init(mlsae_dists *d, int n_layers, int n_latents, mlsae_error *err)
{
    memset(d, 0, sizeof *d);
    size_t n = (size_t)n_layers * n_latents;
    d->counts = calloc(n, sizeof *d->counts);
    d->totals = calloc(n, sizeof *d->totals);
    if (!d->counts || !d->totals) {
        mlsae_dists_free(d);
        return mlsae_fail(err, "out of memory for %d x %d dists", n_layers, n_latents);
    }
    d->n_layers = n_layers;
    d->n_latents = n_latents;
    return 0;
}

void mlsae_dists_free(mlsae_dists *d)
{
    free(d->counts);
    free(d->totals);
    memset(d, 0, sizeof *d);
}

int mlsae_dists_update(mlsae_dists *d, const float *values, const int32_t *indices,
                       int rows_per_layer, int n_tokens, int k, mlsae_error *err)
{
    for (int l = 0; l < d->n_layers; l++) {
        double *counts = d->counts + (size_t)l * d->n_latents;
        double *totals = d->totals + (size_t)l * d->n_latents;
        size_t base = (size_t)l * rows_per_layer * k;
        for (size_t i = base; i < base + (size_t)n_tokens * k; i++) {
            int32_t j = indices[i];
            if (j < 0 || j >= d->n_latents)
                return mlsae_fail(err, "dists: latent index %d outside 0..%d", j,
                                  d->n_latents - 1);
            counts[j] += 1.0;
            totals[j] += values[i];
        }
    }
    return 0;
}

/* The layer distribution of one latent from its totals (column `latent` of
 * totals [n_layers, n_latents]). */
static void layer_moments(const double *totals, int n_layers, int n_latents, int latent,
                          double *total, double *mean, double *var)
{
    double t = 0, lm = 0, lv = 0;
    for (int l = 0; l < n_layers; l++) t += totals[(size_t)l * n_latents + latent];
    if (t != 0) {
        for (int l = 0; l < n_layers; l++) lm += totals[(size_t)l * n_latents + latent] / t * l;
        for (int l = 0; l < n_layers; l++)
            lv += totals[(size_t)l * n_latents + latent] / t * (l - lm) * (l - lm);
    }
    *total = t;
    *mean = t != 0 ? lm : NAN;
    *var = t != 0 ? lv : NAN;
}

void mlsae_dists_latent_stats(const mlsae_dists *d, int latent, mlsae_dists_latent *out)
{
    double count = 0;
    for (int l = 0; l < d->n_layers; l++) count += d->counts[(size_t)l * d->n_latents + latent];
    layer_moments(d->totals, d->n_layers, d->n_latents, latent, &out->total, &out->layer_mean,
                  &out->layer_var);
    out->count = count;
    out->mean = out->total / (count + 1e-8);
    out->layer_std = out->layer_var >= 0 ? sqrt(out->layer_var) : NAN;
}

int mlsae_dists_layer_std_summary_of(const double *totals, int n_layers, int n_latents,
                                     mlsae_summary *out, mlsae_error *err)
{
    double *std = malloc((size_t)n_latents * sizeof *std);
    if (!std) return mlsae_fail(err, "out of memory");
    for (int j = 0; j < n_latents; j++) {
        double total, mean, var;
        layer_moments(totals, n_layers, n_latents, j, &total, &mean, &var);
        std[j] = var >= 0 ? sqrt(var) : NAN;
    }
    mlsae_summary_of(std, (size_t)n_latents, 1, out);
    free(std);
    return 0;
}

int mlsae_dists_layer_std_summary(const mlsae_dists *d, mlsae_summary *out, mlsae_error *err)
{
    return mlsae_dists_layer_std_summary_of(d->totals, d->n_layers, d->n_latents, out, err);
}

int mlsae_dists_write_safetensors(const mlsae_dists *d, const char *path, mlsae_error *err)
{
    size_t n = (size_t)d->n_layers * d->n_latents;
    float *c = malloc(n * sizeof *c), *t = malloc(n * sizeof *t);
    mlsae_st_writer *w = mlsae_st_writer_new();
    int rc = -1;
    if (!c || !t || !w) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        c[i] = (float)d->counts[i];
        t[i] = (float)d->totals[i];
    }
    int64_t shape[2] = {d->n_layers, d->n_latents};
    if (mlsae_st_writer_add(w, "counts", MLSAE_DT_F32, 2, shape, c, err) ||
        mlsae_st_writer_add(w, "totals", MLSAE_DT_F32, 2, shape, t, err) ||
        mlsae_st_writer_save(w, path, err))
        goto done;
    rc = 0;
done:
    if (w) mlsae_st_writer_free(w);
    free(c);
    free(t);
    return rc;
}

int mlsae_dists_write_csv(const mlsae_dists *d, const char *path, mlsae_error *err)
{
    static const char *const cols[] = {"latent",     "count",     "total",    "mean",
                                       "layer_mean", "layer_var", "layer_std"};
    mlsae_csv_writer c;
    if (mlsae_csvw_open(&c, path, cols, 7, err)) return -1;
    for (int j = 0; j < d->n_latents; j++) {
        mlsae_dists_latent s;
        mlsae_dists_latent_stats(d, j, &s);
        mlsae_csvw_int(&c, j);
        mlsae_csvw_real(&c, s.count);
        mlsae_csvw_real(&c, s.total);
        mlsae_csvw_real(&c, s.mean);
        mlsae_csvw_real(&c, s.layer_mean);
        mlsae_csvw_real(&c, s.layer_var);
        mlsae_csvw_real(&c, s.layer_std);
        mlsae_csvw_end_row(&c);
    }
    return mlsae_csvw_commit(&c, err);
}
