/* Command-line pieces shared by the commands that take a --checkpoint
 * (`mlsae test` and the analyses). */
#ifndef MLSAE_CLI_CKPT_ARGS_H
#define MLSAE_CLI_CKPT_ARGS_H

#include "config/run_config.h"
#include "sae/ckpt_source.h"

/* The start of a command that takes a --checkpoint: *args, a copy of argv
 * (argc entries and room for 12 more) that cli_take_value may edit, and
 * *cfgs, n_configs run configurations to fill. 0, or 1 after printing
 * "mlsae CMD: out of memory" (nothing to free). Free both with free(). */
int cli_checkpoint_command_start(const char *cmd, int argc, char **argv, int n_configs,
                                 char ***args, mlsae_run_config **cfgs);

/* Remove "FLAG VALUE" or "FLAG=VALUE" (the first occurrence) from argv:
 * 1 with *value set, 0 when absent, -1 when the flag has no value. */
int cli_take_value(int *argc, char **argv, const char *flag, const char **value);

/* Resolve ckpt (a directory or a repo id, downloading with a progress
 * display when needed) into *src, then build cfg from the defaults < a -tfm
 * checkpoint's run options < --config files < argv's options (see
 * cli_run_config; extra/extra_seen as there). Prints its own one-line
 * error; returns 0 or 1 (then *src holds nothing to free). */
int cli_checkpoint_run_config(const char *cmd, const char *ckpt, const char *rev, int argc,
                              char **argv,
                              mlsae_ckpt_source *src, mlsae_run_config *cfg,
                              const char *const *extra, int *extra_seen);

#endif
