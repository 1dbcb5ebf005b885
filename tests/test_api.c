/* The public API (include/mlsae.h) through the installed library's
 * interface (libmlsae.so), on the committed fixtures:
 *  - hidden states equal the Hugging Face oracle's (tests/gen/gen_neox.py);
 *  - a new SAE saved through the API is byte-identical to the committed
 *    checkpoint verified with the reference's loader (tests/fixtures/sae/ckpt_c);
 *  - encode and training give bit-for-bit what the modules give when called
 *    directly (src/sae/), and encode's rows do not depend on their batch;
 *  - the tokenizer gives GPT-NeoX-20B's ids;
 *  - errors: status codes, one-line per-thread messages, no outputs. */
#include "config.h"
#include "testutil.h"

#include <mlsae.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

#define TOL 1e-4   /* hidden states vs torch float32, as tests/test_model.c */
#define THREADS 2  /* CPU threads for the API's and the modules' backends alike */

static mlsae_device *dev;
static mlsae_backend *be; /* the modules' own backend, for the direct calls */

static int files_equal(const char *a, const char *b)
{
    char *da = NULL, *db = NULL;
    size_t na, nb;
    mlsae_error err;
    int eq = mlsae_read_file(a, &da, &na, &err) == 0 && mlsae_read_file(b, &db, &nb, &err) == 0 &&
             na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

static void *read_last_error(void *arg)
{
    (void)arg;
    return (void *)mlsae_last_error();
}

static void test_version_and_errors(void)
{
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", MLSAE_VERSION_MAJOR, MLSAE_VERSION_MINOR, MLSAE_VERSION_PATCH);
    CHECK(strcmp(v, MLSAE_VERSION_STRING) == 0);
    CHECK(strcmp(mlsae_version(), MLSAE_VERSION_STRING) == 0);
    CHECK(strcmp(mlsae_version(), PACKAGE_VERSION) == 0);
    CHECK(MLSAE_VERSION_NUMBER == MLSAE_VERSION_MAJOR * 10000 + MLSAE_VERSION_MINOR * 100 +
                                      MLSAE_VERSION_PATCH);
    CHECK(strcmp(mlsae_status_string(MLSAE_OK), "ok") == 0);
    CHECK(strcmp(mlsae_status_string(MLSAE_ERR_INVALID), mlsae_status_string(MLSAE_ERR_FAILED)));

    mlsae_device *d = (mlsae_device *)&d;
    CHECK(mlsae_device_open("nonsense", NULL, &d) == MLSAE_ERR_FAILED);
    CHECK(d == NULL);
    CHECKF(strstr(mlsae_last_error(), "nonsense") && !strchr(mlsae_last_error(), '\n'), "%s",
           mlsae_last_error());
    CHECK(mlsae_device_open(NULL, NULL, &d) == MLSAE_ERR_INVALID);
    CHECKF(strstr(mlsae_last_error(), "name"), "%s", mlsae_last_error());
    mlsae_device_params p = mlsae_device_default_params();
    CHECK(p.n_threads == 0);
    p.n_threads = -1;
    CHECK(mlsae_device_open("cpu", &p, &d) == MLSAE_ERR_INVALID && d == NULL);
    /* The message belongs to this thread: a fresh thread has none. */
    pthread_t t;
    void *other = NULL;
    CHECK(pthread_create(&t, NULL, read_last_error, NULL) == 0 && pthread_join(t, &other) == 0);
    CHECK(other && strcmp(other, "") == 0);
    CHECK(strstr(mlsae_last_error(), "n_threads") != NULL);
    /* A successful call leaves it. */
    CHECK(mlsae_device_open("cpu", NULL, &d) == MLSAE_OK && d);
    CHECK(strstr(mlsae_last_error(), "n_threads") != NULL);
    CHECK(strcmp(mlsae_device_backend(d), "cpu") == 0);
    CHECKF(strncmp(mlsae_device_describe(d), "cpu", 3) == 0, "%s", mlsae_device_describe(d));
    mlsae_device_free(d);
    mlsae_device_free(NULL);
}

/* Hidden states of a golden model against its expected.safetensors. */
static void test_transformer(const char *fixture, int n_layers, int d_model, int vocab,
                             int max_pos)
{
    const char *dir = tu_fixture(fixture);
    mlsae_transformer *tfm = NULL;
    mlsae_transformer_params tp = mlsae_transformer_default_params();
    tp.chunk_rows = 16; /* several chunks: whole sequences of 17 tokens each */
    int rc = mlsae_transformer_load(dev, dir, &tp, &tfm);
    CHECKF(rc == MLSAE_OK, "%s: %s", dir, mlsae_last_error());
    if (rc) return;
    CHECK(mlsae_transformer_n_layers(tfm) == n_layers && mlsae_transformer_d_model(tfm) == d_model);
    CHECK(mlsae_transformer_vocab_size(tfm) == vocab &&
          mlsae_transformer_max_positions(tfm) == max_pos);

    char path[4200];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    mlsae_safetensors *st;
    mlsae_error err;
    CHECKF(mlsae_st_open(path, &st, &err) == 0, "%s", err.msg);
    const mlsae_st_tensor *tk = mlsae_st_find(st, "tokens"), *hd = mlsae_st_find(st, "hidden");
    CHECK(tk && hd && tk->ndim == 2 && hd->ndim == 4 && hd->shape[0] == n_layers);
    const int batch = (int)tk->shape[0], seq = (int)tk->shape[1];
    const size_t bs = (size_t)batch * seq, per = bs * d_model;
    int64_t *ids64 = malloc(bs * sizeof *ids64);
    int32_t *tokens = malloc(bs * sizeof *tokens);
    const size_t n_got = n_layers > 3 ? n_layers : 3; /* all layers, or the subset of 3 below */
    float *want = malloc(n_layers * per * sizeof *want), *got = malloc(n_got * per * sizeof *got);
    CHECK(mlsae_st_read_i64(st, "tokens", 2, tk->shape, ids64, &err) == 0);
    CHECK(mlsae_st_read_f32(st, "hidden", 4, hd->shape, want, &err) == 0);
    mlsae_st_close(st);
    for (size_t i = 0; i < bs; i++) tokens[i] = (int32_t)ids64[i];

    CHECKF(mlsae_transformer_hidden_states(tfm, tokens, batch, seq, NULL, 0, got) == MLSAE_OK,
           "%s", mlsae_last_error());
    char what[256];
    for (int l = 0; l < n_layers; l++) {
        snprintf(what, sizeof what, "%s: hidden state of layer %d", fixture, l);
        CHECK_REL(got + l * per, want + l * per, per, TOL, what);
    }
    /* A subset, in a given order, with a repeat. */
    int sub[3] = {n_layers - 1, 0, n_layers - 1};
    CHECK(mlsae_transformer_hidden_states(tfm, tokens, batch, seq, sub, 3, got) == MLSAE_OK);
    for (int j = 0; j < 3; j++) {
        snprintf(what, sizeof what, "%s: layers subset, entry %d (layer %d)", fixture, j, sub[j]);
        CHECK_REL(got + j * per, want + sub[j] * per, per, TOL, what);
    }
    /* Bad input: one-line messages naming what is wrong. */
    tokens[1] = vocab;
    CHECK(mlsae_transformer_hidden_states(tfm, tokens, batch, seq, NULL, 0, got) == MLSAE_ERR_FAILED);
    CHECKF(strstr(mlsae_last_error(), "vocabulary"), "%s", mlsae_last_error());
    tokens[1] = 0;
    int bad_layer = n_layers;
    CHECK(mlsae_transformer_hidden_states(tfm, tokens, batch, seq, &bad_layer, 1, got) ==
          MLSAE_ERR_FAILED);
    CHECK(mlsae_transformer_hidden_states(tfm, tokens, 0, seq, NULL, 0, got) == MLSAE_ERR_INVALID);
    CHECK(mlsae_transformer_hidden_states(tfm, tokens, batch, seq, NULL, 2, got) ==
          MLSAE_ERR_INVALID);
    CHECK(mlsae_transformer_hidden_states(tfm, tokens, batch, seq, NULL, 0, NULL) ==
          MLSAE_ERR_INVALID);
    free(ids64), free(tokens), free(want), free(got);
    mlsae_transformer_free(tfm);
}

static void test_transformer_errors(void)
{
    mlsae_transformer *tfm = (mlsae_transformer *)&tfm;
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-model", tu_tmpdir());
    CHECK(mlsae_transformer_load(dev, missing, NULL, &tfm) == MLSAE_ERR_FAILED && tfm == NULL);
    CHECKF(strstr(mlsae_last_error(), "no-such-model"), "%s", mlsae_last_error());
    CHECK(mlsae_transformer_load(NULL, missing, NULL, &tfm) == MLSAE_ERR_INVALID);
    mlsae_transformer_free(NULL);
}

/* The configuration of tests/fixtures/sae/ckpt_c (seed 2024). */
static mlsae_autoencoder_params ckpt_c_params(void)
{
    mlsae_autoencoder_params p = mlsae_autoencoder_default_params();
    CHECK(p.n_inputs == 0 && p.expansion_factor == 16 && p.k == 32 && p.auxk == 256);
    CHECK(p.accumulate_grad_batches == 64 && p.dead_steps_threshold == 76 && p.standardize == 1);
    CHECK(p.seed == 42 && fabsf(p.auxk_coef - 1.0f / 32) < 1e-9f && fabsf(p.lr - 1e-4f) < 1e-12f);
    p.n_inputs = 8;
    p.expansion_factor = 4;
    p.k = 4;
    p.auxk = 6;
    p.seed = 2024;
    return p;
}

static void test_autoencoder_new_save(void)
{
    mlsae_autoencoder_params p = ckpt_c_params();
    mlsae_autoencoder *ae = NULL;
    CHECKF(mlsae_autoencoder_new(dev, &p, &ae) == MLSAE_OK, "%s", mlsae_last_error());
    if (!ae) return;
    CHECK(mlsae_autoencoder_n_inputs(ae) == 8 && mlsae_autoencoder_n_latents(ae) == 32 &&
          mlsae_autoencoder_k(ae) == 4);
    char out[4200], a[4300], b[4300];
    snprintf(out, sizeof out, "%s/api-written", tu_tmpdir());
    CHECKF(mlsae_autoencoder_save(ae, out, 0) == MLSAE_OK, "%s", mlsae_last_error());
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", out, files[i]);
        snprintf(b, sizeof b, "%s/%s", tu_fixture("sae/ckpt_c"), files[i]);
        CHECKF(files_equal(a, b), "%s differs from the verified %s", a, b);
    }
    CHECK(mlsae_autoencoder_save(ae, out, 0x80) == MLSAE_ERR_INVALID);
    mlsae_autoencoder_free(ae);

    /* Out-of-range fields are refused before anything is made. */
    ae = (mlsae_autoencoder *)&ae;
    p.k = 33; /* > n_latents 32 */
    CHECK(mlsae_autoencoder_new(dev, &p, &ae) == MLSAE_ERR_INVALID && ae == NULL);
    CHECKF(strstr(mlsae_last_error(), "k"), "%s", mlsae_last_error());
    p = ckpt_c_params();
    p.n_inputs = 0;
    CHECK(mlsae_autoencoder_new(dev, &p, &ae) == MLSAE_ERR_INVALID);
    CHECKF(strstr(mlsae_last_error(), "n_inputs"), "%s", mlsae_last_error());
    CHECK(mlsae_autoencoder_new(dev, NULL, &ae) == MLSAE_ERR_INVALID);
}

