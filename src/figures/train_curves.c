/* train-curves: what `mlsae train` logged in metrics.jsonl (doc/formats.md)
 * against tokens, one panel per metric. */
#include "config.h"
#include "figures/figures.h"
#include "core/atomic_file.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *key, *title;
} metrics[] = {
    {"loss/total", "total loss"},
    {"loss/mse", "MSE loss"},
    {"loss/auxk", "AuxK loss"},
    {"train/dead/rel", "dead fraction"},
    {"train/fvu/avg", "FVU (mean over layers)"},
    {"val/loss/delta/avg", "validation: downstream loss delta"},
};
#define N_METRICS (int)(sizeof metrics / sizeof metrics[0])

typedef struct series {
    double *step, *tokens, *v[N_METRICS];
    int n, cap;
} series;

static void series_free(series *s)
{
    free(s->step), free(s->tokens);
    for (int m = 0; m < N_METRICS; m++) free(s->v[m]);
}

static int grow(series *s)
{
    int cap = s->cap ? s->cap * 2 : 256;
    double **arrs[N_METRICS + 2];
    arrs[0] = &s->step, arrs[1] = &s->tokens;
    for (int m = 0; m < N_METRICS; m++) arrs[m + 2] = &s->v[m];
    for (int a = 0; a < N_METRICS + 2; a++) {
        double *p = realloc(*arrs[a], (size_t)cap * sizeof *p);
        if (!p) return -1;
        *arrs[a] = p;
    }
    s->cap = cap;
    return 0;
}

static double number(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int read_metrics(const char *path, series *s, mlsae_error *err)
{
    char *data;
    size_t n;
    if (mlsae_read_file(path, &data, &n, err) != 0) return -1;
    int line = 0, rc = 0;
    for (char *p = data, *nl; p < data + n && rc == 0; p = nl + 1) {
        line++;
        nl = memchr(p, '\n', (size_t)(data + n - p));
        if (!nl) nl = data + n; /* a last line without its newline: read it too */
        size_t len = (size_t)(nl - p);
        if (len == 0) continue;
        json_error_t je;
        json_t *o = json_loadb(p, len, 0, &je);
        if (!json_is_object(o)) {
            rc = mlsae_fail(err, "%s:%d: %s", path, line,
                            o ? "not a JSON object" : je.text);
        } else if (!json_is_number(json_object_get(o, "tokens"))) {
            rc = mlsae_fail(err, "%s:%d: no number 'tokens' (not a metrics.jsonl of "
                            "mlsae train?)", path, line);
        } else if (s->n == s->cap && grow(s) != 0) {
            rc = mlsae_fail(err, "%s: out of memory", path);
        } else {
            s->step[s->n] = number(o, "step");
            s->tokens[s->n] = number(o, "tokens");
            for (int m = 0; m < N_METRICS; m++) s->v[m][s->n] = number(o, metrics[m].key);
            s->n++;
        }
        json_decref(o);
    }
    free(data);
    if (rc == 0 && s->n == 0) rc = mlsae_fail(err, "%s: no rows", path);
    return rc;
}

int mlsae_fig_train_curves(const char *metrics_path, const char *name, const char *base,
                           const mlsae_fig_opts *o, mlsae_error *err)
{
    series s = {0};
    mlsae_plot *p = NULL;
    mlsae_csv csv;
    mlsae_csv_init(&csv);
    int rc = -1;
    if (read_metrics(metrics_path, &s, err) != 0) goto done;
    int present[N_METRICS], n_present = 0;
    for (int m = 0; m < N_METRICS; m++) {
        present[m] = 0;
        for (int i = 0; i < s.n && !present[m]; i++) present[m] = isfinite(s.v[m][i]);
        n_present += present[m];
    }
    if (n_present == 0) {
        mlsae_fail(err, "%s: none of the metrics (loss/total, loss/mse, ...) has a value",
                   metrics_path);
        goto done;
    }
    mlsae_csv_text(&csv, "step");
    mlsae_csv_text(&csv, "tokens");
    for (int m = 0; m < N_METRICS; m++)
        if (present[m]) mlsae_csv_text(&csv, metrics[m].key);
    mlsae_csv_end_row(&csv);
    for (int i = 0; i < s.n; i++) {
        mlsae_csv_real(&csv, s.step[i]);
        mlsae_csv_real(&csv, s.tokens[i]);
        for (int m = 0; m < N_METRICS; m++)
            if (present[m]) mlsae_csv_real(&csv, s.v[m][i]);
        mlsae_csv_end_row(&csv);
    }
    int ncols = 2, nrows = (n_present + 1) / 2;
    p = mlsae_plot_new(7.0 * 72, nrows * 1.8 * 72, o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    double tmin = INFINITY, tmax = -INFINITY;
    for (int i = 0; i < s.n; i++) tmin = fmin(tmin, s.tokens[i]), tmax = fmax(tmax, s.tokens[i]);
    int panel = 0;
    for (int m = 0; m < N_METRICS; m++) {
        if (!present[m]) continue;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < s.n; i++)
            if (isfinite(s.v[m][i])) lo = fmin(lo, s.v[m][i]), hi = fmax(hi, s.v[m][i]);
        double pad = hi > lo ? (hi - lo) * 0.05 : fmax(fabs(hi) * 0.05, 1e-3);
        char title[256];
        snprintf(title, sizeof title, "%s", metrics[m].title);
        if (panel == 0 && name && *name)
            snprintf(title, sizeof title, "%s (%s)", metrics[m].title, name);
        mlsae_plot_axes(p, panel % ncols, panel / ncols, ncols, nrows, tmin, tmax, lo - pad,
                        hi + pad, title, panel / ncols == nrows - 1 ? "tokens" : NULL, NULL, 0);
        /* validation rows are sparse: join only the rows that have a value */
        double *x = malloc((size_t)s.n * sizeof *x), *y = malloc((size_t)s.n * sizeof *y);
        if (!x || !y) {
            free(x), free(y);
            mlsae_fail(err, "out of memory");
            goto done;
        }
        int k = 0;
        for (int i = 0; i < s.n; i++)
            if (isfinite(s.v[m][i])) x[k] = s.tokens[i], y[k] = s.v[m][i], k++;
        mlsae_plot_line(p, x, y, k, panel, NULL);
        if (k == 1) mlsae_plot_errorbars(p, x, y, NULL, 1, panel);
        free(x), free(y);
        mlsae_plot_finish_axes(p);
        panel++;
    }
    rc = mlsae_fig_write(p, &csv, base, o, err);
done:
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    series_free(&s);
    return rc;
}
