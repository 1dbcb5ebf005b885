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
    static const char fn[] = "mlsae_device_open";
    API_REQUIRE_OUT(out, fn);
    API_REQUIRE(name, fn, "name");
    mlsae_device_params p = params ? *params : mlsae_device_default_params();
    API_REQUIRE_NONNEG(p.n_threads, fn, "n_threads");
    mlsae_device *dev = api_new(sizeof *dev, fn);
    if (!dev) return MLSAE_ERR_FAILED;
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
