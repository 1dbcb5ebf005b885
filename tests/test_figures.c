/* src/figures: the CSV numbers of each kind against fixtures computed by
 * the reference's figure code (tests/gen/gen_figures.py), blocking
 * invariance of the pairwise cosine histogram, the images' format, size and
 * content (not pixels), NaN-only latents, and failed writes leaving no
 * files. */
#include "config.h"
#include "testutil.h"
#include "backend/backend.h"
#include "core/atomic_file.h"
#include "core/paths.h"
#include "core/safetensors.h"
#include "figures/colormap.h"
#include "figures/figures.h"
#include "figures/prompt_heatmap.h"
#include "figures/report.h"
#include "figures/tables.h"

#include <cairo.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NAME "mlsae-pythia-test-x4-k2"

static const char *fx(const char *file)
{
    static char buf[4][4096];
    static int next;
    char rel[512];
    snprintf(rel, sizeof rel, "figures/%s", file);
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s", tu_fixture(rel));
    return b;
}

static const char *tmp(const char *file)
{
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tu_tmpdir(), file);
    return b;
}

static int n_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Compare two CSVs column by column (by name): numbers within
 * |a - b| <= atol + rtol * |b|, empty cells only where the other is empty. */
static void compare_csv(const char *got_path, const char *want_path, double atol, double rtol,
                        const char *what)
{
    mlsae_csv_table got, want;
    mlsae_error err;
    int a = mlsae_csv_read(got_path, &got, &err);
    CHECKF(a == 0, "%s: %s", what, err.msg);
    int b = mlsae_csv_read(want_path, &want, &err);
    CHECKF(b == 0, "%s: %s", what, err.msg);
    if (a || b) return;
    CHECKF(got.n_rows == want.n_rows && got.n_cols == want.n_cols, "%s: %dx%d vs %dx%d", what,
           got.n_rows, got.n_cols, want.n_rows, want.n_cols);
    double worst = 0;
    int bad = 0;
    for (int c = 0; c < want.n_cols && got.n_rows == want.n_rows; c++) {
        CHECKF(strcmp(got.header[c], want.header[c]) == 0, "%s: column %d is %s, want %s",
               what, c, got.header[c], want.header[c]);
        for (int r = 0; r < want.n_rows; r++) {
            const char *gs = mlsae_csv_cell(&got, r, c), *ws = mlsae_csv_cell(&want, r, c);
            char *e1, *e2;
            double g = strtod(gs, &e1), w = strtod(ws, &e2);
            if (!*ws || !*gs || *e1 || *e2) { /* text or empty: equal strings */
                if (strcmp(gs, ws) != 0 && bad++ < 5)
                    fprintf(stderr, "%s: row %d %s: '%s' vs '%s'\n", what, r, want.header[c], gs, ws);
                continue;
            }
            double d = fabs(g - w);
            if (d > atol + rtol * fabs(w) && bad++ < 5)
                fprintf(stderr, "%s: row %d %s: %.9g vs %.9g\n", what, r, want.header[c], g, w);
            if (d > worst) worst = d;
        }
    }
    CHECKF(bad == 0, "%s: %d cells differ", what, bad);
    printf("  %s: %d x %d cells, max abs diff %.3g (tolerance %.0e + %.0e relative)\n", what,
           want.n_rows, want.n_cols, worst, atol, rtol);
    mlsae_csv_table_free(&got);
    mlsae_csv_table_free(&want);
}

/* PNG: cairo reads it back, its size is the figure's at the dpi, and it has
 * many colours (a heatmap, not a blank page). PDF: header, trailer, size. */
