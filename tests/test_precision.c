/* Mixed precision against float32 on the demo's model and data (SPEC §13,
 * doc/precision.md).
 *
 * The demo's random-weight model (4 layers, d_model 128) and Shakespeare
 * split; every layer's residual stream of N_TRAIN batches of the training
 * data (the demo's batch 2 x 256 tokens), computed by the transformer in
 * float32 and in bf16-mixed, and two SAEs with the demo's configuration (x8,
 * k 16, auxk 64, accumulation 4) and the same seed trained on the same
 * micro-batches, one under precision 32 on the float32 activations and one
 * under bf16-mixed on the bf16-mixed ones (as `mlsae train --precision`
 * runs). dead_steps_threshold is DEAD_STEPS micro-batches (the demo's is
 * 97, beyond this short run) so that latents die and AuxK takes part. Then,
 * on a fixed batch of the test split:
 *   - mean FVU over the layers and loss/total (MSE + AuxK) of the two
 *     trained SAEs agree within TOL_REL relative, both evaluated in float32
 *     on the float32 activations, and also with the bf16-mixed SAE evaluated
 *     in bf16-mixed on the bf16-mixed activations (end to end),
 *   - the dead fractions after training agree within TOL_DEAD absolute;
 * and the float32-trained SAE's TopK index sets on that batch under
 * bf16-mixed (and 16-mixed) agree with its float32 ones on at least
 * MIN_AGREE of the (row, latent) entries.
 *
 * The tolerances are the issue's: 1% relative on FVU and loss, 99% of the
 * TopK entries; one latent in 100 for the dead fraction. */
#include "config.h"
#include "backend/lowp.h"
#include "dataset/loader.h"
#include "model/neox.h"
#include "demo/demo.h"
#include "pipeline/session.h"
#include "pipeline/stream.h"
#include "sae/mlsae.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TRAIN 32
#define DEAD_STEPS 3
#define TOL_REL 0.01
#define TOL_DEAD 0.01
#define MIN_AGREE 0.99

typedef struct result {
    double fvu, loss, dead;
} result;

/* n_batches batches of every selected layer's activations of `path`, into
 * host memory [n_batches][n_layers, batch, seq, d]. */
static float *activations(mlsae_session *s, const mlsae_run_config *cfg, const char *path,
                          int n_batches, size_t per_batch)
{
    mlsae_error err;
    mlsae_run_config *c = malloc(sizeof *c);
    if (!c) TU_DIE("out of memory");
    *c = *cfg;
    snprintf(c->data.path, sizeof c->data.path, "%s", path);
    mlsae_loader *loader;
    int bad = mlsae_stream_open_loader(c, s, NULL, &loader, &err);
    free(c);
    if (bad) TU_DIE("%s", err.msg);
    float *x = malloc((size_t)n_batches * per_batch * sizeof *x);
    if (!x) TU_DIE("out of memory");
    mlsae_batch b;
    for (int i = 0; i < n_batches; i++) {
        int got = mlsae_loader_next(loader, &b, &err);
        if (got < 0) TU_DIE("%s", err.msg);
        if (got == 0 || b.rows != (size_t)cfg->data.batch_size)
            TU_DIE("%s: fewer than %d full batches", path, n_batches);
        if (mlsae_session_activations_host(s, b.ids, (int)b.rows, (int)cfg->data.max_length,
                                           x + (size_t)i * per_batch, &err))
            TU_DIE("%s", err.msg);
    }
    mlsae_loader_close(loader);
    return x;
}

static void upload(mlsae_backend *be, mlsae_buffer *buf, const float *x, size_t n)
{
    if (be->ops->core.write(be, buf, 0, x, n * 4)) TU_DIE("write: %s", mlsae_backend_error(be));
}

static void set_precision(mlsae_sae *sae, mlsae_precision p)
{
    mlsae_error err;
    mlsae_sae_config c = *mlsae_sae_get_config(sae);
    c.precision = p;
    if (mlsae_sae_set_config(sae, &c, &err)) TU_DIE("%s", err.msg);
}

