/* End-to-end parity of the OpenCL backend with the CPU backend on the two
 * computations the program is built from:
 *
 *  1. SAE training (SPEC §4): the same SAE (same initial weights) trained on
 *     the same inputs for 4 micro-batches with accumulate_grad_batches = 2,
 *     i.e. 2 Adam steps, with AuxK active (a short dead-steps threshold) and
 *     the geometric-median bias initialisation on the first micro-batch.
 *     Compared: the losses of every micro-batch, the dead-latent counters
 *     (exactly), and the encoder, decoder and bias after the second step.
 *  2. The GPT-NeoX forward (SPEC §2) of a small random-weight model: hidden
 *     states of every layer, the logits and the per-position cross-entropy.
 *
 * Tolerances, relative to the largest |CPU value| of each tensor:
 *   TOL_FWD 1e-4: the transformer forward (GEMMs, LayerNorm and softmax
 *     reductions summed in a different order; the same bound as the op
 *     sequences of test_backend_ops);
 *   TOL_LOSS 1e-4: the SAE losses (means of squared errors over the batch);
 *   TOL_PARAM 1e-4 on the parameters, and on their change over training: an
 *     Adam step moves a parameter by about lr * m / sqrt(v), which depends
 *     on the gradient's rounding only through the ratio m / sqrt(v): a
 *     relative gradient error of ~1e-6 (float sums of a few hundred terms)
 *     gives an update error far below 1e-4 of the update's size, unless a
 *     gradient element is itself at rounding-noise level (none is here).
 *
 * SKIP (77) when the plugin was not built or no OpenCL device exists. */
#include "config.h"
#include "backend/backend.h"
#include "model/neox.h"
#include "sae/mlsae.h"
#include "opencl_testutil.h"
#include "testutil.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TOL_FWD 1e-4
#define TOL_LOSS 1e-4
#define TOL_PARAM 1e-4

static void check_rel(const char *what, const float *a, const float *ref, size_t n, double tol)
{
    double e = tu_max_rel_err(a, ref, n, 1e-30);
    tu_checks++;
    if (!(e < tol)) {
        tu_failures++;
        fprintf(stderr, "FAIL %s: opencl vs cpu max relative error %.3g >= %.3g\n", what, e, tol);
    } else {
        printf("  %-34s max relative error %.3g (tolerance %.3g)\n", what, e, tol);
    }
}

/* ---- 1. SAE training ---------------------------------------------------- */

enum { SAE_D = 48, SAE_EXP = 4, SAE_K = 8, SAE_AUXK = 16, SAE_LAYERS = 3, SAE_ROWS = 40,
       SAE_MICRO = 4 };

typedef struct {
    float *enc, *dec, *bias;
    int64_t *last;
    double loss_mse[SAE_MICRO], loss_aux[SAE_MICRO];
    int64_t steps;
} sae_result;

static void train_on(mlsae_backend *be, const mlsae_sae_config *cfg, const float *enc0,
                     const float *dec0, const float *const *xs, sae_result *res)
{
    mlsae_error err;
    mlsae_sae *sae = NULL;
    const char *name = be->ops->name;
    size_t nx = (size_t)SAE_LAYERS * SAE_ROWS * SAE_D;
    mlsae_buffer *xb = mlsae_alloc_f32(be, nx);
    CHECKF(xb != NULL, "%s: allocation failed: %s", name, mlsae_backend_error(be));
    if (!xb) return;
    if (mlsae_sae_create(cfg, be, 7, &sae, &err) != 0) {
        CHECKF(0, "%s: mlsae_sae_create: %s", name, err.msg);
        be->ops->core.free(be, xb);
        return;
    }
    /* the same starting point on both backends, whatever the RNG path */
    CHECKF(mlsae_sae_set_params(sae, enc0, dec0, NULL, NULL, &err) == 0, "%s: set_params: %s",
           name, err.msg);
    for (int mb = 0; mb < SAE_MICRO; mb++) {
        mlsae_sae_train_metrics m;
        int rc = be->ops->core.write(be, xb, 0, xs[mb], nx * 4);
        CHECKF(rc == 0, "%s: write: %s", name, mlsae_backend_error(be));
        rc = mlsae_sae_train_microbatch(sae, mlsae_at(xb, 0), SAE_LAYERS, SAE_ROWS, &m, &err);
        CHECKF(rc == 0, "%s: micro-batch %d: %s", name, mb, err.msg);
        res->loss_mse[mb] = m.loss_mse;
        res->loss_aux[mb] = m.loss_aux;
        res->steps = m.step;
    }
    CHECKF(mlsae_sae_get_params(sae, res->enc, res->dec, res->bias, res->last, &err) == 0,
           "%s: get_params: %s", name, err.msg);
    mlsae_sae_free(sae);
    be->ops->core.free(be, xb);
}

