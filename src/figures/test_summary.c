/* test-summary (figures/test.py): the sweep's `mlsae test` rows in one
 * table, and the headline metrics transposed. */
#include "config.h"
#include "figures/tables.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *column, *title;
} headline[] = {
    {"train/fvu/avg", "FVU"},
    {"train/mse/avg", "MSE"},
    {"train/l1/avg", "L1 Norm"},
    {"val/loss/delta/avg", "Delta CE Loss"},
    {"val/logit/kldiv/avg", "KL Divergence"},
};
#define N_HEADLINE 5

/* the reference's n_latents: expansion_factor * d_model of the Pythia model */
static double n_latents_of(const char *model, int expansion_factor)
{
    static const struct {
        const char *model;
        int d_model;
    } known[] = {{"pythia-70m-deduped", 512}, {"pythia-160m-deduped", 768},
                 {"pythia-410m-deduped", 1024}, {"pythia-1b-deduped", 2048}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(model, known[i].model) == 0) return (double)expansion_factor * known[i].d_model;
    return NAN;
}

/* "mlsae-<model>-x<E>-k<K>..." -> <model>; or the sweep's model name. */
static void model_of(const mlsae_fig_sae *e, char *out, size_t n)
{
    if (e->model_name[0]) {
        const char *s = strrchr(e->model_name, '/');
        snprintf(out, n, "%s", s ? s + 1 : e->model_name);
        return;
    }
    const char *s = strncmp(e->name, "mlsae-", 6) == 0 ? e->name + 6 : e->name;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *x = strstr(buf, "-x");
    if (x) *x = '\0';
    snprintf(out, n, "%s", buf);
}

typedef struct row {
    const mlsae_fig_sae *sae;
    const mlsae_csv_table *t;
    char model[256];
    double n_latents;
} row;

static int cmp_nan_last(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return a < b ? -1 : a > b;
}

static int cmp_rows(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    int c = cmp_nan_last(a->n_latents, b->n_latents);
    if (!c) c = (a->sae->expansion_factor > b->sae->expansion_factor) -
                (a->sae->expansion_factor < b->sae->expansion_factor);
    if (!c) c = (a->sae->k > b->sae->k) - (a->sae->k < b->sae->k);
    if (!c) c = a->sae->tuned_lens - b->sae->tuned_lens;
    return c;
}

static int cmp_names(const void *a, const void *b)
{
    return mlsae_natcmp(*(const char *const *)a, *(const char *const *)b);
}

static void header(mlsae_csv *csv, const char **cols, int n_cols)
{
    const char *id[5] = {"model_name", "expansion_factor", "k", "tuned_lens", "n_latents"};
    for (int c = 0; c < 5; c++) mlsae_csv_text(csv, id[c]);
    for (int c = 0; c < n_cols; c++) mlsae_csv_text(csv, cols[c]);
    mlsae_csv_end_row(csv);
}

static void emit(mlsae_csv *csv, const row *r, const char **cols, int n_cols)
{
    mlsae_csv_text(csv, r->model);
    mlsae_csv_int(csv, r->sae->expansion_factor);
    mlsae_csv_int(csv, r->sae->k);
    mlsae_csv_bool(csv, r->sae->tuned_lens);
    if (isnan(r->n_latents)) mlsae_csv_text(csv, "");
    else mlsae_csv_int(csv, (long long)r->n_latents);
    for (int c = 0; c < n_cols; c++) {
        int k = mlsae_csv_col(r->t, cols[c]);
        mlsae_csv_text(csv, k < 0 ? "" : mlsae_csv_cell(r->t, 0, k));
    }
    mlsae_csv_end_row(csv);
}

/* The reference's per-model tables: BASE_<model>[_lens]_k.csv (the rows
 * with expansion_factor 64, varying k) and BASE_<model>[_lens]_expansion_factor.csv
 * (k 32, varying expansion_factor), each written when it has a row. The
 * paths written are appended to written (n_written). */
