/* mlsae dists / examples / variances / resid-cos-sim: the analyses that
 * stream a dataset through the model (and a trained SAE); embed-cos-sim and
 * mmcs, which need no data (src/analysis/run.h). Parsing and printing only.
 * Under an MPI launcher (doc/scaling.md) the streaming ones run on every
 * rank, each on its share of the batches, and rank 0 writes; the others run
 * on rank 0 alone. */
#include "config.h"
#include "cli/ckpt_args.h"
#include "cli/comm_args.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "cli/run_args.h"
#include "analysis/run.h"
#include "pipeline/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char CKPT_HELP[] =
    "  --checkpoint DIR   the SAE, as for 'mlsae test': a directory with config.json +\n"
    "                     model.safetensors (ours, the reference's, or its -tfm variant)\n"
    "                     or a Hugging Face repo id found in or downloaded into the HF\n"
    "                     cache. A -tfm checkpoint's config.json supplies model_name,\n"
    "                     layers, max_length, batch_size and skip_special_tokens, before\n"
    "                     the command line; a plain one needs --model_name.\n"
    "  --out DIR          where to write (default ./out, as the reference)\n"
    "  --config FILE      a YAML file of run options (model_name, layers, data.*)\n"
    "  --help, -h         this help\n"
    "The token budget is data.max_tokens exactly.\n\n";

typedef struct analysis_cmd {
    const char *name;
    const char *usage;
    const char *const *int_flags; /* extra integer options, NULL-terminated */
    const int *int_defaults;
    const int *int_min;
    /* an analysis with integer options (ints: their values, in int_flags' order) */
    int (*run)(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt, const int *ints,
               const char *out_dir, mlsae_analysis_result *res, mlsae_error *err);
    /* or one without: src/analysis/run.h's entry point itself */
    int (*run_plain)(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                     const char *out_dir, FILE *progress, mlsae_analysis_result *res,
                     mlsae_error *err);
    int streams; /* streams data: over MPI every rank takes part; else rank 0 alone runs */
} analysis_cmd;

static int run_examples(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt,
                        const int *ints, const char *out_dir, mlsae_analysis_result *res,
                        mlsae_error *err)
{
    mlsae_examples_options opt = {ints[0], ints[1]};
    return mlsae_analysis_examples(cfg, ckpt, &opt, out_dir,
                                   mlsae_comm_rank() == 0 ? stderr : NULL, res, err);
}

/* --latents for embed-cos-sim: a comma-separated list (parsed in cmd_embed_cos_sim). */
static int g_latents[4096];
static int g_n_latents;

static int run_embed(const mlsae_run_config *cfg, const mlsae_ckpt_source *ckpt, const int *ints,
                     const char *out_dir, mlsae_analysis_result *res, mlsae_error *err)
{
    return mlsae_analysis_embed_cos_sim(cfg, ckpt, g_latents, g_n_latents, ints[0], out_dir, res,
                                        err);
}

static int parse_int(const char *cmd, const char *flag, const char *text, int min, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < min || v > 1000000)
        return cli_error(cmd, "%s: '%s' is not an integer in %d..1000000", flag, text, min);
    *out = (int)v;
    return 0;
}