static void random_rows(float *x, size_t n, uint64_t seed)
{
    tu_rng r = {seed};
    for (size_t i = 0; i < n; i++) x[i] = tu_normal(&r) * (1.0f + (float)(i % 5)) + 0.3f;
}

static int by_value_desc(const float *v, const int32_t *ix, int k)
{
    for (int j = 1; j < k; j++)
        if (v[j] > v[j - 1] || (v[j] == v[j - 1] && ix[j] < ix[j - 1])) return 0;
    return 1;
}

static void test_encode(void)
{
    enum { L = 3, R = 5, D = 8, K = 4, ROWS = L * R };
    const char *dir = tu_fixture("sae/ckpt_ref");
    mlsae_autoencoder *ae = NULL;
    CHECKF(mlsae_autoencoder_load(dev, dir, 0, &ae) == MLSAE_OK, "%s", mlsae_last_error());
    if (!ae) return;
    CHECK(mlsae_autoencoder_n_inputs(ae) == D && mlsae_autoencoder_n_latents(ae) == 32 &&
          mlsae_autoencoder_k(ae) == K);
    float x[ROWS * D], values[ROWS * K], recons[ROWS * D];
    int32_t indices[ROWS * K];
    random_rows(x, ROWS * D, 11);
    CHECKF(mlsae_autoencoder_encode(ae, x, L, R, indices, values, recons) == MLSAE_OK, "%s",
           mlsae_last_error());

    /* The modules' own forward on the same checkpoint and input. */
    mlsae_error err;
    mlsae_sae *sae;
    CHECK(mlsae_ckpt_load(dir, be, &sae, &err) == 0);
    mlsae_buffer *xb = mlsae_alloc_f32(be, ROWS * D);
    CHECK(be->ops->core.write(be, xb, 0, x, sizeof x) == 0);
    mlsae_sae_forward_out fo;
    CHECK(mlsae_sae_forward(sae, mlsae_at(xb, 0), L, R, &fo, NULL, &err) == 0);
    CHECK(fo.rows == ROWS && fo.k == K);
    float ref_v[ROWS * K], ref_r[ROWS * D];
    int32_t ref_i[ROWS * K];
    CHECK(be->ops->core.read(be, fo.values.buf, fo.values.off * 4, ref_v, sizeof ref_v) == 0);
    CHECK(be->ops->core.read(be, fo.indices.buf, fo.indices.off * 4, ref_i, sizeof ref_i) == 0);
    CHECK(be->ops->core.read(be, fo.recons.buf, fo.recons.off * 4, ref_r, sizeof ref_r) == 0);
    CHECK(memcmp(recons, ref_r, sizeof ref_r) == 0);
    int rows_ok = 0;
    for (int r = 0; r < ROWS; r++) {
        /* Same (index, value) pairs, sorted by value. */
        int same = by_value_desc(values + r * K, indices + r * K, K);
        for (int j = 0; j < K && same; j++) {
            int found = 0;
            for (int i = 0; i < K; i++)
                found |= ref_i[r * K + i] == indices[r * K + j] && ref_v[r * K + i] == values[r * K + j];
            same = found;
        }
        rows_ok += same;
        CHECKF(values[r * K + K - 1] >= 0, "row %d: negative value", r);
    }
    CHECKF(rows_ok == ROWS, "%d of %d rows match the modules' TopK", rows_ok, ROWS);
    CHECK(values[0] > 0); /* not all zero */

    /* A row encoded alone is the same row of the batch (layout [L, R, D]). */
    for (int r = 0; r < ROWS; r += 4) {
        float v1[K], r1[D];
        int32_t i1[K];
        CHECK(mlsae_autoencoder_encode(ae, x + r * D, 1, 1, i1, v1, r1) == MLSAE_OK);
        CHECKF(memcmp(i1, indices + r * K, sizeof i1) == 0 && memcmp(v1, values + r * K, sizeof v1) == 0,
               "row %d alone differs", r);
        CHECK_REL(r1, recons + r * D, D, 1e-6, "recons of a row alone vs in the batch");
    }
    be->ops->core.free(be, xb);
    mlsae_sae_free(sae);

    /* Errors. */
    CHECK(mlsae_autoencoder_encode(ae, NULL, L, R, indices, values, NULL) == MLSAE_ERR_INVALID);
    CHECK(mlsae_autoencoder_encode(ae, x, 0, R, indices, values, NULL) == MLSAE_ERR_INVALID);
    CHECK(mlsae_autoencoder_encode(ae, x, L, R, NULL, values, NULL) == MLSAE_ERR_INVALID);
    mlsae_autoencoder_free(ae);
    ae = (mlsae_autoencoder *)&ae;
    CHECK(mlsae_autoencoder_load(dev, dir, MLSAE_CHECKPOINT_TRAINING_STATE, &ae) == MLSAE_ERR_FAILED);
    CHECK(ae == NULL);
    CHECKF(strstr(mlsae_last_error(), "training_state"), "%s", mlsae_last_error());
    CHECK(mlsae_autoencoder_load(dev, dir, 0x80, &ae) == MLSAE_ERR_INVALID);
    CHECK(mlsae_autoencoder_load(dev, tu_fixture("sae/no-such-checkpoint"), 0, &ae) ==
          MLSAE_ERR_FAILED);
    CHECKF(strstr(mlsae_last_error(), "no-such-checkpoint"), "%s", mlsae_last_error());
    mlsae_autoencoder_free(NULL);

    /* A -tfm checkpoint loads too (its SAE part). */
    CHECKF(mlsae_autoencoder_load(dev, tu_fixture("sae/ckpt_ref_tfm"), 0, &ae) == MLSAE_OK, "%s",
           mlsae_last_error());
    CHECK(mlsae_autoencoder_n_inputs(ae) == 6 && mlsae_autoencoder_k(ae) == 3);
    mlsae_autoencoder_free(ae);
}

