/* The MLSAE against the float64 autograd oracle of tests/gen/gen_sae.py
 * (SPEC §4): one training micro-batch from a given state (TopK, AuxK,
 * reconstructions, both losses, dead-latent counters, gradients after the
 * decoder hooks), then six micro-batches with accumulation 2 from the
 * geometric-median initialisation through three Adam steps.
 *
 * Tolerances, relative to the largest |reference| value of each tensor:
 *  - forward values, reconstructions, losses: 1e-4 (float32 encoder and
 *    decoder sums of d <= 40 terms against float64);
 *  - gradients: 1e-5 (SPEC §4), they are sums of a few dozen float32 terms;
 *  - parameters after 3 Adam steps: 2e-5. Adam moves every parameter with a
 *    gradient by about lr = 1e-4 per step whatever the gradient's size
 *    (m / sqrt(v) ~ +-1), so 3 steps of a wrong update show as >= 3e-4 /
 *    max|w| ~ 1e-3 relative, while round-off in the gradients only moves the
 *    update of parameters whose gradient is itself near round-off.
 * TopK and AuxK index sets must be equal (the generator keeps a margin of
 * 2e-4 around every discrete decision: TopK boundary, ReLU, dead threshold). */
#include "config.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/safetensors.h"
#include "sae/mlsae.h"

typedef struct fixture {
    mlsae_safetensors *st;
    mlsae_sae_config cfg;
    int n_layers, rows_per_layer, rows;
} fixture;

static double meta_num(mlsae_safetensors *st, const char *key)
{
    const char *v = mlsae_st_metadata(st, key);
    if (!v) {
        fprintf(stderr, "fixture metadata %s missing\n", key);
        exit(1);
    }
    if (strcmp(v, "true") == 0) return 1;
    if (strcmp(v, "false") == 0) return 0;
    return atof(v);
}

