/* The stream stage: dataset -> token ids -> transformer -> SAE -> consumer.
 *
 * Per batch, in order:
 *   token ids [rows, seq] from the background loader (dataset/loader.h);
 *   activations [n_layers, rows, seq, d_model] of the session's selected
 *     layers, special-token positions zeroed when skip_special_tokens is on
 *     (session.h, SPEC §2); with two backends computed one batch ahead on the
 *     transformer's thread (prefetch.h) and uploaded to the SAE's backend;
 *   an optional per-layer transform of the activations (e.g. a tuned lens),
 *     applied in place on the SAE's backend;
 *   with an SAE: its encoder (TopK indices and the RAW values before the
 *     ReLU, as the reference's `encode(x).topk`, copied to host memory), and
 *     on request the ReLU + decode (reconstructions) and the per-layer
 *     metrics of SPEC §5 (sae/mlsae.h);
 *   the consumer callback.
 *
 * Token budget: exactly opt->max_tokens tokens (default cfg->data.max_tokens)
 * per layer reach the consumer. The batch that crosses the budget is
 * delivered whole (its activations and TopK cover all its rows), but only
 * its first n_tokens positions of each layer, in (row, position) order,
 * belong to the budget; consumers use those only. (The reference's analysis
 * loops break after `i > max_steps`, i.e. they process two batches past
 * ceil(max_tokens / tokens per batch): we do not.) Per-layer metrics cover
 * every row of the batch.
 *
 * Data parallel (opt->ranks > 1; doc/scaling.md): rank r of N is handed
 * the batches g = r, r + N, r + 2N, ... of the one deterministic stream.
 * Every rank reads (and tokenizes) every batch, since packing documents
 * into sequences needs all of them, but runs the transformer and the SAE
 * on its own only. Batch numbers and the token budget are global: batch g
 * holds the same tokens and the same share of the budget whatever N, so a
 * consumer's partial results, reduced over the ranks, equal one process's.
 * The ranks go through the groups of N batches in step: a consumer that
 * returns 1 stops every rank after the current group (an allreduce per
 * group), and with whole_groups the stream ends at the first group the
 * data cannot fill (training: every rank steps on the same global
 * micro-batches). Only rank 0 shows progress.
 *
 * Threads. mlsae_stream_run runs on the calling thread and calls the
 * consumer (and the transform) there. While it runs:
 *   - the loader's thread reads the dataset and uses the session's tokenizer
 *     (read-only; the tokenizer may be shared with other threads for
 *     encode/decode/id_to_token, tokenizer.h);
 *   - with two backends (mlsae_session_split), the transformer's thread owns
 *     s->be and s->model: the consumer must not use them, unless
 *     opt->sequential asks for no such thread. The consumer may use
 *     s->sae_be, the SAE and the batch's buffers;
 *   - with one backend, everything runs on the calling thread.
 *   A consumer that needs the transformer during a callback (training's
 *   validation) calls mlsae_stream_idle(batch->stream) first: it waits for
 *   the transformer's thread to finish the batch under way; then s->be and
 *   s->model are the consumer's until the callback returns (the thread
 *   starts the next batch when the stream asks for it).
 * A session and an SAE serve one stream at a time. Batch pointers are valid
 * only during the callback.
 */
#ifndef MLSAE_PIPELINE_STREAM_H
#define MLSAE_PIPELINE_STREAM_H

#include <stdint.h>
#include <stdio.h>

#include "config/run_config.h"
#include "core/progress.h"
#include "core/status.h"
#include "dataset/loader.h"
#include "pipeline/session.h"
#include "sae/mlsae.h"

typedef struct mlsae_stream mlsae_stream;

/* In-place transform of one layer's activations x [rows, d] on the SAE's
 * backend; layer_index is the position among the selected layers, layer the
 * model's layer number. Returns 0 or -1 with err set. */
typedef int (*mlsae_stream_transform_fn)(void *ctx, mlsae_backend *be, int layer_index, int layer,
                                         mlsae_ref x, int rows, int d, mlsae_error *err);

