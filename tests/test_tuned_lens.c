/* The tuned lens against the reference's own forward_lens / inverse_lens
 * run on a lens made and saved by the tuned-lens package
 * (tests/gen/gen_tuned_lens.py): params.pt and params.safetensors, the
 * reference's diagonal "inverse", the exact inverse, special-token rows
 * mapped to the bias; then bad lenses refused with one line; the test
 * step's losses (used with a lens) against the reference's metric classes.
 *
 * Tolerance: max |ours - ref| / max |ref| < 1e-5 per tensor: float32 products
 * of length 32 summed in another order (forward), and a float64 inverse
 * against torch's float32 one (reference inverse). */
#include "config.h"
#include "testutil.h"
#include "backend/backend.h"
#include "core/safetensors.h"
#include "lens/tuned_lens.h"
#include "eval/test_losses.h"

#include <string.h>
#include <sys/stat.h>

#define TOL 1e-5

static mlsae_backend *be;

static float *read_all(mlsae_safetensors *st, const char *name, size_t *n)
{
    const mlsae_st_tensor *t = mlsae_st_find(st, name);
    mlsae_error err = {{0}};
    if (!t) {
        fprintf(stderr, "expected.safetensors: no %s\n", name);
        exit(1);
    }
    float *v = malloc((size_t)t->numel * sizeof *v);
    if (mlsae_st_read_f32(st, name, t->ndim, t->shape, v, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    *n = (size_t)t->numel;
    return v;
}

/* Run fn on `in` through a backend buffer, return the result on the host. */
static float *apply(mlsae_tuned_lens *l, const float *in, size_t n, int n_sel, int rows, int what)
{
    mlsae_error err = {{0}};
    mlsae_buffer *b = mlsae_alloc_f32(be, n);
    float *out = malloc(n * sizeof *out);
    CHECK(be->ops->core.write(be, b, 0, in, n * 4) == 0);
    int rc = what == 0 ? mlsae_lens_forward(l, mlsae_at(b, 0), n_sel, rows, &err)
             : mlsae_lens_inverse(l, mlsae_at(b, 0), n_sel, rows,
                                  what == 1 ? MLSAE_LENS_INVERSE_REFERENCE : MLSAE_LENS_INVERSE_EXACT,
                                  &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(be->ops->core.read(be, b, 0, out, n * 4) == 0);
    be->ops->core.free(be, b);
    return out;
}

static void test_against_reference(const char *dir)
{
    mlsae_error err = {{0}};
    mlsae_tuned_lens *l = NULL;
    CHECKF(mlsae_lens_load_dir(tu_fixture(dir), be, &l, &err) == 0, "%s", err.msg);
    if (!l) return;
    CHECK(mlsae_lens_d_model(l) == 32 && mlsae_lens_n_translators(l) == 3);
    mlsae_safetensors *st = NULL;
    CHECKF(mlsae_st_open(tu_fixture("lens/expected.safetensors"), &st, &err) == 0, "%s", err.msg);
    if (!st) exit(1);
    size_t n;
    float *inputs = read_all(st, "inputs", &n), *lensed = read_all(st, "lensed", &n);
    float *recons = read_all(st, "recons", &n), *inv_ref = read_all(st, "inverse_ref", &n);
    float *inv_exact = read_all(st, "inverse_exact", &n), *roundtrip = read_all(st, "roundtrip", &n);
    const int n_sel = 3, rows = 2 * 5, d = 32;
    char what[128];
    float *got = apply(l, inputs, n, n_sel, rows, 0);
    snprintf(what, sizeof what, "%s: forward_lens", dir);
    CHECK_REL(got, lensed, n, TOL, what);
    /* a special token's zeroed row comes out as the translator's bias, so the
     * rows differ between layers (translator i on slice i) */
    CHECK(memcmp(got, got + (size_t)rows * d, (size_t)d * 4) != 0);
    free(got);
    got = apply(l, recons, n, n_sel, rows, 1);
    snprintf(what, sizeof what, "%s: inverse_lens (reference, diagonal)", dir);
    CHECK_REL(got, inv_ref, n, TOL, what);
    free(got);
    got = apply(l, recons, n, n_sel, rows, 2);
    snprintf(what, sizeof what, "%s: exact inverse", dir);
    CHECK_REL(got, inv_exact, n, TOL, what);
    /* the reference's inverse is not an inverse: far from the exact one */
    double e = tu_max_rel_err(inv_ref, inv_exact, n, 1e-30);
    CHECKF(e > 0.05, "diagonal and exact inverse agree to %g: the test lens is too weak", e);
    free(got);
    got = apply(l, lensed, n, n_sel, rows, 2);
    snprintf(what, sizeof what, "%s: exact inverse of the lensed inputs", dir);
    CHECK_REL(got, roundtrip, n, 1e-4, what);
    free(got);
    /* two selected layers: translators 0 and 1, whatever the layers' indices */
    got = apply(l, inputs, (size_t)2 * rows * d, 2, rows, 0);
    CHECK_REL(got, lensed, (size_t)2 * rows * d, TOL, "first two slices");
    free(got);
    CHECK(mlsae_lens_forward(l, mlsae_at(NULL, 0), 4, rows, &err) == -1);
    CHECKF(strstr(err.msg, "4 layers selected but the lens has 3 translators"), "%s", err.msg);
    free(inputs), free(lensed), free(recons), free(inv_ref), free(inv_exact), free(roundtrip);
    mlsae_st_close(st);
    mlsae_lens_free(l);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
}

static void expect_refused(const char *dir, const char *needle)
{
    mlsae_error err = {{0}};
    mlsae_tuned_lens *l = NULL;
    CHECK(mlsae_lens_load_dir(dir, be, &l, &err) == -1 && l == NULL);
    CHECKF(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
    CHECKF(strchr(err.msg, '\n') == NULL, "not one line");
    const char *base = strrchr(err.msg, '/');
    printf("  refused: %s\n", base ? base + 1 : err.msg);
}

static void test_bad(void)
{
    char dir[4096], path[4200];
    mlsae_error err = {{0}};
    snprintf(dir, sizeof dir, "%s/lens", tu_tmpdir());
    mkdir(dir, 0755);
    expect_refused(dir, "config.json");
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"d_model\": 2, \"num_hidden_layers\": 2, \"bias\": true}");
    expect_refused(dir, "no params.pt or params.safetensors");
    /* one translator where the config says two */
    float w[4] = {1, 0, 0, 1}, b[2] = {0.5f, -0.5f}, sing[4] = {-1, 0, 0, 0};
    int64_t sw[2] = {2, 2}, sb[1] = {2};
    mlsae_st_writer *wr = mlsae_st_writer_new();
    CHECK(mlsae_st_writer_add(wr, "0.weight", MLSAE_DT_F32, 2, sw, w, &err) == 0);
    CHECK(mlsae_st_writer_add(wr, "0.bias", MLSAE_DT_F32, 1, sb, b, &err) == 0);
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    CHECK(mlsae_st_writer_save(wr, path, &err) == 0);
    mlsae_st_writer_free(wr);
    expect_refused(dir, "describes 2 translators");
    /* I + W singular: no inverse */
    wr = mlsae_st_writer_new();
    CHECK(mlsae_st_writer_add(wr, "0.weight", MLSAE_DT_F32, 2, sw, sing, &err) == 0);
    CHECK(mlsae_st_writer_add(wr, "0.bias", MLSAE_DT_F32, 1, sb, b, &err) == 0);
    CHECK(mlsae_st_writer_add(wr, "1.weight", MLSAE_DT_F32, 2, sw, w, &err) == 0);
    CHECK(mlsae_st_writer_add(wr, "1.bias", MLSAE_DT_F32, 1, sb, b, &err) == 0);
    CHECK(mlsae_st_writer_save(wr, path, &err) == 0);
    mlsae_st_writer_free(wr);
    expect_refused(dir, "translator 0: I + weight is singular");
    /* d_model disagrees with the tensors */
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"d_model\": 3, \"num_hidden_layers\": 2}");
    expect_refused(dir, "tensor '0.weight' has shape [2, 2], expected [3, 3]");
    write_text(path, "{\"d_model\": 2, \"num_hidden_layers\": 2, \"lens_type\": \"mlp\"}");
    expect_refused(dir, "lens_type 'mlp' is not supported");
    /* the -lens-tfm prefix; absent translators are not an error */
    mlsae_safetensors *st = NULL;
    mlsae_tuned_lens *l = NULL;
    CHECK(mlsae_st_open(tu_fixture("lens/par_r25_st/params.safetensors"), &st, &err) == 0);
    CHECK(mlsae_lens_load_tensors(st, "lens.layer_translators.", 32, be, &l, &err) == 0 && !l);
    CHECK(mlsae_lens_load_tensors(st, "", 32, be, &l, &err) == 0 && l &&
          mlsae_lens_n_translators(l) == 3);
    mlsae_lens_free(l);
    mlsae_st_close(st);
}

/* loss/mse and loss/auxk against the reference's MSELoss and AuxiliaryLoss
 * (float32 there, double here: 1e-5 relative). */
static void test_losses(void)
{
    mlsae_error err = {{0}};
    mlsae_safetensors *st = NULL;
    CHECKF(mlsae_st_open(tu_fixture("lens/losses.safetensors"), &st, &err) == 0, "%s", err.msg);
    if (!st) return;
    const char *cases[2] = {"a", "b"};
    for (int c = 0; c < 2; c++) {
        char name[32];
        size_t n;
        snprintf(name, sizeof name, "%s.x", cases[c]);
        const mlsae_st_tensor *t = mlsae_st_find(st, name);
        CHECK(t && t->ndim == 4);
        if (!t) continue;
        const int layers = (int)t->shape[0], d = (int)t->shape[3];
        const size_t rows = (size_t)(t->shape[1] * t->shape[2]);
        float *x = read_all(st, name, &n);
        snprintf(name, sizeof name, "%s.r", cases[c]);
        float *r = read_all(st, name, &n);
        snprintf(name, sizeof name, "%s.a", cases[c]);
        float *a = read_all(st, name, &n);
        snprintf(name, sizeof name, "%s.mse", cases[c]);
        float *want_mse = read_all(st, name, &n);
        snprintf(name, sizeof name, "%s.aux", cases[c]);
        float *want_aux = read_all(st, name, &n);
        double mse, aux;
        mlsae_test_losses_host(x, r, a, layers, rows, d, 1.0 / 32, &mse, &aux);
        float got[2] = {(float)mse, (float)aux}, want[2] = {want_mse[0], want_aux[0]};
        char what[64];
        snprintf(what, sizeof what, "case %s: loss/mse", cases[c]);
        CHECK_REL(&got[0], &want[0], 1, 1e-5, what);
        snprintf(what, sizeof what, "case %s: loss/auxk", cases[c]);
        CHECK_REL(&got[1], &want[1], 1, 1e-5, what);
        mlsae_test_losses_host(x, r, NULL, layers, rows, d, 1.0 / 32, &mse, &aux);
        CHECK(aux == 0);
        free(x), free(r), free(a), free(want_mse), free(want_aux);
    }
    mlsae_st_close(st);
}

int main(void)
{
    mlsae_error err = {{0}};
    mlsae_backend_params params = {.n_threads = 2};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_against_reference("lens/par_r25");
    test_against_reference("lens/par_r25_st");
    test_bad();
    test_losses();
    mlsae_backend_close(be);
    return tu_finish("test_tuned_lens");
}