static float *get_f32(fixture *f, const char *name, size_t *n_out)
{
    const mlsae_st_tensor *t = mlsae_st_find(f->st, name);
    if (!t) {
        fprintf(stderr, "fixture tensor %s missing\n", name);
        exit(1);
    }
    float *v = malloc((size_t)t->numel * sizeof *v);
    mlsae_error err;
    if (!v || mlsae_st_read_f32(f->st, name, t->ndim, t->shape, v, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
    }
    if (n_out) *n_out = (size_t)t->numel;
    return v;
}

static int64_t *get_i64(fixture *f, const char *name, size_t *n_out)
{
    const mlsae_st_tensor *t = mlsae_st_find(f->st, name);
    if (!t) {
        fprintf(stderr, "fixture tensor %s missing\n", name);
        exit(1);
    }
    int64_t *v = malloc((size_t)t->numel * sizeof *v);
    mlsae_error err;
    if (!v || mlsae_st_read_i64(f->st, name, t->ndim, t->shape, v, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
    }
    if (n_out) *n_out = (size_t)t->numel;
    return v;
}

static void open_fixture(fixture *f, const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "sae/%s.safetensors", name);
    mlsae_error err;
    if (mlsae_st_open(tu_fixture(rel), &f->st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    int d = (int)meta_num(f->st, "n_inputs");
    int n = (int)meta_num(f->st, "n_latents");
    mlsae_sae_config_default(&f->cfg, d, n / d);
    f->cfg.n_latents = n;
    f->cfg.k = (int)meta_num(f->st, "k");
    f->cfg.auxk = (int)meta_num(f->st, "auxk");
    f->cfg.dead_steps_threshold = (int64_t)meta_num(f->st, "dead_steps_threshold");
    f->cfg.dead_threshold = (float)meta_num(f->st, "dead_threshold");
    f->cfg.standardize = (int)meta_num(f->st, "standardize");
    f->cfg.accumulate_grad_batches = (int)meta_num(f->st, "accumulate");
    f->cfg.auxk_coef = (float)meta_num(f->st, "auxk_coef");
    f->n_layers = (int)meta_num(f->st, "n_layers");
    f->rows_per_layer = (int)(meta_num(f->st, "batch") * meta_num(f->st, "pos"));
    f->rows = f->n_layers * f->rows_per_layer;
}

/* Compare per row the selected (index, value) pairs with value > 0 as sets;
 * values to tol relative to the largest reference value. */
static void check_selection(const char *what, const float *v, const int32_t *ix, int k,
                            const float *rv, const int64_t *rix, int rk, int rows, double tol)
{
    double scale = 1e-30, worst = 0;
    int set_mismatch = 0;
    for (int i = 0; i < rows * rk; i++)
        if (fabs(rv[i]) > scale) scale = fabs(rv[i]);
    for (int r = 0; r < rows; r++) {
        int n_ours = 0, n_ref = 0;
        for (int j = 0; j < k; j++) n_ours += v[r * k + j] > 0;
        for (int j = 0; j < rk; j++) {
            float x = rv[r * rk + j];
            if (!(x > 0)) continue;
            n_ref++;
            int found = 0;
            for (int q = 0; q < k; q++)
                if (ix[r * k + q] == rix[r * rk + j]) {
                    found = 1;
                    double e = fabs(v[r * k + q] - x);
                    if (e > worst) worst = e;
                }
            if (!found) set_mismatch++;
        }
        if (n_ours != n_ref) set_mismatch++;
    }
    CHECKF(set_mismatch == 0, "%s: %d selection mismatches", what, set_mismatch);
    CHECKF(worst / scale < tol, "%s values: relative error %.3g", what, worst / scale);
    printf("  %s: index sets equal: %s, value error %.3g\n", what, set_mismatch ? "no" : "yes",
           worst / scale);
}

static mlsae_buffer *upload(mlsae_backend *be, const float *x, size_t n)
{
    mlsae_buffer *b = mlsae_alloc_f32(be, n);
    if (!b || be->ops->core.write(be, b, 0, x, n * 4)) exit(1);
    return b;
}

static void test_microbatch(mlsae_backend *be, const char *name)
{
    fixture f;
    open_fixture(&f, name);
    printf("%s: one micro-batch\n", name);
    const int d = f.cfg.n_inputs, n = f.cfg.n_latents, k = f.cfg.k, rows = f.rows;
    float *enc = get_f32(&f, "enc", NULL), *dec = get_f32(&f, "dec", NULL);
    float *bias = get_f32(&f, "bias", NULL), *x = get_f32(&f, "x", NULL);
    int64_t *ln0 = get_i64(&f, "last_nonzero", NULL);
    mlsae_sae *sae;
    mlsae_error err;
    CHECK(mlsae_sae_create(&f.cfg, be, 7, &sae, &err) == 0);
    CHECK(mlsae_sae_set_params(sae, enc, dec, bias, ln0, &err) == 0);
    mlsae_sae_set_bias_pending(sae, 0);
    mlsae_buffer *xb = upload(be, x, (size_t)rows * d);
    mlsae_sae_train_metrics m;
    int rc = mlsae_sae_train_microbatch(sae, mlsae_at(xb, 0), f.n_layers, f.rows_per_layer, &m, &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(m.stepped == 0 && m.micro_batch == 1);

    double *losses = NULL;
    {
        size_t nl;
        float *l32 = get_f32(&f, "out.losses", &nl);
        losses = malloc(nl * sizeof *losses);
        for (size_t i = 0; i < nl; i++) losses[i] = l32[i];
        free(l32);
    }
    float got[3] = {(float)m.loss_total, (float)m.loss_mse, (float)m.loss_aux};
    float want[3] = {(float)losses[0], (float)losses[1], (float)losses[2]};
    CHECK_REL(got, want, 3, 1e-4, "losses (total, mse, aux)");
    CHECKF(fabs(m.dead_fraction - losses[3]) < 1e-6, "dead fraction %g vs %g", m.dead_fraction,
           losses[3]);

    float *vals = malloc((size_t)rows * k * sizeof *vals);
    int32_t *idx = malloc((size_t)rows * k * sizeof *idx);
    float *recons = malloc((size_t)rows * d * sizeof *recons);
    CHECK(mlsae_sae_last_topk(sae, vals, idx, recons, &err) == 0);
    float *rv = get_f32(&f, "out.values", NULL);
    int64_t *rix = get_i64(&f, "out.indices", NULL);
    check_selection("topk", vals, idx, k, rv, rix, k, rows, 1e-4);
    float *rrec = get_f32(&f, "out.recons", NULL);
    CHECK_REL(recons, rrec, (size_t)rows * d, 1e-4, "recons");
    if (f.cfg.auxk > 0) {
        int ak = f.cfg.auxk;
        float *av = malloc((size_t)rows * ak * sizeof *av), *arec = malloc((size_t)rows * d * 4);
        int32_t *aix = malloc((size_t)rows * ak * sizeof *aix);
        CHECK(mlsae_sae_last_auxk(sae, av, aix, arec, &err) == 0);
        float *rav = get_f32(&f, "out.aux_values", NULL);
        int64_t *raix = get_i64(&f, "out.aux_indices", NULL);
        check_selection("auxk", av, aix, ak, rav, raix, ak, rows, 1e-4);
        float *rarec = get_f32(&f, "out.aux_recons", NULL);
        CHECK_REL(arec, rarec, (size_t)rows * d, 1e-4, "aux_recons");
        free(av), free(arec), free(aix), free(rav), free(raix), free(rarec);
    }
    int64_t *ln = malloc((size_t)n * sizeof *ln);
    int64_t *rln = get_i64(&f, "out.last_nonzero", NULL);
    float *g_enc = malloc((size_t)n * d * 4), *g_dec = malloc((size_t)n * d * 4);
    float *g_bias = malloc((size_t)d * 4), *dec_now = malloc((size_t)n * d * 4);
    CHECK(mlsae_sae_get_params(sae, NULL, dec_now, NULL, ln, &err) == 0);
    CHECK(memcmp(ln, rln, (size_t)n * sizeof *ln) == 0);
    CHECK(mlsae_sae_get_grads(sae, g_enc, g_dec, g_bias, &err) == 0);
    float *r_genc = get_f32(&f, "out.grad_enc", NULL), *r_gdec = get_f32(&f, "out.grad_dec", NULL);
    float *r_gb = get_f32(&f, "out.grad_bias", NULL), *r_dec = get_f32(&f, "out.dec_normed", NULL);
    CHECK_REL(g_enc, r_genc, (size_t)n * d, 1e-5, "grad encoder.weight");
    CHECK_REL(g_dec, r_gdec, (size_t)n * d, 1e-5, "grad decoder.weight (projected)");
    CHECK_REL(g_bias, r_gb, (size_t)d, 1e-5, "grad pre_encoder_bias");
    CHECK_REL(dec_now, r_dec, (size_t)n * d, 1e-6, "decoder after renormalisation");

    free(enc), free(dec), free(bias), free(x), free(ln0), free(losses), free(vals), free(idx);
    free(recons), free(rv), free(rix), free(rrec), free(ln), free(rln), free(g_enc), free(g_dec);
    free(g_bias), free(dec_now), free(r_genc), free(r_gdec), free(r_gb), free(r_dec);
    be->ops->core.free(be, xb);
    mlsae_sae_free(sae);
    mlsae_st_close(f.st);
}

static void test_training(mlsae_backend *be, const char *name)
{
    fixture f;
    open_fixture(&f, name);
    printf("%s: 6 micro-batches, accumulation %d\n", name, f.cfg.accumulate_grad_batches);
    const int d = f.cfg.n_inputs, n = f.cfg.n_latents, rows = f.rows;
    float *enc = get_f32(&f, "enc", NULL), *dec = get_f32(&f, "dec", NULL);
    float *xs = get_f32(&f, "train.x", NULL);
    int64_t *ln0 = get_i64(&f, "last_nonzero", NULL);
    float *zeros = calloc((size_t)d, sizeof *zeros);
    mlsae_sae *sae;
    mlsae_error err;
    CHECK(mlsae_sae_create(&f.cfg, be, 7, &sae, &err) == 0);
    CHECK(mlsae_sae_set_params(sae, enc, dec, zeros, ln0, &err) == 0);
    CHECK(mlsae_sae_bias_pending(sae));
    float *rl = get_f32(&f, "train.losses", NULL); /* [6, 4] */
    float *gm = get_f32(&f, "train.bias_gm", NULL);
    mlsae_buffer *xb = mlsae_alloc_f32(be, (size_t)rows * d);
    float got[6 * 3], want[6 * 3];
    int steps_ok = 1;
    for (int i = 0; i < 6; i++) {
        be->ops->core.write(be, xb, 0, xs + (size_t)i * rows * d, (size_t)rows * d * 4);
        mlsae_sae_train_metrics m;
        int rc = mlsae_sae_train_microbatch(sae, mlsae_at(xb, 0), f.n_layers, f.rows_per_layer,
                                            &m, &err);
        CHECKF(rc == 0, "%s", err.msg);
        if (i == 0) {
            float *b = malloc((size_t)d * 4);
            CHECK(mlsae_sae_get_params(sae, NULL, NULL, b, NULL, &err) == 0);
            CHECK_REL(b, gm, (size_t)d, 1e-4, "geometric median bias");
            free(b);
        }
        got[3 * i] = (float)m.loss_total, want[3 * i] = rl[4 * i];
        got[3 * i + 1] = (float)m.loss_mse, want[3 * i + 1] = rl[4 * i + 1];
        got[3 * i + 2] = (float)m.loss_aux, want[3 * i + 2] = rl[4 * i + 2];
        CHECKF(fabs(m.dead_fraction - rl[4 * i + 3]) < 1e-6, "micro-batch %d dead %g vs %g", i,
               m.dead_fraction, rl[4 * i + 3]);
        steps_ok &= m.stepped == ((i + 1) % 2 == 0) && m.step == (i + 1) / 2;
    }
    CHECK(steps_ok);
    CHECK_REL(got, want, 18, 1e-4, "losses of the 6 micro-batches");
    float *e = malloc((size_t)n * d * 4), *dc = malloc((size_t)n * d * 4), *b = malloc((size_t)d * 4);
    int64_t *ln = malloc((size_t)n * sizeof *ln);
    CHECK(mlsae_sae_get_params(sae, e, dc, b, ln, &err) == 0);
    float *re = get_f32(&f, "train.enc", NULL), *rd = get_f32(&f, "train.dec", NULL);
    float *rb = get_f32(&f, "train.bias", NULL);
    int64_t *rln = get_i64(&f, "train.last_nonzero", NULL);
    CHECK_REL(e, re, (size_t)n * d, 2e-5, "encoder.weight after 3 Adam steps");
    CHECK_REL(dc, rd, (size_t)n * d, 2e-5, "decoder.weight after 3 Adam steps");
    CHECK_REL(b, rb, (size_t)d, 2e-5, "pre_encoder_bias after 3 Adam steps");
    CHECK(memcmp(ln, rln, (size_t)n * sizeof *ln) == 0);
    free(enc), free(dec), free(xs), free(ln0), free(zeros), free(rl), free(gm), free(e), free(dc);
    free(b), free(ln), free(re), free(rd), free(rb), free(rln);
    be->ops->core.free(be, xb);
    mlsae_sae_free(sae);
    mlsae_st_close(f.st);
}

int main(void)
{
    static const char *cases[] = {"basic", "nostd", "nodead", "bigk", "allfire", "thr1", "noaux"};
    mlsae_backend *be;
    mlsae_error err;
    mlsae_backend_params params = {0};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%s\n", be->ops->describe(be));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_microbatch(be, cases[i]);
        test_training(be, cases[i]);
    }
    mlsae_backend_close(be);
    return tu_finish("test_sae_oracle");
}
