/* The training micro-batch (SPEC §4 "Training step"): geometric-median
 * bias on the very first micro-batch, forward, loss and gradient
 * accumulation, the decoder hooks after every backward, and Adam every
 * accumulate_grad_batches micro-batches. */
#include "config.h"
#include "sae/geomedian.h"
#include "sae/sae_internal.h"

#include <math.h>
#include <stdlib.h>

#define GEOMEDIAN_MAX_ITER 100
#define GEOMEDIAN_TOL 1e-5

static int init_bias(mlsae_sae *sae, mlsae_ref x, int rows, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs;
    size_t n = (size_t)rows * d;
    float *host = malloc(n * sizeof *host);
    float *med = malloc((size_t)d * sizeof *med);
    if (!host || !med) {
        free(host);
        free(med);
        return mlsae_fail(err, "sae: out of memory");
    }
    int rc = be->ops->core.read(be, x.buf, x.off * 4, host, n * 4);
    if (rc) {
        free(host);
        free(med);
        return sae_be_fail(sae, "geometric median", err);
    }
    rc = mlsae_geometric_median_reduced(host, (size_t)rows, d, GEOMEDIAN_MAX_ITER, GEOMEDIAN_TOL,
                                        sae->has_red ? sae->red.sum_f64 : NULL, med, err);
    free(host);
    if (rc < 0) {
        free(med);
        return -1;
    }
    rc = be->ops->core.write(be, sae->bias, 0, med, (size_t)d * 4);
    free(med);
    if (rc) return sae_be_fail(sae, "geometric median", err);
    sae->bias_pending = 0;
    return 0;
}

static int adam_step(mlsae_sae *sae, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const mlsae_sae_config *c = &sae->cfg;
    const size_t nd = (size_t)c->n_latents * c->n_inputs, d = (size_t)c->n_inputs;
    if (sae->step >= INT32_MAX) return mlsae_fail(err, "sae: Adam step counter overflow");
    if (sae_reduce_grads(sae, err)) return -1; /* data parallel: the global batch's gradient */
    int step = (int)++sae->step;
    struct { mlsae_buffer *p, *g, *m, *v; size_t n; } t[] = {
        {sae->enc, sae->g_enc, sae->m_enc, sae->v_enc, nd},
        {sae->dec, sae->g_dec, sae->m_dec, sae->v_dec, nd},
        {sae->bias, sae->g_bias, sae->m_bias, sae->v_bias, d},
    };
    for (size_t i = 0; i < 3; i++) {
        SAE_CALL(sae, err, "adam",
                 be->ops->sae.adam(be, sae_ref(t[i].p), sae_ref(t[i].g), sae_ref(t[i].m),
                                   sae_ref(t[i].v), t[i].n, c->lr, c->beta1, c->beta2,
                                   c->adam_eps, step));
        SAE_CALL(sae, err, "adam", be->ops->core.fill(be, sae_ref(t[i].g), t[i].n, 0.0f));
    }
    sae->pending = 0;
    sae->enc_lp_fmt = 0; /* the encoder changed: re-pack before the next product */
    return 0;
}

int mlsae_sae_flush_step(mlsae_sae *sae, int *stepped, mlsae_error *err)
{
    if (stepped) *stepped = 0;
    if (sae->pending == 0) return 0;
    if (adam_step(sae, err)) return -1;
    if (stepped) *stepped = 1;
    return 0;
}

static int train_microbatch(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                            mlsae_sae_train_metrics *m, mlsae_error *err);

/* Every failure names the micro-batch: its zero-based index in the run. */
int mlsae_sae_train_microbatch(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                               mlsae_sae_train_metrics *m, mlsae_error *err)
{
    if (train_microbatch(sae, x, n_layers, rows_per_layer, m, err))
        return mlsae_error_prefix(err, "micro-batch %lld", (long long)sae->micro_batch);
    return 0;
}

static int train_microbatch(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                            mlsae_sae_train_metrics *m, mlsae_error *err)
{
    if (n_layers < 1 || rows_per_layer < 1 || (int64_t)n_layers * rows_per_layer > INT32_MAX / 2)
        return mlsae_fail(err, "sae: bad micro-batch shape %d layers x %d rows", n_layers,
                          rows_per_layer);
    const int rows = n_layers * rows_per_layer;
    const int d = sae->cfg.n_inputs, n = sae->cfg.n_latents;
    mlsae_backend *be = sae->be;
    if (sae->bias_pending && init_bias(sae, x, rows, err)) return -1;
    if (sae_forward_pass(sae, x, rows, 1, err)) return -1;
    sae->last_n_layers = n_layers;
    sae->last_rows_per_layer = rows_per_layer;
    double mse, aux;
    if (sae_backward_pass(sae, x, n_layers, rows_per_layer, &mse, &aux, 1, err)) return -1;
    /* A non-finite loss (a NaN input, or weights gone non-finite) stops the
     * run before Adam can spread it into the weights. */
    if (!isfinite(mse) || !isfinite(aux))
        return mlsae_fail(err, "non-finite loss (loss/mse %g, loss/auxk %g)", mse, aux);
    /* hooks after every backward: unit decoder rows, then drop the gradient's
     * component along them */
    SAE_CALL(sae, err, "decoder norm", be->ops->sae.normalize_rows(be, sae_ref(sae->dec), n, d));
    SAE_CALL(sae, err, "decoder grad",
             be->ops->sae.remove_parallel(be, sae_ref(sae->dec), sae_ref(sae->g_dec), n, d));
    sae->micro_batch++;
    sae->pending++;
    int stepped = 0;
    if (sae->pending >= sae->cfg.accumulate_grad_batches) {
        if (adam_step(sae, err)) return -1;
        stepped = 1;
    }
    if (m) {
        m->loss_mse = mse;
        m->loss_aux = aux;
        m->loss_total = mse + aux;
        m->dead_fraction = (double)sae->n_dead / n;
        m->stepped = stepped;
        m->step = sae->step;
        m->micro_batch = sae->micro_batch;
    }
    return 0;
}

int mlsae_sae_test_forward(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                           mlsae_sae_forward_out *out, double *loss_mse, double *loss_aux,
                           mlsae_error *err)
{
    if (n_layers < 1 || rows_per_layer < 1 || (int64_t)n_layers * rows_per_layer > INT32_MAX / 2)
        return mlsae_fail(err, "sae: bad batch shape %d layers x %d rows", n_layers,
                          rows_per_layer);
    const int rows = n_layers * rows_per_layer;
    if (sae_forward_pass(sae, x, rows, 1, err)) return -1;
    sae->last_n_layers = n_layers;
    sae->last_rows_per_layer = rows_per_layer;
    if (sae_backward_pass(sae, x, n_layers, rows_per_layer, loss_mse, loss_aux, 0, err))
        return -1;
    if (out) {
        out->recons = sae_ref(sae->recons);
        out->values = sae_ref(sae->vals);
        out->indices = sae_ref(sae->idx);
        out->rows = rows;
        out->k = sae->cfg.k;
    }
    return 0;
}
