#include "config.h"
#include "cli/commands.h"
#include "backend/backend.h"
#include "pipeline/comm.h"

#include <stdio.h>

int cmd_version(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("Usage: mlsae version\n\nPrint the version, the backend interface version and "
               "the CPU backend's description.\n");
        return 0;
    }
    printf("mlsae %s\n", PACKAGE_VERSION);
    printf("backend interface %d\n", MLSAE_BACKEND_API_VERSION);
    mlsae_backend *be;
    mlsae_error err;
    if (mlsae_backend_cpu_new(NULL, &be, &err) == 0) {
        printf("%s\n", be->ops->describe(be));
        mlsae_backend_close(be);
    }
    printf("features: %s\n", mlsae_comm_describe());
#ifdef MLSAE_PLUGIN_DIR
    printf("plugin directory %s\n", MLSAE_PLUGIN_DIR);
#endif
    return 0;
}
