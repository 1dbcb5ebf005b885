/* Tuned lens: loading, forward and inverse (see tuned_lens.h). */
#include "config.h"
#include "core/json_file.h"
#include "lens/tuned_lens.h"
#include "core/paths.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRANSLATORS 4096

struct mlsae_tuned_lens {
    mlsae_backend *be;
    int d, n;
    /* Per translator t, at t * stride: W [d*d], b [d], diag inverse as a
     * diagonal matrix [d*d], exact inverse [d*d]. */
    mlsae_buffer *w;
    size_t stride;
    mlsae_buffer *tmp; /* scratch [tmp_rows, d] */
    int tmp_rows;
    char source[512];
};

int mlsae_lens_d_model(const mlsae_tuned_lens *l) { return l->d; }
int mlsae_lens_n_translators(const mlsae_tuned_lens *l) { return l->n; }
const char *mlsae_lens_source(const mlsae_tuned_lens *l) { return l->source; }

void mlsae_lens_free(mlsae_tuned_lens *l)
{
    if (!l) return;
    if (l->w) l->be->ops->core.free(l->be, l->w);
    if (l->tmp) l->be->ops->core.free(l->be, l->tmp);
    free(l);
}

/* inv = (I + W)^-1 by Gauss-Jordan elimination with partial pivoting, in
 * double; -1 when I + W is singular to working precision. */
static int invert(const float *w, int d, float *inv_out)
{
    size_t n = (size_t)d;
    double *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b);
    if (!a || !b) {
        free(a), free(b);
        return -2;
    }
    double norm = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            a[i * n + j] = (double)w[i * n + j] + (i == j);
            b[i * n + j] = i == j;
            norm = fmax(norm, fabs(a[i * n + j]));
        }
    int rc = 0;
    for (size_t c = 0; c < n && rc == 0; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
        if (!(fabs(a[p * n + c]) > 1e-12 * norm)) {
            rc = -1;
            break;
        }
        if (p != c)
            for (size_t j = 0; j < n; j++) {
                double t = a[c * n + j];
                a[c * n + j] = a[p * n + j], a[p * n + j] = t;
                t = b[c * n + j];
                b[c * n + j] = b[p * n + j], b[p * n + j] = t;
            }
        double piv = a[c * n + c];
        for (size_t j = 0; j < n; j++) a[c * n + j] /= piv, b[c * n + j] /= piv;
        for (size_t r = 0; r < n; r++) {
            double f = a[r * n + c];
            if (r == c || f == 0) continue;
            for (size_t j = 0; j < n; j++) {
                a[r * n + j] -= f * a[c * n + j];
                b[r * n + j] -= f * b[c * n + j];
            }
        }
    }
    for (size_t i = 0; rc == 0 && i < n * n; i++) {
        inv_out[i] = (float)b[i];
        if (!isfinite(inv_out[i])) rc = -1;
    }
    free(a), free(b);
    return rc;
}

