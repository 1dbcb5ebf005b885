/* The downstream metrics (eval/downstream.h) with the true path computed
 * once per batch give the same numbers, bit for bit, as with the true path
 * computed per layer (the reference's way), on the demo's model and test
 * split, with skip_special_tokens on (batches that contain an EOS are
 * masked, so they take the per-layer path) and off (every batch shares),
 * and under bf16-mixed (the transformer's products from bf16 inputs).
 * The "pred" input is the residual scaled by 0.75 (any input other than the
 * true residual does: only the true path is shared). Exact equality is the
 * tolerance: the shared path runs the same kernels on the same values. */
#include "config.h"
#include "dataset/loader.h"
#include "demo/demo.h"
#include "eval/downstream.h"
#include "pipeline/session.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BATCHES 3

static int has_special(const mlsae_session *s, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < s->n_special; j++)
            if (ids[i] == s->special[j]) return 1;
    return 0;
}

static void run(mlsae_run_config *cfg, int skip)
{
    mlsae_error err;
    cfg->autoencoder.skip_special_tokens = skip;
    mlsae_session s;
    if (mlsae_session_open(&s, cfg, 1, &err)) TU_DIE("%s", err.msg);
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    mlsae_eval_buffers eb = {0};
    mlsae_downstream *shared, *per_layer;
    if (mlsae_eval_buffers_init(&eb, &s, batch, seq, NULL, &err) ||
        mlsae_downstream_new(&s, batch, seq, &shared, &err) ||
        mlsae_downstream_new(&s, batch, seq, &per_layer, &err))
        TU_DIE("%s", err.msg);
    mlsae_downstream_set_per_layer_true(per_layer, 1);
    mlsae_backend *be = s.be;
    mlsae_buffer *pred = mlsae_alloc_f32(be, eb.n);
    const char *sources[1] = {cfg->data.path};
    mlsae_loader_config lc = {0};
    lc.sources = sources;
    lc.n_sources = 1;
    lc.tok = s.tok;
    lc.seq.max_length = (size_t)seq;
    lc.seq.batch_size = (size_t)batch;
    mlsae_loader *loader;
    if (!pred || mlsae_loader_open(&lc, &loader, &err)) TU_DIE("%s", err.msg);
    int expect_shared = 0;
    for (int bi = 0; bi < N_BATCHES; bi++) {
        mlsae_batch b;
        int got = mlsae_loader_next(loader, &b, &err);
        if (got <= 0) TU_DIE("test data: fewer than %d batches (%s)", N_BATCHES, err.msg);
        const int rows = (int)b.rows;
        expect_shared += !(skip && has_special(&s, b.ids, (size_t)rows * seq));
        mlsae_ref x = mlsae_at(eb.x_model, 0);
        if (mlsae_eval_activations(&eb, b.ids, rows, seq, &err)) TU_DIE("%s", err.msg);
        if (be->ops->core.copy(be, mlsae_at(pred, 0), x, eb.n) ||
            be->ops->core.axpby(be, eb.n, 0.0f, x, 0.75f, mlsae_at(pred, 0)))
            TU_DIE("%s", mlsae_backend_error(be));
        mlsae_downstream_layer a[MLSAE_CONFIG_MAX_LAYERS], r[MLSAE_CONFIG_MAX_LAYERS];
        if (mlsae_downstream_batch(shared, x, mlsae_at(pred, 0), b.ids, rows, seq, a, &err) ||
            mlsae_downstream_batch(per_layer, x, mlsae_at(pred, 0), b.ids, rows, seq, r, &err))
            TU_DIE("%s", err.msg);
        for (int l = 0; l < s.n_layers; l++)
            CHECKF(memcmp(&a[l], &r[l], sizeof a[l]) == 0,
                   "skip_special %d batch %d layer %d: loss_true %.17g vs %.17g, delta %.17g vs "
                   "%.17g, logit_mse %.17g vs %.17g, kl %.17g vs %.17g",
                   skip, bi, s.layers[l], a[l].loss_true, r[l].loss_true, a[l].loss_delta,
                   r[l].loss_delta, a[l].logit_mse, r[l].logit_mse, a[l].kl, r[l].kl);
    }
    int64_t n_shared = mlsae_downstream_shared_batches(shared);
    printf("%s, skip_special_tokens %d: %lld of %d batches shared their true path (expected %d); "
           "metrics equal bit for bit\n",
           cfg->trainer.precision, skip, (long long)n_shared, N_BATCHES, expect_shared);
    CHECK(n_shared == expect_shared);
    CHECK(mlsae_downstream_shared_batches(per_layer) == 0);
    if (!skip) CHECK(n_shared == N_BATCHES);
    mlsae_loader_close(loader);
    be->ops->core.free(be, pred);
    mlsae_downstream_free(shared);
    mlsae_downstream_free(per_layer);
    mlsae_eval_buffers_free(&eb);
    mlsae_session_close(&s);
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
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", sum.test_data);
    cfg->data.max_length = 64; /* short sequences: some batches hold no EOS */
    cfg->data.batch_size = 1;
    run(cfg, 1);
    run(cfg, 0);
    snprintf(cfg->trainer.precision, sizeof cfg->trainer.precision, "bf16-mixed");
    run(cfg, 0);
    free(cfg);
    return tu_finish("test_downstream_shared");
}