static void test_sae_training(mlsae_backend *cpu, mlsae_backend *ocl)
{
    printf("SAE training: d %d, %d latents, k %d, auxk %d, %d layers x %d rows, %d micro-batches"
           ", 2 Adam steps\n",
           SAE_D, SAE_D * SAE_EXP, SAE_K, SAE_AUXK, SAE_LAYERS, SAE_ROWS, SAE_MICRO);
    mlsae_sae_config cfg;
    mlsae_sae_config_default(&cfg, SAE_D, SAE_EXP);
    cfg.k = SAE_K;
    cfg.auxk = SAE_AUXK;
    cfg.accumulate_grad_batches = 2;
    cfg.dead_steps_threshold = 2; /* latents go dead within the run: AuxK is exercised */
    cfg.lr = 1e-3f;
    mlsae_error err;
    CHECKF(mlsae_sae_config_check(&cfg, &err) == 0, "config: %s", err.msg);
    const int nl = SAE_D * SAE_EXP;
    size_t np = (size_t)nl * SAE_D, nx = (size_t)SAE_LAYERS * SAE_ROWS * SAE_D;
    tu_rng rng = {2024};
    /* initial weights as SPEC §4: encoder uniform, decoder = encoder^T, unit columns */
    float *enc0 = malloc(np * 4), *dec0 = malloc(np * 4);
    float bound = 1.0f / sqrtf((float)SAE_D);
    for (size_t i = 0; i < np; i++) enc0[i] = tu_uniform(&rng, -bound, bound);
    for (int u = 0; u < nl; u++) {
        double s = 0;
        for (int c = 0; c < SAE_D; c++) s += (double)enc0[(size_t)u * SAE_D + c] * enc0[(size_t)u * SAE_D + c];
        for (int c = 0; c < SAE_D; c++)
            dec0[(size_t)c * nl + u] = (float)(enc0[(size_t)u * SAE_D + c] / sqrt(s));
    }
    /* inputs: per-layer offsets and scales, like residual streams */
    float *xs[SAE_MICRO];
    for (int mb = 0; mb < SAE_MICRO; mb++) {
        xs[mb] = malloc(nx * 4);
        for (size_t i = 0; i < nx; i++) {
            int layer = (int)(i / ((size_t)SAE_ROWS * SAE_D));
            xs[mb][i] = (1.0f + layer) * tu_normal(&rng) + 0.5f * (float)layer;
        }
    }
    sae_result r[2];
    for (int b = 0; b < 2; b++) {
        r[b].enc = malloc(np * 4);
        r[b].dec = malloc(np * 4);
        r[b].bias = malloc(SAE_D * 4);
        r[b].last = malloc((size_t)nl * sizeof(int64_t));
        r[b].steps = -1;
    }
    train_on(cpu, &cfg, enc0, dec0, (const float *const *)xs, &r[0]);
    train_on(ocl, &cfg, enc0, dec0, (const float *const *)xs, &r[1]);
    CHECKF(r[0].steps == 2 && r[1].steps == 2, "Adam steps: cpu %lld, opencl %lld (want 2)",
           (long long)r[0].steps, (long long)r[1].steps);
    for (int mb = 0; mb < SAE_MICRO; mb++) {
        double e_mse = fabs(r[1].loss_mse[mb] - r[0].loss_mse[mb]) / fabs(r[0].loss_mse[mb]);
        double e_aux = r[0].loss_aux[mb] == 0
                           ? fabs(r[1].loss_aux[mb])
                           : fabs(r[1].loss_aux[mb] - r[0].loss_aux[mb]) / fabs(r[0].loss_aux[mb]);
        CHECKF(e_mse < TOL_LOSS && e_aux < TOL_LOSS,
               "micro-batch %d: loss mse %.9g vs %.9g, auxk %.9g vs %.9g (opencl vs cpu)", mb,
               r[1].loss_mse[mb], r[0].loss_mse[mb], r[1].loss_aux[mb], r[0].loss_aux[mb]);
        printf("  micro-batch %d: loss mse %.7g (rel err %.3g), auxk %.7g (rel err %.3g)\n", mb,
               r[0].loss_mse[mb], e_mse, r[0].loss_aux[mb], e_aux);
    }
    CHECKF(r[0].loss_aux[SAE_MICRO - 1] > 0, "AuxK loss is 0 at the last micro-batch: "
           "no dead latents, the test does not exercise AuxK");
    size_t last_diff = 0;
    int dead = 0;
    for (int u = 0; u < nl; u++) {
        last_diff += r[0].last[u] != r[1].last[u];
        dead += r[0].last[u] >= cfg.dead_steps_threshold;
    }
    CHECKF(last_diff == 0, "last_nonzero differs in %zu of %d latents", last_diff, nl);
    printf("  dead latents at the end: %d of %d (counters equal: %s)\n", dead, nl,
           last_diff ? "no" : "yes");
    check_rel("encoder after 2 Adam steps", r[1].enc, r[0].enc, np, TOL_PARAM);
    check_rel("decoder after 2 Adam steps", r[1].dec, r[0].dec, np, TOL_PARAM);
    check_rel("pre-encoder bias", r[1].bias, r[0].bias, SAE_D, TOL_PARAM);
    /* the change from the initial weights, on its own scale */
    for (size_t i = 0; i < np; i++) {
        r[0].enc[i] -= enc0[i];
        r[1].enc[i] -= enc0[i];
        r[0].dec[i] -= dec0[i];
        r[1].dec[i] -= dec0[i];
    }
    check_rel("encoder change over training", r[1].enc, r[0].enc, np, TOL_PARAM);
    check_rel("decoder change over training", r[1].dec, r[0].dec, np, TOL_PARAM);
    for (int b = 0; b < 2; b++) {
        free(r[b].enc);
        free(r[b].dec);
        free(r[b].bias);
        free(r[b].last);
    }
    for (int mb = 0; mb < SAE_MICRO; mb++) free(xs[mb]);
    free(enc0);
    free(dec0);
}

