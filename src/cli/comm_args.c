#include "config.h"
#include "cli/comm_args.h"

#include <unistd.h>

#include "backend/registry.h"
#include "cli/commands.h"
#include "pipeline/comm.h"

int cli_comm_start(const char *cmd, mlsae_run_config *cfg)
{
    mlsae_error err;
    if (mlsae_comm_init(&err)) return cli_error(cmd, "%s", err.msg);
    if (mlsae_comm_size() <= 1) return 0;
    mlsae_registry_set_auto_slot(mlsae_comm_local_rank());
    if (cfg->threads == 0) {
        long share = sysconf(_SC_NPROCESSORS_ONLN) / mlsae_comm_local_size();
        cfg->threads = share > 0 ? share : 1;
    }
    return 0;
}

int cli_comm_fail(const char *cmd, const char *msg)
{
    const int ranks = mlsae_comm_size();
    if (ranks <= 1) return cli_error(cmd, "%s", msg);
    cli_error(cmd, "rank %d of %d: %s", mlsae_comm_rank(), ranks, msg);
    mlsae_comm_abort(1);
}
