#include "config.h"
#include "figures/tables.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A short label for an SAE on a categorical axis: "x64-k32" in a sweep. */
static void sae_label(const mlsae_fig_sae *e, char *out, size_t n)
{
    if (e->expansion_factor && e->k)
        snprintf(out, n, "x%d-k%d%s", e->expansion_factor, e->k, e->tuned_lens ? "-lens" : "");
    else
        snprintf(out, n, "%.20s", e->name);
}

/* Points with error bars, one series per (y, e) pair, SAEs along x. */
static mlsae_plot *points_plot(const mlsae_fig_sae *saes, int n, double *const *y,
                               double *const *e, const char *const *legend, int n_series,
                               const char *title, const char *ylabel, mlsae_plot_style style)
{
    mlsae_plot *p = mlsae_plot_new(fmax(4.5, 0.6 * n + 1.5) * 72, 2.4 * 72, style);
    if (!p) return NULL;
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < n; i++) {
            double err = e && e[s] && isfinite(e[s][i]) ? e[s][i] : 0;
            if (isfinite(y[s][i])) lo = fmin(lo, y[s][i] - err), hi = fmax(hi, y[s][i] + err);
        }
    if (!(hi >= lo)) lo = 0, hi = 1;
    double pad = hi > lo ? (hi - lo) * 0.1 : fmax(fabs(hi) * 0.1, 1e-3);
    mlsae_plot_axes(p, 0, 0, 1, 1, -0.5, n - 0.5, lo - pad, hi + pad, title, NULL, ylabel, 0);
    double *x = malloc((size_t)n * sizeof *x);
    char (*lab)[32] = malloc((size_t)n * sizeof *lab);
    const char **labp = malloc((size_t)n * sizeof *labp);
    if (x && lab && labp) {
        for (int i = 0; i < n; i++) {
            x[i] = i;
            sae_label(&saes[i], lab[i], sizeof lab[i]);
            labp[i] = lab[i];
        }
        mlsae_plot_ticks(p, 'x', x, labp, n);
        for (int s = 0; s < n_series; s++) {
            mlsae_plot_line(p, x, y[s], n, s, legend ? legend[s] : NULL);
            mlsae_plot_errorbars(p, x, y[s], e ? e[s] : NULL, n, s);
        }
    }
    mlsae_plot_finish_axes(p);
    free(x), free(lab), free(labp);
    return p;
}

