/* What a checkpoint or training state may hold is validated on load, and
 * never written when loading would refuse it (src/sae/validate.h); the
 * geometric median of coincident points is that point. */
#include "config.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "sae/checkpoint.h"
#include "sae/geomedian.h"
#include "sae/validate.h"
#include "sae/mlsae.h"
#include "train/train_state.h"

static mlsae_backend *be;

static void test_geomedian(void)
{
    mlsae_error err;
    float pts[5 * 3], out[3];
    /* all zero: the median is 0, not NaN */
    memset(pts, 0, sizeof pts);
    CHECK(mlsae_geometric_median(pts, 5, 3, 100, 1e-5, out, &err) >= 0);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0);
    /* coincident non-zero points: exactly that point */
    for (int i = 0; i < 5; i++) pts[3 * i] = 0.1f, pts[3 * i + 1] = -3.7f, pts[3 * i + 2] = 1e-30f;
    CHECK(mlsae_geometric_median(pts, 5, 3, 100, 1e-5, out, &err) >= 0);
    CHECK(out[0] == 0.1f && out[1] == -3.7f && out[2] == 1e-30f);
    /* one point */
    CHECK(mlsae_geometric_median(pts, 1, 3, 100, 1e-5, out, &err) >= 0 && out[1] == -3.7f);
    /* non-finite: an error naming the vector and element */
    pts[3 * 2 + 1] = NAN;
    CHECK(mlsae_geometric_median(pts, 5, 3, 100, 1e-5, out, &err) == -1);
    CHECKF(strstr(err.msg, "vector 2, element 1"), "%s", err.msg);
    pts[3 * 2 + 1] = -INFINITY;
    CHECK(mlsae_geometric_median(pts, 5, 3, 100, 1e-5, out, &err) == -1);
}

static const char *state_meta[] = {"format", "counters", "accumulate_grad_batches", "auxk_coef",
                                   "lr", "beta1", "beta2", "eps"};

/* Copy the safetensors file src to dst with element `at` of tensor `name`
 * set to f (a float tensor) or i (an I64 one). */
static void rewrite(const char *src, const char *dst, const char *name, size_t at, float f,
                    int64_t i)
{
    mlsae_error err;
    mlsae_safetensors *st;
    if (mlsae_st_open(src, &st, &err)) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    mlsae_st_writer *w = mlsae_st_writer_new();
    void *copy = NULL;
    for (size_t k = 0; k < mlsae_st_count(st); k++) {
        const mlsae_st_tensor *t = mlsae_st_at(st, k);
        const void *data = t->data;
        if (strcmp(t->name, name) == 0) {
            copy = malloc(t->nbytes);
            memcpy(copy, t->data, t->nbytes);
            if (t->dtype == MLSAE_DT_F32) ((float *)copy)[at] = f;
            else ((int64_t *)copy)[at] = i;
            data = copy;
        }
        CHECK(mlsae_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, data, &err) == 0);
    }
    for (size_t k = 0; k < sizeof state_meta / sizeof *state_meta; k++)
        if (mlsae_st_metadata(st, state_meta[k]))
            mlsae_st_writer_metadata(w, state_meta[k], mlsae_st_metadata(st, state_meta[k]), &err);
    CHECKF(copy != NULL, "no tensor %s in %s", name, src);
    CHECK(mlsae_st_writer_save(w, dst, &err) == 0);
    mlsae_st_writer_free(w);
    free(copy);
    mlsae_st_close(st);
}

static void copy_file(const char *src, const char *dst)
{
    char *text;
    size_t n;
    mlsae_error err;
    CHECK(mlsae_read_file(src, &text, &n, &err) == 0);
    CHECK(mlsae_write_file_atomic(dst, text, n, &err) == 0);
    free(text);
}

/* A copy of good/ as bad/ with one value of one file changed; loading it
 * (with the state when `state`) must fail naming the tensor. */
