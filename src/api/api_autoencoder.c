/* The multi-layer TopK SAE (src/sae/mlsae.h) and its checkpoints
 * (src/sae/checkpoint.h) behind a handle: create, load, save, encode. */
#include "config.h"
#include "api/api.h"

#include <limits.h>
#include <stdlib.h>

#include "sae/checkpoint.h"

MLSAE_API mlsae_autoencoder_params mlsae_autoencoder_default_params(void)
{
    enum { EXPANSION_FACTOR = 16 }; /* the reference's MLSAEConfig default */
    mlsae_sae_config c;
    mlsae_sae_config_default(&c, 0, EXPANSION_FACTOR);
    mlsae_autoencoder_params p = {0};
    p.expansion_factor = EXPANSION_FACTOR;
    p.k = c.k;
    p.auxk = c.auxk;
    p.auxk_coef = c.auxk_coef;
    p.dead_steps_threshold = c.dead_steps_threshold;
    p.dead_threshold = c.dead_threshold;
    p.standardize = c.standardize;
    p.lr = c.lr;
    p.beta1 = c.beta1;
    p.beta2 = c.beta2;
    p.adam_eps = c.adam_eps;
    p.accumulate_grad_batches = c.accumulate_grad_batches;
    p.seed = 42;
    return p;
}

static mlsae_status wrap(mlsae_sae *sae, mlsae_autoencoder **out)
{
    mlsae_autoencoder *ae = calloc(1, sizeof *ae);
    if (!ae) {
        mlsae_sae_free(sae);
        return api_fail(MLSAE_ERR_FAILED, "out of memory");
    }
    ae->sae = sae;
    *out = ae;
    return MLSAE_OK;
}

MLSAE_API mlsae_status mlsae_autoencoder_new(mlsae_device *dev,
                                             const mlsae_autoencoder_params *params,
                                             mlsae_autoencoder **out)
{
    static const char fn[] = "mlsae_autoencoder_new";
    API_REQUIRE_OUT(out, fn);
    API_REQUIRE(dev, fn, "dev");
    API_REQUIRE(params, fn, "params");
    const mlsae_autoencoder_params *p = params;
    if (p->n_inputs <= 0)
        return api_fail(MLSAE_ERR_INVALID, "%s: n_inputs %d: must be positive", fn, p->n_inputs);
    if (p->expansion_factor <= 0 || p->expansion_factor > INT_MAX / p->n_inputs)
        return api_fail(MLSAE_ERR_INVALID, "%s: expansion_factor %d: must be in 1..%d", fn,
                        p->expansion_factor, INT_MAX / p->n_inputs);
    mlsae_sae_config c;
    mlsae_sae_config_default(&c, p->n_inputs, p->expansion_factor);
    c.k = p->k;
    c.auxk = p->auxk;
    c.auxk_coef = p->auxk_coef;
    c.dead_steps_threshold = p->dead_steps_threshold;
    c.dead_threshold = p->dead_threshold;
    c.standardize = p->standardize;
    c.lr = p->lr;
    c.beta1 = p->beta1;
    c.beta2 = p->beta2;
    c.adam_eps = p->adam_eps;
    c.accumulate_grad_batches = p->accumulate_grad_batches;
    mlsae_error err;
    if (mlsae_sae_config_check(&c, &err))
        return api_fail(MLSAE_ERR_INVALID, "%s: %s", fn, err.msg);
    mlsae_sae *sae;
    if (mlsae_sae_create(&c, dev->be, p->seed, &sae, &err)) return api_failed(&err);
    return wrap(sae, out);
}

MLSAE_API mlsae_status mlsae_autoencoder_load(mlsae_device *dev, const char *dir,
                                              unsigned flags, mlsae_autoencoder **out)
{
    static const char fn[] = "mlsae_autoencoder_load";
    API_REQUIRE_OUT(out, fn);
    API_REQUIRE(dev, fn, "dev");
    API_REQUIRE(dir, fn, "dir");
    if (flags & ~(unsigned)MLSAE_CHECKPOINT_TRAINING_STATE)
        return api_fail(MLSAE_ERR_INVALID, "%s: unknown flags 0x%x", fn, flags);
    mlsae_error err;
    mlsae_sae *sae;
    if (mlsae_ckpt_load(dir, dev->be, &sae, &err)) return api_failed(&err);
    if (flags & MLSAE_CHECKPOINT_TRAINING_STATE) {
        mlsae_ckpt_resume_out resume = {0};
        if (mlsae_ckpt_load_state(sae, dir, &resume, &err)) {
            mlsae_sae_free(sae);
            return api_failed(&err);
        }
        free(resume.user_state);
    }
    return wrap(sae, out);
}

MLSAE_API mlsae_status mlsae_autoencoder_save(mlsae_autoencoder *ae, const char *dir,
                                              unsigned flags)
{
    static const char fn[] = "mlsae_autoencoder_save";
    API_REQUIRE(ae, fn, "ae");
    API_REQUIRE(dir, fn, "dir");
    if (flags & ~(unsigned)MLSAE_CHECKPOINT_TRAINING_STATE)
        return api_fail(MLSAE_ERR_INVALID, "%s: unknown flags 0x%x", fn, flags);
    mlsae_ckpt_resume resume = {0, NULL, 0};
    mlsae_error err;
    if (mlsae_ckpt_save(ae->sae, dir, (flags & MLSAE_CHECKPOINT_TRAINING_STATE) ? &resume : NULL,
                        &err))
        return api_failed(&err);
    return MLSAE_OK;
}