static void check_images(const char *base, int want_w, int want_h, int min_colours)
{
    char path[4200];
    snprintf(path, sizeof path, "%s.png", base);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECKF(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "%s: not a PNG", path);
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
        int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
        CHECKF(w == want_w && h == want_h, "%s: %dx%d, want %dx%d", path, w, h, want_w, want_h);
        cairo_surface_flush(s);
        const unsigned char *px = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s), n = 0;
        static uint32_t seen[4096];
        for (int y = 0; y < h && n < 4096; y += 2)
            for (int x = 0; x < w && n < 4096; x += 2) {
                uint32_t v = ((const uint32_t *)(px + (size_t)y * stride))[x] & 0xffffff;
                int dup = 0;
                for (int i = 0; i < n && !dup; i++) dup = seen[i] == v;
                if (!dup) seen[n++] = v;
            }
        CHECKF(n >= min_colours, "%s: %d colours, want >= %d", path, n, min_colours);
        printf("  %s.png: %dx%d, %d colours\n", strrchr(base, '/') + 1, w, h, n);
    }
    cairo_surface_destroy(s);
    snprintf(path, sizeof path, "%s.pdf", base);
    char *data;
    size_t n;
    mlsae_error err;
    int rc = mlsae_read_file(path, &data, &n, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc == 0) {
        CHECKF(n > 1000 && memcmp(data, "%PDF-", 5) == 0, "%s: not a PDF", path);
        CHECKF(strstr(data + (n > 64 ? n - 64 : 0), "%%EOF") != NULL, "%s: no trailer", path);
        free(data);
    }
}

static void test_colormap(void)
{
    double rgb[3];
    CHECK(mlsae_colormap_rgb(0.0, 0, 1, rgb) && fabs(rgb[0] - mlsae_magma_r[0][0] / 255.0) < 1e-12);
    CHECK(mlsae_colormap_rgb(1.0, 0, 1, rgb) && fabs(rgb[2] - mlsae_magma_r[255][2] / 255.0) < 1e-12);
    /* matplotlib: index floor(t * 256) */
    CHECK(mlsae_colormap_rgb(0.5, 0, 1, rgb) && fabs(rgb[1] - mlsae_magma_r[128][1] / 255.0) < 1e-12);
    CHECK(mlsae_colormap_rgb(-3, 0, 1, rgb) && fabs(rgb[0] - mlsae_magma_r[0][0] / 255.0) < 1e-12);
    CHECK(!mlsae_colormap_rgb(NAN, 0, 1, rgb));
    /* magma_r runs from light (low) to dark (high) */
    CHECK(mlsae_magma_r[0][0] + mlsae_magma_r[0][1] > mlsae_magma_r[255][0] + mlsae_magma_r[255][1]);
}

static void test_csv(void)
{
    mlsae_csv c;
    mlsae_csv_init(&c);
    mlsae_csv_text(&c, "a,b");
    mlsae_csv_text(&c, "say \"hi\"");
    mlsae_csv_real(&c, NAN);
    mlsae_csv_real(&c, 2.0);
    mlsae_csv_bool(&c, 1);
    mlsae_csv_end_row(&c);
    mlsae_csv_text(&c, "line\nbreak");
    mlsae_csv_text(&c, "");
    mlsae_csv_real(&c, 0.1);
    mlsae_csv_int(&c, -7);
    mlsae_csv_bool(&c, 0);
    mlsae_csv_end_row(&c);
    CHECK(c.out.data && strcmp(c.out.data, "\"a,b\",\"say \"\"hi\"\"\",,2.0,True\n"
                                 "\"line\nbreak\",,0.1,-7,False\n") == 0);
    mlsae_error err;
    CHECK(mlsae_csv_save(&c, tmp("t.csv"), &err) == 0);
    mlsae_csv_free(&c);
    mlsae_csv_table t;
    CHECK(mlsae_csv_read(tmp("t.csv"), &t, &err) == 0);
    CHECK(t.n_cols == 5 && t.n_rows == 1);
    if (t.n_rows == 1) {
        CHECK(strcmp(t.header[1], "say \"hi\"") == 0 && strcmp(mlsae_csv_cell(&t, 0, 0), "line\nbreak") == 0);
        double v;
        CHECK(mlsae_csv_real_at(&t, 0, 1, &v, &err) == 0 && isnan(v));
        CHECK(mlsae_csv_real_at(&t, 0, 2, &v, &err) == 0 && v == 0.1);
        CHECK(mlsae_csv_real_at(&t, 0, 4, &v, &err) != 0 && strstr(err.msg, "not a number"));
    }
    mlsae_csv_table_free(&t);
    /* a ragged row is an error naming the row */
    CHECK(mlsae_write_file_atomic(tmp("bad.csv"), "a,b\n1,2\n3\n", 10, &err) == 0);
    CHECK(mlsae_csv_read(tmp("bad.csv"), &t, &err) != 0 && strstr(err.msg, "row 2"));
    CHECK(mlsae_natcmp("layer_2", "layer_10") < 0 && mlsae_natcmp("b", "a1") > 0 &&
          mlsae_natcmp("x10", "x10") == 0);
}

