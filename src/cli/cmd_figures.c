/* mlsae figures: the paper's figures (PNG, PDF) and the CSV behind each,
 * from the analyses' outputs (doc/figures.md). */
#include "config.h"
#include "cli/commands.h"
#include "cli/figure_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "figures"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae figures [KIND ...] (--checkpoint DIR|REPO ... | --model_name M ...\n"
            "                     --expansion_factor E ... -k K ... [--tuned_lens]) [OPTIONS]\n"
            "\n"
            "Draw the paper's figures as PNG and PDF, each beside the CSV of its numbers,\n"
            "from what the analyses wrote (OUT/NAME-dists.safetensors, OUT/mmcs.csv, ...).\n"
            "With no KIND, every kind whose inputs exist is made and the others are named\n"
            "as skipped; a KIND asked for whose inputs are missing is an error that names\n"
            "every missing input, and nothing is written.\n"
            "\n"
            "Kinds (outputs in OUT):\n"
            "  dists-heatmap     dists_heatmap_NAME: latents' layer distributions, sorted by\n"
            "                    mean layer (needs NAME-dists.safetensors)\n"
            "  dists-histogram   dists_histogram[_noninteger]_NAME: density of the mean layer\n"
            "                    (--noninteger: of its distance to the nearest layer)\n"
            "  dists-cos-sim     dists_cos_sim_heatmap_NAME: decoder cosine similarity against\n"
            "                    difference in mean layer, all latent pairs (dists + checkpoint)\n"
            "  dists-layer-std   dists_layer_std: mean/var/std/sem of layer_std over the SAEs\n"
            "  mmcs              mmcs_sweep: the SAEs' rows of OUT/mmcs.csv (mlsae mmcs)\n"
            "  embed-cos-sim     embed_cos_sim_sweep: the SAEs' rows of OUT/embed_cos_sim.csv\n"
            "  resid-cos-sim     resid_cos_sim_[lens_]MODEL: adjacent-layer cosine similarity\n"
            "                    of OUT/resid_cos_sim_[lens_]MODEL.csv, with error bars\n"
            "  test-summary      test: the SAEs' `mlsae test` CSVs (OUT/test_NAME.csv) as the\n"
            "                    reference's figures/test.py tables\n"
            "  train-curves      train_curves: losses, dead fraction, FVU over tokens from\n"
            "                    --metrics (default OUT/metrics.jsonl)\n"
            "  prompt-heatmap    prompt_heatmap_NAME: per-layer share of each active latent's\n"
            "                    activation summed over --prompt (model + SAE; with no KIND,\n"
            "                    only when --prompt is given)\n"
            "\n"
            "Which SAEs:\n"
            "  --checkpoint X ...      checkpoint directories or repo ids (HF cache); NAME is\n"
            "                          the last path component (x-tfm reads x-dists.safetensors)\n"
            "  --model_name M ...      a sweep, named as the reference names it:\n"
            "  --expansion_factor E ...  tim-lawson/mlsae-<model>-x<E>-k<K>[-lens][-tfm]\n"
            "  -k, --k K ...\n"
            "  --tuned_lens            the sweep's -lens SAEs\n"
            "                          (--model_name M with --checkpoint and no sweep: their model)\n"
            "  --checkpoints DIR       look for checkpoints (and dists) in DIR before the HF cache\n"
            "\n"
            "Options:\n"
            "  --out DIR               where the analyses wrote and the figures go (default out)\n"
            "  --style labelled|paper  labelled (default): axes, ticks, colour bar, title;\n"
            "                          paper: the reference's bare look\n"
            "  --noninteger            dists-histogram of the non-integer part\n"
            "  --metrics FILE          train-curves input\n"
            "  --prompt TEXT           prompt-heatmap's prompt (default the reference's: \"When\n"
            "                          Mary and John went to the store, John gave a drink to\")\n"
            "  --dead_threshold X      prompt-heatmap: keep latents whose largest per-layer sum\n"
            "                          exceeds X (default 1e-3)\n"
            "  --format LIST           image formats, comma-separated: png,pdf,svg (default\n"
            "                          png,pdf); none: CSV only\n"
            "  --dpi N                 PNG resolution (default 150)\n"
            "  --device DEV            backend for the cosine blocks and the prompt's forward:\n"
            "                          cpu (default), opencl[:N], auto\n"
            "  -h, --help              this help\n");
}

int cmd_figures(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    cli_figure_args a;
    char msg[512];
    if (cli_figure_args_parse(&a, argc, argv, 1, msg, sizeof msg) != 0) {
        cli_error(CMD, "%s (see 'mlsae figures --help')", msg);
        cli_figure_args_free(&a);
        return 2;
    }
    int rc = cli_figures_run(CMD, &a, stdout);
    cli_figure_args_free(&a);
    return rc;
}