static int per_model_tables(const row *rows, int n, const char **cols, int n_cols,
                            const char *base, char (*written)[4300], int *n_written,
                            mlsae_error *err)
{
    for (int i = 0; i < n; i++) {
        int first = 1; /* each (model, lens) once */
        for (int p = 0; p < i && first; p++)
            first = strcmp(rows[p].model, rows[i].model) != 0 ||
                    rows[p].sae->tuned_lens != rows[i].sae->tuned_lens;
        if (!first) continue;
        for (int by_k = 1; by_k >= 0; by_k--) {
            mlsae_csv csv;
            mlsae_csv_init(&csv);
            header(&csv, cols, n_cols);
            int any = 0;
            for (int q = 0; q < n; q++) {
                const row *r = &rows[q];
                if (strcmp(r->model, rows[i].model) || r->sae->tuned_lens != rows[i].sae->tuned_lens)
                    continue;
                if (by_k ? r->sae->expansion_factor != 64 : r->sae->k != 32) continue;
                emit(&csv, r, cols, n_cols);
                any = 1;
            }
            if (any) {
                char *path = written[*n_written];
                snprintf(path, sizeof written[0], "%s_%s%s_%s.csv", base, rows[i].model,
                         rows[i].sae->tuned_lens ? "_lens" : "", by_k ? "k" : "expansion_factor");
                if (mlsae_csv_save(&csv, path, err) != 0) {
                    mlsae_csv_free(&csv);
                    return -1;
                }
                (*n_written)++;
            }
            mlsae_csv_free(&csv);
        }
    }
    return 0;
}

