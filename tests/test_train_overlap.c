/* The training pipeline with the transformer and the SAE on two backends
 * (train/prefetch.h): the SAE on OpenCL, the transformer on the CPU, a
 * batch ahead on its own thread.
 *
 *  1. Overlapped (--device opencl --model_device cpu) against sequential
 *     on one backend (--device opencl --model_device opencl): the SAE side
 *     runs the same ops in the same order; only the transformer differs,
 *     CPU against OpenCL, by float rounding (hidden states agree to ~1e-6
 *     relative, test_opencl_train). Compared, relative to the largest
 *     |value| of each tensor, TOL_PARAM = 1e-5: the trained encoder,
 *     decoder and bias. Input differences of ~1e-6 relative move the
 *     gradients by as much and the Adam updates (at most ~lr = 1e-4 per
 *     step, 6 steps) by as much of their size, far below 1e-5 of the
 *     parameters' scale; a real fault (a batch out of order, a stale or
 *     half-copied buffer) changes the updates themselves, ~1e-4 absolute,
 *     i.e. > 5e-4 of the encoder's scale of 1/sqrt(32). The dead-latent
 *     counters are compared exactly: a rounding difference flips a latent's
 *     firing only at a near-tie with the 1e-3 threshold or the k-th value.
 *     Validation (4 validations with downstream metrics) runs in both.
 *  2. An overlapped run interrupted by SIGINT after 5 micro-batches (when
 *     the transformer thread has pulled the 6th batch already) and resumed
 *     gives the same bytes as the uninterrupted overlapped run: weights,
 *     training state (data position included) and metrics.
 *  3. `mlsae test` on two backends against one backend: loss/total and
 *     FVU within TOL_EVAL = 1e-4 relative (means over the batch of the
 *     same rounding-level differences), the downstream loss delta within
 *     TOL_DELTA = 1e-4 absolute (a difference of two cross-entropies of
 *     ~ln(50304) = 10.8, each rounded at ~1e-6 relative, i.e. ~1e-5).
 *
 * The pure-CPU pipeline (one backend, no thread) is test_train_pipeline.sh.
 * SKIP (77) when the plugin was not built or no OpenCL device exists. */
#include "config.h"
#include "backend/backend.h"
#include "model/neox.h"
#include "sae/checkpoint.h"
#include "sae/mlsae.h"
#include "opencl_testutil.h"
#include "testutil.h"
#include "eval/evaluate.h"
#include "train/trainer.h"

#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOL_PARAM 1e-5
#define TOL_EVAL 1e-4
#define TOL_DELTA 1e-4

static char model_dir[4200], data_path[4200];

/* The run options of test_train_pipeline.sh: 2 layers of d_model 32, 18
 * micro-batches of 2 x 64 tokens, 6 Adam steps of 3, a validation every 6,
 * a checkpoint every 2 steps. */