/* ---- 2. transformer forward ------------------------------------------- */

enum { FW_BATCH = 2, FW_SEQ = 37 };

typedef struct {
    float *hidden, *logits, *ce;
    double mean_ce;
} fwd_result;

static void forward_on(mlsae_backend *be, const char *dir, const int32_t *tokens, int n_layers,
                       int vocab, fwd_result *res)
{
    mlsae_error err;
    mlsae_neox *m = NULL;
    if (mlsae_neox_load(dir, be, 0, &m, &err) != 0) {
        CHECKF(0, "%s: load: %s", be->ops->name, err.msg);
        return;
    }
    int *layers = malloc((size_t)n_layers * sizeof *layers);
    for (int l = 0; l < n_layers; l++) layers[l] = l;
    mlsae_neox_run run;
    memset(&run, 0, sizeof run);
    run.tokens = tokens;
    run.batch = FW_BATCH;
    run.seq = FW_SEQ;
    run.start_layer = -1;
    run.layers = layers;
    run.n_layers = n_layers;
    run.hidden = MLSAE_NOREF;
    run.hidden_host = res->hidden;
    run.logits = MLSAE_NOREF;
    run.logits_host = res->logits;
    run.ce_host = res->ce;
    run.mean_ce = &res->mean_ce;
    CHECKF(mlsae_neox_forward(m, &run, &err) == 0, "%s: forward: %s", be->ops->name, err.msg);
    (void)vocab;
    free(layers);
    mlsae_neox_free(m);
}

