/* mlsae test: every SPEC §5 metric of a trained SAE, one CSV row. */
#include "config.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/run_args.h"
#include "cli/checkpoint_args.h"
#include "core/paths.h"
#include "hub/hub.h"
#include "eval/evaluate.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae test --checkpoint DIR [--csv FILE] [--config FILE]... [OPTIONS]\n"
            "\n"
            "Run a trained SAE on a test dataset (data.path; the reference uses the test\n"
            "split of its dataset) and write one CSV row with every metric of the\n"
            "reference's test step, averaged over the batches: per layer L1, MSE, FVU, L0,\n"
            "the downstream loss delta, logit MSE and KL divergence when the layer's\n"
            "reconstruction is spliced into the transformer, the dead fraction and the\n"
            "losses. At most ceil(data.max_tokens / (batch_size * max_length)) batches.\n"
            "\n"
            "  --checkpoint DIR   the SAE: a directory with config.json + model.safetensors\n"
            "                     (ours, the reference's, or its -tfm variant), or a Hugging\n"
            "                     Face repo id (e.g. tim-lawson/mlsae-pythia-70m-deduped-x64-k32\n"
            "                     -tfm) found in or downloaded into the HF cache. A -tfm\n"
            "                     checkpoint's config.json supplies model_name, layers,\n"
            "                     max_length, batch_size and skip_special_tokens, before the\n"
            "                     options on the command line.\n"
            "  --csv FILE         where to write the row (default <checkpoint>/../test_<name>.csv)\n"
            "  --config FILE      a YAML file of options (model_name, layers, data.*)\n"
            "  --help, -h         this help\n"
            "\n");
    mlsae_run_config_print_help(out);
}

int cmd_test(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    char **args = malloc(((size_t)argc + 12) * sizeof *args);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!args || !cfg) {
        free(args);
        free(cfg);
        return cli_error("test", "out of memory");
    }
    memcpy(args, argv, (size_t)argc * sizeof *args);
    const char *ckpt = NULL, *csv = NULL;
    int status = 0;
    if (cli_take_value(&argc, args, "--checkpoint", &ckpt) < 0 || cli_take_value(&argc, args, "--csv", &csv) < 0)
        status = cli_error("test", "--checkpoint and --csv need a value");
    else if (!ckpt)
        status = cli_error("test", "--checkpoint DIR is required (see 'mlsae test --help')");
    /* a repo id rather than a directory: the HF cache, downloading if needed */
    char *resolved = NULL;
    const char *repo_id = NULL;
    if (!status) status = cli_resolve_checkpoint("test", &ckpt, &resolved, &repo_id);
    if (!status) {
        /* a -tfm checkpoint's run options go first: the command line overrides them */
        char *extra[10], store[8192];
        int n_extra = cli_tfm_args(ckpt, extra, store, sizeof store);
        if (n_extra > 0) {
            memmove(args + 1 + n_extra, args + 1, (size_t)(argc - 1) * sizeof *args);
            memcpy(args + 1, extra, (size_t)n_extra * sizeof *args);
            argc += n_extra;
        }
        status = cli_run_config("test", argc, args, cfg, NULL, NULL);
    }
    char csv_default[4500];
    if (!status && !csv) {
        /* next to the checkpoint; for a repo id, test_<name>.csv here (as the reference) */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", repo_id ? strrchr(repo_id, '/') + 1 : ckpt);
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
        const char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : dir;
        if (slash) snprintf(csv_default, sizeof csv_default, "%.*s/test_%s.csv",
                            (int)(slash - dir), dir, base);
        else snprintf(csv_default, sizeof csv_default, "test_%s.csv", base);
        csv = csv_default;
    }
    if (!status) {
        mlsae_test_summary sum;
        mlsae_error err;
        cli_download_progress(1);
        int failed = mlsae_test(cfg, ckpt, csv, stderr, &sum, &err) != 0;
        cli_download_progress(0);
        if (failed) {
            status = cli_error("test", "%s", err.msg);
        } else {
            printf("tested on %lld batches (%llu tokens) in %.1f s: loss %.4f, mean FVU %.4f, "
                   "mean loss delta %.4f\n", (long long)sum.batches,
                   (unsigned long long)sum.tokens, sum.seconds, sum.loss_total, sum.fvu_avg,
                   sum.loss_delta_avg);
            printf("metrics: %s\n", csv);
        }
    }
    free(resolved);
    free(args);
    free(cfg);
    return status;
}
