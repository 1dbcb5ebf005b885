/* The options `mlsae figures` and `mlsae report` share: which SAEs (a
 * sweep or explicit checkpoints), where the inputs and outputs are, and how
 * to draw; and running the planned figure jobs with their messages. */
#ifndef MLSAE_CLI_FIGURE_ARGS_H
#define MLSAE_CLI_FIGURE_ARGS_H

#include <stdio.h>
#include "figures/jobs.h"

#define CLI_FIG_MAX_LIST 64

typedef struct cli_figure_args {
    int kinds[MLSAE_FIG_N_KINDS * 2];
    int n_kinds;
    const char *checkpoints[CLI_FIG_MAX_LIST];
    int n_checkpoints;
    const char *model_names[CLI_FIG_MAX_LIST];
    int n_model_names;
    int expansion_factors[CLI_FIG_MAX_LIST];
    int n_expansion_factors;
    int ks[CLI_FIG_MAX_LIST];
    int n_ks;
    int tuned_lens;
    const char *checkpoints_dir;
    const char *out_dir;
    const char *metrics;
    const char *device;
    const char *prompt;
    double dead_threshold;
    int noninteger;
    mlsae_fig_opts opts;
} cli_figure_args;

/* argv[0] is the command name. allow_kinds: positional KINDs accepted.
 * Returns 0, or -1 with a one-line message in msg. */
int cli_figure_args_parse(cli_figure_args *a, int argc, char **argv, int allow_kinds,
                          char *msg, size_t msg_n);
void cli_figure_args_free(cli_figure_args *a);

/* Resolve, plan and make the figures; prints what it wrote (to out) and
 * skipped, errors as "mlsae CMD: ...". Returns the exit status. */
int cli_figures_run(const char *cmd, const cli_figure_args *a, FILE *out);

#endif
