/* Finding a backend: the built-in CPU one, or a plugin dlopen()ed at run
 * time ("opencl", "opencl:N", "auto"). The core library never links against
 * OpenCL; only the plugin does. */
#include "config.h"
#include "backend/backend.h"
#include "core/paths.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef MLSAE_PLUGIN_DIR
#define MLSAE_PLUGIN_DIR "/usr/local/lib/mlsae/plugins"
#endif

/* Plugins stay loaded for the life of the process: a backend's code must
 * outlive every object it created, and unloading buys nothing here. */

void mlsae_backend_plugin_path(const char *name, char *out, size_t n)
{
    const char *env = getenv("MLSAE_PLUGIN_PATH");
    if (env && *env) {
        if (mlsae_is_dir(env)) snprintf(out, n, "%s/mlsae-%s.so", env, name);
        else snprintf(out, n, "%s", env);
        return;
    }
    snprintf(out, n, "%s/mlsae-%s.so", MLSAE_PLUGIN_DIR, name);
}

static int open_plugin(const char *name, const mlsae_backend_params *params, mlsae_backend **out,
                       mlsae_error *err)
{
    char path[4096];
    mlsae_backend_plugin_path(name, path, sizeof path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return mlsae_fail(err, "%s backend: cannot load plugin %s (%s); build with OpenCL "
                          "headers (apt-get install ocl-icd-opencl-dev opencl-headers) or set "
                          "MLSAE_PLUGIN_PATH", name, path, why ? why : "unknown error");
    }
    mlsae_plugin_init_fn init = (mlsae_plugin_init_fn)(uintptr_t)dlsym(h, MLSAE_PLUGIN_ENTRY);
    if (!init) {
        dlclose(h);
        return mlsae_fail(err, "%s backend: %s has no symbol %s", name, path, MLSAE_PLUGIN_ENTRY);
    }
    if (init(MLSAE_BACKEND_API_VERSION, params, out, err) != 0) {
        mlsae_error_prefix(err, "%s backend", name);
        /* keep the library loaded: the message may point into it */
        return -1;
    }
    if ((*out)->ops->api_version != MLSAE_BACKEND_API_VERSION) {
        uint32_t v = (*out)->ops->api_version;
        (*out)->ops->destroy(*out);
        *out = NULL;
        return mlsae_fail(err, "%s backend: plugin %s implements interface version %u, this "
                          "program needs %u (rebuild the plugin)", name, path, v,
                          MLSAE_BACKEND_API_VERSION);
    }
    return 0;
}

int mlsae_backend_open(const char *device, const mlsae_backend_params *params,
                       mlsae_backend **out, mlsae_error *err)
{
    mlsae_backend_params p = {0};
    if (params) p = *params;
    *out = NULL;
    if (!device || strcmp(device, "cpu") == 0) return mlsae_backend_cpu_new(&p, out, err);
    if (strcmp(device, "auto") == 0) {
        mlsae_error ignored;
        p.device_index = -1; /* the plugin picks the first GPU, or fails */
        if (open_plugin("opencl", &p, out, &ignored) == 0) return 0;
        if (p.verbose) fprintf(stderr, "mlsae: no OpenCL GPU (%s); using the CPU\n", ignored.msg);
        return mlsae_backend_cpu_new(&p, out, err);
    }
    if (strncmp(device, "opencl", 6) == 0 && (device[6] == '\0' || device[6] == ':')) {
        p.device_index = 0;
        if (device[6] == ':') {
            char *end;
            long v = strtol(device + 7, &end, 10);
            if (*end || end == device + 7 || v < 0 || v > 1024)
                return mlsae_fail(err, "--device %s: expected opencl:N with N a device number",
                                  device);
            p.device_index = (int)v;
        }
        return open_plugin("opencl", &p, out, err);
    }
    return mlsae_fail(err, "--device %s: unknown device (expected cpu, opencl, opencl:N or auto)",
                      device);
}

void mlsae_backend_close(mlsae_backend *be)
{
    if (be) be->ops->destroy(be);
}
