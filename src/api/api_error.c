/* The per-thread last error, status names and the run-time version. */
#include "config.h"
#include "api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[MLSAE_ERROR_MAX];

mlsae_status api_fail(mlsae_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

mlsae_status api_failed(const mlsae_error *err)
{
    return api_fail(MLSAE_ERR_FAILED, "%s", err->msg);
}

void *api_new(size_t size, const char *fn)
{
    void *h = calloc(1, size);
    if (!h) api_fail(MLSAE_ERR_FAILED, "%s: out of memory", fn);
    return h;
}

MLSAE_API const char *mlsae_last_error(void)
{
    return last_error;
}

MLSAE_API const char *mlsae_status_string(mlsae_status status)
{
    switch (status) {
    case MLSAE_OK: return "ok";
    case MLSAE_ERR_INVALID: return "invalid argument";
    case MLSAE_ERR_SIZE: return "buffer too small";
    case MLSAE_ERR_FAILED: return "failed";
    }
    return "unknown status";
}

MLSAE_API const char *mlsae_version(void)
{
    return PACKAGE_VERSION;
}