static void test_base64(void)
{
    /* RFC 4648 section 10 */
    const char *in[7] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[7] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *b = mlsae_base64((const unsigned char *)in[i], strlen(in[i]));
        CHECKF(b && strcmp(b, want[i]) == 0, "base64(%s) = %s", in[i], b ? b : "NULL");
        free(b);
    }
}

static void test_resid_cos_sim(void)
{
    mlsae_error err;
    const char *csv = "start_at_layer,mean,var,std,sem\n0,0.5,0.01,0.1,0.001\n1,0.6,0.01,0.1,"
                      "0.002\n2,0.7,,,\n";
    CHECK(mlsae_write_file_atomic(tmp("resid_cos_sim_m.csv"), csv, strlen(csv), &err) == 0);
    mlsae_fig_opts o = {.style = MLSAE_STYLE_LABELLED,
                          .formats = MLSAE_FMT_PNG | MLSAE_FMT_PDF,
                          .dpi = 100};
    int rc = mlsae_fig_resid_cos_sim(tmp("resid_cos_sim_m.csv"), "m", tmp("resid_cos_sim_m"), &o,
                                     &err);
    CHECKF(rc == 0, "%s", err.msg);
    check_images(tmp("resid_cos_sim_m"), 450, 260, 3);
    char *data;
    size_t n;
    CHECK(mlsae_read_file(tmp("resid_cos_sim_m.csv"), &data, &n, &err) == 0 &&
          strcmp(data, csv) == 0); /* its input is the CSV behind it, untouched */
    free(data);
    const char *bad = "layer,mean\n0,0.5\n";
    CHECK(mlsae_write_file_atomic(tmp("bad_resid.csv"), bad, strlen(bad), &err) == 0);
    CHECK(mlsae_fig_resid_cos_sim(tmp("bad_resid.csv"), "m", tmp("bad_resid"), &o, &err) != 0 &&
          strstr(err.msg, "no column start_at_layer"));
}

static void test_hist_bins(void)
{
    /* numpy.histogram: left-closed bins, the upper edge in the last bin */
    CHECK(mlsae_hist_bin(0.0, 96, 0, 5) == 0);
    CHECK(mlsae_hist_bin(5.0, 96, 0, 5) == 95);
    CHECK(mlsae_hist_bin(5.0000001, 96, 0, 5) == -1 && mlsae_hist_bin(-1e-9, 96, 0, 5) == -1);
    CHECK(mlsae_hist_bin(NAN, 96, 0, 5) == -1);
    for (int i = 0; i < 96; i++) {
        double e = mlsae_hist_edge(i, 96, 0, 5);
        CHECK(mlsae_hist_bin(e, 96, 0, 5) == i);
        if (i) CHECK(mlsae_hist_bin(nextafter(e, 0), 96, 0, 5) == i - 1);
    }
}

