/* Benchmark of the downstream metrics of `mlsae test` (eval/downstream.h)
 * on the demo's model (4 layers, d_model 128, vocabulary 50304) and test
 * split: tokens/s with the true path computed once per batch and shared by
 * the layers, beside the per-layer true path (the reference's way) on the
 * same batches in the same run, with skip_special_tokens on (batches that
 * hold a special token take the per-layer path) and off. The "pred" input
 * is the residual scaled by 0.75. Prints one JSON object per setting.
 *
 * Usage: bench_downstream [dir batches max_length batch_size]
 *   dir: where the demo's model and data are written (default
 *   bench-downstream; reused when present). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dataset/loader.h"
#include "demo/demo.h"
#include "eval/downstream.h"
#include "pipeline/session.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int run(mlsae_run_config *cfg, int skip, int n_batches, mlsae_error *err)
{
    cfg->autoencoder.skip_special_tokens = skip;
    mlsae_session s;
    if (mlsae_session_open(&s, cfg, 1, err)) return -1;
    const int batch = (int)cfg->data.batch_size, seq = (int)cfg->data.max_length;
    mlsae_eval_buffers eb = {0};
    mlsae_downstream *ds[2] = {NULL, NULL};
    mlsae_loader *loader = NULL;
    mlsae_backend *be = s.be;
    mlsae_buffer *pred = NULL;
    int rc = -1;
    if (mlsae_eval_buffers_init(&eb, &s, batch, seq, NULL, err) ||
        mlsae_downstream_new(&s, batch, seq, &ds[0], err) ||
        mlsae_downstream_new(&s, batch, seq, &ds[1], err))
        goto done;
    mlsae_downstream_set_per_layer_true(ds[1], 1);
    pred = mlsae_alloc_f32(be, eb.n);
    const char *sources[1] = {cfg->data.path};
    mlsae_loader_config lc = {0};
    lc.sources = sources;
    lc.n_sources = 1;
    lc.tok = s.tok;
    lc.seq.max_length = (size_t)seq;
    lc.seq.batch_size = (size_t)batch;
    if (!pred || mlsae_loader_open(&lc, &loader, err)) goto done;
    double wall[2] = {0, 0}, cpu[2] = {0, 0};
    long tokens = 0;
    int done_batches = 0;
    for (; done_batches < n_batches; done_batches++) {
        mlsae_batch b;
        int got = mlsae_loader_next(loader, &b, err);
        if (got < 0) goto done;
        if (got == 0) break;
        const int rows = (int)b.rows;
        mlsae_ref x = mlsae_at(eb.x_model, 0);
        if (mlsae_eval_activations(&eb, b.ids, rows, seq, err) ||
            be->ops->core.copy(be, mlsae_at(pred, 0), x, eb.n) ||
            be->ops->core.axpby(be, eb.n, 0.0f, x, 0.75f, mlsae_at(pred, 0)))
            goto done;
        mlsae_downstream_layer out[MLSAE_CONFIG_MAX_LAYERS];
        for (int i = 0; i < 2; i++) { /* alternately: both see the same machine load */
            double t0 = now(), c0 = cpu_seconds();
            if (mlsae_downstream_batch(ds[i], x, mlsae_at(pred, 0), b.ids, rows, seq, out, err))
                goto done;
            wall[i] += now() - t0;
            cpu[i] += cpu_seconds() - c0;
        }
        tokens += (long)rows * seq;
    }
    double load = -1;
    FILE *fp = fopen("/proc/loadavg", "r");
    if (fp) {
        if (fscanf(fp, "%lf", &load) != 1) load = -1;
        fclose(fp);
    }
    printf("{\"skip_special_tokens\": %d, \"layers\": %d, \"batches\": %d, \"tokens\": %ld, "
           "\"shared_batches\": %lld, \"shared_tokens_per_s\": %.1f, "
           "\"per_layer_tokens_per_s\": %.1f, \"speedup_wall\": %.2f, \"speedup_cpu\": %.2f, "
           "\"shared_cpu_s\": %.3f, \"per_layer_cpu_s\": %.3f, \"load_avg\": %.2f}\n",
           skip, s.n_layers, done_batches, tokens,
           (long long)mlsae_downstream_shared_batches(ds[0]), tokens / wall[0], tokens / wall[1],
           wall[1] / wall[0], cpu[1] / cpu[0], cpu[0], cpu[1], load);
    rc = 0;
done:
    if (loader) mlsae_loader_close(loader);
    if (pred) be->ops->core.free(be, pred);
    mlsae_downstream_free(ds[0]);
    mlsae_downstream_free(ds[1]);
    mlsae_eval_buffers_free(&eb);
    mlsae_session_close(&s);
    return rc;
}

int main(int argc, char **argv)
{
    mlsae_demo_options opt = {0};
    opt.out_dir = argc > 1 ? argv[1] : "bench-downstream";
    int n_batches = argc > 2 ? atoi(argv[2]) : 4;
    mlsae_demo_summary sum;
    mlsae_error err;
    if (mlsae_demo_prepare(&opt, NULL, &sum, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg) return 1;
    mlsae_demo_run_config(cfg, &opt, &sum);
    snprintf(cfg->data.path, sizeof cfg->data.path, "%s", sum.test_data);
    if (argc > 3) cfg->data.max_length = atoi(argv[3]);
    if (argc > 4) cfg->data.batch_size = atoi(argv[4]);
    int rc = run(cfg, 1, n_batches, &err) || run(cfg, 0, n_batches, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    free(cfg);
    return rc ? 1 : 0;
}