static int config_for(mlsae_run_config *cfg, const char *device, const char *model_device,
                      const char *out, const char *resume)
{
    char *argv[64];
    int argc = 0;
    const char *fixed[] = {"train", "--model", model_dir, "--data", data_path,
                           "--max_length", "64", "--batch_size", "2", "--expansion_factor", "4",
                           "--k", "8", "--auxk", "16", "--accumulate", "3",
                           "--max_tokens", "2048", "--dead_tokens_threshold", "1000",
                           "--log_every_n_steps", "1", "--val_check_interval", "6",
                           "--limit_val_batches", "1", "--checkpoint_every_n_steps", "2",
                           "--threads", "2", "--device", device, "--model_device", model_device,
                           "--out", out};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) argv[argc++] = (char *)fixed[i];
    if (resume) {
        argv[argc++] = (char *)"--resume";
        argv[argc++] = (char *)resume;
    }
    mlsae_error err;
    if (mlsae_run_config_from_args(cfg, argc, argv, NULL, NULL, &err)) {
        fprintf(stderr, "config: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Stop a run after this many micro-batches (0: never), as Ctrl-C would. */
static int64_t stop_after;
static void on_micro_batch(void *ctx, int64_t done)
{
    (void)ctx;
    if (stop_after > 0 && done == stop_after) raise(SIGINT);
}

static int train(const char *device, const char *model_device, const char *out,
                 const char *resume, mlsae_train_summary *sum)
{
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg || config_for(cfg, device, model_device, out, resume)) {
        free(cfg);
        return -1;
    }
    mlsae_error err;
    mlsae_train_io io = {.on_micro_batch = on_micro_batch};
    int rc = mlsae_train(cfg, &io, sum, &err);
    if (rc) fprintf(stderr, "train %s/%s into %s: %s\n", device, model_device, out, err.msg);
    free(cfg);
    return rc;
}

typedef struct params {
    float *enc, *dec, *bias;
    int64_t *last;
    int n_latents, d;
} params;

static int load_params(mlsae_backend *cpu, const char *sae_dir, params *p)
{
    mlsae_error err;
    mlsae_sae *sae = NULL;
    memset(p, 0, sizeof *p);
    if (mlsae_ckpt_load(sae_dir, cpu, &sae, &err)) {
        fprintf(stderr, "%s: %s\n", sae_dir, err.msg);
        return -1;
    }
    p->n_latents = mlsae_sae_get_config(sae)->n_latents;
    p->d = mlsae_sae_get_config(sae)->n_inputs;
    size_t n = (size_t)p->n_latents * p->d;
    p->enc = malloc(n * sizeof(float));
    p->dec = malloc(n * sizeof(float));
    p->bias = malloc((size_t)p->d * sizeof(float));
    p->last = malloc((size_t)p->n_latents * sizeof(int64_t));
    int rc = !p->enc || !p->dec || !p->bias || !p->last ||
             mlsae_sae_get_params(sae, p->enc, p->dec, p->bias, p->last, &err);
    if (rc) fprintf(stderr, "%s: cannot read the parameters\n", sae_dir);
    mlsae_sae_free(sae);
    return rc ? -1 : 0;
}

static void free_params(params *p)
{
    free(p->enc);
    free(p->dec);
    free(p->bias);
    free(p->last);
}

static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void check_same_file(const char *dir_a, const char *dir_b, const char *rel)
{
    char a[4400], b[4400];
    snprintf(a, sizeof a, "%s/%s", dir_a, rel);
    snprintf(b, sizeof b, "%s/%s", dir_b, rel);
    CHECKF(same_bytes(a, b), "resumed run: %s differs from the uninterrupted run's", rel);
}

static int test_model(const char *device, const char *model_device, const char *sae_dir,
                      const char *csv, mlsae_test_summary *sum)
{
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg || config_for(cfg, device, model_device, "unused", NULL)) {
        free(cfg);
        return -1;
    }
    mlsae_error err;
    int rc = mlsae_test(cfg, sae_dir, csv, NULL, sum, &err);
    if (rc) fprintf(stderr, "test %s/%s: %s\n", device, model_device, err.msg);
    free(cfg);
    return rc;
}

