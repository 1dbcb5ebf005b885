/* The GPT-NeoX transformer (src/model/neox.h) with the hub's name
 * resolution (src/hub/hub.h) behind a handle. */
#include "config.h"
#include "api/api.h"

#include <stdlib.h>

#include "hub/hub.h"

MLSAE_API mlsae_transformer_params mlsae_transformer_default_params(void)
{
    mlsae_transformer_params p = {0};
    return p;
}

MLSAE_API mlsae_status mlsae_transformer_load(mlsae_device *dev, const char *name,
                                              const mlsae_transformer_params *params,
                                              mlsae_transformer **out)
{
    static const char fn[] = "mlsae_transformer_load";
    API_REQUIRE_OUT(out, fn);
    API_REQUIRE(dev, fn, "dev");
    API_REQUIRE(name, fn, "name");
    mlsae_transformer_params p = params ? *params : mlsae_transformer_default_params();
    API_REQUIRE_NONNEG(p.chunk_rows, fn, "chunk_rows");
    mlsae_transformer *tfm = api_new(sizeof *tfm, fn);
    if (!tfm) return MLSAE_ERR_FAILED;
    mlsae_error err;
    char *dir = NULL;
    if (mlsae_model_resolve(name, &dir, &err) ||
        mlsae_neox_load(dir, dev->be, MLSAE_NEOX_NO_LM_HEAD, &tfm->neox, &err)) {
        free(dir);
        free(tfm);
        return api_failed(&err);
    }
    free(dir);
    if (p.chunk_rows > 0) mlsae_neox_set_chunk_rows(tfm->neox, p.chunk_rows);
    *out = tfm;
    return MLSAE_OK;
}

MLSAE_API void mlsae_transformer_free(mlsae_transformer *tfm)
{
    if (!tfm) return;
    mlsae_neox_free(tfm->neox);
    free(tfm);
}

MLSAE_API int mlsae_transformer_n_layers(const mlsae_transformer *tfm)
{
    return tfm ? mlsae_neox_get_config(tfm->neox)->n_layers : 0;
}

MLSAE_API int mlsae_transformer_d_model(const mlsae_transformer *tfm)
{
    return tfm ? mlsae_neox_get_config(tfm->neox)->hidden_size : 0;
}

MLSAE_API int mlsae_transformer_vocab_size(const mlsae_transformer *tfm)
{
    return tfm ? mlsae_neox_get_config(tfm->neox)->vocab_size : 0;
}

MLSAE_API int mlsae_transformer_max_positions(const mlsae_transformer *tfm)
{
    return tfm ? mlsae_neox_get_config(tfm->neox)->max_positions : 0;
}

MLSAE_API mlsae_status mlsae_transformer_hidden_states(mlsae_transformer *tfm,
                                                       const int32_t *tokens, int batch, int seq,
                                                       const int *layers, int n_layers,
                                                       float *out)
{
    static const char fn[] = "mlsae_transformer_hidden_states";
    API_REQUIRE(tfm, fn, "tfm");
    API_REQUIRE(tokens, fn, "tokens");
    API_REQUIRE(out, fn, "out");
    if (batch <= 0 || seq <= 0)
        return api_fail(MLSAE_ERR_INVALID, "%s: batch %d, seq %d: both must be positive", fn,
                        batch, seq);
    if (n_layers < 0 || (n_layers > 0 && !layers) || (layers && n_layers == 0))
        return api_fail(MLSAE_ERR_INVALID,
                        "%s: layers must be NULL with n_layers 0, or a list of n_layers > 0", fn);
    mlsae_error err;
    if (mlsae_neox_hidden_states_host(tfm->neox, tokens, batch, seq, layers, n_layers, out, &err))
        return api_failed(&err);
    return MLSAE_OK;
}
