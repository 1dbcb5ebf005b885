#include "config.h"
#include "core/json_file.h"
#include "figures/report.h"
#include "core/atomic_file.h"
#include "core/paths.h"
#include "core/strbuf.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mlsae_base64(const unsigned char *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63], *o++ = tab[v >> 6 & 63], *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

typedef mlsae_strbuf html;

static void raw(html *h, const char *s)
{
    mlsae_strbuf_puts(h, s);
}

static void text_(html *h, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': raw(h, "&lt;"); break;
        case '>': raw(h, "&gt;"); break;
        case '&': raw(h, "&amp;"); break;
        case '"': raw(h, "&quot;"); break;
        default: mlsae_strbuf_put(h, s, 1);
        }
    }
}

static void fmt(html *h, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fmt(html *h, const char *f, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    text_(h, buf);
}

typedef struct sink_ctx {
    html *h;
    const char *caption;
    double dpi;
    int n;
} sink_ctx;

static int to_html(void *ctx, const char *base, mlsae_plot *p, const mlsae_csv *csv,
                   mlsae_error *err)
{
    (void)base, (void)csv;
    sink_ctx *s = ctx;
    unsigned char *png;
    size_t n;
    if (mlsae_plot_render(p, MLSAE_FMT_PNG, s->dpi, &png, &n, err) != 0) return -1;
    char *b64 = mlsae_base64(png, n);
    free(png);
    if (!b64) return mlsae_fail(err, "out of memory");
    raw(s->h, "<figure><img alt=\"");
    text_(s->h, s->caption);
    raw(s->h, "\" src=\"data:image/png;base64,");
    raw(s->h, b64);
    raw(s->h, "\"><figcaption>");
    text_(s->h, s->caption);
    raw(s->h, "</figcaption></figure>\n");
    free(b64);
    s->n++;
    return 0;
}

static void skip(mlsae_report_result *r, const char *what, const char *why)
{
    size_t len = strlen(r->skipped);
    snprintf(r->skipped + len, sizeof r->skipped - len, "%s%s (%s)", len ? "; " : "", what, why);
}

static void config_table(html *h, const char *dir)
{
    char *path = mlsae_path_join_new(dir, "config.json");
    mlsae_error err;
    json_t *root = path ? mlsae_json_read_file(path, 0, NULL, &err) : NULL;
    free(path);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    raw(h, "<h2>Configuration</h2>\n<table>\n");
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        raw(h, "<tr><th>");
        text_(h, key);
        raw(h, "</th><td>");
        text_(h, s ? s : "?");
        raw(h, "</td></tr>\n");
        free(s);
    }
    raw(h, "</table>\n");
    json_decref(root);
}

/* The run configuration (run.yaml) of the training run that made the SAE:
 * in the checkpoint directory, or in the run's checkpoints/last beside it. */
static void run_yaml(html *h, const char *dir)
{
    char path[4200], parent[4096];
    snprintf(path, sizeof path, "%s/run.yaml", dir);
    if (!mlsae_is_file(path)) {
        snprintf(parent, sizeof parent, "%s", dir);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
        char *slash = strrchr(parent, '/');
        if (slash) *slash = '\0';
        else snprintf(parent, sizeof parent, ".");
        snprintf(path, sizeof path, "%s/checkpoints/last/run.yaml", parent);
        if (!mlsae_is_file(path)) return;
    }
    char *text;
    size_t len;
    mlsae_error ignore;
    if (mlsae_read_file(path, &text, &len, &ignore) != 0) return;
    raw(h, "<h2>Run configuration</h2>\n<p>");
    text_(h, path);
    raw(h, "</p>\n<pre>");
    text_(h, text);
    raw(h, "</pre>\n");
    free(text);
}

static void test_table(html *h, const char *path)
{
    mlsae_csv_table t;
    mlsae_error ignore;
    if (mlsae_csv_read(path, &t, &ignore) != 0) return;
    if (t.n_rows >= 1) {
        raw(h, "<h2>Test metrics</h2>\n<p>");
        text_(h, path);
        raw(h, "</p>\n<table>\n");
        for (int c = 0; c < t.n_cols; c++) {
            raw(h, "<tr><th>");
            text_(h, t.header[c]);
            raw(h, "</th><td>");
            text_(h, mlsae_csv_cell(&t, 0, c));
            raw(h, "</td></tr>\n");
        }
        raw(h, "</table>\n");
    }
    mlsae_csv_table_free(&t);
}

static const char style_sheet[] =
    "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.2em .6em;"
    "text-align:left;font-size:90%}th{background:#f4f4f4;font-weight:normal}"
    "figure{margin:1em 0}img{max-width:100%}figcaption{color:#555;font-size:90%}"
    ".skipped{color:#777;font-size:90%}</style>\n";

