/* GPT-NeoX forward against HF transformers (float32) on the golden models of
 * tests/gen/gen_neox.py: parallel and sequential residual, rotary_pct 0.25,
 * 0.5 and 1.0, F32 / F16 / sharded weights, batch > 1, 320 positions.
 * Tolerance (SPEC §2): max |ours - ref| / max |ref| < 1e-4 per tensor (per
 * layer for hidden states), the scale of float32 differences between two
 * correct implementations that sum in different orders. */
#include "config.h"
#include "testutil.h"
#include "model/neox.h"

#include <math.h>
#include <string.h>

#define TOL 1e-4

static mlsae_backend *be;

typedef struct expected {
    int batch, seq, n_layers, d, vocab, fal_layer;
    int32_t *tokens;
    float *hidden, *logits, *ce, *fal_h, *fal_logits, *fal_ce;
    float mean_ce, fal_mean_ce;
} expected;

static float *read_f32(mlsae_safetensors *st, const char *name, size_t n)
{
    float *v = malloc(n * sizeof *v);
    mlsae_error err = {{0}};
    const mlsae_st_tensor *t = mlsae_st_find(st, name);
    if (!t || (size_t)t->numel != n || mlsae_st_read_f32(st, name, t->ndim, t->shape, v, &err)) {
        fprintf(stderr, "expected tensor %s: %s\n", name, err.msg);
        exit(1);
    }
    return v;
}

