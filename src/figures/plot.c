#include "config.h"
#include "figures/plot.h"
#include "figures/colormap.h"
#include "core/atomic_file.h"
#include "core/strbuf.h"

#include <cairo.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TICKS 64
#define MAX_LEGEND 16
#define FONT_SMALL 7.0
#define FONT_LABEL 8.0
#define FONT_TITLE 9.0

/* matplotlib's default colour cycle ("tab10"), as 8-bit RGB. */
static const unsigned char palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44},   {214, 39, 40},   {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

typedef struct ticks {
    int n;
    double pos[MAX_TICKS];
    char label[MAX_TICKS][32];
} ticks;

struct mlsae_plot {
    double width, height;
    mlsae_plot_style style;
    cairo_surface_t *rec;
    cairo_t *cr;
    char error[256];
    /* current axes */
    int have_axes;
    double ax, ay, aw, ah;     /* plot area, points */
    double x0, x1, y0, y1;     /* data ranges */
    char title[256], xlabel[128], ylabel[128];
    ticks xt, yt;
    int legend_n;
    int legend_color[MAX_LEGEND];
    char legend_label[MAX_LEGEND][64];
};

static void set_error(mlsae_plot *p, const char *msg)
{
    if (!p->error[0]) snprintf(p->error, sizeof p->error, "%s", msg);
}

static void check(mlsae_plot *p)
{
    cairo_status_t s = cairo_status(p->cr);
    if (s != CAIRO_STATUS_SUCCESS) set_error(p, cairo_status_to_string(s));
}

mlsae_plot *mlsae_plot_new(double width_pt, double height_pt, mlsae_plot_style style)
{
    mlsae_plot *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->width = width_pt;
    p->height = height_pt;
    p->style = style;
    cairo_rectangle_t extents = {0, 0, width_pt, height_pt};
    p->rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
    p->cr = cairo_create(p->rec);
    cairo_set_source_rgb(p->cr, 1, 1, 1);
    cairo_paint(p->cr);
    cairo_select_font_face(p->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    check(p);
    return p;
}

void mlsae_plot_free(mlsae_plot *p)
{
    if (!p) return;
    cairo_destroy(p->cr);
    cairo_surface_destroy(p->rec);
    free(p);
}

mlsae_plot_style mlsae_plot_get_style(const mlsae_plot *p)
{
    return p->style;
}

static double X(const mlsae_plot *p, double x)
{
    return p->ax + (x - p->x0) / (p->x1 - p->x0) * p->aw;
}

static double Y(const mlsae_plot *p, double y)
{
    return p->ay + p->ah - (y - p->y0) / (p->y1 - p->y0) * p->ah;
}

/* Round tick positions inside [lo, hi]: steps of 1, 2 or 5 times a power of
 * ten, at most about six ticks. */
static void auto_ticks(ticks *t, double a, double b)
{
    double lo = fmin(a, b), hi = fmax(a, b);
    t->n = 0;
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) return;
    double raw = (hi - lo) / 5.0, mag = pow(10.0, floor(log10(raw))), step = mag;
    if (raw / mag > 5) step = 10 * mag;
    else if (raw / mag > 2) step = 5 * mag;
    else if (raw / mag > 1) step = 2 * mag;
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    for (double v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9 && t->n < MAX_TICKS;
         v += step) {
        double r = fabs(v) < step * 1e-9 ? 0.0 : v;
        t->pos[t->n] = r;
        if (fabs(r) >= 1e5 || (fabs(r) < 1e-3 && r != 0))
            snprintf(t->label[t->n], sizeof t->label[0], "%.3g", r);
        else
            snprintf(t->label[t->n], sizeof t->label[0], "%.*f", decimals, r);
        t->n++;
    }
}

void mlsae_plot_axes(mlsae_plot *p, int col, int row, int ncols, int nrows, double x0,
                     double x1, double y0, double y1, const char *title, const char *xlabel,
                     const char *ylabel, int colorbar)
{
    double cw = p->width / ncols, ch = p->height / nrows;
    double cx = col * cw, cy = row * ch;
    if (p->style == MLSAE_STYLE_PAPER) {
        p->ax = cx, p->ay = cy, p->aw = cw, p->ah = ch;
    } else {
        double left = 44, right = colorbar ? 62 : 10, top = title ? 16 : 6;
        double bottom = xlabel ? 28 : 18;
        p->ax = cx + left, p->ay = cy + top;
        p->aw = fmax(cw - left - right, 10), p->ah = fmax(ch - top - bottom, 10);
    }
    p->x0 = x0, p->x1 = x1 != x0 ? x1 : x0 + 1;
    p->y0 = y0, p->y1 = y1 != y0 ? y1 : y0 + 1;
    snprintf(p->title, sizeof p->title, "%s", title ? title : "");
    snprintf(p->xlabel, sizeof p->xlabel, "%s", xlabel ? xlabel : "");
    snprintf(p->ylabel, sizeof p->ylabel, "%s", ylabel ? ylabel : "");
    auto_ticks(&p->xt, p->x0, p->x1);
    auto_ticks(&p->yt, p->y0, p->y1);
    p->legend_n = 0;
    p->have_axes = 1;
}

void mlsae_plot_ticks(mlsae_plot *p, char axis, const double *pos, const char *const *labels,
                      int n)
{
    ticks *t = axis == 'x' ? &p->xt : &p->yt;
    t->n = n < MAX_TICKS ? n : MAX_TICKS;
    for (int i = 0; i < t->n; i++) {
        t->pos[i] = pos[i];
        if (labels) snprintf(t->label[i], sizeof t->label[0], "%s", labels[i]);
        else snprintf(t->label[i], sizeof t->label[0], "%g", pos[i]);
    }
}

void mlsae_plot_layer_ticks(mlsae_plot *p, int n_layers)
{
    double tp[64];
    char tl[64][16];
    const char *tlp[64];
    int nt = 0, step = n_layers > 12 ? (n_layers + 11) / 12 : 1;
    for (int l = 0; l < n_layers && nt < 64; l += step, nt++) {
        tp[nt] = l + 0.5;
        snprintf(tl[nt], sizeof tl[nt], "%d", l);
        tlp[nt] = tl[nt];
    }
    mlsae_plot_ticks(p, 'y', tp, tlp, nt);
}

static void clip_axes(mlsae_plot *p)
{
    cairo_save(p->cr);
    cairo_rectangle(p->cr, p->ax, p->ay, p->aw, p->ah);
    cairo_clip(p->cr);
}

/* A w x h image surface to fill pixel by pixel: its pixels and row stride,
 * or NULL (the figure's error set) when cairo cannot make it. */
static unsigned char *new_image(mlsae_plot *p, cairo_format_t format, int w, int h,
                                cairo_surface_t **img, int *stride)
{
    *img = cairo_image_surface_create(format, w, h);
    if (cairo_surface_status(*img) != CAIRO_STATUS_SUCCESS) {
        set_error(p, cairo_status_to_string(cairo_surface_status(*img)));
        cairo_surface_destroy(*img);
        return NULL;
    }
    cairo_surface_flush(*img);
    *stride = cairo_image_surface_get_stride(*img);
    return cairo_image_surface_get_data(*img);
}

void mlsae_plot_image(mlsae_plot *p, const float *v, int rows, int cols, double cx0, double cx1,
                      double cy0, double cy1, double vmin, double vmax)
{
    const int max_cols = 4096;
    if (!p->have_axes || rows <= 0 || cols <= 0) return;
    int group = (cols + max_cols - 1) / max_cols, w = (cols + group - 1) / group;
    cairo_surface_t *img;
    int stride;
    unsigned char *px = new_image(p, CAIRO_FORMAT_ARGB32, w, rows, &img, &stride);
    if (!px) return;
    for (int r = 0; r < rows; r++) {
        uint32_t *line = (uint32_t *)(px + (size_t)r * (size_t)stride);
        for (int c = 0; c < w; c++) {
            double sum = 0;
            int n = 0;
            for (int j = c * group; j < (c + 1) * group && j < cols; j++) {
                float x = v[(size_t)r * (size_t)cols + (size_t)j];
                if (!isnan(x)) sum += x, n++;
            }
            double rgb[3];
            if (n && mlsae_colormap_rgb(sum / n, vmin, vmax, rgb)) {
                uint32_t R = (uint32_t)lround(rgb[0] * 255), G = (uint32_t)lround(rgb[1] * 255),
                         B = (uint32_t)lround(rgb[2] * 255);
                line[c] = 0xff000000u | R << 16 | G << 8 | B;
            } else {
                line[c] = 0; /* transparent: the background shows */
            }
        }
    }
    cairo_surface_mark_dirty(img);
    clip_axes(p);
    cairo_t *cr = p->cr;
    cairo_translate(cr, X(p, cx0), Y(p, cy0));
    cairo_scale(cr, (X(p, cx1) - X(p, cx0)) / w, (Y(p, cy1) - Y(p, cy0)) / rows);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, w, rows);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    check(p);
}

