/* Devices: the backend registry (src/backend/registry.c) behind a handle. */
#include "config.h"
#include "api/api.h"

#include <stdlib.h>

MLSAE_API mlsae_device_params mlsae_device_default_params(void)
{
    mlsae_device_params p = {0};
    return p;
}

MLSAE_API mlsae_status mlsae_device_open(const char *name, const mlsae_device_params *params,
                                         mlsae_device **out)
{
    API_REQUIRE(out, "mlsae_device_open", "out");
    *out = NULL;
    API_REQUIRE(name, "mlsae_device_open", "name");
    mlsae_device_params p = params ? *params : mlsae_device_default_params();
    if (p.n_threads < 0)
        return api_fail(MLSAE_ERR_INVALID, "mlsae_device_open: n_threads %d is negative",
                        p.n_threads);
    mlsae_device *dev = calloc(1, sizeof *dev);
    if (!dev) return api_fail(MLSAE_ERR_FAILED, "mlsae_device_open: out of memory");
    mlsae_backend_params bp = {0};
    bp.n_threads = p.n_threads;
    mlsae_error err;
    if (mlsae_backend_open(name, &bp, &dev->be, &err)) {
        free(dev);
        return api_failed(&err);
    }
    *out = dev;
    return MLSAE_OK;
}

MLSAE_API void mlsae_device_free(mlsae_device *dev)
{
    if (!dev) return;
    mlsae_backend_close(dev->be);
    free(dev);
}

MLSAE_API const char *mlsae_device_backend(const mlsae_device *dev)
{
    return dev ? dev->be->ops->name : "";
}

MLSAE_API const char *mlsae_device_describe(const mlsae_device *dev)
{
    return dev ? dev->be->ops->describe(dev->be) : "";
}