static int run_analysis(const analysis_cmd *ac, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(ac->usage, stdout);
        fputs(CKPT_HELP, stdout);
        mlsae_run_config_print_help(stdout);
        return 0;
    }
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!args || !cfg) {
        free(args);
        free(cfg);
        return cli_error(ac->name, "out of memory");
    }
    memcpy(args, argv, (size_t)argc * sizeof *args);
    const char *ckpt = NULL, *out_dir = "out", *v;
    int ints[4] = {0}, status = 0;
    mlsae_ckpt_source src = {0};
    for (int i = 0; ac->int_flags && ac->int_flags[i] && !status; i++) {
        ints[i] = ac->int_defaults[i];
        int got = cli_take_value(&argc, args, ac->int_flags[i], &v);
        if (got < 0) status = cli_error(ac->name, "%s needs a value", ac->int_flags[i]);
        else if (got) status = parse_int(ac->name, ac->int_flags[i], v, ac->int_min[i], &ints[i]);
    }
    if (!status && (cli_take_value(&argc, args, "--checkpoint", &ckpt) < 0 ||
                    cli_take_value(&argc, args, "--out", &out_dir) < 0))
        status = cli_error(ac->name, "--checkpoint and --out need a value");
    else if (!status && !ckpt)
        status = cli_error(ac->name, "--checkpoint DIR is required (see 'mlsae %s --help')",
                           ac->name);
    if (!status)
        status = cli_checkpoint_run_config(ac->name, ckpt, NULL, argc, args, &src, cfg, NULL, NULL);
    if (!status) status = cli_comm_start(ac->name, cfg);
    const int rank = mlsae_comm_rank();
    if (!status && (ac->streams || rank == 0)) {
        mlsae_analysis_result res;
        mlsae_error err;
        cli_download_progress(rank == 0);
        FILE *progress = rank == 0 ? stderr : NULL;
        int failed = (ac->run ? ac->run(cfg, &src, ints, out_dir, &res, &err)
                              : ac->run_plain(cfg, &src, out_dir, progress, &res, &err)) != 0;
        cli_download_progress(0);
        if (failed && ac->streams) {
            status = cli_comm_fail(ac->name, err.msg);
        } else if (failed) {
            status = cli_error(ac->name, "%s", err.msg);
        } else if (rank == 0) {
            printf("%s: %lld batches, %llu tokens per layer in %.1f s (%.0f tokens/s)\n",
                   ac->name, (long long)res.batches, (unsigned long long)res.tokens,
                   res.seconds, res.seconds > 0 ? (double)res.tokens / res.seconds : 0.0);
            for (int i = 0; i < res.n_files; i++) printf("wrote %s\n", res.files[i]);
        }
    }
    if (src.dir) mlsae_ckpt_source_free(&src);
    free(args);
    free(cfg);
    mlsae_comm_finalize();
    return status;
}

static const char *const EXAMPLES_FLAGS[] = {"--n_examples", "--n_tokens", NULL};
static const int EXAMPLES_DEFAULTS[] = {32, 4}, EXAMPLES_MIN[] = {1, 0};

/* The analyses whose options are run_analysis' own. */
static const analysis_cmd DISTS = {
    .name = "dists",
    .usage =
        "Usage: mlsae dists --checkpoint DIR [--out DIR] [OPTIONS]\n"
        "\n"
        "For every latent and layer, how often the latent is in the SAE's TopK and the\n"
        "sum of its TopK values (mlsae/analysis/dists.py). Writes OUT/NAME-dists.safetensors\n"
        "(counts, totals F32 [n_layers, n_latents]; NAME-tfm becomes NAME-dists),\n"
        "OUT/NAME-dists.csv (per latent: count, total, mean, layer_mean, layer_var,\n"
        "layer_std) and, every --log_every_n_steps batches (default 8; null: never),\n"
        "a row of OUT/dists_layer_std_step_NAME.csv.\n\n",
    .run_plain = mlsae_analysis_dists,
    .streams = 1};
static const analysis_cmd EXAMPLES = {
    .name = "examples",
    .usage =
        "Usage: mlsae examples --checkpoint DIR [--n_examples N] [--n_tokens N] [--out DIR]\n"
        "\n"
        "The top activating examples of every latent at every layer\n"
        "(mlsae/analysis/examples.py): OUT/NAME-examples.db, SQLite, table examples (id,\n"
        "latent, layer, token_id, token, act, token_ids, tokens, acts; JSON text in the\n"
        "last three) with the n_examples highest activations per (latent, layer) and\n"
        "n_tokens of context either side, within the same sequence.\n"
        "\n"
        "  --n_examples N     examples kept per latent and layer (32)\n"
        "  --n_tokens N       context tokens either side (4)\n",
    .int_flags = EXAMPLES_FLAGS,
    .int_defaults = EXAMPLES_DEFAULTS,
    .int_min = EXAMPLES_MIN,
    .run = run_examples,
    .streams = 1};
static const analysis_cmd VARIANCES = {
    .name = "variances",
    .usage =
        "Usage: mlsae variances --checkpoint DIR [--out DIR] [OPTIONS]\n"
        "\n"
        "How much of the latents' spread over layers is explained by the latent and how\n"
        "much by the token (mlsae/analysis/variances.py): OUT/variances_NAME.csv with\n"
        "exp_var_l_f, exp_var_l_tf, var_l, rel_var_f, rel_var_t, per-batch values\n"
        "averaged over the batches, computed from the TopK entries.\n\n",
    .run_plain = mlsae_analysis_variances,
    .streams = 1};