static void set_palette(cairo_t *cr, int color)
{
    const unsigned char *c = palette[((color % 10) + 10) % 10];
    cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
}

void mlsae_plot_line(mlsae_plot *p, const double *x, const double *y, int n, int color,
                     const char *label)
{
    if (!p->have_axes) return;
    cairo_t *cr = p->cr;
    clip_axes(p);
    set_palette(cr, color);
    cairo_set_line_width(cr, 1.0);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    int pen = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            pen = 0;
            continue;
        }
        if (pen) cairo_line_to(cr, X(p, x[i]), Y(p, y[i]));
        else cairo_move_to(cr, X(p, x[i]), Y(p, y[i]));
        pen = 1;
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    if (label && p->legend_n < MAX_LEGEND) {
        p->legend_color[p->legend_n] = color;
        snprintf(p->legend_label[p->legend_n], sizeof p->legend_label[0], "%s", label);
        p->legend_n++;
    }
    check(p);
}

void mlsae_plot_errorbars(mlsae_plot *p, const double *x, const double *y, const double *e,
                          int n, int color)
{
    if (!p->have_axes) return;
    cairo_t *cr = p->cr;
    clip_axes(p);
    set_palette(cr, color);
    cairo_set_line_width(cr, 0.8);
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double px = X(p, x[i]), py = Y(p, y[i]);
        if (e && isfinite(e[i])) {
            double lo = Y(p, y[i] - e[i]), hi = Y(p, y[i] + e[i]);
            cairo_move_to(cr, px, lo);
            cairo_line_to(cr, px, hi);
            cairo_move_to(cr, px - 2, lo);
            cairo_line_to(cr, px + 2, lo);
            cairo_move_to(cr, px - 2, hi);
            cairo_line_to(cr, px + 2, hi);
            cairo_stroke(cr);
        }
        cairo_arc(cr, px, py, 1.6, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
    check(p);
}

void mlsae_plot_bars(mlsae_plot *p, const double *edges, const double *h, int n, int color)
{
    if (!p->have_axes) return;
    cairo_t *cr = p->cr;
    clip_axes(p);
    set_palette(cr, color);
    for (int i = 0; i < n; i++) {
        if (!isfinite(h[i]) || h[i] == 0) continue;
        double xa = X(p, edges[i]), xb = X(p, edges[i + 1]), ya = Y(p, 0), yb = Y(p, h[i]);
        cairo_rectangle(cr, fmin(xa, xb), fmin(ya, yb), fabs(xb - xa), fabs(yb - ya));
    }
    cairo_fill(cr);
    cairo_restore(cr);
    check(p);
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double size, double ha,
                    double va)
{
    cairo_text_extents_t te;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &te);
    /* ha, va: 0 left/top .. 1 right/bottom, on the text's ink box */
    cairo_move_to(cr, x - te.x_bearing - ha * te.width, y - te.y_bearing - va * te.height);
    cairo_show_text(cr, s);
}

