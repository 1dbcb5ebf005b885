/* mlsae config: show or check the effective run configuration. */
#include "config.h"
#include "cli/commands.h"
#include "config/run_config.h"
#include "hub/hub.h"
#include "model/neox_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae config [--config FILE]... [OPTIONS] [--print]\n"
            "\n"
            "Build the run configuration as 'mlsae train' and 'mlsae test' do (defaults,\n"
            "then each YAML file given with --config in order, then the options on the\n"
            "command line) and check it. Without --print, report the quantities derived\n"
            "from it; with --print, write it to stdout as YAML that --config reads back.\n"
            "\n"
            "  --config FILE, -c FILE   a YAML file of options (the reference's layout)\n"
            "  --print                  print the effective configuration as YAML\n"
            "  --help, -h               this help\n"
            "\n");
    mlsae_run_config_print_help(out);
}

int cmd_config(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!rest || !cfg) {
        free(rest);
        free(cfg);
        return cli_error("config", "out of memory");
    }
    mlsae_error err;
    int n_rest = 0, status = 0, print = 0;
    if (mlsae_run_config_from_args(cfg, argc, argv, rest, &n_rest, &err) != 0) {
        status = cli_error("config", "%s", err.msg);
        goto done;
    }
    for (int i = 0; i < n_rest; i++) {
        if (strcmp(rest[i], "--print") == 0) {
            print = 1;
        } else {
            status = cli_error("config", "%s '%s' (see 'mlsae config --help')",
                               rest[i][0] == '-' ? "unknown option" : "unexpected argument", rest[i]);
            goto done;
        }
    }
    if (print) {
        if (mlsae_run_config_write_yaml(cfg, stdout, &err) != 0) status = cli_error("config", "%s", err.msg);
        goto done;
    }
    /* the checks that need the model, when it is here without a download */
    char *model_dir = NULL;
    int local = mlsae_model_find_local(cfg->model_name, &model_dir, &err);
    mlsae_neox_config mc;
    if (local < 0 ||
        (local == 0 && (mlsae_neox_config_load(model_dir, &mc, &err) ||
                        mlsae_run_config_check_model(cfg, mc.hidden_size, mc.n_layers, &err) ||
                        mlsae_run_config_check_context(cfg, mc.max_positions, model_dir, &err)))) {
        free(model_dir);
        status = cli_error("config", "%s", err.msg);
        goto done;
    }
    mlsae_run_derived d;
    mlsae_run_config_derive(cfg, &d);
    printf("configuration OK\n");
    if (local == 0)
        printf("model:                    checked against %s (d_model %d, %d layers, context %d)\n",
               model_dir, mc.hidden_size, mc.n_layers, mc.max_positions);
    else
        printf("model:                    not checked (%s is not available locally; train and "
               "test check it right after loading it)\n", cfg->model_name);
    free(model_dir);
    printf("tokens per micro-batch:   %lld (batch_size %lld x max_length %lld)\n",
           (long long)d.tokens_per_micro_batch, (long long)cfg->data.batch_size,
           (long long)cfg->data.max_length);
    printf("micro-batches:            %lld (data.max_tokens %.6g)\n", (long long)d.max_micro_batches,
           cfg->data.max_tokens);
    printf("optimizer steps:          %lld (%s)\n", (long long)d.max_steps,
           cfg->trainer.max_steps != MLSAE_CONFIG_NONE ? "trainer.max_steps"
                                                       : "micro-batches / accumulate_grad_batches");
    printf("dead_steps_threshold:     %lld (counted in micro-batches, as the reference does)\n",
           (long long)d.dead_steps_threshold);
    if (cfg->n_layers == 0) printf("layers:                   all\n");
done:
    free(rest);
    free(cfg);
    return status;
}