int cmd_dists(int argc, char **argv) { return run_analysis(&DISTS, argc, argv); }
int cmd_examples(int argc, char **argv) { return run_analysis(&EXAMPLES, argc, argv); }
int cmd_variances(int argc, char **argv) { return run_analysis(&VARIANCES, argc, argv); }

int cmd_embed_cos_sim(int argc, char **argv)
{
    static const char *const flags[] = {"--n_embeds", NULL};
    static const int defaults[] = {8}, mins[] = {1};
    static const analysis_cmd ac = {
        .name = "embed-cos-sim",
        .usage =
            "Usage: mlsae embed-cos-sim --checkpoint DIR [--n_embeds N] [--latents I,J,...]\n"
            "\n"
            "The tokens whose input and output embeddings are most similar to each latent's\n"
            "decoder column (figures/embed_cos_sim.py): OUT/embed_in_cos_sim_NAME.csv and\n"
            "OUT/embed_out_cos_sim_NAME.csv (latent, token, sim) and the summary\n"
            "OUT/embed_cos_sim.csv. Needs the SAE and the model's embeddings, no data.\n"
            "\n"
            "  --n_embeds N       tokens per latent (8)\n"
            "  --latents LIST     only these latents (default: all)\n",
        .int_flags = flags,
        .int_defaults = defaults,
        .int_min = mins,
        .run = run_embed,
        .streams = 0};
    const char *list = NULL;
    if (cli_take_value(&argc, argv, "--latents", &list) < 0)
        return cli_error(ac.name, "--latents needs a value");
    g_n_latents = 0;
    for (const char *p = list; p && *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1L << 30 || (*end && *end != ',') ||
            g_n_latents == (int)(sizeof g_latents / sizeof *g_latents))
            return cli_error(ac.name, "--latents: '%s' is not a list of latent indices", list);
        g_latents[g_n_latents++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return run_analysis(&ac, argc, argv);
}

int cmd_resid_cos_sim(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs("Usage: mlsae resid-cos-sim (--model_name NAME | --checkpoint DIR) [--out DIR]\n"
              "                           [OPTIONS]\n"
              "\n"
              "The residual stream across layers (figures/resid_cos_sim.py), two passes over\n"
              "data.path: OUT/resid_l2_norm_MODEL.csv (per layer: mean, var, std, sem of the\n"
              "L2 norm) and OUT/resid_cos_sim_MODEL.csv (per adjacent layer pair: the same of\n"
              "the cosine similarity of dataset-mean-centred residual vectors). A -tfm\n"
              "checkpoint supplies model_name and layers; the SAE itself is not used.\n\n",
              stdout);
        fputs(CKPT_HELP, stdout);
        mlsae_run_config_print_help(stdout);
        return 0;
    }
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    int status = 0;
    if (!args || !cfg) {
        free(args);
        free(cfg);
        return cli_error("resid-cos-sim", "out of memory");
    }
    memcpy(args, argv, (size_t)argc * sizeof *args);
    const char *ckpt = NULL, *out_dir = "out";
    mlsae_ckpt_source src = {0};
    if (cli_take_value(&argc, args, "--checkpoint", &ckpt) < 0 ||
        cli_take_value(&argc, args, "--out", &out_dir) < 0)
        status = cli_error("resid-cos-sim", "--checkpoint and --out need a value");
    else if (ckpt)
        status = cli_checkpoint_run_config("resid-cos-sim", ckpt, NULL, argc, args, &src, cfg, NULL,
                                           NULL);
    else
        status = cli_run_config("resid-cos-sim", argc, args, cfg, NULL, NULL);
    if (!status) status = cli_comm_start("resid-cos-sim", cfg);
    if (!status) {
        mlsae_analysis_result res;
        mlsae_error err;
        const int rank = mlsae_comm_rank();
        cli_download_progress(rank == 0);
        int failed = mlsae_analysis_resid_cos_sim(cfg, out_dir, rank == 0 ? stderr : NULL, &res,
                                                  &err) != 0;
        cli_download_progress(0);
        if (failed) {
            status = cli_comm_fail("resid-cos-sim", err.msg);
        } else if (rank == 0) {
            printf("resid-cos-sim: 2 passes of %llu tokens per layer in %.1f s\n",
                   (unsigned long long)res.tokens, res.seconds);
            for (int i = 0; i < res.n_files; i++) printf("wrote %s\n", res.files[i]);
        }
        if (ckpt) mlsae_ckpt_source_free(&src);
    }
    free(args);
    free(cfg);
    mlsae_comm_finalize();
    return status;
}