int main(void)
{
    tu_opencl_or_skip();
    const char *srcdir = getenv("MLSAE_TEST_SRCDIR");
    if (!srcdir) tu_skip("MLSAE_TEST_SRCDIR is not set (run through make check)");
    snprintf(data_path, sizeof data_path, "%s/../data/tinyshakespeare.jsonl.zst", srcdir);
    const char *tmp = tu_tmpdir();
    snprintf(model_dir, sizeof model_dir, "%s/model", tmp);

    mlsae_error err;
    mlsae_neox_config mc;
    tu_small_neox_config(&mc, 32, 64, 2048);
    if (mlsae_neox_config_validate(&mc, "test", &err) ||
        mlsae_neox_write_random(model_dir, &mc, 7, MLSAE_DT_F32, &err)) {
        fprintf(stderr, "cannot write the model: %s\n", err.msg);
        return 1;
    }

    char out_ovl[4400], out_seq[4400], out_int[4400];
    snprintf(out_ovl, sizeof out_ovl, "%s/overlapped", tmp);
    snprintf(out_seq, sizeof out_seq, "%s/sequential", tmp);
    snprintf(out_int, sizeof out_int, "%s/interrupted", tmp);

    /* 1. overlapped against sequential */
    printf("1. --device opencl --model_device cpu (overlapped) against opencl/opencl\n");
    mlsae_train_summary ovl, seq;
    if (train("opencl", "cpu", out_ovl, NULL, &ovl) ||
        train("opencl", "opencl", out_seq, NULL, &seq))
        return 1;
    CHECKF(ovl.overlapped == 1, "opencl + cpu did not run the transformer on its own thread");
    CHECKF(seq.overlapped == 0, "opencl + opencl ran a transformer thread");
    CHECKF(ovl.micro_batches == 18 && seq.micro_batches == 18 && ovl.steps == 6 && seq.steps == 6,
           "micro-batches %lld / %lld, steps %lld / %lld (expected 18 and 6)",
           (long long)ovl.micro_batches, (long long)seq.micro_batches, (long long)ovl.steps,
           (long long)seq.steps);
    CHECKF(ovl.tokens == seq.tokens, "tokens %llu vs %llu", (unsigned long long)ovl.tokens,
           (unsigned long long)seq.tokens);
    mlsae_backend *cpu = NULL;
    mlsae_backend_params bp = {0};
    if (mlsae_backend_cpu_new(&bp, &cpu, &err)) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    params po, ps;
    if (load_params(cpu, ovl.sae_dir, &po) || load_params(cpu, seq.sae_dir, &ps)) return 1;
    size_t n = (size_t)ps.n_latents * ps.d;
    CHECK_REL(po.enc, ps.enc, n, TOL_PARAM, "encoder");
    CHECK_REL(po.dec, ps.dec, n, TOL_PARAM, "decoder");
    CHECK_REL(po.bias, ps.bias, (size_t)ps.d, TOL_PARAM, "pre_encoder_bias");
    int last_equal = memcmp(po.last, ps.last, (size_t)ps.n_latents * sizeof(int64_t)) == 0;
    CHECKF(last_equal, "the dead-latent counters differ");
    if (last_equal) printf("  last_nonzero: equal\n");
    double loss_rel = fabs(ovl.last_loss - seq.last_loss) / fabs(seq.last_loss);
    CHECKF(loss_rel < TOL_EVAL, "last loss %.9g vs %.9g", ovl.last_loss, seq.last_loss);

    /* 2. interrupted and resumed, overlapped: the same bytes */
    printf("2. overlapped, interrupted after 5 micro-batches and resumed\n");
    mlsae_train_summary i1, i2;
    stop_after = 5;
    int rc = train("opencl", "cpu", out_int, NULL, &i1);
    stop_after = 0;
    CHECKF(rc == 0 && i1.interrupted && i1.micro_batches == 5,
           "interrupted run: rc %d, interrupted %d, micro-batches %lld", rc, i1.interrupted,
           (long long)i1.micro_batches);
    char ckpt[4500];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoints/last", out_int);
    rc = train("opencl", "cpu", out_int, ckpt, &i2);
    CHECKF(rc == 0 && !i2.interrupted && i2.micro_batches == 18,
           "resumed run: rc %d, %lld micro-batches", rc, (long long)i2.micro_batches);
    if (rc == 0) {
        char rel[1200];
        snprintf(rel, sizeof rel, "%s/model.safetensors", strrchr(ovl.sae_dir, '/') + 1);
        check_same_file(out_ovl, out_int, rel);
        check_same_file(out_ovl, out_int, "checkpoints/last/training_state.safetensors");
        check_same_file(out_ovl, out_int, "checkpoints/last/model.safetensors");
        check_same_file(out_ovl, out_int, "metrics.jsonl");
        printf("  weights, training state and metrics: compared byte for byte\n");
    }

    /* 3. mlsae test with the transformer on the CPU and the SAE on OpenCL */
    printf("3. mlsae test, opencl + cpu against opencl + opencl\n");
    char csv_a[4400], csv_b[4400];
    snprintf(csv_a, sizeof csv_a, "%s/test_a.csv", tmp);
    snprintf(csv_b, sizeof csv_b, "%s/test_b.csv", tmp);
    mlsae_test_summary ta, tb;
    if (test_model("opencl", "cpu", seq.sae_dir, csv_a, &ta) ||
        test_model("opencl", "opencl", seq.sae_dir, csv_b, &tb))
        return 1;
    CHECKF(ta.batches == tb.batches && ta.batches > 0, "test batches %lld vs %lld",
           (long long)ta.batches, (long long)tb.batches);
    double e_loss = fabs(ta.loss_total - tb.loss_total) / fabs(tb.loss_total);
    double e_fvu = fabs(ta.fvu_avg - tb.fvu_avg) / fabs(tb.fvu_avg);
    double e_delta = fabs(ta.loss_delta_avg - tb.loss_delta_avg);
    CHECKF(e_loss < TOL_EVAL, "test loss/total %.9g vs %.9g", ta.loss_total, tb.loss_total);
    CHECKF(e_fvu < TOL_EVAL, "test fvu %.9g vs %.9g", ta.fvu_avg, tb.fvu_avg);
    CHECKF(e_delta < TOL_DELTA, "test loss delta %.9g vs %.9g", ta.loss_delta_avg,
           tb.loss_delta_avg);
    printf("  loss/total rel %.3g, fvu rel %.3g (< %.0e); loss delta abs %.3g (< %.0e)\n", e_loss,
           e_fvu, TOL_EVAL, e_delta, TOL_DELTA);

    free_params(&po);
    free_params(&ps);
    mlsae_backend_close(cpu);
    return tu_finish("test_train_overlap");
}
