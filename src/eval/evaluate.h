/* `mlsae test`: every metric of SPEC §5 for a trained SAE on a test dataset,
 * computed per batch as the reference's test step does and averaged over
 * the batches (as Lightning reduces logged values), written as the
 * reference's one-row CSV:
 *   train/dead/rel, train/{l1,mse,fvu,l0}/layer_L and .../avg,
 *   val/loss/delta/..., val/logit/mse/..., val/logit/kldiv/...,
 *   loss/total, loss/mse, loss/auxk. */
#ifndef MLSAE_EVAL_EVALUATE_H
#define MLSAE_EVAL_EVALUATE_H

#include <stdio.h>
#include "core/status.h"
#include "config/run_config.h"

typedef struct mlsae_test_summary {
    int64_t batches;
    uint64_t tokens;
    double seconds;
    double loss_total, fvu_avg, loss_delta_avg; /* headline numbers */
} mlsae_test_summary;

/* sae_dir: an SAE checkpoint directory (reference format, plain or -tfm;
 * a -tfm checkpoint holding its transformer's weights is tested with those,
 * on cfg->model_name's configuration and tokenizer, as the reference's
 * from_pretrained does; its run options are applied to cfg beforehand by
 * mlsae_run_config_apply_checkpoint).
 * Batches: cfg's data.path, data.batch_size, data.max_length, at most
 * ceil(data.max_tokens / tokens per batch). csv_path receives one header
 * line and one row (atomically). progress may be NULL. */
int mlsae_test(const mlsae_run_config *cfg, const char *sae_dir, const char *csv_path,
               FILE *progress, mlsae_test_summary *summary, mlsae_error *err);

#endif
