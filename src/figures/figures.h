/* The paper's figures (the reference's figures/ scripts and
 * mlsae/analysis/heatmaps.py): each kind writes BASE.csv (the numbers
 * behind the figure) and BASE.png / BASE.pdf (/ BASE.svg), where BASE is the
 * output directory joined with the reference's file stem, e.g.
 * out/dists_heatmap_NAME. A kind either writes all of its files or none
 * (a failed write removes the ones it had written).
 *
 * The CSV layouts (doc/figures.md):
 *   dists_heatmap_NAME.csv            layer, then one column per latent (its
 *                                     index) in plot order: probs[layer, latent]
 *   dists_histogram[_noninteger]_NAME.csv  layer, density (numpy.histogram
 *                                     edges and density, a 0 appended as the
 *                                     reference appends it)
 *   dists_cos_sim_heatmap_NAME.csv    x, y, count: every bin of the 64 x 512
 *                                     histogram, by its lower edges
 *   train_curves_NAME.csv             step, tokens, and the plotted metrics */
#ifndef MLSAE_FIGURES_FIGURES_H
#define MLSAE_FIGURES_FIGURES_H

#include <stdio.h>
#include "backend/backend.h"
#include "core/status.h"
#include "figures/csv.h"
#include "figures/dists.h"
#include "figures/plot.h"

/* Where a finished figure goes instead of files (e.g. into a report). */
typedef int (*mlsae_fig_sink)(void *ctx, const char *base, mlsae_plot *p, const mlsae_csv *csv,
                              mlsae_error *err);

typedef struct mlsae_fig_opts {
    mlsae_plot_style style;
    int formats; /* MLSAE_FMT_* bits; 0: CSV only */
    double dpi;  /* PNG resolution */
    mlsae_fig_sink sink; /* NULL: write files */
    void *sink_ctx;
    FILE *progress;      /* long computations (cosine histogram over 5e7 pairs and
                          * more) show progress here (NULL: none) */
} mlsae_fig_opts;

/* Save csv (may be NULL) as BASE.csv and the plot (may be NULL) in o's
 * formats, all or nothing; or hand both to o->sink when set. */
int mlsae_fig_write(mlsae_plot *p, const mlsae_csv *csv, const char *base,
                    const mlsae_fig_opts *o, mlsae_error *err);

/* dists-heatmap: probs of every latent that fired, latents sorted by
 * layer_mean descending (the reference's dists_heatmaps.py), magma_r. */
int mlsae_fig_dists_heatmap(const mlsae_dists_file *d, const char *name, const char *base,
                            const mlsae_fig_opts *o, mlsae_error *err);

/* dists-histogram: numpy.histogram(layer_mean, 16 * n_layers bins, range
 * (0, n_layers - 1), density=True); noninteger: of |layer_mean -
 * round(layer_mean)| over (0, 0.5) (figures/dists_histograms.py). NaN
 * latents are left out. */
int mlsae_fig_dists_histogram(const mlsae_dists_file *d, int noninteger, const char *name,
                              const char *base, const mlsae_fig_opts *o, mlsae_error *err);

/* dists-cos-sim: 2-D histogram, over all pairs of latents that fired, of
 * x = layer_mean difference (the earlier latent in descending layer_mean
 * order minus the later, so x >= 0) against y = cosine similarity of their
 * decoder columns, 64 x 512 bins over (0, 5) x (-0.25, 0.25)
 * (figures/dists_cos_sim_heatmaps.py). decoder: [d_model, n_latents]
 * row-major, as decoder.weight. The cosine blocks are computed by be's
 * sgemm, block by block, so the pairs are never held in memory.
 *
 * The reference sorts the decoder columns but takes the layer_mean
 * differences from the unsorted layer_mean, so its x and y belong to
 * different pairs; here both belong to the same pair. */
int mlsae_fig_dists_cos_sim(const mlsae_dists_file *d, const float *decoder, int d_model,
                            mlsae_backend *be, const char *name, const char *base,
                            const mlsae_fig_opts *o, mlsae_error *err);

/* The histogram counts of mlsae_fig_dists_cos_sim, counts [64 * 512] (x
 * major). Exposed for tests. */
#define MLSAE_COS_SIM_XBINS 64
#define MLSAE_COS_SIM_YBINS 512
int mlsae_dists_cos_sim_counts(const mlsae_dists_file *d, const float *decoder, int d_model,
                               mlsae_backend *be, int block, int64_t *counts, FILE *progress,
                               mlsae_error *err);

/* decoder.weight [d_model, n_latents] (or autoencoder.decoder.weight of a
 * -tfm checkpoint) from a checkpoint directory, as float32 (malloc'd);
 * fails unless its second dimension is n_latents. */
int mlsae_fig_read_decoder(const char *dir, int n_latents, float **decoder, int *d_model,
                           mlsae_error *err);

/* train-curves: from `mlsae train`'s metrics.jsonl (doc/formats.md), loss
 * (total, MSE, AuxK), dead fraction, mean FVU and, when validated, the mean
 * downstream loss delta, against tokens. */
int mlsae_fig_train_curves(const char *metrics_path, const char *name, const char *base,
                           const mlsae_fig_opts *o, mlsae_error *err);

#endif