typedef struct mlsae_stream_options {
    mlsae_sae *sae;            /* borrowed, on s->sae_be; NULL: activations only */
    int decode;                /* ReLU + decode: batch->recons (needs sae) */
    int metrics;               /* per-layer metrics of SPEC §5: batch->metrics (needs sae) */
    int host_activations;      /* batch->x_host: the activations in host memory */
    int sequential;            /* two backends: no transformer thread; the consumer may
                                * then use s->be and s->model (e.g. downstream metrics) */
    mlsae_stream_transform_fn transform; /* NULL: none */
    void *transform_ctx;
    uint64_t max_tokens;       /* tokens per layer; 0: cfg->data.max_tokens */
    const mlsae_data_position *start; /* NULL: from the beginning of the data */
    FILE *progress;            /* NULL: no progress display */
    const char *label;         /* its label ("stream" when NULL) */
    int rank, ranks;           /* data parallel: this process of `ranks`; ranks <= 1: alone */
    int whole_groups;          /* ranks > 1: end at the first incomplete group of batches */
    int allow_empty;           /* no batch at all is not an error (a resumed run at the
                                * data's end) */
} mlsae_stream_options;

typedef struct mlsae_stream_batch {
    int64_t index;            /* 0, 1, ... (global: with N ranks, rank r sees r, r + N, ...) */
    const int32_t *ids;       /* [rows, seq] */
    int rows, seq;            /* sequences in this batch, tokens per sequence */
    int n_layers, d_model;
    int rows_per_layer;       /* rows * seq */
    int n_tokens;             /* positions of each layer within the budget (<= rows * seq) */
    uint64_t tokens_before;   /* budget tokens of the earlier batches (of every rank) */
    int rows_all;             /* sequences of this batch's group over all ranks (rows alone) */
    mlsae_ref x;              /* [n_layers, rows, seq, d_model] on s->sae_be (transformed) */
    const float *x_host;      /* the same in host memory (host_activations), else NULL */
    int k;                    /* TopK width; 0 without an SAE */
    const float *values;      /* host [n_layers * rows * seq, k] raw TopK values, any order */
    const int32_t *indices;   /* host [n_layers * rows * seq, k] latent indices */
    mlsae_ref recons;         /* [n_layers * rows * seq, d_model] on s->sae_be (decode) */
    const mlsae_sae_layer_metrics *metrics; /* [n_layers] (metrics), else NULL */
    mlsae_data_position position; /* the data stream's position after this batch (its group) */
    mlsae_stream *stream;     /* for mlsae_stream_idle during the callback */
    mlsae_progress *progress; /* the progress display (rank 0, opt->progress), else NULL: the
                               * consumer may add fields (mlsae_progress_set) */
} mlsae_stream_batch;

/* Return 0 to go on, 1 to stop early (no error), -1 on error (err set). */
typedef int (*mlsae_stream_consumer)(void *ctx, const mlsae_stream_batch *batch,
                                     mlsae_error *err);

typedef struct mlsae_stream_summary {
    int64_t batches;   /* batches within the budget, of every rank */
    uint64_t tokens;   /* budget tokens delivered, per layer, to every rank together */
    double seconds;
    int data_ended;    /* the data ended (with whole_groups: a group could not be filled) */
    mlsae_data_position end; /* then: the loader's position there */
    /* Where the stream's time went (seconds). One thread: the loader's
     * batches (data_s) and the transformer (forward_s). With the transformer's
     * thread (overlapped = 1): data_s and forward_s are that thread's, spent
     * while the consumer ran; wait_s is how long the stream waited for it,
     * upload_s the copies of its activations to the SAE's backend. */
    double data_s, forward_s, wait_s, upload_s;
    int overlapped;
} mlsae_stream_summary;

/* The transformer's thread (two backends) finishes its batch and waits;
 * see the thread rules above. Nothing to do with one backend. */
void mlsae_stream_idle(mlsae_stream *st);

/* Open the loader of cfg's data (data.path, max_length, batch_size,
 * num_workers) with the session's tokenizer, from start (NULL: the
 * beginning). */
int mlsae_stream_open_loader(const mlsae_run_config *cfg, const mlsae_session *s,
                             const mlsae_data_position *start, mlsae_loader **out,
                             mlsae_error *err);

/* Stream cfg's data through the session (and opt->sae) into consume.
 * Fails with "DATA: no complete sequence of N tokens" when the data holds
 * no batch; an SAE whose n_inputs differs from the model's d_model is an
 * error naming both. summary may be NULL. */
int mlsae_stream_run(const mlsae_run_config *cfg, mlsae_session *s,
                     const mlsae_stream_options *opt, mlsae_stream_consumer consume, void *ctx,
                     mlsae_stream_summary *summary, mlsae_error *err);

#endif
