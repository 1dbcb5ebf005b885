/* Building the run configuration of 'mlsae train' / 'mlsae test' from the
 * command line, including a resumed run's saved configuration. */
#ifndef MLSAE_CLI_RUN_ARGS_H
#define MLSAE_CLI_RUN_ARGS_H

#include "config/run_config.h"

/* Defaults < the resumed checkpoint's run.yaml (when --resume /
 * trainer.checkpoint_path names one) < --config files < options. Arguments
 * that are not run options are errors, except those listed in `extra`
 * (flag names without value, NULL-terminated), whose presence is reported
 * in extra_seen[i]. Prints its own one-line error; returns 0 or 1. */
int cli_run_config(const char *cmd, int argc, char **argv, mlsae_run_config *cfg,
                   const char *const *extra, int *extra_seen);
/* The same starting from base instead of the defaults (base may be NULL). */
int cli_run_config_base(const char *cmd, int argc, char **argv, const mlsae_run_config *base,
                        mlsae_run_config *cfg, const char *const *extra, int *extra_seen);

#endif