static void test_forward(mlsae_backend *cpu, mlsae_backend *ocl)
{
    mlsae_neox_config c;
    mlsae_error err;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/model", tu_tmpdir());
    if (mlsae_neox_config_pythia(&c, 64, 3, 4, 256, 211, &err) != 0 ||
        mlsae_neox_write_random(dir, &c, 99, MLSAE_DT_F32, &err) != 0) {
        CHECKF(0, "random model: %s", err.msg);
        return;
    }
    printf("transformer forward: %d layers, d_model %d, %d heads, vocab %d, batch %d x seq %d\n",
           c.n_layers, c.hidden_size, c.n_heads, c.vocab_size, FW_BATCH, FW_SEQ);
    size_t rows = (size_t)FW_BATCH * FW_SEQ;
    int32_t tokens[FW_BATCH * FW_SEQ];
    tu_rng rng = {77};
    for (size_t i = 0; i < rows; i++) {
        int t = (int)tu_uniform(&rng, 0, (float)c.vocab_size);
        tokens[i] = t < c.vocab_size ? t : c.vocab_size - 1;
    }
    size_t nh = (size_t)c.n_layers * rows * c.hidden_size, nlog = rows * c.vocab_size;
    fwd_result r[2];
    for (int b = 0; b < 2; b++) {
        r[b].hidden = calloc(nh, 4);
        r[b].logits = calloc(nlog, 4);
        r[b].ce = calloc(rows, 4);
        r[b].mean_ce = NAN;
    }
    forward_on(cpu, dir, tokens, c.n_layers, c.vocab_size, &r[0]);
    forward_on(ocl, dir, tokens, c.n_layers, c.vocab_size, &r[1]);
    for (int l = 0; l < c.n_layers; l++) {
        char what[48];
        snprintf(what, sizeof what, "hidden state of layer %d", l);
        size_t per = rows * c.hidden_size;
        check_rel(what, r[1].hidden + l * per, r[0].hidden + l * per, per, TOL_FWD);
    }
    check_rel("logits", r[1].logits, r[0].logits, nlog, TOL_FWD);
    check_rel("cross-entropy per position", r[1].ce, r[0].ce, rows, TOL_FWD);
    double e = fabs(r[1].mean_ce - r[0].mean_ce) / fabs(r[0].mean_ce);
    CHECKF(e < TOL_FWD, "mean cross-entropy: opencl %.8g vs cpu %.8g", r[1].mean_ce, r[0].mean_ce);
    printf("  mean cross-entropy: cpu %.7g, opencl %.7g (ln vocab = %.4g)\n", r[0].mean_ce,
           r[1].mean_ce, log((double)c.vocab_size));
    for (int b = 0; b < 2; b++) {
        free(r[b].hidden);
        free(r[b].logits);
        free(r[b].ce);
    }
}

int main(void)
{
    tu_opencl_or_skip();
    mlsae_error err;
    mlsae_backend_params params = {0};
    params.device_index = 0;
    if (getenv("MLSAE_TEST_OPENCL_DEVICE"))
        params.device_index = atoi(getenv("MLSAE_TEST_OPENCL_DEVICE"));
    char dev[32];
    snprintf(dev, sizeof dev, "opencl:%d", params.device_index);
    mlsae_backend *ocl = NULL, *cpu = NULL;
    if (mlsae_backend_open(dev, &params, &ocl, &err) != 0) {
        fprintf(stderr, "FAIL: a device exists but the backend does not open: %s\n", err.msg);
        return 1;
    }
    if (mlsae_backend_cpu_new(&params, &cpu, &err) != 0) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        mlsae_backend_close(ocl);
        return 1;
    }
    printf("device: %s\n", ocl->ops->describe(ocl));
    test_sae_training(cpu, ocl);
    test_forward(cpu, ocl);
    mlsae_backend_close(ocl);
    mlsae_backend_close(cpu);
    return tu_finish("test_opencl_train");
}