int mlsae_fig_test_summary(const char *const *inputs, const mlsae_fig_sae *saes, int n,
                           const char *base, const mlsae_fig_opts *o, mlsae_error *err)
{
    mlsae_csv_table *t = calloc((size_t)n + 1, sizeof *t);
    row *rows = calloc((size_t)n + 1, sizeof *rows);
    const char **cols = NULL;
    double *vals[N_HEADLINE] = {0};
    mlsae_csv csv, tr;
    mlsae_csv_init(&csv);
    mlsae_csv_init(&tr);
    mlsae_plot *p = NULL;
    char (*written)[4300] = NULL;
    int n_cols = 0, rc = -1, loaded = 0;
    if (!t || !rows) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    size_t cap = 0;
    for (int i = 0; i < n; i++, loaded++) {
        if (mlsae_csv_read(inputs[i], &t[i], err) != 0) goto done;
        if (t[i].n_rows < 1) {
            mlsae_fail(err, "%s: no rows", inputs[i]);
            loaded++;
            goto done;
        }
        cap += (size_t)t[i].n_cols;
    }
    cols = malloc((cap + 1) * sizeof *cols);
    if (!cols) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < t[i].n_cols; c++) {
            int seen = 0;
            for (int j = 0; j < n_cols && !seen; j++) seen = strcmp(cols[j], t[i].header[c]) == 0;
            if (!seen) cols[n_cols++] = t[i].header[c];
        }
    qsort(cols, (size_t)n_cols, sizeof *cols, cmp_names);
    for (int i = 0; i < n; i++) {
        rows[i].sae = &saes[i];
        rows[i].t = &t[i];
        model_of(&saes[i], rows[i].model, sizeof rows[i].model);
        rows[i].n_latents = n_latents_of(rows[i].model, saes[i].expansion_factor);
    }
    qsort(rows, (size_t)n, sizeof *rows, cmp_rows);
    header(&csv, cols, n_cols);
    for (int h = 0; h < N_HEADLINE; h++) {
        vals[h] = malloc(((size_t)n + 1) * sizeof *vals[h]);
        if (!vals[h]) {
            mlsae_fail(err, "out of memory");
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        emit(&csv, r, cols, n_cols);
        for (int h = 0; h < N_HEADLINE; h++) {
            int k = mlsae_csv_col(r->t, headline[h].column);
            vals[h][i] = NAN;
            if (k >= 0 && mlsae_csv_real_at(r->t, 0, k, &vals[h][i], err) != 0) goto done;
        }
    }
    /* the transposed headline table (test_model_name.csv): Model, then metrics */
    mlsae_csv_text(&tr, "Model");
    for (int i = 0; i < n; i++) {
        char m[300], out[300];
        snprintf(m, sizeof m, "%s", rows[i].model);
        char *d = strstr(m, "-deduped");
        if (d) memmove(d, d + 8, strlen(d + 8) + 1);
        if (strncmp(m, "pythia", 6) == 0) m[0] = 'P';
        snprintf(out, sizeof out, "%s x%d k%d%s", m, rows[i].sae->expansion_factor,
                 rows[i].sae->k, rows[i].sae->tuned_lens ? " lens" : "");
        mlsae_csv_text(&tr, out);
    }
    mlsae_csv_end_row(&tr);
    for (int h = 0; h < N_HEADLINE; h++) {
        mlsae_csv_text(&tr, headline[h].title);
        for (int i = 0; i < n; i++) mlsae_csv_real(&tr, vals[h][i]);
        mlsae_csv_end_row(&tr);
    }
    p = mlsae_plot_new(7.0 * 72, 3 * 1.8 * 72, o->style);
    if (!p) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    double *x = malloc(((size_t)n + 1) * sizeof *x);
    char (*lab)[32] = malloc(((size_t)n + 1) * sizeof *lab);
    const char **labp = malloc(((size_t)n + 1) * sizeof *labp);
    if (!x || !lab || !labp) {
        free(x), free(lab), free(labp);
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        x[i] = i;
        snprintf(lab[i], sizeof lab[i], "x%d-k%d", rows[i].sae->expansion_factor, rows[i].sae->k);
        labp[i] = lab[i];
    }
    for (int h = 0; h < N_HEADLINE; h++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(vals[h][i])) lo = fmin(lo, vals[h][i]), hi = fmax(hi, vals[h][i]);
        if (!(hi >= lo)) lo = 0, hi = 1;
        double pad = hi > lo ? (hi - lo) * 0.1 : fmax(fabs(hi) * 0.1, 1e-3);
        mlsae_plot_axes(p, h % 2, h / 2, 2, 3, -0.5, n - 0.5, lo - pad, hi + pad,
                        headline[h].title, NULL, NULL, 0);
        mlsae_plot_ticks(p, 'x', x, labp, n);
        mlsae_plot_line(p, x, vals[h], n, h, NULL);
        mlsae_plot_errorbars(p, x, vals[h], NULL, n, h);
        mlsae_plot_finish_axes(p);
    }
    free(x), free(lab), free(labp);
    /* test_model_name.csv, the per-model tables, then test.csv and the
     * figure; on a failure, the tables already written are removed */
    written = malloc(((size_t)2 * n + 2) * sizeof *written);
    if (!written) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    int n_written = 0;
    if (!o->sink) {
        snprintf(written[0], sizeof written[0], "%s_model_name.csv", base);
        if (mlsae_csv_save(&tr, written[0], err) != 0) goto done;
        n_written = 1;
        if (per_model_tables(rows, n, cols, n_cols, base, written, &n_written, err) != 0) {
            for (int i = 0; i < n_written; i++) remove(written[i]);
            goto done;
        }
    }
    rc = mlsae_fig_write(p, &csv, base, o, err);
    if (rc)
        for (int i = 0; i < n_written; i++) remove(written[i]);
done:
    for (int h = 0; h < N_HEADLINE; h++) free(vals[h]);
    for (int i = 0; i < loaded && t; i++) mlsae_csv_table_free(&t[i]);
    free(t), free(rows), free(cols), free(written);
    mlsae_plot_free(p);
    mlsae_csv_free(&csv);
    mlsae_csv_free(&tr);
    return rc;
}
