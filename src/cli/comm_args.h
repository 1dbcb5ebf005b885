/* The command-line side of a data-parallel command under an MPI launcher
 * (mpirun, srun; doc/scaling.md): train, test and the streaming analyses. */
#ifndef MLSAE_CLI_COMM_ARGS_H
#define MLSAE_CLI_COMM_ARGS_H

#include "config/run_config.h"

/* Join the launcher's world (pipeline/comm.h; one process of rank 0
 * without one). With several ranks, `--device auto` picks the node-local
 * rank's device, and cfg->threads, when 0 (all cores), becomes the node's
 * cores divided among its ranks. Returns 0, or 1 after printing
 * "mlsae CMD: message". */
int cli_comm_start(const char *cmd, mlsae_run_config *cfg);

/* A failure of this rank. With several ranks the others wait in a
 * collective: print "mlsae CMD: rank R of N: msg" and end them all with
 * exit status 1 (never returns). One process: print "mlsae CMD: msg" and
 * return 1. */
int cli_comm_fail(const char *cmd, const char *msg);

#endif
