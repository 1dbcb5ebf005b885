/* mlsae test: every SPEC §5 metric of one or more trained SAEs of a model,
 * one CSV row each, from one pass over the data. */
#include "config.h"
#include "cli/comm_args.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/ckpt_args.h"
#include "core/paths.h"
#include "eval/evaluate.h"
#include "pipeline/comm.h"
#include "sae/checkpoint.h"
#include "train/sweep.h"
#include "train/trainer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae test --checkpoint DIR [--checkpoint DIR]... [--csv FILE|DIR]\n"
            "                  [--config FILE]... [OPTIONS]\n"
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
            "Several --checkpoint options test several SAEs of the same model (the same\n"
            "model_name, layers, max_length, batch_size, skip_special_tokens, tuned_lens and\n"
            "transformer weights; a mismatch is refused, naming both checkpoints and the\n"
            "field) in ONE pass over the data: one transformer forward per batch, its true\n"
            "logits shared by every SAE. Each SAE's CSV is the one it gets tested alone.\n"
            "\n"
            "  --checkpoint DIR   the SAE: a directory with config.json + model.safetensors\n"
            "                     (ours, the reference's, or its -tfm variant), or a Hugging\n"
            "                     Face repo id (e.g. tim-lawson/mlsae-pythia-70m-deduped-x64-k32\n"
            "                     -tfm) found in or downloaded into the HF cache. A -tfm\n"
            "                     checkpoint's config.json supplies model_name, layers,\n"
            "                     max_length, batch_size and skip_special_tokens, before the\n"
            "                     options on the command line, as a training run's\n"
            "                     <out>/checkpoints/last does from its run.yaml; a plain\n"
            "                     SAE holds no model: name it with --model_name.\n"
            "                     Repeat it to test several SAEs of one model in one pass.\n"
            "  --checkpoint-revision REV  the repo ids' branch, tag or commit (default main)\n"
            "  --csv FILE         where to write the row (default <checkpoint>/../test_<name>.csv;\n"
            "                     for a run's <out>/checkpoints/C, <out>/test_<SAE>-C.csv)\n"
            "  --csv DIR          with several checkpoints: an existing directory that\n"
            "                     receives test_<name>.csv for each (default: each next to\n"
            "                     its checkpoint, as for one)\n"
            "  --config FILE      a YAML file of options (model_name, revision, layers, data.*)\n"
            "  --help, -h         this help\n"
            "\n");
    mlsae_run_config_print_help(out);
}

/* "--checkpoint DIR" and "--checkpoint=DIR" in argv (cli_take_value's rule). */
static int count_checkpoints(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++)
        n += strcmp(argv[i], "--checkpoint") == 0 || strncmp(argv[i], "--checkpoint=", 13) == 0;
    return n;
}

static int is_dot(const char *c, size_t n)
{
    return (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
}

/* 1 when path's last two components do not name the directory and its
 * parent: a single component, or "." / ".." among those two. */
static int needs_real_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return 1;
    if (is_dot(slash + 1, strlen(slash + 1))) return 1;
    const char *start = slash;
    while (start > path && start[-1] != '/') start--;
    return is_dot(start, (size_t)(slash - start));
}

/* test_<name>.csv for a checkpoint: in dir when given, else next to the
 * checkpoint; for a repo id, here (as the reference). A training run's
 * <out>/checkpoints/<c> is named after the run's SAE, <out>/test_<SAE>-<c>.csv
 * (in the run's directory, beside test_<SAE>.csv of its saved SAE), not
 * test_last.csv inside checkpoints/. */
static void default_csv(const mlsae_ckpt_source *src, const mlsae_run_config *cfg, const char *dir,
                        char *out, size_t n)
{
    char path[4096], sae[1024] = "";
    snprintf(path, sizeof path, "%s", src->repo_id ? strrchr(src->repo_id, '/') + 1 : src->dir);
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') path[--len] = '\0';
    /* "last" in <out>/checkpoints, ".", "./last", "../last": the names come
     * from the directory's absolute path */
    if (!src->repo_id && needs_real_path(path)) {
        char real[PATH_MAX];
        if (realpath(path, real)) snprintf(path, sizeof path, "%s", real);
    }
    char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    const char *where = NULL; /* the directory of the CSV; NULL: here */
    if (slash) {
        *slash = '\0';
        where = slash == path ? "/" : path;
        char *up = strrchr(path, '/');
        if (!src->repo_id && strcmp(up ? up + 1 : path, "checkpoints") == 0) {
            /* named by the SAE's own shape, as the run named it (an -x or
             * -k given here changes nothing of the SAE tested) */
            mlsae_sae_config sc;
            mlsae_error err;
            if (mlsae_ckpt_read_config(src->dir, &sc, NULL, &err) == 0 && sc.n_inputs > 0)
                mlsae_sweep_name(cfg->model_name, sc.n_latents / sc.n_inputs, sc.k, sae,
                                 sizeof sae);
            else
                mlsae_train_sae_name(cfg, sae, sizeof sae);
            if (up) *up = '\0';
            where = !up ? NULL : up == path ? "/" : path;
        }
    }
    if (dir) where = dir;
    snprintf(out, n, "%s%stest_%s%s%s.csv", where ? where : "",
             where && strcmp(where, "/") ? "/" : "", sae, sae[0] ? "-" : "", name);
}