/* Encode on the OpenCL device (when the plugin and a device are there):
 * the same TopK latents as on the CPU, values within float32 rounding. */
static void test_encode_opencl(void)
{
    enum { L = 2, R = 7, D = 8, K = 4, ROWS = L * R };
    mlsae_device *ocl = NULL;
    if (mlsae_device_open("opencl:0", NULL, &ocl) != MLSAE_OK) {
        printf("  (no OpenCL device: %s)\n", mlsae_last_error());
        return;
    }
    const char *dir = tu_fixture("sae/ckpt_ref");
    mlsae_autoencoder *a = NULL, *b = NULL;
    CHECK(mlsae_autoencoder_load(dev, dir, 0, &a) == MLSAE_OK);
    CHECK(mlsae_autoencoder_load(ocl, dir, 0, &b) == MLSAE_OK);
    float x[ROWS * D], va[ROWS * K], vb[ROWS * K], ra[ROWS * D], rb[ROWS * D];
    int32_t ia[ROWS * K], ib[ROWS * K];
    random_rows(x, ROWS * D, 3);
    CHECK(a && mlsae_autoencoder_encode(a, x, L, R, ia, va, ra) == MLSAE_OK);
    CHECKF(b && mlsae_autoencoder_encode(b, x, L, R, ib, vb, rb) == MLSAE_OK, "%s",
           mlsae_last_error());
    CHECK(memcmp(ia, ib, sizeof ia) == 0);
    CHECK_REL(vb, va, ROWS * K, 1e-5, "opencl vs cpu: TopK values");
    CHECK_REL(rb, ra, ROWS * D, 1e-5, "opencl vs cpu: reconstructions");
    mlsae_autoencoder_free(a);
    mlsae_autoencoder_free(b);
    mlsae_device_free(ocl);
}

