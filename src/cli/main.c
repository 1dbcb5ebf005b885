/* mlsae: the command-line tool. Dispatches to one file per subcommand. */
#include "config.h"
#include "cli/commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command commands[] = {
    {"demo", "the built-in default run: small model, bundled text, train + test", cmd_demo},
    {"train", "train a multi-layer SAE (from a model + dataset, or from saved activations)",
     cmd_train},
    {"test", "every test metric of trained SAEs (one CSV row each; several SAEs of a model: one pass)",
     cmd_test},
    {"dists", "per latent and layer: TopK counts and value sums; layer distribution stats",
     cmd_dists},
    {"examples", "the top activating examples of every latent and layer (SQLite)", cmd_examples},
    {"mmcs", "mean max cosine similarity of SAE decoders (no data)", cmd_mmcs},
    {"variances", "layer variance explained by latent and by token (one CSV row)", cmd_variances},
    {"embed-cos-sim", "tokens whose embeddings are most similar to each latent (no data)",
     cmd_embed_cos_sim},
    {"resid-cos-sim", "residual stream norms and adjacent-layer cosine similarities",
     cmd_resid_cos_sim},
    {"figures", "the paper's figures (PNG, PDF) and the CSV behind each, from the analyses",
     cmd_figures},
    {"report", "one self-contained HTML report of an SAE: configuration, figures, metrics",
     cmd_report},
    {"hidden-states", "run a GPT-NeoX model and dump the residual stream after every layer",
     cmd_hidden_states},
    {"serve", "the interactive viewer: a web page and the reference's JSON API", cmd_serve},
    {"tokenize", "encode text to token ids with a HF tokenizer.json (or decode)", cmd_tokenize},
    {"config", "show or check the effective run configuration (YAML + options)", cmd_config},
    {"devices", "list compute backends and OpenCL devices", cmd_devices},
    {"version", "print the version and build features", cmd_version},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int cli_error(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *s = msg; *s; s++)
        if (*s == '\n') *s = ' ';
    fprintf(stderr, "mlsae %s: %s\n", cmd, msg);
    return 1;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae COMMAND [OPTIONS]\n"
            "\n"
            "Multi-Layer Sparse Autoencoders: one TopK SAE trained on the residual stream\n"
            "of every layer of a GPT-NeoX/Pythia transformer at once.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'mlsae COMMAND --help' for the options of a command.\n"
            "Start with 'mlsae demo' (no downloads needed).\n");
}

/* The OpenMP wait policy is set before main, in omp_policy.c. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *sub[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, sub);
                }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--man") == 0) /* for the build: doc/mlsae.1 */
        return cli_print_man(stdout, commands, N_COMMANDS);
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        return cmd_version(1, argv + 1);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mlsae: unknown command '%s' (run 'mlsae --help' for the list)\n", name);
    return 2;
}