/* The model a checkpoint names (a -tfm config.json's model_name), else the
 * run configuration's. */
static void model_name_of(const char *dir, const char *fallback, char *out, size_t n)
{
    mlsae_run_config *c = malloc(sizeof *c);
    mlsae_error err;
    int is_tfm = 0;
    snprintf(out, n, "%s", fallback);
    if (!c) return;
    mlsae_run_config_defaults(c);
    if (mlsae_run_config_apply_checkpoint(c, dir, &is_tfm, &err) == 0 && is_tfm)
        snprintf(out, n, "%s", c->model_name);
    free(c);
}

int cmd_mmcs(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs("Usage: mlsae mmcs --checkpoint DIR [--checkpoint DIR]... [--out DIR] [--device D]\n"
              "\n"
              "Mean max cosine similarity of each SAE's decoder (figures/mmcs.py): per latent\n"
              "the largest cosine similarity of its decoder column with any earlier latent's\n"
              "(clipped at 0), then mean, var, std, sem; one row per checkpoint in OUT/mmcs.csv.\n"
              "Needs no data. --checkpoint as for 'mlsae test'; --out DIR (default ./out).\n"
              "The model_name column is a -tfm checkpoint's own, else --model_name (default\n"
              "EleutherAI/pythia-70m-deduped): give it for a plain SAE of another model.\n",
              stdout);
        return 0;
    }
    char **args = malloc(((size_t)argc + 1) * sizeof *args);
    const char **ckpts = malloc(((size_t)argc + 1) * sizeof *ckpts);
    mlsae_ckpt_source *src = calloc((size_t)argc + 1, sizeof *src);
    char(*names)[MLSAE_CONFIG_STR_MAX] = calloc((size_t)argc + 1, sizeof *names);
    const char **name_ptrs = calloc((size_t)argc + 1, sizeof *name_ptrs);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    int status = 0, n = 0, resolved = 0, got;
    const char *out_dir = "out", *v;
    if (!args || !ckpts || !src || !names || !name_ptrs || !cfg) {
        status = cli_error("mmcs", "out of memory");
        goto done;
    }
    memcpy(args, argv, (size_t)argc * sizeof *args);
    while ((got = cli_take_value(&argc, args, "--checkpoint", &v)) > 0) ckpts[n++] = v;
    if (got < 0 || cli_take_value(&argc, args, "--out", &out_dir) < 0) {
        status = cli_error("mmcs", "--checkpoint and --out need a value");
        goto done;
    }
    if (n == 0) {
        status = cli_error("mmcs", "--checkpoint DIR is required (see 'mlsae mmcs --help')");
        goto done;
    }
    status = cli_checkpoint_run_config("mmcs", ckpts[0], NULL, argc, args, &src[0], cfg, NULL, NULL);
    if (status) goto done;
    resolved = 1;
    for (int i = 1; i < n && !status; i++) {
        mlsae_error err;
        if (mlsae_ckpt_source_resolve(ckpts[i], NULL, &src[i], &err))
            status = cli_error("mmcs", "%s", err.msg);
        else
            resolved++;
    }
    for (int i = 0; i < resolved; i++) {
        model_name_of(src[i].dir, cfg->model_name, names[i], sizeof names[i]);
        name_ptrs[i] = names[i];
    }
    /* no data: under an MPI launcher rank 0 alone computes and writes */
    if (!status) status = cli_comm_start("mmcs", cfg);
    if (!status && mlsae_comm_rank() == 0) {
        mlsae_analysis_result res;
        mlsae_error err;
        if (mlsae_analysis_mmcs(cfg, src, name_ptrs, n, out_dir, &res, &err)) {
            status = cli_error("mmcs", "%s", err.msg);
        } else {
            printf("mmcs: %d checkpoint%s in %.1f s\n", n, n > 1 ? "s" : "", res.seconds);
            for (int i = 0; i < res.n_files; i++) printf("wrote %s\n", res.files[i]);
        }
    }
done:
    for (int i = 0; i < resolved; i++) mlsae_ckpt_source_free(&src[i]);
    free(args);
    free(ckpts);
    free(src);
    free(names);
    free(name_ptrs);
    free(cfg);
    mlsae_comm_finalize();
    return status;
}
