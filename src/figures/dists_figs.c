/* dists-heatmap and dists-histogram (figures/dists_heatmaps.py,
 * figures/dists_histograms.py, mlsae/analysis/heatmaps.py). */
#include "config.h"
#include "figures/figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int mlsae_fig_dists_heatmap(const mlsae_dists_file *d, const char *name, const char *base,
                            const mlsae_fig_opts *o, mlsae_error *err)
{
    int L = d->n_layers, N = d->n_latents;
    double *probs = malloc((size_t)L * N * sizeof *probs);
    double *mean = malloc((size_t)N * sizeof *mean);
    int64_t *order = malloc((size_t)N * sizeof *order);
    float *img = NULL;
    mlsae_plot *p = NULL;
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    int rc = -1;
    if (!probs || !mean || !order) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    mlsae_dists_file_derive(d, probs, mean, NULL);
    if (mlsae_argsort_desc(mean, (size_t)N, order) != 0) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    /* the plotted columns: latents with any non-NaN probability */
    int n = 0;
    for (int i = 0; i < N; i++) {
        int64_t j = order[i];
        int any = 0;
        for (int l = 0; l < L && !any; l++) any = !isnan(probs[(size_t)l * N + j]);
        if (any) order[n++] = j;
    }
    if (n == 0) {
        mlsae_fail(err, "%s: no latent fired (every layer distribution is NaN): nothing to plot",
                   name);
        goto done;
    }
    img = malloc(((size_t)L * n + 1) * sizeof *img);
    if (!img) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    double vmin = INFINITY, vmax = -INFINITY;
    for (int l = 0; l < L; l++)
        for (int i = 0; i < n; i++) {
            double v = probs[(size_t)l * N + order[i]];
            img[(size_t)l * n + i] = (float)v;
            if (!isnan(v)) vmin = fmin(vmin, v), vmax = fmax(vmax, v);
        }
    mlsae_csv_text(&csv, "layer");
    for (int i = 0; i < n; i++) mlsae_csv_int(&csv, order[i]);
    mlsae_csv_end_row(&csv);
    for (int l = 0; l < L; l++) {
        mlsae_csv_int(&csv, l);
        for (int i = 0; i < n; i++) mlsae_csv_real(&csv, probs[(size_t)l * N + order[i]]);
        mlsae_csv_end_row(&csv);
    }
    int paper = o->style == MLSAE_STYLE_PAPER;
    p = paper ? mlsae_plot_new(5.5 * 72, 1.25 * 72, o->style)
              : mlsae_plot_new(6.5 * 72, 2.4 * 72, o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    char title[512];
    snprintf(title, sizeof title, "Layer distributions of %d latents: %s", n, name);
    /* imshow(extent=(0, n, 0, L)), origin upper: layer 0 is the top row */
    mlsae_plot_axes(p, 0, 0, 1, 1, 0, n > 0 ? n : 1, L, 0, title,
                    "latent (sorted by mean layer, descending)", "layer", 1);
    mlsae_plot_layer_ticks(p, L);
    if (!(vmax > vmin)) vmax = vmin + 1;
    mlsae_plot_image(p, img, L, n, 0, n, 0, L, vmin, vmax);
    mlsae_plot_colorbar(p, vmin, vmax, "share of activation");
    mlsae_plot_finish_axes(p);
    rc = mlsae_fig_write(p, &csv, base, o, err);
done:
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    free(probs), free(mean), free(order), free(img);
    return rc;
}

int mlsae_fig_dists_histogram(const mlsae_dists_file *d, int noninteger, const char *name,
                              const char *base, const mlsae_fig_opts *o, mlsae_error *err)
{
    int L = d->n_layers, N = d->n_latents, bins = 16 * L;
    double lo = 0, hi = noninteger ? 0.5 : L - 1;
    double *mean = malloc((size_t)N * sizeof *mean);
    double *edges = malloc((size_t)(bins + 1) * sizeof *edges);
    double *density = calloc((size_t)bins + 1, sizeof *density);
    mlsae_plot *p = NULL;
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    int rc = -1;
    if (!mean || !edges || !density) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    mlsae_dists_file_derive(d, NULL, mean, NULL);
    double total = 0;
    for (int j = 0; j < N; j++) {
        double v = mean[j];
        if (isnan(v)) continue;
        if (noninteger) v = fabs(v - nearbyint(v)); /* numpy.round: half to even */
        int b = mlsae_hist_bin(v, bins, lo, hi);
        if (b >= 0) density[b] += 1, total += 1;
    }
    if (total == 0) {
        mlsae_fail(err, "%s: no latent fired in range (every layer_mean NaN or outside "
                   "(%g, %g)): no histogram", name, lo, hi);
        goto done;
    }
    /* numpy.histogram on float32 values: float32 edges (linspace in double,
     * cast), density = count / float64(float32 width) / total */
    for (int b = 0; b <= bins; b++) edges[b] = (float)mlsae_hist_edge(b, bins, lo, hi);
    for (int b = 0; b < bins; b++) {
        double width = (double)((float)edges[b + 1] - (float)edges[b]);
        density[b] = density[b] / width / total;
    }
    density[bins] = 0; /* the reference appends 0 (edges has one more entry) */
    mlsae_csv_text(&csv, "layer");
    mlsae_csv_text(&csv, "density");
    mlsae_csv_end_row(&csv);
    double ymax = 0;
    for (int b = 0; b <= bins; b++) {
        mlsae_csv_real_f32(&csv, (float)edges[b]);
        mlsae_csv_real(&csv, density[b]);
        mlsae_csv_end_row(&csv);
        if (isfinite(density[b])) ymax = fmax(ymax, density[b]);
    }
    int paper = o->style == MLSAE_STYLE_PAPER;
    p = paper ? mlsae_plot_new(2.75 * 72, 1.25 * 72, o->style)
              : mlsae_plot_new(5.0 * 72, 2.6 * 72, o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    char title[512];
    snprintf(title, sizeof title, "%s: %s", noninteger ? "Distance of mean layer to an integer"
                                                       : "Mean layer of each latent", name);
    mlsae_plot_axes(p, 0, 0, 1, 1, lo, hi, 0, ymax > 0 ? ymax * 1.05 : 1, title,
                    noninteger ? "|mean layer - nearest layer|" : "mean layer", "density", 0);
    mlsae_plot_bars(p, edges, density, bins, 0);
    mlsae_plot_finish_axes(p);
    rc = mlsae_fig_write(p, &csv, base, o, err);
done:
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    free(mean), free(edges), free(density);
    return rc;
}