/* Read every translator from st and upload W, b and both inverses. */
static int build(const mlsae_safetensors *st, const char *prefix, int d, int n, int bias,
                 mlsae_backend *be, const char *source, mlsae_tuned_lens **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_tuned_lens *l = calloc(1, sizeof *l);
    size_t dd = (size_t)d * d;
    float *host = malloc((3 * dd + (size_t)d) * sizeof *host);
    if (!l || !host) {
        free(l), free(host);
        return mlsae_fail(err, "%s: out of memory", source);
    }
    l->be = be;
    l->d = d;
    l->n = n;
    l->stride = 3 * dd + (size_t)d;
    snprintf(l->source, sizeof l->source, "%s", source);
    int rc = 0;
    l->w = mlsae_alloc_f32(be, l->stride * (size_t)n);
    if (!l->w) rc = mlsae_fail(err, "%s: cannot allocate the lens: %s", source, mlsae_backend_error(be));
    for (int t = 0; rc == 0 && t < n; t++) {
        char name[256];
        int64_t sw[2] = {d, d}, sb[1] = {d};
        float *w = host, *b = host + dd, *diag = b + d, *exact = diag + dd;
        snprintf(name, sizeof name, "%s%d.weight", prefix, t);
        if (mlsae_st_read_f32(st, name, 2, sw, w, err)) {
            rc = -1;
            break;
        }
        snprintf(name, sizeof name, "%s%d.bias", prefix, t);
        if (!bias) memset(b, 0, (size_t)d * sizeof *b);
        else if (mlsae_st_read_f32(st, name, 1, sb, b, err)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < dd; i++)
            if (!isfinite(w[i])) {
                rc = mlsae_fail(err, "%s: translator %d has a non-finite weight", source, t);
                break;
            }
        int inv = rc ? 0 : invert(w, d, exact);
        if (inv == -2) rc = mlsae_fail(err, "%s: out of memory", source);
        else if (inv)
            rc = mlsae_fail(err, "%s: translator %d: I + weight is singular, the lens has no inverse",
                            source, t);
        if (rc) break;
        memset(diag, 0, dd * sizeof *diag);
        for (int i = 0; i < d; i++) diag[(size_t)i * d + i] = exact[(size_t)i * d + i];
        if (be->ops->core.write(be, l->w, (size_t)t * l->stride * 4, host, l->stride * 4))
            rc = mlsae_fail(err, "%s: %s", source, mlsae_backend_error(be));
    }
    free(host);
    if (rc) {
        mlsae_lens_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

/* How many "<prefix>N.weight" there are, N = 0, 1, ... consecutively. */
static int count_translators(const mlsae_safetensors *st, const char *prefix)
{
    int n = 0;
    char name[256];
    while (n < MAX_TRANSLATORS) {
        snprintf(name, sizeof name, "%s%d.weight", prefix, n);
        if (!mlsae_st_find(st, name)) break;
        n++;
    }
    return n;
}

int mlsae_lens_load_tensors(const mlsae_safetensors *st, const char *prefix, int d_model,
                            mlsae_backend *be, mlsae_tuned_lens **out, mlsae_error *err)
{
    *out = NULL;
    int n = count_translators(st, prefix);
    if (n == 0) return 0;
    char bias0[256];
    snprintf(bias0, sizeof bias0, "%s0.bias", prefix);
    char source[600];
    snprintf(source, sizeof source, "%s (%s*)", mlsae_st_path(st), prefix);
    return build(st, prefix, d_model, n, mlsae_st_find(st, bias0) != NULL, be, source, out, err);
}

int mlsae_lens_load_dir(const char *dir, mlsae_backend *be, mlsae_tuned_lens **out,
                        mlsae_error *err)
{
    *out = NULL;
    char *cfg_path = mlsae_path_join_new(dir, "config.json");
    char *pt = mlsae_path_join_new(dir, "params.pt");
    char *sft = mlsae_path_join_new(dir, "params.safetensors");
    json_t *root = NULL;
    mlsae_safetensors *st = NULL;
    int rc = -1;
    if (!cfg_path || !pt || !sft) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    root = mlsae_json_read_file(cfg_path, JSON_REJECT_DUPLICATES, NULL, err);
    if (!root) {
        mlsae_error_prefix(err, "tuned lens (config.json and params.pt)");
        goto done;
    }
    json_t *jd = json_object_get(root, "d_model"), *jn = json_object_get(root, "num_hidden_layers");
    json_t *jb = json_object_get(root, "bias"), *jt = json_object_get(root, "lens_type");
    if (!json_is_integer(jd) || json_integer_value(jd) < 1 || json_integer_value(jd) > 65536 ||
        !json_is_integer(jn) || json_integer_value(jn) < 1 ||
        json_integer_value(jn) > MAX_TRANSLATORS) {
        mlsae_fail(err, "%s: needs integer d_model and num_hidden_layers (a TunedLens config)",
                   cfg_path);
        goto done;
    }
    if (jt && !json_is_null(jt) &&
        (!json_is_string(jt) || strcmp(json_string_value(jt), "linear_tuned_lens") != 0)) {
        mlsae_fail(err, "%s: lens_type '%s' is not supported (only linear_tuned_lens)", cfg_path,
                   json_is_string(jt) ? json_string_value(jt) : "?");
        goto done;
    }
    if (jb && !json_is_boolean(jb)) {
        mlsae_fail(err, "%s: bias is not a boolean", cfg_path);
        goto done;
    }
    const char *params = mlsae_is_file(pt) ? pt : mlsae_is_file(sft) ? sft : NULL;
    if (!params) {
        mlsae_fail(err, "%s: no params.pt or params.safetensors beside config.json", dir);
        goto done;
    }
    if (mlsae_st_open(params, &st, err)) goto done;
    const int d = (int)json_integer_value(jd), n = (int)json_integer_value(jn);
    const int bias = !jb || json_is_true(jb);
    size_t expected = (size_t)n * (bias ? 2 : 1);
    if (mlsae_st_count(st) != expected || count_translators(st, "") != n) {
        mlsae_fail(err, "%s: holds %zu tensors, but config.json describes %d translators "
                   "('0.weight'%s ... '%d.weight')", params, mlsae_st_count(st), n,
                   bias ? ", '0.bias'" : "", n - 1);
        goto done;
    }
    rc = build(st, "", d, n, bias, be, params, out, err);
done:
    mlsae_st_close(st);
    if (root) json_decref(root);
    free(cfg_path), free(pt), free(sft);
    return rc;
}

static int ensure_tmp(mlsae_tuned_lens *l, int rows, mlsae_error *err)
{
    if (rows <= l->tmp_rows) return 0;
    if (l->tmp) l->be->ops->core.free(l->be, l->tmp);
    l->tmp = mlsae_alloc_f32(l->be, (size_t)rows * l->d);
    l->tmp_rows = l->tmp ? rows : 0;
    if (!l->tmp)
        return mlsae_fail(err, "lens: cannot allocate %d x %d floats: %s", rows, l->d,
                          mlsae_backend_error(l->be));
    return 0;
}

static int check_shape(const mlsae_tuned_lens *l, int n_sel, int rows, mlsae_error *err)
{
    if (n_sel < 1 || rows < 1) return mlsae_fail(err, "lens: empty input");
    if (n_sel > l->n)
        return mlsae_fail(err, "%s: %d layers selected but the lens has %d translators",
                          l->source, n_sel, l->n);
    return 0;
}

/* A call's shared state: per = rows * d (one layer's activations),
 * dd = d * d (one translator's weight), tmp [rows, d]. */
typedef struct lens_pass {
    size_t per, dd;
    mlsae_ref tmp;
} lens_pass;

static int begin_pass(mlsae_tuned_lens *l, int n_sel, int rows, lens_pass *p, mlsae_error *err)
{
    if (check_shape(l, n_sel, rows, err) || ensure_tmp(l, rows, err)) return -1;
    p->per = (size_t)rows * l->d;
    p->dd = (size_t)l->d * l->d;
    p->tmp = mlsae_at(l->tmp, 0);
    return 0;
}

int mlsae_lens_forward(mlsae_tuned_lens *l, mlsae_ref x, int n_sel, int rows, mlsae_error *err)
{
    lens_pass p;
    if (begin_pass(l, n_sel, rows, &p, err)) return -1;
    mlsae_backend *be = l->be;
    for (int i = 0; i < n_sel; i++) {
        mlsae_ref xi = mlsae_ref_add(x, (size_t)i * p.per);
        mlsae_ref w = mlsae_at(l->w, (size_t)i * l->stride), b = mlsae_ref_add(w, p.dd);
        /* h + (W h + b), the order of TunedLens.transform_hidden */
        if (be->ops->nn.linear(be, xi, w, b, rows, l->d, l->d, p.tmp) ||
            be->ops->core.axpby(be, p.per, 1.0f, p.tmp, 1.0f, xi))
            return mlsae_fail(err, "lens: translator %d: %s", i, mlsae_backend_error(be));
    }
    return 0;
}

int mlsae_lens_inverse(mlsae_tuned_lens *l, mlsae_ref x, int n_sel, int rows,
                       mlsae_lens_inverse_mode mode, mlsae_error *err)
{
    lens_pass p;
    if (begin_pass(l, n_sel, rows, &p, err)) return -1;
    mlsae_backend *be = l->be;
    for (int i = 0; i < n_sel; i++) {
        mlsae_ref xi = mlsae_ref_add(x, (size_t)i * p.per);
        mlsae_ref b = mlsae_at(l->w, (size_t)i * l->stride + p.dd);
        mlsae_ref m =
            mlsae_ref_add(b, (size_t)l->d + (mode == MLSAE_LENS_INVERSE_EXACT ? p.dd : 0));
        /* M (r - b); M symmetric or not, linear computes r M^T: pass M as W */
        if (be->ops->core.add_row_vector(be, xi, rows, l->d, b, -1.0f) ||
            be->ops->nn.linear(be, xi, m, MLSAE_NOREF, rows, l->d, l->d, p.tmp) ||
            be->ops->core.copy(be, xi, p.tmp, p.per))
            return mlsae_fail(err, "lens: inverse of translator %d: %s", i, mlsae_backend_error(be));
    }
    return 0;
}