static void load_expected(const char *dir, const mlsae_neox_config *c, expected *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    mlsae_safetensors *st;
    mlsae_error err = {{0}};
    if (mlsae_st_open(path, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    const mlsae_st_tensor *tk = mlsae_st_find(st, "tokens");
    e->batch = (int)tk->shape[0];
    e->seq = (int)tk->shape[1];
    e->n_layers = c->n_layers;
    e->d = c->hidden_size;
    e->vocab = c->vocab_size;
    size_t bs = (size_t)e->batch * e->seq;
    int64_t *ids = malloc(bs * sizeof *ids), fal = 0;
    int64_t one = 1;
    CHECK(mlsae_st_read_i64(st, "tokens", 2, tk->shape, ids, &err) == 0);
    CHECK(mlsae_st_read_i64(st, "fal_layer", 1, &one, &fal, &err) == 0);
    e->fal_layer = (int)fal;
    e->tokens = malloc(bs * sizeof *e->tokens);
    for (size_t i = 0; i < bs; i++) e->tokens[i] = (int32_t)ids[i];
    free(ids);
    e->hidden = read_f32(st, "hidden", (size_t)e->n_layers * bs * e->d);
    e->logits = read_f32(st, "logits", bs * e->vocab);
    e->ce = read_f32(st, "ce", bs);
    e->fal_h = read_f32(st, "fal_h", bs * e->d);
    e->fal_logits = read_f32(st, "fal_logits", bs * e->vocab);
    e->fal_ce = read_f32(st, "fal_ce", bs);
    float *m = read_f32(st, "mean_ce", 1);
    e->mean_ce = m[0];
    free(m);
    m = read_f32(st, "fal_mean_ce", 1);
    e->fal_mean_ce = m[0];
    free(m);
    mlsae_st_close(st);
}

static void free_expected(expected *e)
{
    free(e->tokens), free(e->hidden), free(e->logits), free(e->ce);
    free(e->fal_h), free(e->fal_logits), free(e->fal_ce);
}

static void check_hidden(const char *name, const char *how, const float *got, const expected *e,
                         const int *layers, int n_sel)
{
    size_t per = (size_t)e->batch * e->seq * e->d;
    for (int j = 0; j < n_sel; j++) {
        char what[160];
        snprintf(what, sizeof what, "%s %s hidden layer %d", name, how, layers[j]);
        CHECK_REL(got + j * per, e->hidden + (size_t)layers[j] * per, per, TOL, what);
    }
}

static void test_model(const char *name)
{
    const char *dir = tu_fixture(name);
    char model_dir[4096];
    snprintf(model_dir, sizeof model_dir, "model/%s", name);
    dir = tu_fixture(model_dir);
    mlsae_error err = {{0}};
    mlsae_neox *m = NULL;
    if (mlsae_neox_load(dir, be, 0, &m, &err)) {
        fprintf(stderr, "load %s: %s\n", dir, err.msg);
        CHECK(0);
        return;
    }
    const mlsae_neox_config *c = mlsae_neox_get_config(m);
    expected e;
    load_expected(dir, c, &e);
    printf("%s: %d layers d %d heads %d rot %d %s, batch %d x %d\n", name, c->n_layers,
           c->hidden_size, c->n_heads, c->rot_dims, c->use_parallel_residual ? "parallel" : "sequential",
           e.batch, e.seq);
    size_t bs = (size_t)e.batch * e.seq, per = bs * e.d;
    int all[64];
    for (int l = 0; l < c->n_layers; l++) all[l] = l;

    /* every layer, host output */
    float *hid = malloc((size_t)c->n_layers * per * sizeof *hid);
    CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, e.seq, NULL, 0, hid, &err) == 0);
    check_hidden(name, "all", hid, &e, all, c->n_layers);

    /* a subset in another order, into a backend buffer, one sequence per chunk */
    int sub[2] = {c->n_layers - 1, 0};
    mlsae_buffer *hb = mlsae_alloc_f32(be, 2 * per);
    mlsae_neox_set_chunk_rows(m, 1);
    CHECK(mlsae_neox_hidden_states(m, e.tokens, e.batch, e.seq, sub, 2, mlsae_at(hb, 0), &err) == 0);
    mlsae_neox_set_chunk_rows(m, 0);
    CHECK(be->ops->core.read(be, hb, 0, hid, 2 * per * 4) == 0);
    check_hidden(name, "subset/chunked", hid, &e, sub, 2);

    /* full model: logits and losses */
    float *logits = malloc(bs * e.vocab * sizeof *logits), *ce = malloc(bs * sizeof *ce);
    double mean_ce = 0;
    mlsae_neox_run run = {.tokens = e.tokens, .batch = e.batch, .seq = e.seq, .start_layer = -1,
                          .logits_host = logits, .ce_host = ce, .mean_ce = &mean_ce};
    CHECK(mlsae_neox_forward(m, &run, &err) == 0);
    char what[160];
    snprintf(what, sizeof what, "%s logits", name);
    CHECK_REL(logits, e.logits, bs * e.vocab, TOL, what);
    snprintf(what, sizeof what, "%s per-position CE", name);
    CHECK_REL(ce, e.ce, bs, TOL, what);
    CHECKF(fabs(mean_ce - e.mean_ce) < TOL * fabs(e.mean_ce), "%s mean CE %.7f vs %.7f", name,
           mean_ce, e.mean_ce);
    printf("  %s mean CE %.6f (reference %.6f)\n", name, mean_ce, (double)e.mean_ce);

    /* The equality the downstream metrics' shared true path rests on
     * (eval/downstream.h): forward_at_layer(X_l, l) on the unmodified
     * residual after layer l gives the full forward's logits and CE, bit
     * for bit, for every l. */
    {
        float *all_h = malloc((size_t)c->n_layers * per * sizeof *all_h);
        float *lg = malloc(bs * e.vocab * sizeof *lg), *ce_l = malloc(bs * sizeof *ce_l);
        mlsae_buffer *hl = mlsae_alloc_f32(be, per), *ll = mlsae_alloc_f32(be, bs * e.vocab);
        CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, e.seq, NULL, 0, all_h, &err) == 0);
        int same = 0;
        for (int l = 0; l < c->n_layers; l++) {
            double mean_l = 0;
            CHECK(be->ops->core.write(be, hl, 0, all_h + (size_t)l * per, per * 4) == 0);
            CHECK(mlsae_neox_forward_at_layer(m, mlsae_at(hl, 0), l, e.tokens, e.batch, e.seq,
                                              mlsae_at(ll, 0), ce_l, &mean_l, &err) == 0);
            CHECK(be->ops->core.read(be, ll, 0, lg, bs * e.vocab * 4) == 0);
            int ok = memcmp(lg, logits, bs * e.vocab * 4) == 0 && memcmp(ce_l, ce, bs * 4) == 0 &&
                     mean_l == mean_ce;
            CHECKF(ok, "%s forward_at_layer(X_%d, %d) differs from the full forward", name, l, l);
            same += ok;
        }
        printf("  %s forward_at_layer(X_l, l) == full forward, bit for bit: %d of %d layers\n",
               name, same, c->n_layers);
        be->ops->core.free(be, hl), be->ops->core.free(be, ll);
        free(all_h), free(lg), free(ce_l);
    }

    /* Mixed precision (doc/precision.md): every linear layer from bf16 / fp16
     * inputs with float32 sums. Against the float32 reference the logits
     * and hidden states move by the inputs' rounding (bf16: 2^-9 relative
     * per input, fp16: 2^-12) carried through the layers: within
     * LOWP_TOL[fmt] = 2^-9 x 16 and 2^-12 x 16 of the largest |reference|
     * (16: a margin for the layers and the sums, not fitted). Back in float32
     * the model is unchanged, bit for bit. */
    {
        static const double lowp_tol[3] = {0, 16.0 / 512, 16.0 / 4096};
        float *lg = malloc(bs * e.vocab * sizeof *lg), *h1 = malloc((size_t)c->n_layers * per * 4);
        for (int fmt = MLSAE_LOWP_BF16; fmt <= MLSAE_LOWP_F16; fmt++) {
            CHECK(mlsae_neox_set_precision(m, fmt, &err) == 0);
            CHECK(mlsae_neox_get_precision(m) == fmt);
            mlsae_neox_run rl = {.tokens = e.tokens, .batch = e.batch, .seq = e.seq,
                                 .start_layer = -1, .logits_host = lg};
            CHECK(mlsae_neox_forward(m, &rl, &err) == 0);
            CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, e.seq, NULL, 0, h1, &err) == 0);
            double el = tu_max_rel_err(lg, e.logits, bs * e.vocab, 1e-30);
            double eh = tu_max_rel_err(h1, e.hidden, (size_t)c->n_layers * per, 1e-30);
            printf("  %s %s: logits %.3g, hidden states %.3g relative to the float32 reference "
                   "(tolerance %.3g)\n", name, fmt == MLSAE_LOWP_BF16 ? "bf16-mixed" : "16-mixed",
                   el, eh, lowp_tol[fmt]);
            CHECKF(el < lowp_tol[fmt] && eh < lowp_tol[fmt], "%s fmt %d: logits %g, hidden %g",
                   name, fmt, el, eh);
            CHECKF(el > 0, "%s fmt %d: logits equal float32's: nothing was rounded", name, fmt);
        }
        CHECK(mlsae_neox_set_precision(m, 0, &err) == 0);
        mlsae_neox_run rl = {.tokens = e.tokens, .batch = e.batch, .seq = e.seq,
                             .start_layer = -1, .logits_host = lg};
        CHECK(mlsae_neox_forward(m, &rl, &err) == 0);
        CHECKF(memcmp(lg, logits, bs * e.vocab * 4) == 0, "%s: float32 again differs", name);
        free(lg), free(h1);
    }

    /* forward_at_layer from a perturbed residual */
    mlsae_buffer *fb = mlsae_alloc_f32(be, per), *lb = mlsae_alloc_f32(be, bs * e.vocab);
    CHECK(be->ops->core.write(be, fb, 0, e.fal_h, per * 4) == 0);
    CHECK(mlsae_neox_forward_at_layer(m, mlsae_at(fb, 0), e.fal_layer, e.tokens, e.batch, e.seq,
                                      mlsae_at(lb, 0), ce, &mean_ce, &err) == 0);
    CHECK(be->ops->core.read(be, lb, 0, logits, bs * e.vocab * 4) == 0);
    snprintf(what, sizeof what, "%s forward_at_layer(%d) logits", name, e.fal_layer);
    CHECK_REL(logits, e.fal_logits, bs * e.vocab, TOL, what);
    snprintf(what, sizeof what, "%s forward_at_layer(%d) CE", name, e.fal_layer);
    CHECK_REL(ce, e.fal_ce, bs, TOL, what);
    CHECKF(fabs(mean_ce - e.fal_mean_ce) < TOL * fabs(e.fal_mean_ce),
           "%s forward_at_layer mean CE %.7f vs %.7f", name, mean_ce, e.fal_mean_ce);
    /* CE alone (no logits output) goes through the scratch path */
    double ce_only = 0;
    CHECK(mlsae_neox_forward_at_layer(m, mlsae_at(fb, 0), e.fal_layer, e.tokens, e.batch, e.seq,
                                      MLSAE_NOREF, NULL, &ce_only, &err) == 0);
    CHECKF(fabs(ce_only - e.fal_mean_ce) < TOL * fabs(e.fal_mean_ce), "CE-only %.7f vs %.7f",
           ce_only, e.fal_mean_ce);

    /* bad requests: one-line errors, nothing run */
    int32_t saved = e.tokens[1];
    e.tokens[1] = c->vocab_size;
    CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, e.seq, NULL, 0, hid, &err) == -1);
    CHECKF(strstr(err.msg, "position 1") && strstr(err.msg, "vocabulary"), "%s", err.msg);
    e.tokens[1] = saved;
    int bad_layer = c->n_layers;
    CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, e.seq, &bad_layer, 1, hid, &err) == -1);
    CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, c->max_positions + 1, NULL, 0, hid,
                                        &err) == -1);
    CHECKF(strstr(err.msg, "max_position_embeddings") != NULL, "%s", err.msg);

    be->ops->core.free(be, hb), be->ops->core.free(be, fb), be->ops->core.free(be, lb);
    free(hid), free(logits), free(ce);
    mlsae_neox_free(m);

    /* hidden states only: embed_out is not loaded and logits are refused
     * (c pointed into the freed model: not used below) */
    CHECK(mlsae_neox_load(dir, be, MLSAE_NEOX_NO_LM_HEAD, &m, &err) == 0);
    if (m) {
        hid = malloc(per * sizeof *hid);
        int last = e.n_layers - 1;
        CHECK(mlsae_neox_hidden_states_host(m, e.tokens, e.batch, e.seq, &last, 1, hid, &err) == 0);
        check_hidden(name, "no-lm-head", hid, &e, &last, 1);
        double x;
        mlsae_neox_run r2 = {.tokens = e.tokens, .batch = e.batch, .seq = e.seq,
                             .start_layer = -1, .mean_ce = &x};
        CHECK(mlsae_neox_forward(m, &r2, &err) == -1);
        free(hid);
        mlsae_neox_free(m);
    }
    free_expected(&e);
}

