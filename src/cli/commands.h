/* One function per subcommand, each in its own cmd_*.c file. A command
 * returns the process exit status; it prints its own errors as
 * "mlsae CMD: message" on one line (see cli_error). */
#ifndef MLSAE_CLI_COMMANDS_H
#define MLSAE_CLI_COMMANDS_H

#include <stddef.h>
#include <stdio.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} cli_command;

int cmd_version(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_hidden_states(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_figures(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_dists(int argc, char **argv);
int cmd_examples(int argc, char **argv);
int cmd_mmcs(int argc, char **argv);
int cmd_variances(int argc, char **argv);
int cmd_embed_cos_sim(int argc, char **argv);
int cmd_resid_cos_sim(int argc, char **argv);

/* Write the manual page mlsae(1) (roff) for these commands and the run
 * options; returns 0, or 1 when writing failed. */
int cli_print_man(FILE *out, const cli_command *commands, size_t n_commands);

/* Print "mlsae CMD: message" to stderr; returns 1 (the usual exit status). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
