/* Helper of tests/test_train_pipeline.sh: `train_interrupt N OPTIONS...`
 * runs the training loop with the options of `mlsae train` and stops it as
 * Ctrl-C would (SIGINT, through the library's signal path) after N
 * micro-batches; prints "stopped after M micro-batches". */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "config/run_config.h"
#include "train/trainer.h"

static int64_t stop_after;

static void on_micro_batch(void *ctx, int64_t done)
{
    (void)ctx;
    if (done == stop_after) raise(SIGINT);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: train_interrupt N [mlsae train options]\n");
        return 2;
    }
    stop_after = atoll(argv[1]);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    mlsae_error err;
    if (!cfg || mlsae_run_config_from_args(cfg, argc - 1, argv + 1, NULL, NULL, &err)) {
        fprintf(stderr, "train_interrupt: %s\n", cfg ? err.msg : "out of memory");
        return 1;
    }
    mlsae_train_io io = {.on_micro_batch = on_micro_batch};
    mlsae_train_summary sum;
    int rc = mlsae_train(cfg, &io, &sum, &err);
    free(cfg);
    if (rc) {
        fprintf(stderr, "train_interrupt: %s\n", err.msg);
        return 1;
    }
    printf("%s after %lld micro-batches\n", sum.interrupted ? "stopped" : "trained",
           (long long)sum.micro_batches);
    return 0;
}
