/* mlsae demo: the built-in default run (see train/demo.h). */
#include "config.h"
#include "cli/commands.h"
#include "demo/demo.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mlsae demo [--out DIR] [--threads N] [--device D] [--tokens N]\n"
            "\n"
            "The built-in default run; needs nothing but this package. It writes a small\n"
            "random-weight GPT-NeoX model (4 layers, d_model 128, the Pythia tokenizer)\n"
            "in Hugging Face format, splits the bundled public-domain Shakespeare text\n"
            "into train and test documents, trains a multi-layer SAE on the residual\n"
            "stream of every layer (expansion 8, k 16, with AuxK and dead-latent\n"
            "tracking), validates and checkpoints as 'mlsae train' does, computes the\n"
            "test metrics as 'mlsae test' does (DIR/test_<SAE>.csv, where 'mlsae report'\n"
            "and 'mlsae figures' find them), and prints where everything went.\n"
            "A couple of minutes on a 2-core laptop.\n"
            "\n"
            "  --out DIR      output directory (default mlsae-demo)\n"
            "  --threads N    CPU threads (default: all cores)\n"
            "  --device D     cpu, opencl, opencl:N or auto (default cpu)\n"
            "  --tokens N     training tokens (default 131072)\n"
            "  --help, -h     this help\n");
}

int cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},     {"threads", required_argument, NULL, 't'},
        {"device", required_argument, NULL, 'd'},  {"tokens", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    mlsae_demo_options opt = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:t:d:n:h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'o': opt.out_dir = optarg; break;
        case 'd': opt.device = optarg; break;
        case 't':
            opt.threads = (int)strtol(optarg, &end, 10);
            if (*end || opt.threads < 0) return cli_error("demo", "--threads %s: expected a count", optarg);
            break;
        case 'n':
            opt.train_tokens = strtod(optarg, &end);
            if (*end || !(opt.train_tokens >= 512)) return cli_error("demo", "--tokens %s: expected a number >= 512", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default:
            return cli_error("demo", "unknown option '%s' (see 'mlsae demo --help')", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_error("demo", "unexpected argument '%s'", argv[optind]);
    mlsae_demo_summary sum;
    mlsae_error err;
    if (mlsae_demo(&opt, stderr, &sum, &err) != 0) return cli_error("demo", "%s", err.msg);
    printf("\nmlsae demo finished: %lld micro-batches, %llu tokens, train %.1f s, test %.1f s\n",
           (long long)sum.train.micro_batches, (unsigned long long)sum.train.tokens,
           sum.train.seconds, sum.test.seconds);
    printf("  test: loss %.4f, mean FVU %.4f, mean downstream loss delta %.4f\n",
           sum.test.loss_total, sum.test.fvu_avg, sum.test.loss_delta_avg);
    printf("  model (HF format):       %s\n", sum.model_dir);
    printf("  data:                    %s, %s\n", sum.train_data, sum.test_data);
    printf("  run configuration:       %s\n", sum.config);
    printf("  trained SAE:             %s\n", sum.train.sae_dir);
    printf("  resumable checkpoint:    %s\n", sum.train.checkpoint_dir);
    printf("  training metrics:        %s/metrics.jsonl\n", sum.train.out_dir);
    printf("  test metrics (CSV):      %s\n", sum.test_csv);
    return 0;
}