static void test_dists_kinds(mlsae_backend *be)
{
    mlsae_dists_file d;
    mlsae_error err;
    int rc = mlsae_dists_file_load(fx(NAME "-dists.safetensors"), &d, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(d.n_layers == 6 && d.n_latents == 128);
    mlsae_fig_opts o = {.style = MLSAE_STYLE_LABELLED,
                          .formats = MLSAE_FMT_PNG | MLSAE_FMT_PDF,
                          .dpi = 100};

    rc = mlsae_fig_dists_heatmap(&d, NAME, tmp("heatmap"), &o, &err);
    CHECKF(rc == 0, "%s", err.msg);
    /* probs: float32 in the reference, double here */
    compare_csv(tmp("heatmap.csv"), fx("expected_dists_heatmap_" NAME ".csv"), 1e-6, 0,
                "dists-heatmap");
    check_images(tmp("heatmap"), (int)ceil(6.5 * 100), (int)ceil(2.4 * 100), 20);

    for (int nonint = 0; nonint < 2; nonint++) {
        rc = mlsae_fig_dists_histogram(&d, nonint, NAME, tmp("hist"), &o, &err);
        CHECKF(rc == 0, "%s", err.msg);
        /* float32 edges and widths as numpy's; the counts are exact (no value
         * within 1e-6 of an edge: near_edges.json), so only rounding remains */
        compare_csv(tmp("hist.csv"),
                    fx(nonint ? "expected_dists_histogram_noninteger_" NAME ".csv"
                              : "expected_dists_histogram_" NAME ".csv"),
                    0, 1e-12, nonint ? "dists-histogram --noninteger" : "dists-histogram");
    }
    check_images(tmp("hist"), 500, 260, 3);

    /* cosine histogram: float32 products here and there; values within 1e-6
     * of a bin edge (near_edges.json) may land in the neighbouring bin */
    json_t *near = json_load_file(fx("near_edges.json"), 0, NULL);
    long n_near = (long)json_integer_value(json_object_get(near, "cos_sim"));
    long want_total = (long)json_integer_value(json_object_get(near, "cos_sim_in_range"));
    json_decref(near);
    float *dec;
    int d_model;
    rc = mlsae_fig_read_decoder(fx(NAME), d.n_latents, &dec, &d_model, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc == 0) {
        CHECK(d_model == 48);
        rc = mlsae_fig_dists_cos_sim(&d, dec, d_model, be, NAME, tmp("cos"), &o, &err);
        CHECKF(rc == 0, "%s", err.msg);
        const int YB = MLSAE_COS_SIM_YBINS, XB = MLSAE_COS_SIM_XBINS;
        static int64_t want[64 * 512], got[64 * 512], other[64 * 512];
        mlsae_csv_table t;
        CHECK(mlsae_csv_read(fx("expected_dists_cos_sim_heatmap_" NAME ".csv"), &t, &err) == 0);
        for (int r = 0; r < t.n_rows; r++) {
            double x, y, c;
            mlsae_csv_real_at(&t, r, 0, &x, &err);
            mlsae_csv_real_at(&t, r, 1, &y, &err);
            mlsae_csv_real_at(&t, r, 2, &c, &err);
            int bx = mlsae_hist_bin(x, XB, 0, 5), by = mlsae_hist_bin(y, YB, -0.25, 0.25);
            if (bx >= 0 && by >= 0) want[(size_t)bx * YB + by] = (int64_t)c;
        }
        mlsae_csv_table_free(&t);
        CHECK(mlsae_csv_read(tmp("cos.csv"), &t, &err) == 0);
        CHECK(t.n_rows == XB * YB);
        for (int r = 0; r < t.n_rows && t.n_rows == XB * YB; r++) {
            double c;
            mlsae_csv_real_at(&t, r, 2, &c, &err);
            got[r] = (int64_t)c;
        }
        mlsae_csv_table_free(&t);
        long l1 = 0, total = 0;
        for (int i = 0; i < XB * YB; i++) l1 += labs((long)(got[i] - want[i])), total += (long)got[i];
        CHECKF(labs(total - want_total) <= n_near, "total %ld vs %ld", total, want_total);
        CHECKF(l1 <= 2 * n_near, "cos-sim histogram: L1 difference %ld > 2 * %ld", l1, n_near);
        printf("  dists-cos-sim: %ld pairs in range (reference %ld), L1 difference %ld "
               "(<= 2 x %ld values near an edge)\n", total, want_total, l1, n_near);
        /* the blocking does not change a count */
        int blocks[3] = {1, 7, 50};
        for (int b = 0; b < 3; b++) {
            CHECK(mlsae_dists_cos_sim_counts(&d, dec, d_model, be, blocks[b], other, NULL, &err) == 0);
            CHECKF(memcmp(other, got, sizeof got) == 0, "block %d differs", blocks[b]);
        }
        check_images(tmp("cos"), (int)ceil(4.6 * 100), (int)ceil(3.4 * 100), 8);
        /* the decoder must match the dists */
        float *dec2;
        int dm2;
        CHECK(mlsae_fig_read_decoder(fx(NAME), 64, &dec2, &dm2, &err) != 0 &&
              strstr(err.msg, "decoder.weight") && strstr(err.msg, "64"));
        free(dec);
        /* a -tfm checkpoint: autoencoder.decoder.weight */
        CHECK(mlsae_fig_read_decoder(tu_fixture("sae/ckpt_ref_tfm"), 24, &dec2, &dm2, &err) == 0 &&
              dm2 == 6);
        free(dec2);
    }

    /* the paper's style: the reference's figure size, no axes */
    o.style = MLSAE_STYLE_PAPER;
    CHECK(mlsae_fig_dists_heatmap(&d, NAME, tmp("paper"), &o, &err) == 0);
    check_images(tmp("paper"), (int)ceil(5.5 * 100), (int)ceil(1.25 * 100), 20);
    mlsae_dists_file_free(&d);
}

static void test_layer_std_and_tables(void)
{
    mlsae_fig_sae saes[2];
    memset(saes, 0, sizeof saes);
    char d4[4096], d8[4096];
    snprintf(d4, sizeof d4, "%s", fx("mlsae-pythia-test-x4-k2-dists.safetensors"));
    snprintf(d8, sizeof d8, "%s", fx("mlsae-pythia-test-x8-k2-dists.safetensors"));
    int ef[2] = {4, 8};
    for (int i = 0; i < 2; i++) {
        snprintf(saes[i].name, sizeof saes[i].name, "mlsae-pythia-test-x%d-k2", ef[i]);
        snprintf(saes[i].model_name, sizeof saes[i].model_name, "EleutherAI/pythia-test");
        saes[i].expansion_factor = ef[i];
        saes[i].k = 2;
        saes[i].dists = i ? d8 : d4;
    }
    mlsae_fig_opts o = {.style = MLSAE_STYLE_LABELLED,
                          .formats = MLSAE_FMT_PNG | MLSAE_FMT_PDF,
                          .dpi = 72};
    mlsae_error err;
    int rc = mlsae_fig_dists_layer_std(saes, 2, tmp("dists_layer_std"), &o, &err);
    CHECKF(rc == 0, "%s", err.msg);
    /* float32 nanmean/nanvar in the reference */
    compare_csv(tmp("dists_layer_std.csv"), fx("expected_dists_layer_std.csv"), 1e-9, 2e-6,
                "dists-layer-std");

    char t4[4096], t8[4096];
    snprintf(t4, sizeof t4, "%s", fx("test_mlsae-pythia-test-x4-k2.csv"));
    snprintf(t8, sizeof t8, "%s", fx("test_mlsae-pythia-test-x8-k2.csv"));
    const char *inputs[2] = {t4, t8};
    rc = mlsae_fig_test_summary(inputs, saes, 2, tmp("test"), &o, &err);
    CHECKF(rc == 0, "%s", err.msg);
    compare_csv(tmp("test.csv"), fx("expected_test.csv"), 0, 1e-15, "test-summary");
    CHECK(mlsae_path_exists(tmp("test_model_name.csv")) && mlsae_path_exists(tmp("test.png")));

    /* the per-model tables of a sweep that has x64 and k32 rows */
    mlsae_fig_sae sw[3];
    memset(sw, 0, sizeof sw);
    int sw_ef[3] = {64, 32, 64}, sw_k[3] = {32, 32, 16};
    char sw_in[3][4096];
    const char *sw_inputs[3];
    for (int i = 0; i < 3; i++) {
        snprintf(sw[i].name, sizeof sw[i].name, "mlsae-pythia-test-x%d-k%d", sw_ef[i], sw_k[i]);
        snprintf(sw[i].model_name, sizeof sw[i].model_name, "EleutherAI/pythia-test");
        sw[i].expansion_factor = sw_ef[i];
        sw[i].k = sw_k[i];
        char rel[256];
        snprintf(rel, sizeof rel, "test_sweep/test_%.200s.csv", sw[i].name);
        snprintf(sw_in[i], sizeof sw_in[i], "%s", fx(rel));
        sw_inputs[i] = sw_in[i];
    }
    rc = mlsae_fig_test_summary(sw_inputs, sw, 3, tmp("sweep_test"), &o, &err);
    CHECKF(rc == 0, "%s", err.msg);
    compare_csv(tmp("sweep_test.csv"), fx("test_sweep/expected_test.csv"), 0, 1e-15,
                "test-summary (sweep)");
    compare_csv(tmp("sweep_test_pythia-test_k.csv"), fx("test_sweep/expected_test_pythia-test_k.csv"),
                0, 1e-15, "test-summary _k table");
    compare_csv(tmp("sweep_test_pythia-test_expansion_factor.csv"),
                fx("test_sweep/expected_test_pythia-test_expansion_factor.csv"), 0, 1e-15,
                "test-summary _expansion_factor table");
    CHECK(!mlsae_path_exists(tmp("test_pythia-test_k.csv"))); /* x4/x8 k2: no such rows */

    const char *m[1] = {"mean"}, *s[1] = {"sem"};
    rc = mlsae_fig_sweep_rows(fx("mmcs.csv"), saes, 2, m, s, 1, "MMCS", tmp("mmcs_sweep"), &o,
                              &err);
    CHECKF(rc == 0, "%s", err.msg);
    mlsae_csv_table t;
    CHECK(mlsae_csv_read(tmp("mmcs_sweep.csv"), &t, &err) == 0);
    CHECK(t.n_rows == 2 && strcmp(mlsae_csv_cell(&t, 1, 2), "8") == 0 &&
          strcmp(mlsae_csv_cell(&t, 1, 5), "0.8") == 0);
    mlsae_csv_table_free(&t);
    /* an SAE without a row: named */
    saes[1].expansion_factor = 32;
    CHECK(mlsae_fig_sweep_rows(fx("mmcs.csv"), saes, 2, m, s, 1, "MMCS", tmp("mmcs2"), &o,
                               &err) != 0 && strstr(err.msg, "x8-k2") && strstr(err.msg, "32"));
    CHECK(!mlsae_path_exists(tmp("mmcs2.csv")));
}

static void test_train_curves(void)
{
    mlsae_fig_opts o = {.style = MLSAE_STYLE_LABELLED,
                          .formats = MLSAE_FMT_PNG,
                          .dpi = 72};
    mlsae_error err;
    int rc = mlsae_fig_train_curves(fx("metrics.jsonl"), NULL, tmp("train"), &o, &err);
    CHECKF(rc == 0, "%s", err.msg);
    mlsae_csv_table t;
    CHECK(mlsae_csv_read(tmp("train.csv"), &t, &err) == 0);
    /* 8 training rows + 2 validation rows; loss/auxk all null: left out */
    CHECK(t.n_rows == 10 && mlsae_csv_col(&t, "loss/auxk") < 0);
    int cl = mlsae_csv_col(&t, "loss/total"), cv = mlsae_csv_col(&t, "val/loss/delta/avg");
    CHECK(cl > 0 && cv > 0);
    if (t.n_rows == 10 && cl > 0 && cv > 0) {
        double v;
        CHECK(mlsae_csv_real_at(&t, 2, cl, &v, &err) == 0 && fabs(v - 2.0 / 3) < 1e-15);
        CHECK(mlsae_csv_real_at(&t, 4, cv, &v, &err) == 0 && fabs(v - 0.4) < 1e-15);
        CHECK(mlsae_csv_real_at(&t, 4, cl, &v, &err) == 0 && isnan(v));
    }
    mlsae_csv_table_free(&t);
    CHECK(mlsae_write_file_atomic(tmp("bad.jsonl"), "{\"tokens\": 1}\n{oops\n", 20, &err) == 0);
    CHECK(mlsae_fig_train_curves(tmp("bad.jsonl"), NULL, tmp("bad"), &o, &err) != 0 &&
          strstr(err.msg, "bad.jsonl:2"));
}

/* Dead latents only; unwritable outputs: one line, no files. */
static void test_bad_cases(mlsae_backend *be)
{
    mlsae_error err;
    mlsae_fig_opts o = {.style = MLSAE_STYLE_LABELLED,
                          .formats = MLSAE_FMT_PNG | MLSAE_FMT_PDF,
                          .dpi = 72};
    float zeros[3 * 5] = {0};
    mlsae_dists_file dead = {3, 5, zeros, zeros};
    const char *dir = tmp("dead");
    mkdir(dir, 0755);
    char base[4200];
    snprintf(base, sizeof base, "%s/x", dir);
    CHECK(mlsae_fig_dists_heatmap(&dead, "dead", base, &o, &err) != 0 &&
          strstr(err.msg, "no latent fired") && !strchr(err.msg, '\n'));
    CHECK(mlsae_fig_dists_histogram(&dead, 0, "dead", base, &o, &err) != 0 &&
          strstr(err.msg, "no latent fired"));
    /* layer_std of an SAE whose latents never fired: an error, not NaN */
    mlsae_st_writer *w = mlsae_st_writer_new();
    int64_t shape[2] = {3, 5};
    char dead_path[4200];
    snprintf(dead_path, sizeof dead_path, "%s/dead-dists.safetensors", dir);
    CHECK(w && mlsae_st_writer_add(w, "counts", MLSAE_DT_F32, 2, shape, zeros, &err) == 0 &&
          mlsae_st_writer_add(w, "totals", MLSAE_DT_F32, 2, shape, zeros, &err) == 0 &&
          mlsae_st_writer_save(w, dead_path, &err) == 0);
    mlsae_st_writer_free(w);
    mlsae_fig_sae dead_sae;
    memset(&dead_sae, 0, sizeof dead_sae);
    snprintf(dead_sae.name, sizeof dead_sae.name, "dead");
    dead_sae.dists = dead_path;
    snprintf(base, sizeof base, "%s/layer_std", dir);
    CHECK(mlsae_fig_dists_layer_std(&dead_sae, 1, base, &o, &err) != 0 &&
          strstr(err.msg, "no latent fired") && strstr(err.msg, "dead-dists"));
    float dec[4 * 5] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0};
    /* no pairs: an all-zero histogram, still a valid figure */
    CHECK(mlsae_fig_dists_cos_sim(&dead, dec, 4, be, "dead", base, &o, &err) == 0);
    CHECK(n_files(dir) == 4); /* the cosine figure's three files and the dists */

    /* a directory that cannot exist (below a regular file) */
    mlsae_dists_file d;
    CHECK(mlsae_dists_file_load(fx(NAME "-dists.safetensors"), &d, &err) == 0);
    CHECK(mlsae_write_file_atomic(tmp("file"), "x", 1, &err) == 0);
    snprintf(base, sizeof base, "%s/sub/heatmap", tmp("file"));
    CHECK(mlsae_fig_dists_heatmap(&d, NAME, base, &o, &err) != 0 && !strchr(err.msg, '\n') &&
          strstr(err.msg, "sub/heatmap.csv"));
    /* the PDF cannot be written (a directory holds its name): the CSV and
     * PNG written before it are removed, nothing is left half done */
    const char *dir2 = tmp("half");
    mkdir(dir2, 0755);
    snprintf(base, sizeof base, "%s/h.pdf", dir2);
    mkdir(base, 0755);
    snprintf(base, sizeof base, "%s/h", dir2);
    CHECK(mlsae_fig_dists_heatmap(&d, NAME, base, &o, &err) != 0);
    printf("  write failure: %s\n", err.msg);
    CHECK(n_files(dir2) == 1); /* only the blocking directory */
    mlsae_dists_file_free(&d);
    /* a corrupt dists file: one line naming it */
    CHECK(mlsae_write_file_atomic(tmp("bad.safetensors"), "\x10\0\0\0\0\0\0\0{}", 10, &err) == 0);
    CHECK(mlsae_dists_file_load(tmp("bad.safetensors"), &d, &err) != 0 && strstr(err.msg, "bad.safetensors"));
    mlsae_dists_file_free(&d);
}