int mlsae_fig_dists_layer_std(const mlsae_fig_sae *saes, int n, const char *base,
                              const mlsae_fig_opts *o, mlsae_error *err)
{
    static const char *stat[4] = {"mean", "var", "std", "sem"};
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    double *mean_rel = calloc((size_t)n + 1, sizeof *mean_rel);
    double *sem_rel = calloc((size_t)n + 1, sizeof *sem_rel);
    mlsae_plot *p = NULL;
    int rc = -1;
    if (!mean_rel || !sem_rel) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    const char *cols[6] = {"model_name", "n_layers", "n_latents", "expansion_factor", "k",
                           "tuned_lens"};
    for (int c = 0; c < 6; c++) mlsae_csv_text(&csv, cols[c]);
    for (int s = 0; s < 4; s++) mlsae_csv_text(&csv, stat[s]);
    for (int s = 0; s < 4; s++) {
        char h[16];
        snprintf(h, sizeof h, "%s_rel", stat[s]);
        mlsae_csv_text(&csv, h);
    }
    mlsae_csv_end_row(&csv);
    for (int i = 0; i < n; i++) {
        mlsae_dists_file d;
        if (!saes[i].dists) {
            mlsae_fail(err, "%s: no dists file (looked for %s)", saes[i].name,
                       saes[i].dists_looked ? saes[i].dists_looked : "?");
            goto done;
        }
        if (mlsae_dists_file_load(saes[i].dists, &d, err) != 0) goto done;
        mlsae_summary sum;
        if (mlsae_dists_file_layer_std_stats(&d, &sum, NULL, err) != 0) {
            mlsae_dists_file_free(&d);
            goto done;
        }
        const double st[4] = {sum.mean, sum.var, sum.std, sum.sem};
        if (isnan(st[0])) {
            mlsae_dists_file_free(&d);
            mlsae_fail(err, "%s: no latent fired (every layer_std NaN): no statistics",
                       saes[i].dists);
            goto done;
        }
        mlsae_csv_text(&csv, saes[i].model_name);
        mlsae_csv_int(&csv, d.n_layers);
        mlsae_csv_int(&csv, d.n_latents);
        if (saes[i].expansion_factor) mlsae_csv_int(&csv, saes[i].expansion_factor);
        else mlsae_csv_text(&csv, "");
        if (saes[i].k) mlsae_csv_int(&csv, saes[i].k);
        else mlsae_csv_text(&csv, "");
        mlsae_csv_bool(&csv, saes[i].tuned_lens);
        for (int s = 0; s < 4; s++) mlsae_csv_real(&csv, st[s]);
        for (int s = 0; s < 4; s++) mlsae_csv_real(&csv, st[s] / d.n_layers);
        mlsae_csv_end_row(&csv);
        mean_rel[i] = st[0] / d.n_layers;
        sem_rel[i] = st[3] / d.n_layers;
        mlsae_dists_file_free(&d);
    }
    p = points_plot(saes, n, &mean_rel, &sem_rel, NULL, 1,
                    "Latents' layer_std (mean +- sem)",
                    "layer_std / n_layers", o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    rc = mlsae_fig_write(p, &csv, base, o, err);
done:
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    free(mean_rel), free(sem_rel);
    return rc;
}

static int same_model(const char *a, const char *b)
{
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    return strcmp(sa ? sa + 1 : a, sb ? sb + 1 : b) == 0;
}

static int is_true(const char *s)
{
    return strcmp(s, "True") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0;
}

/* The latest row of t that belongs to sae (columns cm, ce, ck, cl:
 * model_name, expansion_factor, k, tuned_lens), or -1. */
static int sae_row(const mlsae_csv_table *t, int cm, int ce, int ck, int cl,
                   const mlsae_fig_sae *sae)
{
    for (int r = t->n_rows - 1; r >= 0; r--) {
        if (sae->model_name[0] && !same_model(mlsae_csv_cell(t, r, cm), sae->model_name))
            continue;
        if (atoi(mlsae_csv_cell(t, r, ce)) == sae->expansion_factor &&
            atoi(mlsae_csv_cell(t, r, ck)) == sae->k &&
            is_true(mlsae_csv_cell(t, r, cl)) == sae->tuned_lens)
            return r;
    }
    return -1;
}

int mlsae_fig_sweep_first_missing(const char *input, const mlsae_fig_sae *saes, int n)
{
    mlsae_csv_table t;
    mlsae_error err;
    if (mlsae_csv_read(input, &t, &err) != 0) return -1;
    int cm = mlsae_csv_need_col(&t, "model_name", &err), ce, ck, cl, missing = -1;
    if (cm >= 0 && (ce = mlsae_csv_need_col(&t, "expansion_factor", &err)) >= 0 &&
        (ck = mlsae_csv_need_col(&t, "k", &err)) >= 0 &&
        (cl = mlsae_csv_need_col(&t, "tuned_lens", &err)) >= 0)
        for (int i = 0; i < n && missing < 0; i++)
            if (sae_row(&t, cm, ce, ck, cl, &saes[i]) < 0) missing = i;
    mlsae_csv_table_free(&t);
    return missing;
}

int mlsae_fig_sweep_rows(const char *input, const mlsae_fig_sae *saes, int n,
                         const char *const *means, const char *const *sems, int n_series,
                         const char *title, const char *base, const mlsae_fig_opts *o,
                         mlsae_error *err)
{
    mlsae_csv_table t;
    if (mlsae_csv_read(input, &t, err) != 0) return -1;
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    double *y[4] = {0}, *e[4] = {0};
    mlsae_plot *p = NULL;
    int rc = -1;
    int cm = mlsae_csv_need_col(&t, "model_name", err), ce, ck, cl;
    if (cm < 0 || (ce = mlsae_csv_need_col(&t, "expansion_factor", err)) < 0 ||
        (ck = mlsae_csv_need_col(&t, "k", err)) < 0 ||
        (cl = mlsae_csv_need_col(&t, "tuned_lens", err)) < 0)
        goto done;
    int cy[4], cs[4];
    if (n_series > 4) n_series = 4;
    for (int s = 0; s < n_series; s++) {
        if ((cy[s] = mlsae_csv_need_col(&t, means[s], err)) < 0 ||
            (cs[s] = mlsae_csv_need_col(&t, sems[s], err)) < 0)
            goto done;
        y[s] = malloc(((size_t)n + 1) * sizeof *y[s]);
        e[s] = malloc(((size_t)n + 1) * sizeof *e[s]);
        if (!y[s] || !e[s]) {
            mlsae_fail(err, "out of memory");
            goto done;
        }
    }
    for (int c = 0; c < t.n_cols; c++) mlsae_csv_text(&csv, t.header[c]);
    mlsae_csv_end_row(&csv);
    for (int i = 0; i < n; i++) {
        int found = sae_row(&t, cm, ce, ck, cl, &saes[i]);
        if (found < 0) {
            mlsae_fail(err, "%s: no row for %s (expansion_factor %d, k %d, tuned_lens %s)", input,
                       saes[i].name, saes[i].expansion_factor, saes[i].k,
                       saes[i].tuned_lens ? "True" : "False");
            goto done;
        }
        for (int c = 0; c < t.n_cols; c++) mlsae_csv_text(&csv, mlsae_csv_cell(&t, found, c));
        mlsae_csv_end_row(&csv);
        for (int s = 0; s < n_series; s++)
            if (mlsae_csv_real_at(&t, found, cy[s], &y[s][i], err) != 0 ||
                mlsae_csv_real_at(&t, found, cs[s], &e[s][i], err) != 0)
                goto done;
    }
    p = points_plot(saes, n, y, e, n_series > 1 ? means : NULL, n_series, title, "mean +- sem",
                    o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    rc = mlsae_fig_write(p, &csv, base, o, err);
done:
    for (int s = 0; s < 4; s++) free(y[s]), free(e[s]);
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    mlsae_csv_table_free(&t);
    return rc;
}

int mlsae_fig_resid_cos_sim(const char *input, const char *title, const char *base,
                            const mlsae_fig_opts *o, mlsae_error *err)
{
    mlsae_csv_table t;
    if (mlsae_csv_read(input, &t, err) != 0) return -1;
    int n = t.n_rows, rc = -1;
    double *x = malloc(((size_t)n + 1) * sizeof *x), *y = malloc(((size_t)n + 1) * sizeof *y),
           *e = malloc(((size_t)n + 1) * sizeof *e);
    mlsae_plot *p = NULL;
    int cx = mlsae_csv_need_col(&t, "start_at_layer", err), cy = -1, ce = -1;
    if (cx < 0 || (cy = mlsae_csv_need_col(&t, "mean", err)) < 0 ||
        (ce = mlsae_csv_need_col(&t, "sem", err)) < 0)
        goto done;
    if (!x || !y || !e) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (n == 0) {
        mlsae_fail(err, "%s: no rows", input);
        goto done;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int r = 0; r < n; r++) {
        if (mlsae_csv_real_at(&t, r, cx, &x[r], err) || mlsae_csv_real_at(&t, r, cy, &y[r], err) ||
            mlsae_csv_real_at(&t, r, ce, &e[r], err))
            goto done;
        double d = isfinite(e[r]) ? e[r] : 0;
        if (isfinite(y[r])) lo = fmin(lo, y[r] - d), hi = fmax(hi, y[r] + d);
    }
    if (!(hi >= lo)) lo = 0, hi = 1;
    double pad = hi > lo ? (hi - lo) * 0.1 : 0.05;
    p = mlsae_plot_new(4.5 * 72, 2.6 * 72, o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    mlsae_plot_axes(p, 0, 0, 1, 1, x[0] - 0.5, x[n - 1] + 0.5, lo - pad, hi + pad, title,
                    "layer l (similarity of layers l and l + 1)", "cosine similarity", 0);
    mlsae_plot_line(p, x, y, n, 0, NULL);
    mlsae_plot_errorbars(p, x, y, e, n, 0);
    mlsae_plot_finish_axes(p);
    rc = mlsae_fig_write(p, NULL, base, o, err);
done:
    mlsae_plot_free(p);
    mlsae_csv_table_free(&t);
    free(x), free(y), free(e);
    return rc;
}

int mlsae_natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la])) la++;
            while (isdigit((unsigned char)b[lb])) lb++;
            if (la != lb) return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c) return c;
            a += la, b += lb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++, b++;
        }
    }
    return *a ? 1 : *b ? -1 : 0;
}
