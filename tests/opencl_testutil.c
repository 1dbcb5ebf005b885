#include "config.h"
#include "opencl_testutil.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "backend/registry.h"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpocl\nleak:libOpenCL\nleak:libLLVM\nleak:libclang\nleak:libhwloc\n";
}

void tu_opencl_or_skip(void)
{
    const char *env = getenv("MLSAE_PLUGIN_PATH");
    if (!env || !*env) tu_skip("MLSAE_PLUGIN_PATH is not set (run through make check)");
    const mlsae_registry_entry *e = mlsae_registry_find("opencl");
    if (!e) {
        char search[8192];
        mlsae_registry_search_path(search, sizeof search);
        tu_skip("the OpenCL plugin is not registered (not built, or it does not load; "
                "searched %s)", search);
    }
    mlsae_error err;
    int n = e->plugin->device_count(&err);
    if (n == 0) tu_skip("no OpenCL device on this machine");
    if (n < 0) tu_skip("OpenCL device listing failed: %s", err.msg);
}
