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
    double seconds;   /* the whole pass */
    double loss_total, fvu_avg, loss_delta_avg; /* headline numbers */
} mlsae_test_summary;

/* sae_dir: an SAE checkpoint directory (reference format, plain or -tfm;
 * a -tfm checkpoint holding its transformer's weights is tested with those,
 * on cfg->model_name's configuration and tokenizer, as the reference's
 * from_pretrained does; its run options are applied to cfg beforehand by
 * mlsae_run_config_apply_checkpoint).
 * Batches: cfg's data.path, data.batch_size, data.max_length, at most
 * ceil(data.max_tokens / tokens per batch), from the stream stage
 * (pipeline/stream.h; with MPI, rank r of N tests the batches g with
 * g % N == r and the sums are added over the ranks). csv_path receives one
 * header line and one row (atomically, on rank 0). progress may be NULL.
 * The same as mlsae_test_many with one target. */
int mlsae_test(const mlsae_run_config *cfg, const char *sae_dir, const char *csv_path,
               FILE *progress, mlsae_test_summary *summary, mlsae_error *err);

/* One SAE to test: its run options (its checkpoint's applied to the
 * command line's), its checkpoint directory, its CSV. */
typedef struct mlsae_test_target {
    const mlsae_run_config *cfg;
    const char *sae_dir;
    const char *csv_path;
} mlsae_test_target;

/* Several SAEs of the same model tested in ONE pass over the data: one
 * transformer forward per batch, and one true path of the downstream
 * metrics per batch (per layer when a position was masked) shared by every
 * SAE (eval/downstream.h, mlsae_downstream_batch_many); the SAEs run one
 * after the other on the batch's activations, each with its own buffers
 * (weights, forward workspace, and with two backends its reconstruction on
 * the model's backend). Each target's CSV is byte for byte the one
 * mlsae_test writes for it alone. The targets must agree on every run
 * option except the autoencoder's own (sizes, dead_tokens_threshold, ...):
 * model_name, layers, data.max_length, data.batch_size,
 * autoencoder.skip_special_tokens, autoencoder.tuned_lens, the data, the
 * devices...; a -tfm checkpoint's transformer weights and a -lens-tfm
 * checkpoint's translators must equal the first target's (the pass runs
 * the first's). summaries receives n entries; the batches, tokens and
 * seconds are the pass's, the same for all. Errors name both checkpoints
 * and the field at fault. */
int mlsae_test_many(const mlsae_test_target *targets, int n, FILE *progress,
                    mlsae_test_summary *summaries, mlsae_error *err);

/* The agreement mlsae_test_many requires, checked without running
 * (test_targets.c): 0, or -1 with err naming both checkpoints and the
 * field (or tensor) that differs. */
int mlsae_test_check_targets(const mlsae_test_target *targets, int n, mlsae_error *err);

#endif