void mlsae_plot_colorbar(mlsae_plot *p, double vmin, double vmax, const char *label)
{
    if (!p->have_axes || p->style == MLSAE_STYLE_PAPER) return;
    cairo_t *cr = p->cr;
    double bx = p->ax + p->aw + 8, bw = 9, by = p->ay, bh = p->ah;
    cairo_surface_t *img;
    int stride;
    unsigned char *px = new_image(p, CAIRO_FORMAT_RGB24, 1, 256, &img, &stride);
    if (!px) return;
    for (int i = 0; i < 256; i++) {
        const unsigned char *c = mlsae_magma_r[255 - i]; /* top = vmax */
        *(uint32_t *)(px + (size_t)i * (size_t)stride) =
            (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_translate(cr, bx, by);
    cairo_scale(cr, bw, bh / 256.0);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, 1, 256);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.6);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_stroke(cr);
    ticks t;
    auto_ticks(&t, vmin, vmax);
    double widest = 0;
    for (int i = 0; i < t.n && vmax > vmin; i++) {
        double y = by + bh - (t.pos[i] - vmin) / (vmax - vmin) * bh;
        cairo_move_to(cr, bx + bw, y);
        cairo_line_to(cr, bx + bw + 2.5, y);
        cairo_stroke(cr);
        text_at(cr, bx + bw + 4, y, t.label[i], FONT_SMALL, 0, 0.5);
        cairo_text_extents_t te;
        cairo_text_extents(cr, t.label[i], &te);
        widest = fmax(widest, te.width);
    }
    if (label && *label) {
        cairo_save(cr);
        /* right of the widest tick label */
        cairo_translate(cr, bx + bw + 4 + widest + 5, by + bh / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, label, FONT_SMALL, 0.5, 1);
        cairo_restore(cr);
    }
    check(p);
}