typedef struct test_arg {
    const char *arg;          /* as given */
    mlsae_ckpt_source src;
    char csv[4500];
} test_arg;

/* Resolve the checkpoints, build each one's run options and CSV path. */
static int parse(int argc, char **args, int n, test_arg *ta, mlsae_run_config *cfgs,
                 mlsae_test_target *targets)
{
    const char *csv = NULL, *rev = NULL;
    for (int i = 0; i < n; i++)
        if (cli_take_value(&argc, args, "--checkpoint", &ta[i].arg) < 0)
            return cli_error("test", "--checkpoint needs a value");
    if (cli_take_value(&argc, args, "--csv", &csv) < 0 ||
        cli_take_value(&argc, args, "--checkpoint-revision", &rev) < 0)
        return cli_error("test", "--checkpoint-revision and --csv need a value");
    if (n == 0) return cli_error("test", "--checkpoint DIR is required (see 'mlsae test --help')");
    if (n > 1 && csv && !mlsae_is_dir(csv))
        return cli_error("test", "--csv %s: with several checkpoints, --csv names an existing "
                         "directory (each SAE's test_<name>.csv goes there)", csv);
    for (int i = 0; i < n; i++) {
        if (cli_checkpoint_run_config("test", ta[i].arg, rev, argc, args, &ta[i].src, &cfgs[i],
                                      NULL, NULL))
            return 1;
        if (n == 1 && csv) snprintf(ta[i].csv, sizeof ta[i].csv, "%s", csv);
        else default_csv(&ta[i].src, &cfgs[i], n > 1 ? csv : NULL, ta[i].csv, sizeof ta[i].csv);
        targets[i].cfg = &cfgs[i];
        targets[i].sae_dir = ta[i].src.dir;
        targets[i].csv_path = ta[i].csv;
    }
    return 0;
}

static void print_results(int n, const test_arg *ta, const mlsae_test_summary *sum)
{
    if (n == 1) {
        printf("tested on %lld batches (%llu tokens) in %.1f s: loss %.4f, mean FVU %.4f, "
               "mean loss delta %.4f\n", (long long)sum[0].batches,
               (unsigned long long)sum[0].tokens, sum[0].seconds, sum[0].loss_total,
               sum[0].fvu_avg, sum[0].loss_delta_avg);
        printf("metrics: %s\n", ta[0].csv);
    } else {
        printf("tested %d checkpoints in one pass on %lld batches (%llu tokens) in %.1f s\n", n,
               (long long)sum[0].batches, (unsigned long long)sum[0].tokens, sum[0].seconds);
        for (int i = 0; i < n; i++)
            printf("%s: loss %.4f, mean FVU %.4f, mean loss delta %.4f\nmetrics: %s\n",
                   ta[i].arg, sum[i].loss_total, sum[i].fvu_avg, sum[i].loss_delta_avg, ta[i].csv);
    }
    printf("tokens/s: %.0f (one pass for %d checkpoint%s)\n",
           sum[0].seconds > 0 ? (double)sum[0].tokens / sum[0].seconds : 0.0, n, n > 1 ? "s" : "");
}

int cmd_test(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const int n = count_checkpoints(argc, argv);
    char **args;
    mlsae_run_config *cfgs;
    if (cli_checkpoint_command_start("test", argc, argv, n, &args, &cfgs)) return 1;
    const int m = n > 0 ? n : 1;
    test_arg *ta = calloc((size_t)m, sizeof *ta);
    mlsae_test_target *targets = calloc((size_t)m, sizeof *targets);
    mlsae_test_summary *sum = calloc((size_t)m, sizeof *sum);
    int status = !ta || !targets || !sum ? cli_error("test", "out of memory")
                                         : parse(argc, args, n, ta, cfgs, targets);
    mlsae_error err;
    if (!status) status = cli_comm_start("test", &cfgs[0]);
    /* its thread share, when it set one, for every SAE's options alike */
    for (int i = 1; !status && i < n; i++)
        if (cfgs[i].threads == 0) cfgs[i].threads = cfgs[0].threads;
    const int rank = mlsae_comm_rank();
    if (!status) {
        cli_download_progress(rank == 0);
        int failed = mlsae_test_many(targets, n, rank == 0 ? stderr : NULL, sum, &err) != 0;
        cli_download_progress(0);
        if (failed) {
            /* with several ranks the others wait in a collective: it ends them all */
            status = cli_comm_fail("test", err.msg);
        } else if (rank == 0) {
            print_results(n, ta, sum);
        }
    }
    for (int i = 0; ta && i < m; i++) mlsae_ckpt_source_free(&ta[i].src);
    free(ta);
    free(targets);
    free(sum);
    free(args);
    free(cfgs);
    mlsae_comm_finalize();
    return status;
}
