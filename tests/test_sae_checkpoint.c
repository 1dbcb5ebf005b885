/* MLSAE checkpoint directories (SPEC §8): the reference's directories load
 * (plain and -tfm), ours are byte-identical to a committed one that the
 * reference's loader was shown to read (tests/gen/gen_sae_ckpt.py verify),
 * a save/load round trip with the training state resumes bit-for-bit, and
 * bad directories give one-line errors. */
#include "config.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "backend/backend.h"
#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"

static mlsae_backend *be;

static void test_load_reference(void)
{
    mlsae_error err;
    mlsae_sae *sae;
    const char *dir = tu_fixture("sae/ckpt_ref");
    int rc = mlsae_ckpt_load(dir, be, &sae, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    const mlsae_sae_config *c = mlsae_sae_get_config(sae);
    CHECK(c->n_inputs == 8 && c->n_latents == 32 && c->k == 4 && c->auxk == 6);
    CHECK(c->dead_steps_threshold == 76 && c->standardize == 1 && fabsf(c->dead_threshold - 1e-3f) < 1e-9f);
    float enc[256], dec[256], bias[8], want[256];
    int64_t ln[32], want_ln[32];
    CHECK(mlsae_sae_get_params(sae, enc, dec, bias, ln, &err) == 0);
    mlsae_safetensors *st;
    CHECK(mlsae_st_open(dir, &st, &err) == 0);
    int64_t s_enc[2] = {32, 8}, s_dec[2] = {8, 32}, s_b[1] = {8}, s_ln[1] = {32};
    CHECK(mlsae_st_read_f32(st, "encoder.weight", 2, s_enc, want, &err) == 0);
    CHECK(memcmp(enc, want, sizeof enc) == 0);
    CHECK(mlsae_st_read_f32(st, "decoder.weight", 2, s_dec, want, &err) == 0);
    CHECK(memcmp(dec, want, sizeof dec) == 0);
    CHECK(mlsae_st_read_f32(st, "pre_encoder_bias", 1, s_b, want, &err) == 0);
    CHECK(memcmp(bias, want, sizeof bias) == 0);
    CHECK(mlsae_st_read_i64(st, "last_nonzero", 1, s_ln, want_ln, &err) == 0);
    CHECK(memcmp(ln, want_ln, sizeof ln) == 0);
    mlsae_st_close(st);
    mlsae_sae_free(sae);

    /* -tfm: prefixed tensors, Lightning hyper-parameters, no last_nonzero */
    dir = tu_fixture("sae/ckpt_ref_tfm");
    int is_tfm = 0;
    mlsae_sae_config cfg;
    rc = mlsae_ckpt_read_config(dir, &cfg, &is_tfm, &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(is_tfm == 1 && cfg.n_inputs == 6 && cfg.n_latents == 24 && cfg.k == 3 && cfg.auxk == 0);
    /* 10,000,000 // (batch 2 * max_length 64 * accumulate 8) */
    CHECK(cfg.dead_steps_threshold == 9765 && cfg.standardize == 0);
    CHECK(cfg.accumulate_grad_batches == 8 && fabsf(cfg.lr - 1e-4f) < 1e-12f);
    rc = mlsae_ckpt_load(dir, be, &sae, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(mlsae_sae_get_params(sae, enc, NULL, bias, ln, &err) == 0);
    CHECK(mlsae_st_open(dir, &st, &err) == 0);
    int64_t t_enc[2] = {24, 6};
    CHECK(mlsae_st_read_f32(st, "autoencoder.encoder.weight", 2, t_enc, want, &err) == 0);
    CHECK(memcmp(enc, want, 24 * 6 * 4) == 0);
    int zeros = 1;
    for (int i = 0; i < 24; i++) zeros &= ln[i] == 0;
    CHECK(zeros);
    mlsae_st_close(st);
    mlsae_sae_free(sae);
}

static int files_equal(const char *a, const char *b)
{
    char *da, *db;
    size_t na, nb;
    mlsae_error err;
    if (mlsae_read_file(a, &da, &na, &err)) return 0;
    if (mlsae_read_file(b, &db, &nb, &err)) {
        free(da);
        return 0;
    }
    int eq = na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

static int dir_entries(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) n += e->d_name[0] != '.';
    closedir(dp);
    return n;
}

static void test_written_format(void)
{
    /* Same configuration and seed as the committed, Python-verified copy. */
    mlsae_sae_config cfg;
    mlsae_sae_config_default(&cfg, 8, 4);
    cfg.k = 4;
    cfg.auxk = 6;
    cfg.dead_steps_threshold = 76;
    mlsae_sae *sae;
    mlsae_error err;
    CHECK(mlsae_sae_create(&cfg, be, 2024, &sae, &err) == 0);
    char out[4096], a[4200], b[4200];
    snprintf(out, sizeof out, "%s/written", tu_tmpdir());
    int rc = mlsae_ckpt_save(sae, out, NULL, &err);
    CHECKF(rc == 0, "%s", err.msg);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", out, files[i]);
        snprintf(b, sizeof b, "%s/%s", tu_fixture("sae/ckpt_c"), files[i]);
        CHECKF(files_equal(a, b), "%s differs from the verified %s", a, b);
    }
    CHECK(dir_entries(out) == 2);
    if (getenv("MLSAE_SAE_WRITE_CKPT_FIXTURE")) /* regenerating the committed copy */
        mlsae_ckpt_save(sae, getenv("MLSAE_SAE_WRITE_CKPT_FIXTURE"), NULL, &err);
    mlsae_sae_free(sae);
}

static void random_batch(float *x, size_t n, uint64_t seed)
{
    tu_rng r = {seed};
    for (size_t i = 0; i < n; i++) x[i] = tu_normal(&r) * (1.0f + (float)(i % 7));
}

static void test_resume(void)
{
    mlsae_sae_config cfg;
    mlsae_sae_config_default(&cfg, 16, 4);
    cfg.k = 5;
    cfg.auxk = 9;
    cfg.dead_steps_threshold = 2;
    cfg.accumulate_grad_batches = 3;
    const int layers = 2, rpl = 7, rows = layers * rpl, d = 16, n = 64;
    mlsae_sae *a, *b;
    mlsae_error err;
    CHECK(mlsae_sae_create(&cfg, be, 5, &a, &err) == 0);
    mlsae_buffer *xb = mlsae_alloc_f32(be, (size_t)rows * d);
    float *x = malloc((size_t)rows * d * 4);
    mlsae_sae_train_metrics m;
    for (int i = 0; i < 4; i++) { /* one Adam step, then one micro-batch pending */
        random_batch(x, (size_t)rows * d, 100 + i);
        be->ops->core.write(be, xb, 0, x, (size_t)rows * d * 4);
        CHECK(mlsae_sae_train_microbatch(a, mlsae_at(xb, 0), layers, rpl, &m, &err) == 0);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/run/ckpt/", tu_tmpdir()); /* parent created, slash ignored */
    uint8_t user[5] = {1, 2, 3, 4, 5};
    mlsae_ckpt_resume res = {4, user, sizeof user};
    int rc = mlsae_ckpt_save(a, dir, &res, &err);
    CHECKF(rc == 0, "%s", err.msg);
    /* saving again replaces it in one step, leaving nothing beside it */
    rc = mlsae_ckpt_save(a, dir, &res, &err);
    CHECKF(rc == 0, "%s", err.msg);
    char parent[4200];
    snprintf(parent, sizeof parent, "%s/run", tu_tmpdir());
    CHECK(dir_entries(parent) == 1);
    CHECK(mlsae_ckpt_has_state(dir));

    rc = mlsae_ckpt_load(dir, be, &b, &err);
    CHECKF(rc == 0, "%s", err.msg);
    if (rc) return;
    mlsae_ckpt_resume_out ro;
    rc = mlsae_ckpt_load_state(b, dir, &ro, &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(ro.data_position == 4 && ro.user_state_len == 5 && memcmp(ro.user_state, user, 5) == 0);
    free(ro.user_state);
    mlsae_sae_counters ca, cb;
    mlsae_sae_get_counters(a, &ca);
    mlsae_sae_get_counters(b, &cb);
    CHECK(ca.step == 1 && cb.step == 1 && cb.micro_batch == 4 && cb.pending == 1 && !cb.bias_pending);
    CHECK(mlsae_sae_get_config(b)->accumulate_grad_batches == 3);
    for (int i = 4; i < 9; i++) {
        random_batch(x, (size_t)rows * d, 100 + i);
        be->ops->core.write(be, xb, 0, x, (size_t)rows * d * 4);
        mlsae_sae_train_metrics ma, mb;
        CHECK(mlsae_sae_train_microbatch(a, mlsae_at(xb, 0), layers, rpl, &ma, &err) == 0);
        CHECK(mlsae_sae_train_microbatch(b, mlsae_at(xb, 0), layers, rpl, &mb, &err) == 0);
        CHECK(ma.loss_total == mb.loss_total && ma.stepped == mb.stepped);
    }
    size_t nd = (size_t)n * d;
    float *pa = malloc(nd * 4 * 2 + d * 4), *pb = malloc(nd * 4 * 2 + d * 4);
    int64_t la[64], lb[64];
    CHECK(mlsae_sae_get_params(a, pa, pa + nd, pa + 2 * nd, la, &err) == 0);
    CHECK(mlsae_sae_get_params(b, pb, pb + nd, pb + 2 * nd, lb, &err) == 0);
    CHECKF(memcmp(pa, pb, (nd * 2 + d) * 4) == 0, "resumed run differs from the uninterrupted one");
    CHECK(memcmp(la, lb, sizeof la) == 0);
    free(pa), free(pb), free(x);
    be->ops->core.free(be, xb);
    mlsae_sae_free(a);
    mlsae_sae_free(b);
}

/* Copy the reference checkpoint to a temp dir with one file replaced. */
static const char *broken_copy(const char *name, const char *config, const char *model_from)
{
    static char dir[4096];
    static int serial;
    snprintf(dir, sizeof dir, "%s/bad%d_%s", tu_tmpdir(), serial++, name);
    mlsae_error err;
    mlsae_mkdir_p(dir, &err);
    char p[4200], *data;
    size_t n;
    snprintf(p, sizeof p, "%s/config.json", dir);
    mlsae_write_file_atomic(p, config, strlen(config), &err);
    if (model_from && mlsae_read_file(model_from, &data, &n, &err) == 0) {
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        mlsae_write_file_atomic(p, data, n, &err);
        free(data);
    }
    return dir;
}

static void expect_error(const char *dir, const char *needle)
{
    mlsae_sae *sae = NULL;
    mlsae_error err = {{0}};
    int rc = mlsae_ckpt_load(dir, be, &sae, &err);
    CHECKF(rc != 0 && sae == NULL, "%s loaded", dir);
    CHECKF(strstr(err.msg, needle) != NULL && strchr(err.msg, '\n') == NULL,
           "error '%s' lacks '%s'", err.msg, needle);
    if (sae) mlsae_sae_free(sae);
}

static void test_bad_input(void)
{
    mlsae_error err;
    char model[4200];
    snprintf(model, sizeof model, "%s/model.safetensors", tu_fixture("sae/ckpt_ref"));
    expect_error(broken_copy("nok", "{\"n_inputs\": 8, \"n_latents\": 32, \"dead_steps_threshold\": 1}", model), "'k' missing");
    expect_error(broken_copy("json", "{\"n_inputs\": 8,", model), "config.json:1");
    expect_error(broken_copy("shape", "{\"n_inputs\": 9, \"n_latents\": 32, \"k\": 4, \"dead_steps_threshold\": 1}", model), "n_inputs = 9");
    expect_error(broken_copy("bigk", "{\"n_inputs\": 8, \"n_latents\": 32, \"k\": 40, \"dead_steps_threshold\": 1}", model), "'k' = 40");
    expect_error(broken_copy("type", "{\"n_inputs\": 8, \"n_latents\": 32, \"k\": \"4\", \"dead_steps_threshold\": 1}", model), "'k' is not an integer");
    expect_error(broken_copy("nomodel", "{}", NULL), "model.safetensors");
    /* a truncated model file */
    const char *dir = broken_copy("trunc", "{\"n_inputs\": 8, \"n_latents\": 32, \"k\": 4, \"dead_steps_threshold\": 1}", model);
    char p[4200], *data;
    size_t n;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (mlsae_read_file(p, &data, &n, &err) == 0) {
        mlsae_write_file_atomic(p, data, 300, &err);
        free(data);
    }
    expect_error(dir, "model.safetensors");
    /* no training state */
    mlsae_sae *sae;
    CHECK(mlsae_ckpt_load(tu_fixture("sae/ckpt_ref"), be, &sae, &err) == 0);
    mlsae_ckpt_resume_out ro;
    CHECK(mlsae_ckpt_load_state(sae, tu_fixture("sae/ckpt_ref"), &ro, &err) != 0);
    CHECK(strstr(err.msg, "training_state.safetensors") != NULL);
    mlsae_sae_free(sae);
}

int main(void)
{
    mlsae_error err;
    mlsae_backend_params params = {0};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_load_reference();
    test_written_format();
    test_resume();
    test_bad_input();
    mlsae_backend_close(be);
    return tu_finish("test_sae_checkpoint");
}