MLSAE_API void mlsae_autoencoder_free(mlsae_autoencoder *ae)
{
    if (!ae) return;
    if (ae->x) {
        mlsae_backend *be = mlsae_sae_backend(ae->sae);
        be->ops->core.free(be, ae->x);
    }
    mlsae_sae_free(ae->sae);
    free(ae);
}

MLSAE_API int mlsae_autoencoder_n_inputs(const mlsae_autoencoder *ae)
{
    return ae ? mlsae_sae_get_config(ae->sae)->n_inputs : 0;
}

MLSAE_API int mlsae_autoencoder_n_latents(const mlsae_autoencoder *ae)
{
    return ae ? mlsae_sae_get_config(ae->sae)->n_latents : 0;
}

MLSAE_API int mlsae_autoencoder_k(const mlsae_autoencoder *ae)
{
    return ae ? mlsae_sae_get_config(ae->sae)->k : 0;
}

mlsae_status api_autoencoder_stage(mlsae_autoencoder *ae, const float *x, int n_layers,
                                   int64_t n_rows, int64_t first_row, int rows)
{
    mlsae_backend *be = mlsae_sae_backend(ae->sae);
    const size_t d = (size_t)mlsae_sae_get_config(ae->sae)->n_inputs;
    const size_t per_layer = (size_t)rows * d, n = per_layer * (size_t)n_layers;
    if (n > ae->x_floats) {
        if (ae->x) be->ops->core.free(be, ae->x);
        ae->x_floats = 0;
        ae->x = mlsae_alloc_f32(be, n);
        if (!ae->x)
            return api_fail(MLSAE_ERR_FAILED, "cannot allocate %zu floats on the device", n);
        ae->x_floats = n;
    }
    for (int l = 0; l < n_layers; l++) {
        const float *src = x + ((size_t)l * (size_t)n_rows + (size_t)first_row) * d;
        if (be->ops->core.write(be, ae->x, (size_t)l * per_layer * 4, src, per_layer * 4))
            return api_fail(MLSAE_ERR_FAILED, "%s", mlsae_backend_error(be));
    }
    return MLSAE_OK;
}

mlsae_status api_check_rows(const mlsae_autoencoder *ae, const char *fn, const float *x,
                            int n_layers, int64_t rows_per_layer)
{
    API_REQUIRE(ae, fn, "ae");
    API_REQUIRE(x, fn, "x");
    if (n_layers <= 0 || rows_per_layer <= 0 || rows_per_layer > INT_MAX / n_layers)
        return api_fail(MLSAE_ERR_INVALID,
                        "%s: n_layers %d, rows %lld: both must be positive, their product at "
                        "most %d", fn, n_layers, (long long)rows_per_layer, INT_MAX);
    return MLSAE_OK;
}

typedef struct latent {
    float value;
    int32_t index;
} latent;

static int by_value_desc(const void *a, const void *b)
{
    const latent *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

MLSAE_API mlsae_status mlsae_autoencoder_encode(mlsae_autoencoder *ae, const float *x,
                                                int n_layers, int rows_per_layer,
                                                int32_t *indices, float *values, float *recons)
{
    static const char fn[] = "mlsae_autoencoder_encode";
    mlsae_status st = api_check_rows(ae, fn, x, n_layers, rows_per_layer);
    if (st) return st;
    API_REQUIRE(indices, fn, "indices");
    API_REQUIRE(values, fn, "values");
    if ((st = api_autoencoder_stage(ae, x, n_layers, rows_per_layer, 0, rows_per_layer)))
        return st;
    mlsae_backend *be = mlsae_sae_backend(ae->sae);
    mlsae_sae_forward_out fo;
    mlsae_error err;
    if (mlsae_sae_forward(ae->sae, mlsae_at(ae->x, 0), n_layers, rows_per_layer, &fo, NULL, &err))
        return api_failed(&err);
    const size_t rows = (size_t)fo.rows, k = (size_t)fo.k;
    const size_t d = (size_t)mlsae_sae_get_config(ae->sae)->n_inputs;
    if (be->ops->core.read(be, fo.values.buf, fo.values.off * 4, values, rows * k * 4) ||
        be->ops->core.read(be, fo.indices.buf, fo.indices.off * 4, indices, rows * k * 4) ||
        (recons && be->ops->core.read(be, fo.recons.buf, fo.recons.off * 4, recons, rows * d * 4)))
        return api_fail(MLSAE_ERR_FAILED, "%s", mlsae_backend_error(be));
    latent *row = malloc(k * sizeof *row);
    if (!row) return api_fail(MLSAE_ERR_FAILED, "%s: out of memory", fn);
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < k; j++) row[j] = (latent){values[r * k + j], indices[r * k + j]};
        qsort(row, k, sizeof *row, by_value_desc);
        for (size_t j = 0; j < k; j++) values[r * k + j] = row[j].value, indices[r * k + j] = row[j].index;
    }
    free(row);
    return MLSAE_OK;
}