int mlsae_report_write(mlsae_fig_context *c, const char *path, mlsae_report_result *res,
                       mlsae_error *err)
{
    memset(res, 0, sizeof *res);
    const mlsae_fig_sae *e = &c->saes[0];
    html h = {0};
    sink_ctx sc = {&h, NULL, c->opts.dpi, 0};
    mlsae_fig_opts o = c->opts;
    o.sink = to_html;
    o.sink_ctx = &sc;
    int rc = -1;
    raw(&h, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    fmt(&h, "MLSAE report: %s", e->name);
    raw(&h, "</title>\n");
    raw(&h, style_sheet);
    raw(&h, "</head><body>\n<h1>");
    fmt(&h, "MLSAE report: %s", e->name);
    raw(&h, "</h1>\n<p>");
    if (e->checkpoint) fmt(&h, "Checkpoint: %s. ", e->checkpoint);
    if (e->dists) fmt(&h, "Layer distributions: %s.", e->dists);
    raw(&h, "</p>\n");
    if (e->checkpoint) {
        config_table(&h, e->checkpoint);
        run_yaml(&h, e->checkpoint);
    } else {
        skip(res, "configuration", "no checkpoint directory");
    }

    if (e->dists) {
        mlsae_dists_file d;
        if (mlsae_dists_file_load(e->dists, &d, err) != 0) goto done;
        mlsae_summary st;
        int dead;
        if (mlsae_dists_file_layer_std_stats(&d, &st, &dead, err) != 0) {
            mlsae_dists_file_free(&d);
            goto done;
        }
        raw(&h, "<h2>Layer distributions</h2>\n<table>\n");
        raw(&h, "<tr><th>layers</th><td>");
        fmt(&h, "%d", d.n_layers);
        raw(&h, "</td></tr><tr><th>latents</th><td>");
        fmt(&h, "%d (%d never fired)", d.n_latents, dead);
        raw(&h, "</td></tr><tr><th>layer_std: mean, var, std, sem</th><td>");
        fmt(&h, "%.6g, %.6g, %.6g, %.6g", st.mean, st.var, st.std, st.sem);
        raw(&h, "</td></tr><tr><th>layer_std / n_layers (mean)</th><td>");
        fmt(&h, "%.6g", st.mean / d.n_layers);
        raw(&h, "</td></tr>\n</table>\n");
        sc.caption = "Each latent's distribution over layers (share of its activation), "
                     "latents sorted by mean layer, descending";
        rc = mlsae_fig_dists_heatmap(&d, e->name, "", &o, err);
        sc.caption = "Density of the latents' mean layer";
        if (rc == 0) rc = mlsae_fig_dists_histogram(&d, 0, e->name, "", &o, err);
        sc.caption = "Density of the distance of the mean layer to the nearest layer";
        if (rc == 0) rc = mlsae_fig_dists_histogram(&d, 1, e->name, "", &o, err);
        if (rc == 0 && e->checkpoint) {
            if (!c->be) {
                mlsae_backend_params params = {.n_threads = 0, .device_index = -1};
                rc = mlsae_backend_open(c->device ? c->device : "cpu", &params, &c->be, err);
            }
            float *dec = NULL;
            int d_model;
            if (rc == 0) rc = mlsae_fig_read_decoder(e->checkpoint, d.n_latents, &dec, &d_model, err);
            sc.caption = "Pairs of latents: cosine similarity of their decoder directions "
                         "against the difference in their mean layers";
            if (rc == 0) rc = mlsae_fig_dists_cos_sim(&d, dec, d_model, c->be, e->name, "", &o, err);
            free(dec);
        } else if (rc == 0) {
            skip(res, "decoder cosine similarity", "no checkpoint directory");
        }
        mlsae_dists_file_free(&d);
        rc = rc == 0 ? 0 : mlsae_error_prefix(err, "%s", e->dists);
        if (rc) goto done;
        rc = -1;
    } else {
        skip(res, "layer distributions", "no dists file: run mlsae dists");
    }

    /* the prompt heatmap, when a prompt is given (it loads the model) */
    if (c->prompt && e->checkpoint) {
        sc.caption = "Per-layer share of each active latent's activation summed over the prompt";
        raw(&h, "<h2>Prompt</h2>\n<p>");
        text_(&h, c->prompt);
        raw(&h, "</p>\n");
        if (mlsae_fig_prompt_for_sae(c, e, "", &o, err) != 0) goto done;
    } else if (!c->prompt) {
        skip(res, "prompt heatmap", "no --prompt");
    }

    /* the training log: --metrics, else OUT/metrics.jsonl */
    char metrics[4200] = "";
    if (c->metrics) snprintf(metrics, sizeof metrics, "%s", c->metrics);
    else mlsae_path_join(metrics, sizeof metrics, c->out_dir, "metrics.jsonl");
    if (mlsae_is_file(metrics)) {
        sc.caption = "Training: losses, dead fraction and FVU against tokens";
        raw(&h, "<h2>Training</h2>\n");
        if (mlsae_fig_train_curves(metrics, NULL, "", &o, err) != 0) goto done;
    } else {
        skip(res, "training curves", "no metrics.jsonl");
    }
    char test_csv[4200], file[600];
    snprintf(file, sizeof file, "test_%s.csv", e->name);
    mlsae_path_join(test_csv, sizeof test_csv, c->out_dir, file);
    if (mlsae_is_file(test_csv)) test_table(&h, test_csv);
    else skip(res, "test metrics", "no OUT/test_NAME.csv: run mlsae test");
    if (res->skipped[0]) {
        raw(&h, "<p class=\"skipped\">Not included: ");
        text_(&h, res->skipped);
        raw(&h, ".</p>\n");
    }
    raw(&h, "</body></html>\n");
    if (h.oom) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (mlsae_write_file_atomic(path, h.data, h.len, err) != 0) goto done;
    res->n_figures = sc.n;
    rc = 0;
done:
    mlsae_strbuf_free(&h);
    return rc;
}
