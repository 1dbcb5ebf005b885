/* mlsae test: every SPEC §5 metric of a trained SAE, one CSV row. */
#include "config.h"
#include "cli/comm_args.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/ckpt_args.h"
#include "core/paths.h"
#include "eval/evaluate.h"
#include "pipeline/comm.h"

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
            "`mpirun -np N mlsae test ...` shares the batches among N processes and writes\n"
            "the same row (doc/scaling.md).\n"
            "\n"
            "  --checkpoint DIR   the SAE: a directory with config.json + model.safetensors\n"
            "                     (ours, the reference's, or its -tfm variant), or a Hugging\n"
            "                     Face repo id (e.g. tim-lawson/mlsae-pythia-70m-deduped-x64-k32\n"
            "                     -tfm) found in or downloaded into the HF cache. A -tfm\n"
            "                     checkpoint's config.json supplies model_name, layers,\n"
            "                     max_length, batch_size and skip_special_tokens, before the\n"
            "                     options on the command line; a plain checkpoint holds no\n"
            "                     model: name it with --model_name (a directory or repo id).\n"
            "  --checkpoint-revision REV  the repo id's branch, tag or commit (default main)\n"
            "  --csv FILE         where to write the row (default <checkpoint>/../test_<name>.csv)\n"
            "  --config FILE      a YAML file of options (model_name, revision, layers, data.*)\n"
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
    const char *ckpt = NULL, *csv = NULL, *ckpt_rev = NULL;
    int status = 0;
    mlsae_ckpt_source src = {0};
    if (cli_take_value(&argc, args, "--checkpoint", &ckpt) < 0 ||
        cli_take_value(&argc, args, "--csv", &csv) < 0 ||
        cli_take_value(&argc, args, "--checkpoint-revision", &ckpt_rev) < 0)
        status = cli_error("test", "--checkpoint, --checkpoint-revision and --csv need a value");
    else if (!ckpt)
        status = cli_error("test", "--checkpoint DIR is required (see 'mlsae test --help')");
    else
        status = cli_checkpoint_run_config("test", ckpt, ckpt_rev, argc, args, &src, cfg, NULL,
                                           NULL);
    const char *repo_id = src.repo_id;
    if (!status) ckpt = src.dir;
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
    mlsae_error err;
    if (!status) status = cli_comm_start("test", cfg);
    const int rank = mlsae_comm_rank();
    if (!status) {
        mlsae_test_summary sum;
        cli_download_progress(rank == 0);
        int failed = mlsae_test(cfg, ckpt, csv, rank == 0 ? stderr : NULL, &sum, &err) != 0;
        cli_download_progress(0);
        if (failed) {
            /* with several ranks the others wait in a collective: it ends them all */
            status = cli_comm_fail("test", err.msg);
        } else if (rank == 0) {
            printf("tested on %lld batches (%llu tokens) in %.1f s: loss %.4f, mean FVU %.4f, "
                   "mean loss delta %.4f\n", (long long)sum.batches,
                   (unsigned long long)sum.tokens, sum.seconds, sum.loss_total, sum.fvu_avg,
                   sum.loss_delta_avg);
            printf("metrics: %s\n", csv);
        }
    }
    mlsae_ckpt_source_free(&src);
    free(args);
    free(cfg);
    mlsae_comm_finalize();
    return status;
}
