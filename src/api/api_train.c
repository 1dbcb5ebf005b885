/* Training the SAE through the API: one micro-batch, the final Adam step,
 * and a run over rows held in memory (src/sae/mlsae.h does the work). */
#include "config.h"
#include "api/api.h"

static void copy_metrics(const mlsae_sae_train_metrics *m, mlsae_autoencoder_train_metrics *out)
{
    if (!out) return;
    out->loss_total = m->loss_total;
    out->loss_mse = m->loss_mse;
    out->loss_aux = m->loss_aux;
    out->dead_fraction = m->dead_fraction;
    out->stepped = m->stepped;
    out->step = m->step;
    out->micro_batch = m->micro_batch;
}

/* Train on rows [first_row, first_row + rows) of every layer of x. */
static mlsae_status train_rows(mlsae_autoencoder *ae, const float *x, int n_layers, int64_t n_rows,
                               int64_t first_row, int rows, mlsae_autoencoder_train_metrics *out)
{
    mlsae_status st = api_autoencoder_stage(ae, x, n_layers, n_rows, first_row, rows);
    if (st) return st;
    mlsae_sae_train_metrics m = {0};
    mlsae_error err;
    if (mlsae_sae_train_microbatch(ae->sae, mlsae_at(ae->x, 0), n_layers, rows, &m, &err))
        return api_failed(&err);
    copy_metrics(&m, out);
    return MLSAE_OK;
}

MLSAE_API mlsae_status mlsae_autoencoder_train_step(mlsae_autoencoder *ae, const float *x,
                                                    int n_layers, int rows_per_layer,
                                                    mlsae_autoencoder_train_metrics *metrics)
{
    mlsae_status st = api_check_rows(ae, "mlsae_autoencoder_train_step", x, n_layers,
                                     rows_per_layer);
    if (st) return st;
    return train_rows(ae, x, n_layers, rows_per_layer, 0, rows_per_layer, metrics);
}

MLSAE_API mlsae_status mlsae_autoencoder_flush(mlsae_autoencoder *ae, int *stepped)
{
    API_REQUIRE(ae, "mlsae_autoencoder_flush", "ae");
    mlsae_error err;
    if (mlsae_sae_flush_step(ae->sae, stepped, &err)) return api_failed(&err);
    return MLSAE_OK;
}

MLSAE_API mlsae_autoencoder_train_params mlsae_autoencoder_train_default_params(void)
{
    mlsae_autoencoder_train_params p = {0};
    p.rows_per_batch = 2048; /* the reference's batch_size 1 x max_length 2048 */
    return p;
}

MLSAE_API mlsae_status mlsae_autoencoder_train(mlsae_autoencoder *ae, const float *x,
                                               int n_layers, int64_t n_rows,
                                               const mlsae_autoencoder_train_params *params,
                                               mlsae_autoencoder_train_metrics *metrics)
{
    static const char fn[] = "mlsae_autoencoder_train";
    mlsae_autoencoder_train_params p = params ? *params : mlsae_autoencoder_train_default_params();
    mlsae_status st = api_check_rows(ae, fn, x, n_layers, p.rows_per_batch);
    if (st) return st;
    if (n_rows <= 0)
        return api_fail(MLSAE_ERR_INVALID, "%s: n_rows %lld: must be positive", fn,
                        (long long)n_rows);
    mlsae_autoencoder_train_metrics m = {0};
    for (int64_t r0 = 0; r0 < n_rows; r0 += p.rows_per_batch) {
        int rows = (int)(n_rows - r0 < p.rows_per_batch ? n_rows - r0 : p.rows_per_batch);
        if ((st = train_rows(ae, x, n_layers, n_rows, r0, rows, &m))) return st;
        if (metrics) *metrics = m;
        if (p.callback && p.callback(&m, p.user_data))
            return api_fail(MLSAE_ERR_FAILED, "%s: stopped by the callback after micro-batch %lld",
                            fn, (long long)m.micro_batch);
    }
    return mlsae_autoencoder_flush(ae, NULL);
}