static void test_masking(void)
{
    int32_t tokens[6] = {0, 5, 7, 0, 3, 9};
    int32_t special[3] = {0, 9, -1};
    float x[2 * 6 * 3];
    for (int i = 0; i < 36; i++) x[i] = (float)(i + 1);
    mlsae_buffer *b = mlsae_alloc_f32(be, 36);
    be->ops->core.write(be, b, 0, x, sizeof x);
    mlsae_mask_special_tokens_host(x, 2, tokens, 6, 3, special, 3);
    mlsae_error err = {{0}};
    CHECK(mlsae_mask_special_tokens(be, mlsae_at(b, 0), 2, tokens, 6, 3, special, 3, &err) == 0);
    float y[36];
    be->ops->core.read(be, b, 0, y, sizeof y);
    int ok = 1;
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < 6; p++)
            for (int k = 0; k < 3; k++) {
                int i = (s * 6 + p) * 3 + k;
                float want = (tokens[p] == 0 || tokens[p] == 9) ? 0.0f : (float)(i + 1);
                if (x[i] != want || y[i] != want) ok = 0;
            }
    CHECKF(ok, "special-token masking zeroes exactly the eos/pad/bos positions");
    be->ops->core.free(be, b);
}

int main(void)
{
    mlsae_error err = {{0}};
    mlsae_backend_params params = {.n_threads = 2};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_model("par_r25");
    test_model("seq_r100_f16");
    test_model("par_r50_long_sharded");
    test_masking();
    mlsae_backend_close(be);
    return tu_finish("test_model");
}