/* Rows [r0, r0 + n) of every layer of x [L, N, D], contiguous. */
static void gather(float *dst, const float *x, int layers, int n_rows, int d, int r0, int n)
{
    for (int l = 0; l < layers; l++)
        memcpy(dst + (size_t)l * n * d, x + ((size_t)l * n_rows + r0) * d, (size_t)n * d * 4);
}

static int callbacks;
static int64_t last_micro_batch;
static int count_batches(const mlsae_autoencoder_train_metrics *m, void *user)
{
    callbacks++;
    CHECK(m->micro_batch == last_micro_batch + 1 && isfinite(m->loss_total) && m->loss_total > 0);
    last_micro_batch = m->micro_batch;
    return user != NULL; /* stop at once when asked to */
}

static void test_train(void)
{
    enum { L = 2, N = 40, D = 8, B = 16 }; /* micro-batches of 16, 16 and 8 rows */
    static float x[L * N * D], xb[L * B * D];
    random_rows(x, L * N * D, 5);
    mlsae_autoencoder_params p = mlsae_autoencoder_default_params();
    p.n_inputs = D;
    p.expansion_factor = 4;
    p.k = 4;
    p.auxk = 6;
    p.accumulate_grad_batches = 2;
    p.dead_steps_threshold = 2;
    p.lr = 1e-2f;
    p.seed = 7;

    /* The run. */
    mlsae_autoencoder *ae = NULL;
    CHECK(mlsae_autoencoder_new(dev, &p, &ae) == MLSAE_OK);
    if (!ae) return;
    mlsae_autoencoder_train_params tp = mlsae_autoencoder_train_default_params();
    CHECK(tp.rows_per_batch == 2048 && tp.callback == NULL);
    tp.rows_per_batch = B;
    tp.callback = count_batches;
    mlsae_autoencoder_train_metrics m = {0};
    callbacks = 0;
    last_micro_batch = 0;
    CHECKF(mlsae_autoencoder_train(ae, x, L, N, &tp, &m) == MLSAE_OK, "%s", mlsae_last_error());
    CHECK(callbacks == 3 && m.micro_batch == 3 && m.step == 1 && m.stepped == 0);
    char run_dir[4200], steps_dir[4200], a[4300], b[4300];
    snprintf(run_dir, sizeof run_dir, "%s/api-run", tu_tmpdir());
    snprintf(steps_dir, sizeof steps_dir, "%s/api-steps", tu_tmpdir());
    CHECKF(mlsae_autoencoder_save(ae, run_dir, MLSAE_CHECKPOINT_TRAINING_STATE) == MLSAE_OK, "%s",
           mlsae_last_error());
    mlsae_autoencoder_free(ae);

    /* The same micro-batches one step at a time through the API. */
    CHECK(mlsae_autoencoder_new(dev, &p, &ae) == MLSAE_OK);
    for (int r0 = 0; r0 < N; r0 += B) {
        int n = N - r0 < B ? N - r0 : B;
        gather(xb, x, L, N, D, r0, n);
        CHECK(mlsae_autoencoder_train_step(ae, xb, L, n, &m) == MLSAE_OK);
        CHECK(m.stepped == (r0 == B));
    }
    int stepped = 0;
    CHECK(mlsae_autoencoder_flush(ae, &stepped) == MLSAE_OK && stepped == 1);
    CHECK(mlsae_autoencoder_save(ae, steps_dir, MLSAE_CHECKPOINT_TRAINING_STATE) == MLSAE_OK);
    mlsae_autoencoder_free(ae);
    const char *files[] = {"config.json", "model.safetensors", "training_state.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", run_dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", steps_dir, files[i]);
        CHECKF(files_equal(a, b), "%s differs from %s", a, b);
    }

    /* The modules directly: same configuration, seed and micro-batches. */
    mlsae_sae_config c;
    mlsae_sae_config_default(&c, D, 4);
    c.k = 4, c.auxk = 6, c.accumulate_grad_batches = 2, c.dead_steps_threshold = 2, c.lr = 1e-2f;
    mlsae_sae *sae, *trained;
    mlsae_error err;
    CHECK(mlsae_sae_create(&c, be, 7, &sae, &err) == 0);
    mlsae_buffer *buf = mlsae_alloc_f32(be, L * B * D);
    for (int r0 = 0; r0 < N; r0 += B) {
        int n = N - r0 < B ? N - r0 : B;
        gather(xb, x, L, N, D, r0, n);
        CHECK(be->ops->core.write(be, buf, 0, xb, (size_t)L * n * D * 4) == 0);
        CHECK(mlsae_sae_train_microbatch(sae, mlsae_at(buf, 0), L, n, NULL, &err) == 0);
    }
    CHECK(mlsae_sae_flush_step(sae, NULL, &err) == 0);
    CHECKF(mlsae_ckpt_load(run_dir, be, &trained, &err) == 0, "%s", err.msg);
    static float e1[32 * D], d1[32 * D], b1[D], e2[32 * D], d2[32 * D], b2[D];
    int64_t n1[32], n2[32];
    CHECK(mlsae_sae_get_params(sae, e1, d1, b1, n1, &err) == 0);
    CHECK(mlsae_sae_get_params(trained, e2, d2, b2, n2, &err) == 0);
    CHECK(memcmp(e1, e2, sizeof e1) == 0 && memcmp(d1, d2, sizeof d1) == 0);
    CHECK(memcmp(b1, b2, sizeof b1) == 0 && memcmp(n1, n2, sizeof n1) == 0);
    mlsae_sae_counters ct;
    mlsae_sae_get_counters(sae, &ct);
    CHECK(ct.step == 2 && ct.micro_batch == 3);
    be->ops->core.free(be, buf);
    mlsae_sae_free(sae);
    mlsae_sae_free(trained);

    /* The training state comes back; a callback can stop a run. */
    CHECKF(mlsae_autoencoder_load(dev, run_dir, MLSAE_CHECKPOINT_TRAINING_STATE, &ae) == MLSAE_OK,
           "%s", mlsae_last_error());
    callbacks = 0;
    last_micro_batch = 3;
    tp.user_data = &callbacks;
    CHECK(mlsae_autoencoder_train(ae, x, L, N, &tp, &m) == MLSAE_ERR_FAILED);
    CHECK(callbacks == 1 && m.micro_batch == 4); /* continues the counters */
    CHECKF(strstr(mlsae_last_error(), "stopped"), "%s", mlsae_last_error());
    CHECK(mlsae_autoencoder_train(ae, x, L, 0, NULL, NULL) == MLSAE_ERR_INVALID);
    CHECK(mlsae_autoencoder_train_step(ae, x, L, 0, NULL) == MLSAE_ERR_INVALID);
    mlsae_autoencoder_free(ae);
}

