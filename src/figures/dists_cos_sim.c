/* dists-cos-sim (figures/dists_cos_sim_heatmaps.py): 2-D histogram of the
 * decoder cosine similarity of every pair of latents against the difference
 * in their mean layers, blocked: the unit decoder columns of the latents
 * that fired, sorted by layer_mean descending, are the rows of U [M, D];
 * each block U[I] U[J]^T (J >= I) comes from the backend's sgemm and is
 * binned at once (pairs i < j only), so memory is O(M D + B^2). */
#include "config.h"
#include "figures/figures.h"

#include "core/progress.h"
#include "core/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X_LO 0.0
#define X_HI 5.0
#define Y_LO (-0.25)
#define Y_HI 0.25

/* mlsae_hist_bin with the edges computed once (the same edges, the same
 * bins): the inner loop runs once per pair. */
typedef struct binner {
    double lo, hi, scale;
    int bins;
    double edge[MLSAE_COS_SIM_YBINS + 1];
} binner;

static void binner_init(binner *b, int bins, double lo, double hi)
{
    b->lo = lo, b->hi = hi, b->bins = bins, b->scale = bins / (hi - lo);
    for (int i = 0; i <= bins; i++) b->edge[i] = mlsae_hist_edge(i, bins, lo, hi);
}

static inline int bin_of(const binner *b, double v)
{
    if (!(v >= b->lo && v <= b->hi)) return -1;
    if (v == b->hi) return b->bins - 1;
    int i = (int)((v - b->lo) * b->scale);
    if (i >= b->bins) i = b->bins - 1;
    while (i > 0 && v < b->edge[i]) i--;
    while (i < b->bins - 1 && v >= b->edge[i + 1]) i++;
    return i;
}

int mlsae_dists_cos_sim_counts(const mlsae_dists_file *d, const float *decoder, int d_model,
                               mlsae_backend *be, int block, int64_t *counts, FILE *progress,
                               mlsae_error *err)
{
    const int XB = MLSAE_COS_SIM_XBINS, YB = MLSAE_COS_SIM_YBINS;
    int N = d->n_latents, D = d_model;
    memset(counts, 0, (size_t)XB * YB * sizeof *counts);
    double *mean = malloc((size_t)N * sizeof *mean);
    int64_t *order = malloc((size_t)N * sizeof *order);
    double *lm = malloc((size_t)N * sizeof *lm);
    float *u = NULL, *c = NULL;
    mlsae_buffer *bu = NULL, *bc = NULL;
    int rc = -1;
    if (!mean || !order || !lm) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    mlsae_dists_file_derive(d, NULL, mean, NULL);
    if (mlsae_argsort_desc(mean, (size_t)N, order) != 0) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    /* NaN sorts first: the latents that never fired pair with nothing */
    int skip = 0;
    while (skip < N && isnan(mean[order[skip]])) skip++;
    int M = N - skip;
    if (M < 2) {
        rc = 0;
        goto done;
    }
    if (block < 1) block = 1024;
    if (block > M) block = M;
    u = malloc((size_t)M * D * sizeof *u);
    c = malloc((size_t)block * block * sizeof *c);
    if (!u || !c) {
        mlsae_fail(err, "out of memory (%d x %d decoder)", D, N);
        goto done;
    }
    for (int i = 0; i < M; i++) {
        int64_t j = order[skip + i];
        lm[i] = mean[j];
        double ss = 0;
        for (int k = 0; k < D; k++) {
            double w = decoder[(size_t)k * N + j];
            ss += w * w;
        }
        /* the reference's normalize: x / max(||x||, 1e-8) */
        double norm = fmax(sqrt(ss), 1e-8);
        for (int k = 0; k < D; k++)
            u[(size_t)i * D + k] = (float)(decoder[(size_t)k * N + j] / norm);
    }
    bu = mlsae_alloc_f32(be, (size_t)M * D);
    bc = mlsae_alloc_f32(be, (size_t)block * block);
    if (!bu || !bc) {
        mlsae_fail(err, "cos sim: the backend could not allocate %zu MB",
                   ((size_t)M * D + (size_t)block * block) * 4 >> 20);
        goto done;
    }
    binner bins_x, bins_y, *xb = &bins_x, *yb = &bins_y;
    binner_init(xb, XB, X_LO, X_HI);
    binner_init(yb, YB, Y_LO, Y_HI);
    const mlsae_core_ops *ops = &be->ops->core;
    if (ops->write(be, bu, 0, u, (size_t)M * D * 4) != 0) goto backend_error;
    mlsae_progress prog;
    uint64_t pairs_done = 0, pairs = (uint64_t)M * (uint64_t)(M - 1) / 2;
    if (pairs < 50000000) progress = NULL; /* a few seconds at most: no display */
    if (progress) {
        mlsae_progress_options po;
        mlsae_progress_options_default(&po);
        po.unit = "pairs";
        mlsae_progress_start(&prog, progress, "cos sim", 0, pairs, &po);
    }
    for (int i0 = 0; i0 < M; i0 += block) {
        int bi = M - i0 < block ? M - i0 : block;
        for (int j0 = i0; j0 < M; j0 += block) {
            int bj = M - j0 < block ? M - j0 : block;
            if (ops->sgemm(be, 0, 1, bi, bj, D, 1.0f, mlsae_at(bu, (size_t)i0 * D), D,
                           mlsae_at(bu, (size_t)j0 * D), D, 0.0f, mlsae_at(bc, 0), bj) != 0 ||
                ops->read(be, bc, 0, c, (size_t)bi * bj * 4) != 0)
                goto backend_error;
            for (int r = 0; r < bi; r++) {
                double xi = lm[i0 + r];
                int c0 = j0 == i0 ? r + 1 : 0;
                const float *row = c + (size_t)r * bj;
                for (int q = c0; q < bj; q++) {
                    int bx = bin_of(xb, xi - lm[j0 + q]);
                    if (bx < 0) continue;
                    int by = bin_of(yb, row[q]);
                    if (by >= 0) counts[(size_t)bx * YB + by]++;
                }
                pairs_done += (uint64_t)(bj - c0);
            }
            if (progress) mlsae_progress_update(&prog, pairs_done);
        }
    }
    if (progress) mlsae_progress_finish(&prog);
    rc = 0;
    goto done;
backend_error:
    mlsae_fail(err, "cos sim on the %s backend: %s", be->ops->name, mlsae_backend_error(be));
done:
    if (bu) be->ops->core.free(be, bu);
    if (bc) be->ops->core.free(be, bc);
    free(mean), free(order), free(lm), free(u), free(c);
    return rc;
}