static void expect_refused(const char *good, const char *file, const char *name, size_t at,
                           float f, int64_t i, const char *needle)
{
    char bad[4096], a[4200], b[4200];
    snprintf(bad, sizeof bad, "%s/bad", tu_tmpdir());
    mlsae_error err;
    CHECK(mlsae_mkdir_p(bad, &err) == 0);
    const char *files[] = {"config.json", "model.safetensors", "training_state.safetensors"};
    for (int k = 0; k < 3; k++) {
        snprintf(a, sizeof a, "%s/%s", good, files[k]);
        snprintf(b, sizeof b, "%s/%s", bad, files[k]);
        if (strcmp(files[k], file) == 0) rewrite(a, b, name, at, f, i);
        else copy_file(a, b);
    }
    mlsae_sae *sae = NULL;
    int rc = mlsae_ckpt_load(bad, be, &sae, &err);
    if (rc == 0) {
        mlsae_ckpt_resume_out ro;
        rc = mlsae_ckpt_load_state(sae, bad, &ro, &err);
        if (rc == 0) free(ro.user_state);
        mlsae_sae_free(sae);
    }
    CHECKF(rc == -1, "%s with %s[%zu] changed loaded", file, name, at);
    CHECKF(strstr(err.msg, needle) && strstr(err.msg, file), "%s: '%s' lacks '%s'", name,
           err.msg, needle);
    printf("  %s[%zu] -> %s\n", name, at, err.msg);
}