typedef struct tokenize_job {
    const mlsae_vocab *vocab;
    int ok;
} tokenize_job;

static void *tokenize_many(void *arg)
{
    tokenize_job *job = arg;
    job->ok = 1;
    for (int i = 0; i < 200; i++) {
        int32_t ids[4];
        size_t n = 0;
        job->ok &= mlsae_tokenize(job->vocab, "Hello world", 11, ids, 4, &n) == MLSAE_OK &&
                   n == 2 && ids[0] == 12092 && ids[1] == 1533;
    }
    return NULL;
}

static void test_vocab(void)
{
    mlsae_vocab *v = NULL;
    CHECKF(mlsae_vocab_load(NULL, &v) == MLSAE_OK, "%s", mlsae_last_error());
    if (!v) return;
    CHECK(mlsae_vocab_n_tokens(v) == 50277 && mlsae_vocab_eos(v) == 0);
    int32_t ids[8];
    size_t n = 99;
    /* Ask for the count, then too little room, then enough. */
    CHECK(mlsae_tokenize(v, "Hello world", 11, NULL, 0, &n) == MLSAE_ERR_SIZE && n == 2);
    CHECK(mlsae_tokenize(v, "Hello world", 11, ids, 1, &n) == MLSAE_ERR_SIZE && n == 2);
    CHECK(mlsae_tokenize(v, "Hello world", 11, ids, 8, &n) == MLSAE_OK && n == 2);
    CHECK(ids[0] == 12092 && ids[1] == 1533);
    CHECK(mlsae_tokenize(v, "", 0, ids, 8, &n) == MLSAE_OK && n == 0);
    CHECK(mlsae_tokenize(v, "<|endoftext|>", 13, ids, 8, &n) == MLSAE_OK && n == 1 && ids[0] == 0);

    char text[32];
    size_t len = 0;
    int32_t hello_eot[3] = {12092, 1533, 0};
    CHECK(mlsae_detokenize(v, hello_eot, 2, 0, NULL, 0, &len) == MLSAE_ERR_SIZE && len == 11);
    CHECK(mlsae_detokenize(v, hello_eot, 2, 0, text, 11, &len) == MLSAE_ERR_SIZE);
    CHECK(mlsae_detokenize(v, hello_eot, 2, 0, text, 12, &len) == MLSAE_OK && len == 11);
    CHECK(strcmp(text, "Hello world") == 0);
    CHECK(mlsae_detokenize(v, hello_eot, 3, 0, text, sizeof text, &len) == MLSAE_OK);
    CHECK(strcmp(text, "Hello world<|endoftext|>") == 0);
    CHECK(mlsae_detokenize(v, hello_eot, 3, 1, text, sizeof text, &len) == MLSAE_OK);
    CHECK(strcmp(text, "Hello world") == 0);
    int32_t bad[2] = {12092, 999999};
    CHECK(mlsae_detokenize(v, bad, 2, 0, text, sizeof text, &len) == MLSAE_ERR_FAILED);
    CHECKF(strstr(mlsae_last_error(), "999999"), "%s", mlsae_last_error());

    /* One vocab, two threads at once. */
    tokenize_job jobs[2] = {{v, 0}, {v, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, tokenize_many, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(t[i], NULL) == 0 && jobs[i].ok);
    mlsae_vocab_free(v);

    mlsae_vocab *none = (mlsae_vocab *)&none;
    CHECK(mlsae_vocab_load(tu_fixture("no-such-tokenizer.json"), &none) == MLSAE_ERR_FAILED);
    CHECK(none == NULL);
    CHECKF(strstr(mlsae_last_error(), "no-such-tokenizer.json"), "%s", mlsae_last_error());
    mlsae_vocab_free(NULL);
}

int main(void)
{
    test_version_and_errors();
    mlsae_device_params dp = mlsae_device_default_params();
    dp.n_threads = THREADS;
    mlsae_backend_params bp = {0};
    bp.n_threads = THREADS;
    mlsae_error err;
    if (mlsae_device_open("cpu", &dp, &dev) || mlsae_backend_cpu_new(&bp, &be, &err)) {
        fprintf(stderr, "cannot open the CPU backend\n");
        return 1;
    }
    test_transformer("model/par_r25", 3, 32, 97, 64);
    test_transformer("model/par_r50_long_sharded", 2, 16, 50, 512);
    test_transformer_errors();
    test_autoencoder_new_save();
    test_encode();
    test_encode_opencl();
    test_train();
    test_vocab();
    mlsae_backend_close(be);
    mlsae_device_free(dev);
    return tu_finish("test_api");
}