int mlsae_fig_dists_cos_sim(const mlsae_dists_file *d, const float *decoder, int d_model,
                            mlsae_backend *be, const char *name, const char *base,
                            const mlsae_fig_opts *o, mlsae_error *err)
{
    const int XB = MLSAE_COS_SIM_XBINS, YB = MLSAE_COS_SIM_YBINS;
    int64_t *counts = malloc((size_t)XB * YB * sizeof *counts);
    float *img = malloc((size_t)XB * YB * sizeof *img);
    mlsae_plot *p = NULL;
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    int rc = -1;
    if (!counts || !img) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (mlsae_dists_cos_sim_counts(d, decoder, d_model, be, 1024, counts, o->progress, err) != 0) goto done;
    mlsae_csv_text(&csv, "x");
    mlsae_csv_text(&csv, "y");
    mlsae_csv_text(&csv, "count");
    mlsae_csv_end_row(&csv);
    double vmin = INFINITY, vmax = -INFINITY;
    for (int bx = 0; bx < XB; bx++)
        for (int by = 0; by < YB; by++) {
            int64_t n = counts[(size_t)bx * YB + by];
            mlsae_csv_real(&csv, mlsae_hist_edge(bx, XB, X_LO, X_HI));
            mlsae_csv_real(&csv, mlsae_hist_edge(by, YB, Y_LO, Y_HI));
            mlsae_csv_int(&csv, n);
            mlsae_csv_end_row(&csv);
            img[(size_t)by * XB + bx] = (float)n; /* image rows are y bins */
            vmin = fmin(vmin, (double)n), vmax = fmax(vmax, (double)n);
        }
    int paper = o->style == MLSAE_STYLE_PAPER;
    p = paper ? mlsae_plot_new(2 * 72, 2 * 72, o->style) : mlsae_plot_new(4.6 * 72, 3.4 * 72, o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    char title[512];
    snprintf(title, sizeof title, "Decoder similarity vs mean layer: %s", name);
    mlsae_plot_axes(p, 0, 0, 1, 1, X_LO, X_HI, Y_LO, Y_HI, title,
                    "difference in mean layer", "cosine similarity", 1);
    if (!(vmax > vmin)) vmax = vmin + 1;
    mlsae_plot_image(p, img, YB, XB, X_LO, X_HI, Y_LO, Y_HI, vmin, vmax);
    mlsae_plot_colorbar(p, vmin, vmax, "pairs");
    mlsae_plot_finish_axes(p);
    rc = mlsae_fig_write(p, &csv, base, o, err);
done:
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    free(counts), free(img);
    return rc;
}

int mlsae_fig_read_decoder(const char *dir, int n_latents, float **decoder, int *d_model,
                           mlsae_error *err)
{
    *decoder = NULL;
    *d_model = 0;
    mlsae_safetensors *st;
    if (mlsae_st_open(dir, &st, err) != 0) return -1;
    const char *name = "decoder.weight";
    const mlsae_st_tensor *t = mlsae_st_find(st, name);
    if (!t) t = mlsae_st_find(st, name = "autoencoder.decoder.weight");
    int rc = 0;
    if (!t)
        rc = mlsae_fail(err, "%s: no tensor decoder.weight (nor autoencoder.decoder.weight)",
                        mlsae_st_path(st));
    else if (t->ndim != 2 || t->shape[1] != n_latents || t->shape[0] < 1)
        rc = mlsae_fail(err, "%s: %s is not [d_model, %d] (n_latents of the dists file)",
                        mlsae_st_path(st), name, n_latents);
    if (rc == 0) {
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        *decoder = malloc((size_t)shape[0] * (size_t)shape[1] * sizeof **decoder);
        if (!*decoder) rc = mlsae_fail(err, "%s: out of memory", mlsae_st_path(st));
        else if (mlsae_st_read_f32(st, name, 2, shape, *decoder, err) != 0) rc = -1;
        else *d_model = (int)shape[0];
        if (rc) free(*decoder), *decoder = NULL;
    }
    mlsae_st_close(st);
    return rc;
}