/* prompt-heatmap on a tiny random model against figures/prompt_heatmaps.py's
 * numbers (float32 transformer and SAE on both sides) */
static void test_prompt_heatmap(void)
{
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    mlsae_error err;
    if (!cfg) return;
    mlsae_run_config_defaults(cfg);
    snprintf(cfg->model_name, sizeof cfg->model_name, "%s", fx("prompt/model"));
    snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s", tu_fixture("text/tiny-tokenizer.json"));
    snprintf(cfg->device, sizeof cfg->device, "cpu");
    snprintf(cfg->model_device, sizeof cfg->model_device, "cpu");
    mlsae_prompt_probs p;
    int rc = mlsae_prompt_probs_compute(cfg, fx("prompt/sae"), MLSAE_DEFAULT_PROMPT, 1e-3, &p, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc == 0) {
        CHECK(p.n_layers == 3 && p.n_tokens == 39);
        mlsae_fig_opts o = {.style = MLSAE_STYLE_LABELLED,
                              .formats = MLSAE_FMT_PNG | MLSAE_FMT_PDF,
                              .dpi = 100};
        CHECK(mlsae_fig_prompt_heatmap(&p, "sae", tmp("prompt"), &o, &err) == 0);
        compare_csv(tmp("prompt.csv"), fx("expected_prompt_heatmap.csv"), 1e-5, 0,
                    "prompt-heatmap");
        check_images(tmp("prompt"), 650, 240, 10);
        mlsae_prompt_probs_free(&p);
    }
    /* a prompt longer than the model's 64 positions */
    char longp[2048] = "";
    for (int i = 0; i < 40; i++) strcat(longp, "John gave a drink. ");
    CHECK(mlsae_prompt_probs_compute(cfg, fx("prompt/sae"), longp, 1e-3, &p, &err) != 0 &&
          strstr(err.msg, "context"));
    CHECK(mlsae_prompt_probs_compute(cfg, fx("prompt/sae"), "", 1e-3, &p, &err) != 0 &&
          strstr(err.msg, "empty"));
    /* an SAE for another model: named */
    CHECK(mlsae_prompt_probs_compute(cfg, fx(NAME), MLSAE_DEFAULT_PROMPT, 1e-3, &p, &err) != 0);
    printf("  wrong SAE: %s\n", err.msg);
    free(cfg);
}

int main(void)
{
    mlsae_backend *be;
    mlsae_error err;
    mlsae_backend_params params = {.n_threads = 0, .device_index = -1};
    if (mlsae_backend_cpu_new(&params, &be, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_colormap();
    test_csv();
    test_hist_bins();
    test_base64();
    test_resid_cos_sim();
    test_dists_kinds(be);
    test_layer_std_and_tables();
    test_train_curves();
    test_bad_cases(be);
    test_prompt_heatmap();
    mlsae_backend_close(be);
    return tu_finish("test_figures");
}
