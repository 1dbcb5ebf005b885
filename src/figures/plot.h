/* A small plotting layer on cairo: one figure drawn once on a recording
 * surface, then written as PNG, PDF and/or SVG.
 *
 * Sizes are in points (1/72 inch); the reference's figures give theirs in
 * inches (figsize), so 5.5 x 1.25 in is 396 x 90 pt. A figure holds a grid of
 * axes (panels); each axes maps data coordinates onto its plot area
 * (y0 > y1 is allowed: an inverted axis, as imshow's rows run downwards).
 *
 * Styles: LABELLED (the default) draws a frame, ticks, tick labels, axis
 * labels, a title, a colour bar and a legend; PAPER draws only the data,
 * filling the whole figure, as the reference saves its PDFs
 * (axes.linewidth 0, set_axis_off, bbox_inches="tight", pad_inches=0).
 *
 * Errors: drawing calls record the first failure (cairo status, out of
 * memory) in the figure; mlsae_plot_save and mlsae_plot_render report it. */
#ifndef MLSAE_FIGURES_PLOT_H
#define MLSAE_FIGURES_PLOT_H

#include <stddef.h>
#include "core/status.h"

typedef enum mlsae_plot_style {
    MLSAE_STYLE_LABELLED = 0,
    MLSAE_STYLE_PAPER = 1,
} mlsae_plot_style;

enum {
    MLSAE_FMT_PNG = 1,
    MLSAE_FMT_PDF = 2,
    MLSAE_FMT_SVG = 4,
};

typedef struct mlsae_plot mlsae_plot;

mlsae_plot *mlsae_plot_new(double width_pt, double height_pt, mlsae_plot_style style);
void mlsae_plot_free(mlsae_plot *p);
mlsae_plot_style mlsae_plot_get_style(const mlsae_plot *p);

/* Start the axes in cell (col, row) of an ncols x nrows grid (row 0 at the
 * top) with data ranges [x0, x1] x [y0, y1]. colorbar: leave room on the
 * right for mlsae_plot_colorbar. Labels may be NULL. */
void mlsae_plot_axes(mlsae_plot *p, int col, int row, int ncols, int nrows, double x0,
                     double x1, double y0, double y1, const char *title, const char *xlabel,
                     const char *ylabel, int colorbar);
/* Explicit ticks for the current axes (axis 'x' or 'y'); otherwise round
 * numbers are chosen. labels may be NULL (the positions are printed). */
void mlsae_plot_ticks(mlsae_plot *p, char axis, const double *pos, const char *const *labels,
                      int n);
/* y ticks for an image of n_layers rows drawn over [0, n_layers]: each
 * labelled layer's number at its row's centre, every ceil(n_layers / 12)-th
 * layer from 0 when there are more than 12. */
void mlsae_plot_layer_ticks(mlsae_plot *p, int n_layers);

/* A matrix v [rows, cols] filling the rectangle [cx0, cx1] x [cy0, cy1]
 * (data coordinates), row r drawn between cy0 + r*(cy1-cy0)/rows and the
 * next; colour mlsae_magma_r on [vmin, vmax], NaN left blank. Wider than
 * max_cols columns, adjacent columns are averaged (NaN-aware) down to at
 * most max_cols (cairo images are limited to 32767 pixels a side). */
void mlsae_plot_image(mlsae_plot *p, const float *v, int rows, int cols, double cx0, double cx1,
                      double cy0, double cy1, double vmin, double vmax);
/* A line through (x[i], y[i]); NaN points break it. color: palette index. */
void mlsae_plot_line(mlsae_plot *p, const double *x, const double *y, int n, int color,
                     const char *label);
/* Markers with vertical error bars y +- e. */
void mlsae_plot_errorbars(mlsae_plot *p, const double *x, const double *y, const double *e,
                          int n, int color);
/* Histogram bars: bar i spans [edges[i], edges[i+1]] with height h[i]. */
void mlsae_plot_bars(mlsae_plot *p, const double *edges, const double *h, int n, int color);
/* Colour bar for [vmin, vmax] right of the current axes (labelled style). */
void mlsae_plot_colorbar(mlsae_plot *p, double vmin, double vmax, const char *label);
/* Draw the frame, ticks and labels of the current axes and the legend of
 * its labelled lines (labelled style); call after the data. */
void mlsae_plot_finish_axes(mlsae_plot *p);
/* A text line at the top-left of the figure (labelled style), e.g. why a
 * figure is empty. */
void mlsae_plot_note(mlsae_plot *p, const char *text);

/* Render to one format in memory (*data malloc'd). */
int mlsae_plot_render(mlsae_plot *p, int format, double dpi, unsigned char **data, size_t *n,
                      mlsae_error *err);
/* Write base.png / base.pdf / base.svg for each format bit set, each
 * atomically; when one fails, the ones already written by this call are
 * removed, so a figure is either complete or absent. dpi: PNG resolution. */
int mlsae_plot_save(mlsae_plot *p, const char *base, int formats, double dpi, mlsae_error *err);

#endif
