#include "config.h"
#include "opencl_testutil.h"
#include "testutil.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "../backends/opencl/ocl_plugin.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpocl\nleak:libOpenCL\nleak:libLLVM\nleak:libclang\nleak:libhwloc\n";
}

static void ignore_line(void *ctx, int depth, const char *line)
{
    (void)ctx;
    (void)depth;
    (void)line;
}

void tu_opencl_or_skip(void)
{
    const char *env = getenv("MLSAE_PLUGIN_PATH");
    if (!env || !*env) tu_skip("MLSAE_PLUGIN_PATH is not set (run through make check)");
    char path[4096];
    mlsae_backend_plugin_path("opencl", path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0) tu_skip("the OpenCL plugin was not built (%s is missing)", path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) tu_skip("the OpenCL plugin does not load: %s", dlerror());
    mlsae_plugin_list_devices_fn list =
        (mlsae_plugin_list_devices_fn)(uintptr_t)dlsym(h, MLSAE_PLUGIN_LIST_DEVICES);
    if (!list) {
        fprintf(stderr, "%s has no %s\n", path, MLSAE_PLUGIN_LIST_DEVICES);
        exit(1);
    }
    mlsae_error err;
    int n = list(MLSAE_BACKEND_API_VERSION, ignore_line, NULL, &err);
    if (n == 0) tu_skip("no OpenCL device on this machine");
    if (n < 0) tu_skip("OpenCL device listing failed: %s", err.msg);
}