void mlsae_plot_finish_axes(mlsae_plot *p)
{
    if (!p->have_axes || p->style == MLSAE_STYLE_PAPER) return;
    cairo_t *cr = p->cr;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.6);
    cairo_rectangle(cr, p->ax, p->ay, p->aw, p->ah);
    cairo_stroke(cr);
    double bottom = p->ay + p->ah;
    for (int i = 0; i < p->xt.n; i++) {
        double x = X(p, p->xt.pos[i]);
        if (x < p->ax - 0.5 || x > p->ax + p->aw + 0.5) continue;
        cairo_move_to(cr, x, bottom);
        cairo_line_to(cr, x, bottom + 2.5);
        cairo_stroke(cr);
        text_at(cr, x, bottom + 4, p->xt.label[i], FONT_SMALL, 0.5, 0);
    }
    for (int i = 0; i < p->yt.n; i++) {
        double y = Y(p, p->yt.pos[i]);
        if (y < p->ay - 0.5 || y > p->ay + p->ah + 0.5) continue;
        cairo_move_to(cr, p->ax, y);
        cairo_line_to(cr, p->ax - 2.5, y);
        cairo_stroke(cr);
        text_at(cr, p->ax - 4, y, p->yt.label[i], FONT_SMALL, 1, 0.5);
    }
    if (p->xlabel[0]) text_at(cr, p->ax + p->aw / 2, bottom + 14, p->xlabel, FONT_LABEL, 0.5, 0);
    if (p->ylabel[0]) {
        cairo_save(cr);
        cairo_translate(cr, p->ax - 32, p->ay + p->ah / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, p->ylabel, FONT_LABEL, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (p->title[0]) text_at(cr, p->ax + p->aw / 2, p->ay - 4, p->title, FONT_TITLE, 0.5, 1);
    /* legend: top right, inside the axes */
    double ly = p->ay + 6;
    for (int i = 0; i < p->legend_n; i++, ly += 9) {
        cairo_text_extents_t te;
        cairo_set_font_size(cr, FONT_SMALL);
        cairo_text_extents(cr, p->legend_label[i], &te);
        double lx = p->ax + p->aw - 6 - te.width;
        set_palette(cr, p->legend_color[i]);
        cairo_set_line_width(cr, 1.2);
        cairo_move_to(cr, lx - 14, ly);
        cairo_line_to(cr, lx - 3, ly);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, lx, ly, p->legend_label[i], FONT_SMALL, 0, 0.5);
    }
    check(p);
}

