/* mlsae test: every SPEC §5 metric of a trained SAE, one CSV row. */
#include "config.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/run_args.h"
#include "core/atomic_file.h"
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

/* Pull "--checkpoint X" / "--csv X" out of argv (they are not run options). */
static int take_value(int *argc, char **argv, const char *flag, const char **value)
{
    size_t fl = strlen(flag);
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int used = 0;
        if (strcmp(argv[i], flag) == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            used = 2;
        } else if (strncmp(argv[i], flag, fl) == 0 && argv[i][fl] == '=') {
            v = argv[i] + fl + 1;
            used = 1;
        } else if (strcmp(argv[i], flag) == 0) {
            return -1;
        }
        if (used) {
            *value = v;
            for (int j = i; j + used < *argc; j++) argv[j] = argv[j + used];
            *argc -= used;
            return 1;
        }
    }
    return 0;
}

/* The run options a -tfm checkpoint's config.json holds (the reference's
 * Lightning module), as command-line options to go before the user's.
 * Appends to out (room for 10) and returns how many; 0 for a plain SAE. */
static int tfm_args(const char *dir, char **out, char *store, size_t store_n)
{
    char *path = mlsae_path_join_new(dir, "config.json");
    char *text = NULL;
    size_t text_len = 0;
    mlsae_error ignore;
    json_t *root = path && mlsae_read_file(path, &text, &text_len, &ignore) == 0
                       ? json_loadb(text, text_len, 0, NULL) : NULL;
    free(text);
    free(path);
    int n = 0;
    size_t used = 0;
#define PUT(...)                                                                        \
    do {                                                                                \
        int w = snprintf(store + used, store_n - used, __VA_ARGS__);                    \
        if (w < 0 || (size_t)w >= store_n - used) goto done;                            \
        out[n++] = store + used;                                                        \
        used += (size_t)w + 1;                                                          \
    } while (0)
    json_t *name = json_object_get(root, "model_name");
    if (!json_is_string(name)) goto done;
    PUT("--model_name=%s", json_string_value(name));
    json_t *layers = json_object_get(root, "layers");
    if (json_is_array(layers) && json_array_size(layers) > 0) {
        char list[1024] = "";
        size_t len = 0, i;
        json_t *v;
        json_array_foreach(layers, i, v) {
            if (!json_is_integer(v)) goto done;
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", i ? "," : "",
                                    (long long)json_integer_value(v));
            if (len >= sizeof list) goto done;
        }
        PUT("--layers=%s", list);
    }
    json_t *v = json_object_get(root, "max_length");
    if (json_is_integer(v)) PUT("--data.max_length=%lld", (long long)json_integer_value(v));
    v = json_object_get(root, "batch_size");
    if (json_is_integer(v)) PUT("--data.batch_size=%lld", (long long)json_integer_value(v));
    v = json_object_get(root, "skip_special_tokens");
    if (json_is_boolean(v))
        PUT("--autoencoder.skip_special_tokens=%s", json_is_true(v) ? "true" : "false");
#undef PUT
done:
    json_decref(root);
    return n;
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
    if (take_value(&argc, args, "--checkpoint", &ckpt) < 0 || take_value(&argc, args, "--csv", &csv) < 0)
        status = cli_error("test", "--checkpoint and --csv need a value");
    else if (!ckpt)
        status = cli_error("test", "--checkpoint DIR is required (see 'mlsae test --help')");
    /* a repo id rather than a directory: the HF cache, downloading if needed */
    char *resolved = NULL;
    const char *repo_id = NULL;
    mlsae_error rerr;
    if (!status && !mlsae_is_dir(ckpt) && strchr(ckpt, '/') && !mlsae_path_exists(ckpt)) {
        cli_download_progress(1);
        if (mlsae_model_resolve(ckpt, &resolved, &rerr) != 0)
            status = cli_error("test", "%s", rerr.msg);
        else
            repo_id = ckpt, ckpt = resolved;
        cli_download_progress(0);
    }
    if (!status) {
        /* a -tfm checkpoint's run options go first: the command line overrides them */
        char *extra[10], store[8192];
        int n_extra = tfm_args(ckpt, extra, store, sizeof store);
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
