/* The built-in default run (`mlsae demo`): everything from files shipped
 * with mlsae, no downloads. It
 *   1. writes a small random-weight GPT-NeoX model in HF format (4 layers,
 *      d_model 128, Pythia's vocabulary and tokenizer) to <out>/model,
 *   2. splits the bundled public-domain Shakespeare corpus into
 *      <out>/data/train.jsonl and <out>/data/test.jsonl (by document),
 *   3. trains an MLSAE on every layer's residual stream (the real pipeline:
 *      `mlsae train` with the configuration in <out>/train.yaml),
 *   4. computes the test metrics (`mlsae test`) into <out>/test_<SAE>.csv
 *      (e.g. test_mlsae-model-x8-k16.csv, where `mlsae report` and `mlsae figures`
 *      look for it). */
#ifndef MLSAE_DEMO_DEMO_H
#define MLSAE_DEMO_DEMO_H

#include <stdint.h>
#include <stdio.h>
#include "core/status.h"
#include "eval/evaluate.h"
#include "train/trainer.h"

typedef struct mlsae_demo_options {
    const char *out_dir;   /* default "mlsae-demo" */
    const char *device;    /* default "cpu" */
    int threads;           /* 0: all cores */
    double train_tokens;   /* default 131072 */
    double test_tokens;    /* default 8192 */
} mlsae_demo_options;

typedef struct mlsae_demo_summary {
    char model_dir[4096], train_data[4096], test_data[4096], config[4096], test_csv[4096];
    mlsae_train_summary train;
    mlsae_test_summary test;
} mlsae_demo_summary;

int mlsae_demo(const mlsae_demo_options *opt, FILE *progress, mlsae_demo_summary *sum,
               mlsae_error *err);

/* Steps 1-2 alone: the model, its tokenizer and the data split under
 * opt->out_dir; fills sum's paths (model_dir, train_data, test_data). */
int mlsae_demo_prepare(const mlsae_demo_options *opt, FILE *progress, mlsae_demo_summary *sum,
                       mlsae_error *err);
/* The demo's run configuration (step 3) for the paths in sum. */
void mlsae_demo_run_config(mlsae_run_config *cfg, const mlsae_demo_options *opt,
                           const mlsae_demo_summary *sum);

#endif