/* TopK indices [rows, k] of the evaluation forward under precision p. */
static void topk_indices(mlsae_sae *sae, mlsae_precision p, mlsae_ref x, int n_layers, int rpl,
                         int32_t *out)
{
    mlsae_error err;
    set_precision(sae, p);
    mlsae_sae_forward_out fo;
    if (mlsae_sae_forward(sae, x, n_layers, rpl, &fo, NULL, &err)) TU_DIE("%s", err.msg);
    mlsae_backend *be = mlsae_sae_backend(sae);
    if (be->ops->core.read(be, fo.indices.buf, fo.indices.off * 4, out,
                           (size_t)fo.rows * fo.k * 4))
        TU_DIE("read: %s", mlsae_backend_error(be));
}

/* Fraction of (row, latent) entries of a's TopK sets also in b's. */
static double agreement(const int32_t *a, const int32_t *b, int rows, int k)
{
    size_t same = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < k; i++) {
            int32_t v = a[(size_t)r * k + i];
            for (int j = 0; j < k; j++)
                if (b[(size_t)r * k + j] == v) {
                    same++;
                    break;
                }
        }
    return (double)same / ((double)rows * k);
}

int main(void)
{
    mlsae_error err;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/demo", tu_tmpdir());
    mlsae_demo_options opt = {0};
    opt.out_dir = dir;
    opt.threads = 2;
    mlsae_demo_summary sum;
    if (mlsae_demo_prepare(&opt, NULL, &sum, &err)) TU_DIE("demo: %s", err.msg);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    mlsae_demo_run_config(cfg, &opt, &sum);
    mlsae_session s;
    if (mlsae_session_open(&s, cfg, 0, &err)) TU_DIE("%s", err.msg);
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    const int nl = s.n_layers, rpl = batch * seq, d = s.d_model;
    const size_t per_batch = (size_t)nl * rpl * d;
    float *train[2], *test[2];
    for (int p = 0; p < 2; p++) { /* the transformer in float32, then in bf16-mixed */
        if (mlsae_neox_set_precision(s.model, p ? MLSAE_LOWP_BF16 : 0, &err)) TU_DIE("%s", err.msg);
        train[p] = activations(&s, cfg, sum.train_data, N_TRAIN, per_batch);
        test[p] = activations(&s, cfg, sum.test_data, 1, per_batch);
    }
    mlsae_backend *be = s.sae_be;
    mlsae_buffer *x = mlsae_alloc_f32(be, per_batch);
    if (!x) TU_DIE("out of memory");

    mlsae_sae_config sc;
    mlsae_sae_config_default(&sc, d, (int)cfg->autoencoder.expansion_factor);
    sc.k = (int)cfg->autoencoder.k;
    sc.auxk = (int)cfg->autoencoder.auxk;
    sc.lr = (float)cfg->autoencoder.lr;
    sc.accumulate_grad_batches = (int)cfg->trainer.accumulate_grad_batches;
    sc.dead_steps_threshold = DEAD_STEPS;
    const mlsae_precision precs[2] = {MLSAE_PRECISION_32, MLSAE_PRECISION_BF16_MIXED};
    result res[2];
    double fvu_e2e = 0;
    mlsae_sae *sae[2];
    for (int p = 0; p < 2; p++) {
        sc.precision = precs[p];
        if (mlsae_sae_create(&sc, be, (uint64_t)cfg->seed, &sae[p], &err)) TU_DIE("%s", err.msg);
        mlsae_sae_train_metrics m;
        for (int i = 0; i < N_TRAIN; i++) {
            upload(be, x, train[p] + (size_t)i * per_batch, per_batch);
            if (mlsae_sae_train_microbatch(sae[p], mlsae_at(x, 0), nl, rpl, &m, &err))
                TU_DIE("%s", err.msg);
        }
        if (mlsae_sae_flush_step(sae[p], NULL, &err)) TU_DIE("%s", err.msg);
        res[p].dead = m.dead_fraction;
        mlsae_sae_forward_out fo;
        mlsae_sae_layer_metrics lm[MLSAE_CONFIG_MAX_LAYERS];
        double mse, aux;
        if (p) { /* end to end: its own precision on its own activations */
            upload(be, x, test[1], per_batch);
            if (mlsae_sae_forward(sae[p], mlsae_at(x, 0), nl, rpl, &fo, lm, &err))
                TU_DIE("%s", err.msg);
            for (int l = 0; l < nl; l++) fvu_e2e += lm[l].fvu / nl;
        }
        /* the trained SAE on the test batch, in float32 */
        set_precision(sae[p], MLSAE_PRECISION_32);
        upload(be, x, test[0], per_batch);
        if (mlsae_sae_forward(sae[p], mlsae_at(x, 0), nl, rpl, &fo, lm, &err)) TU_DIE("%s", err.msg);
        res[p].fvu = 0;
        for (int l = 0; l < nl; l++) res[p].fvu += lm[l].fvu / nl;
        if (mlsae_sae_test_forward(sae[p], mlsae_at(x, 0), nl, rpl, &fo, &mse, &aux, &err))
            TU_DIE("%s", err.msg);
        res[p].loss = mse + aux;
        printf("%-10s: test FVU %.6f, test loss %.6f, dead fraction after training %.4f "
               "(%s)\n",
               mlsae_precision_name(precs[p]), res[p].fvu, res[p].loss, res[p].dead,
               p ? mlsae_lowp_describe(be, MLSAE_LOWP_BF16) : "float32");
    }
    double rel_fvu = fabs(res[1].fvu - res[0].fvu) / res[0].fvu;
    double rel_loss = fabs(res[1].loss - res[0].loss) / res[0].loss;
    double abs_dead = fabs(res[1].dead - res[0].dead);
    double rel_e2e = fabs(fvu_e2e - res[0].fvu) / res[0].fvu;
    printf("bf16-mixed end to end (transformer, encoder): test FVU %.6f, %.3g relative to 32's\n",
           fvu_e2e, rel_e2e);
    CHECKF(rel_e2e <= TOL_REL, "end-to-end FVU: %g vs %g", fvu_e2e, res[0].fvu);
    printf("bf16-mixed vs 32: FVU %.3g relative (tolerance %g), loss %.3g relative (%g), "
           "dead fraction %.3g absolute (%g)\n",
           rel_fvu, TOL_REL, rel_loss, TOL_REL, abs_dead, TOL_DEAD);
    CHECKF(res[0].fvu > 0 && res[0].fvu < 1, "float32 training did not learn: FVU %g",
           res[0].fvu);
    CHECKF(rel_fvu <= TOL_REL, "FVU: %g vs %g", res[1].fvu, res[0].fvu);
    CHECKF(rel_loss <= TOL_REL, "loss: %g vs %g", res[1].loss, res[0].loss);
    CHECKF(abs_dead <= TOL_DEAD, "dead fraction: %g vs %g", res[1].dead, res[0].dead);
    CHECKF(res[0].dead > 0, "no latent died: the AuxK path was not exercised");

    /* TopK index sets of the float32-trained SAE on the test batch */
    const int rows = nl * rpl, k = sc.k;
    int32_t *i32 = malloc((size_t)rows * k * sizeof *i32), *ilow = malloc((size_t)rows * k * 4);
    upload(be, x, test[0], per_batch);
    topk_indices(sae[0], MLSAE_PRECISION_32, mlsae_at(x, 0), nl, rpl, i32);
    const mlsae_precision lows[2] = {MLSAE_PRECISION_BF16_MIXED, MLSAE_PRECISION_16_MIXED};
    for (int p = 0; p < 2; p++) {
        topk_indices(sae[0], lows[p], mlsae_at(x, 0), nl, rpl, ilow);
        double a = agreement(i32, ilow, rows, k);
        printf("TopK sets under %s vs 32: %.4f of %d x %d entries agree (at least %g)\n",
               mlsae_precision_name(lows[p]), a, rows, k, MIN_AGREE);
        CHECKF(a >= MIN_AGREE, "%s TopK agreement %g", mlsae_precision_name(lows[p]), a);
    }
    free(i32);
    free(ilow);
    for (int p = 0; p < 2; p++) mlsae_sae_free(sae[p]);
    be->ops->core.free(be, x);
    for (int p = 0; p < 2; p++) free(train[p]), free(test[p]);
    mlsae_session_close(&s);
    free(cfg);
    return tu_finish("test_precision");
}