static void test_checkpoint(void)
{
    mlsae_sae_config cfg;
    mlsae_sae_config_default(&cfg, 8, 2);
    cfg.k = 3;
    cfg.auxk = 4;
    cfg.accumulate_grad_batches = 2;
    mlsae_sae *sae;
    mlsae_error err;
    CHECK(mlsae_sae_create(&cfg, be, 7, &sae, &err) == 0);
    /* one micro-batch so that moments, gradients and counters are non-trivial */
    const int rows = 6, d = 8;
    float x[6 * 8];
    tu_rng r = {11};
    for (int i = 0; i < rows * d; i++) x[i] = tu_normal(&r);
    mlsae_buffer *xb = mlsae_alloc_f32(be, (size_t)rows * d);
    CHECK(be->ops->core.write(be, xb, 0, x, sizeof x) == 0);
    for (int s = 0; s < 3; s++)
        CHECKF(mlsae_sae_train_microbatch(sae, mlsae_at(xb, 0), 2, 3, NULL, &err) == 0, "%s",
               err.msg);
    char good[4096];
    snprintf(good, sizeof good, "%s/good", tu_tmpdir());
    mlsae_ckpt_resume res = {3, NULL, 0};
    CHECKF(mlsae_ckpt_save(sae, good, &res, &err) == 0, "%s", err.msg);

    expect_refused(good, "model.safetensors", "encoder.weight", 5, NAN, 0, "'encoder.weight' has a non-finite");
    expect_refused(good, "model.safetensors", "decoder.weight", 0, INFINITY, 0, "non-finite");
    expect_refused(good, "model.safetensors", "pre_encoder_bias", 7, NAN, 0, "'pre_encoder_bias'");
    expect_refused(good, "model.safetensors", "last_nonzero", 2, 0, -4, "'last_nonzero' has a negative");
    expect_refused(good, "training_state.safetensors", "adam.encoder.weight.exp_avg_sq", 3, -1e-8f, 0,
                   "negative value (-1e-08) at element 3 (an Adam second moment");
    expect_refused(good, "training_state.safetensors", "adam.pre_encoder_bias.exp_avg_sq", 0, NAN, 0,
                   "non-finite");
    expect_refused(good, "training_state.safetensors", "adam.decoder.weight.exp_avg", 1, -INFINITY, 0,
                   "non-finite");
    expect_refused(good, "training_state.safetensors", "grad.decoder.weight", 9, NAN, 0, "non-finite");
    expect_refused(good, "training_state.safetensors", "counters", 0, 0, 99, "'step' = 99 exceeds");
    expect_refused(good, "training_state.safetensors", "counters", 3, 0, 7, "'bias_pending'");
    expect_refused(good, "training_state.safetensors", "counters", 4, 0, -1, "'data_position'");

    /* the pipeline's state and the SAE's data position must agree */
    {
        mlsae_train_state ts;
        memset(&ts, 0, sizeof ts);
        ts.micro_batches = 4;
        uint8_t bytes[MLSAE_TRAIN_STATE_BYTES];
        mlsae_train_state_encode(&ts, bytes);
        mlsae_ckpt_resume r3 = {3, bytes, sizeof bytes};
        char odd[4096];
        snprintf(odd, sizeof odd, "%s/odd", tu_tmpdir());
        CHECK(mlsae_ckpt_save(sae, odd, &r3, &err) == 0);
        mlsae_sae *s2 = NULL;
        mlsae_train_state got;
        CHECK(mlsae_train_checkpoint_load(odd, be, &s2, &got, &err) == -1 && s2 == NULL);
        CHECKF(strstr(err.msg, "counts 4 micro-batches, the training state 3"), "%s", err.msg);
        mlsae_ckpt_resume r4 = {4, bytes, sizeof bytes};
        CHECK(mlsae_ckpt_save(sae, odd, &r4, &err) == 0);
        CHECKF(mlsae_train_checkpoint_load(odd, be, &s2, &got, &err) == 0, "%s", err.msg);
        mlsae_sae_free(s2);
    }

    /* weights gone non-finite: the save refuses and the checkpoint there stays */
    char before[4200], *text0, *text1;
    size_t n0, n1;
    snprintf(before, sizeof before, "%s/model.safetensors", good);
    CHECK(mlsae_read_file(before, &text0, &n0, &err) == 0);
    float enc[16 * 8], dec[16 * 8], bias[8];
    int64_t ln[16];
    CHECK(mlsae_sae_get_params(sae, enc, dec, bias, ln, &err) == 0);
    dec[17] = NAN;
    CHECK(mlsae_sae_set_params(sae, enc, dec, bias, ln, &err) == 0);
    CHECK(mlsae_ckpt_save(sae, good, &res, &err) == -1);
    CHECKF(strstr(err.msg, "not writing the checkpoint") && strstr(err.msg, "'decoder.weight'"),
           "%s", err.msg);
    CHECK(mlsae_read_file(before, &text1, &n1, &err) == 0);
    CHECK(n0 == n1 && memcmp(text0, text1, n0) == 0);
    free(text0);
    free(text1);
    /* and the next micro-batch stops on the non-finite loss */
    CHECK(mlsae_sae_train_microbatch(sae, mlsae_at(xb, 0), 2, 3, NULL, &err) == -1);
    CHECKF(strstr(err.msg, "micro-batch 3: non-finite loss"), "%s", err.msg);
    be->ops->core.free(be, xb);
    mlsae_sae_free(sae);
}

/* mlsae_validate_f32 says why a negative value is wrong in the caller's
 * words, and accepts negatives when the caller does not ask for >= 0. */
static void test_nonneg_message(void)
{
    const float x[3] = {1.0f, -2.0f, 3.0f};
    mlsae_error err;
    CHECK(mlsae_validate_f32("f.safetensors", "counts", x, 3, NULL, &err) == 0);
    CHECK(mlsae_validate_f32("f.safetensors", "counts", x, 3, "a count is >= 0", &err) != 0);
    CHECKF(strstr(err.msg, "f.safetensors: tensor 'counts' has a negative value (-2) at element 1 "
                           "(a count is >= 0)") != NULL && !strstr(err.msg, "second moment"),
           "message: %s", err.msg);
}

int main(void)
{
    mlsae_error err;
    mlsae_backend_params params = {0};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_geomedian();
    test_checkpoint();
    test_nonneg_message();
    mlsae_backend_close(be);
    return tu_finish("test_sae_validate");
}
