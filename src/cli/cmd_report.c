/* mlsae report: one self-contained HTML file about one SAE. */
#include "config.h"
#include "cli/commands.h"
#include "cli/figure_args.h"
#include "core/atomic_file.h"
#include "core/paths.h"
#include "figures/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "report"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae report (--checkpoint DIR|REPO | --model_name M --expansion_factor E -k K\n"
            "                    [--tuned_lens]) [--out DIR] [OPTIONS]\n"
            "\n"
            "Write OUT/NAME-report.html: one self-contained HTML file (figures inlined as\n"
            "PNG, no other files needed) with the checkpoint's configuration, the layer\n"
            "distribution statistics and figures (from OUT/NAME-dists.safetensors), the\n"
            "decoder cosine-similarity histogram, the training curves (OUT/metrics.jsonl or\n"
            "--metrics) and the test metrics (OUT/test_NAME.csv), each when its input is\n"
            "there; the sections left out are listed in the report and on stdout.\n"
            "\n"
            "Options:\n"
            "  --checkpoint X          a checkpoint directory or repo id (HF cache); its\n"
            "                          run.yaml (or ../checkpoints/last/run.yaml) is shown\n"
            "  --model_name, --expansion_factor, -k, --tuned_lens, --checkpoints DIR\n"
            "                          one SAE of a sweep, named as `mlsae figures` names it\n"
            "  --out DIR               where the analyses wrote and the report goes (default out)\n"
            "  --metrics FILE          the training log (default OUT/metrics.jsonl)\n"
            "  --prompt TEXT           add the prompt heatmap (runs the model; a plain\n"
            "                          checkpoint needs --model_name)\n"
            "  --style labelled|paper  figure style (default labelled)\n"
            "  --dpi N                 resolution of the inlined figures (default 110)\n"
            "  --device DEV            backend for the cosine blocks (default cpu)\n"
            "  -h, --help              this help\n");
}

int cmd_report(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    cli_figure_args a;
    char msg[512];
    int dpi_given = 0;
    for (int i = 1; i < argc; i++) dpi_given |= strncmp(argv[i], "--dpi", 5) == 0;
    if (cli_figure_args_parse(&a, argc, argv, 0, msg, sizeof msg) != 0) {
        cli_error(CMD, "%s (see 'mlsae report --help')", msg);
        return 2;
    }
    if (!dpi_given) a.opts.dpi = 110;
    mlsae_fig_sweep sw = {
        .model_names = a.model_names, .n_model_names = a.n_model_names,
        .expansion_factors = a.expansion_factors, .n_expansion_factors = a.n_expansion_factors,
        .ks = a.ks, .n_ks = a.n_ks, .tuned_lens = a.tuned_lens,
        .checkpoints_dir = a.checkpoints_dir, .checkpoints = a.checkpoints,
        .n_checkpoints = a.n_checkpoints, .out_dir = a.out_dir,
    };
    mlsae_fig_sae *saes = NULL;
    int n = 0, status = 0;
    mlsae_error err;
    if (mlsae_fig_sweep_resolve(&sw, &saes, &n, &err) != 0) return cli_error(CMD, "%s", err.msg);
    mlsae_fig_context ctx = {
        .saes = saes, .n_saes = n, .out_dir = a.out_dir, .metrics = a.metrics,
        .opts = a.opts, .device = a.device, .prompt = a.prompt,
        .dead_threshold = a.dead_threshold,
    };
    char path[4500], file[400];
    if (n != 1) {
        status = cli_error(CMD, "a report is about one SAE; %d given", n);
    } else if (!saes[0].checkpoint && !saes[0].dists) {
        status = cli_error(CMD, "%s: neither a checkpoint (looked in %s) nor a dists file "
                           "(looked for %s)", saes[0].name,
                           saes[0].checkpoint_looked ? saes[0].checkpoint_looked : "?",
                           saes[0].dists_looked ? saes[0].dists_looked : "?");
    } else if (mlsae_mkdir_p(a.out_dir, &err) != 0) {
        status = cli_error(CMD, "%s", err.msg);
    } else {
        snprintf(file, sizeof file, "%s-report.html", saes[0].name);
        mlsae_path_join(path, sizeof path, a.out_dir, file);
        mlsae_report_result res;
        if (mlsae_report_write(&ctx, path, &res, &err) != 0) {
            status = cli_error(CMD, "%s", err.msg);
        } else {
            printf("report: %s (%d figures)\n", path, res.n_figures);
            if (res.skipped[0]) printf("not included: %s\n", res.skipped);
        }
    }
    if (ctx.be) mlsae_backend_close(ctx.be);
    mlsae_fig_saes_free(saes, n);
    return status;
}