void mlsae_plot_note(mlsae_plot *p, const char *text)
{
    if (p->style == MLSAE_STYLE_PAPER) return;
    cairo_set_source_rgb(p->cr, 0.3, 0.3, 0.3);
    text_at(p->cr, 4, 4, text, FONT_SMALL, 0, 0);
    check(p);
}

/* ---- output ------------------------------------------------------------- */

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int n)
{
    return mlsae_strbuf_put(closure, data, n) ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static void paint_figure(mlsae_plot *p, cairo_surface_t *target, double scale)
{
    cairo_t *cr = cairo_create(target);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, p->rec, 0, 0);
    cairo_paint(cr);
    cairo_destroy(cr);
}

static const char *format_ext(int format)
{
    return format == MLSAE_FMT_PNG ? "png" : format == MLSAE_FMT_PDF ? "pdf" : "svg";
}

int mlsae_plot_render(mlsae_plot *p, int format, double dpi, unsigned char **data, size_t *n,
                      mlsae_error *err)
{
    *data = NULL;
    *n = 0;
    if (p->error[0]) return mlsae_fail(err, "drawing the figure: %s", p->error);
    cairo_surface_flush(p->rec);
    mlsae_strbuf m = {0};
    cairo_status_t st;
    if (format == MLSAE_FMT_PNG) {
        double scale = dpi / 72.0;
        int w = (int)ceil(p->width * scale), h = (int)ceil(p->height * scale);
        if (w < 1 || h < 1 || w > 32767 || h > 32767)
            return mlsae_fail(err, "PNG of %d x %d pixels: choose a smaller --dpi", w, h);
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
        paint_figure(p, s, scale);
        st = cairo_surface_write_to_png_stream(s, membuf_write, &m);
        cairo_surface_destroy(s);
    } else {
        cairo_surface_t *s =
            format == MLSAE_FMT_PDF
                ? cairo_pdf_surface_create_for_stream(membuf_write, &m, p->width, p->height)
                : cairo_svg_surface_create_for_stream(membuf_write, &m, p->width, p->height);
        paint_figure(p, s, 1.0);
        cairo_surface_finish(s);
        st = cairo_surface_status(s);
        cairo_surface_destroy(s);
    }
    if (m.oom || st != CAIRO_STATUS_SUCCESS) {
        mlsae_strbuf_free(&m);
        return mlsae_fail(err, "rendering %s: %s", format_ext(format),
                          m.oom ? "out of memory" : cairo_status_to_string(st));
    }
    *data = (unsigned char *)m.data;
    *n = m.len;
    return 0;
}

int mlsae_plot_save(mlsae_plot *p, const char *base, int formats, double dpi, mlsae_error *err)
{
    static const int order[3] = {MLSAE_FMT_PNG, MLSAE_FMT_PDF, MLSAE_FMT_SVG};
    char written[3][4200];
    int n_written = 0, rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!(formats & order[i])) continue;
        unsigned char *data;
        size_t n;
        char path[4200];
        snprintf(path, sizeof path, "%s.%s", base, format_ext(order[i]));
        rc = mlsae_plot_render(p, order[i], dpi, &data, &n, err);
        if (rc == 0) {
            rc = mlsae_write_file_atomic(path, data, n, err);
            if (rc == 0) snprintf(written[n_written++], sizeof written[0], "%s", path);
        } else {
            mlsae_error_prefix(err, "%s", path);
        }
        free(data);
    }
    if (rc)
        for (int i = 0; i < n_written; i++) unlink(written[i]);
    return rc;
}
