/* The Multi-Layer TopK sparse autoencoder (SPEC §4): parameters on a
 * backend, the training micro-batch (forward, sparse analytic backward,
 * decoder hooks, Adam with gradient accumulation) and the evaluation
 * forward with the per-layer metrics of SPEC §5.
 *
 * Inputs are X [rows, d] float32 on the SAE's backend, rows = n_layers *
 * rows_per_layer in layer-major order (the reference's [layer, batch, pos, d]
 * flattened): every layer's vectors are rows of one batch.
 *
 * Layouts: encoder [n_latents, d] (the reference's encoder.weight); the
 * decoder is held transposed as dec [n_latents, d], one row per latent,
 * i.e. the reference's decoder.weight [d, n_latents] read column-wise. The
 * host accessors below take the reference's layouts. */
#ifndef MLSAE_SAE_MLSAE_H
#define MLSAE_SAE_MLSAE_H

#include <stdint.h>
#include "backend/backend.h"
#include "core/status.h"

typedef struct mlsae_sae_config {
    int n_inputs;                 /* d = d_model */
    int n_latents;                /* expansion_factor * d */
    int k;                        /* TopK, 1..n_latents */
    int auxk;                     /* dead latents for the auxiliary loss; 0 = none */
    int64_t dead_steps_threshold; /* micro-batches without firing => dead */
    float dead_threshold;         /* activation above which a latent fired (1e-3) */
    int standardize;              /* standardize the inputs (default 1) */
    float auxk_coef;              /* 1/32 */
    float lr, beta1, beta2, adam_eps; /* 1e-4, 0.9, 0.999, 6.25e-10 */
    int accumulate_grad_batches;  /* micro-batches per Adam step (64) */
    int precision;                /* mlsae_precision (backend/lowp.h): the encoder product's
                                   * inputs; 0 = float32 (doc/precision.md) */
} mlsae_sae_config;

/* Defaults of SPEC §4 for d_model = n_inputs. dead_steps_threshold is
 * dead_tokens_threshold (1e7) // (tokens_per_micro_batch * accumulate);
 * it is compared with a counter that advances once per MICRO-batch, as in
 * the reference. */
void mlsae_sae_config_default(mlsae_sae_config *cfg, int n_inputs, int expansion_factor);
int64_t mlsae_dead_steps_threshold(int64_t dead_tokens_threshold, int64_t tokens_per_micro_batch,
                                   int accumulate_grad_batches);
/* Check ranges; one-line message naming the field. */
int mlsae_sae_config_check(const mlsae_sae_config *cfg, mlsae_error *err);

typedef struct mlsae_sae mlsae_sae;

/* New SAE with the reference's initialisation (SPEC §4): encoder ~
 * U(-1/sqrt(d), 1/sqrt(d)) from `seed`, decoder = encoder^T with unit-norm
 * columns, bias 0, last_nonzero 0. The backend is borrowed. */
int mlsae_sae_create(const mlsae_sae_config *cfg, mlsae_backend *be, uint64_t seed,
                     mlsae_sae **out, mlsae_error *err);
void mlsae_sae_free(mlsae_sae *sae);
const mlsae_sae_config *mlsae_sae_get_config(const mlsae_sae *sae);
mlsae_backend *mlsae_sae_backend(const mlsae_sae *sae);
/* Bytes the SAE holds now: on its backend the parameters, gradients, Adam
 * moments and dead-latent state, the workspace of its largest micro-batch so
 * far (workspaces only grow: after training this is the peak), the AuxK
 * tables and the packed low-precision encoder; plus its host-side masks.
 * Computed from the sizes it allocated (sae_model.c, sae_forward.c). */
size_t mlsae_sae_memory_bytes(const mlsae_sae *sae);
/* Change the configuration; n_inputs and n_latents must stay the same. */
int mlsae_sae_set_config(mlsae_sae *sae, const mlsae_sae_config *cfg, mlsae_error *err);
/* Change only the precision of the encoder product (mlsae_precision, from
 * the run options: checkpoints do not record it). */
int mlsae_sae_set_precision(mlsae_sae *sae, int precision, mlsae_error *err);

/* ---- host access to the parameters (reference layouts) ------------------ */

/* Any pointer may be NULL (skipped). enc [n_latents, d], dec [d, n_latents],
 * bias [d], last_nonzero [n_latents]. */
int mlsae_sae_get_params(mlsae_sae *sae, float *enc, float *dec, float *bias,
                         int64_t *last_nonzero, mlsae_error *err);
int mlsae_sae_set_params(mlsae_sae *sae, const float *enc, const float *dec, const float *bias,
                         const int64_t *last_nonzero, mlsae_error *err);
/* Accumulated gradients (after the decoder projection), same layouts. */
int mlsae_sae_get_grads(mlsae_sae *sae, float *enc, float *dec, float *bias, mlsae_error *err);

/* ---- training ------------------------------------------------------------- */

typedef struct mlsae_sae_train_metrics {
    double loss_total;    /* loss/total = loss/mse + loss/auxk, NOT divided by accumulation */
    double loss_mse;      /* mean over layers of MSE / Var(X_l) */
    double loss_aux;      /* auxk_coef * normalised AuxK MSE (NaN -> 0) */
    double dead_fraction; /* latents flagged dead after this micro-batch's update */
    int stepped;          /* 1 if this micro-batch completed an Adam step */
    int64_t step;         /* Adam steps taken so far */
    int64_t micro_batch;  /* micro-batches seen so far (this one included) */
} mlsae_sae_train_metrics;

/* One training micro-batch (SPEC §4, in this order): on the very first one,
 * pre_encoder_bias = geometric median of the raw X; forward with dead-latent
 * bookkeeping and AuxK; loss / accumulate_grad_batches and its gradient
 * (accumulated); decoder rows renormalised, then the gradient's component
 * along each decoder row removed; every accumulate_grad_batches micro-batches
 * an Adam step, then the gradients are reset. m may be NULL.
 * Errors (message "micro-batch I: ...", I the zero-based index in the run)
 * stop before the Adam step: a NaN or infinite input, a layer whose inputs
 * are all equal (its variance, the normalised MSE's divisor, is 0), or a
 * non-finite loss. The run must not go on after one (the accumulated
 * gradients may hold the NaN); the last checkpoint stays valid. */
int mlsae_sae_train_microbatch(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                               mlsae_sae_train_metrics *m, mlsae_error *err);
/* Take the Adam step now if micro-batches have accumulated since the last
 * one (the end of an epoch, as Lightning does); *stepped (may be NULL) says
 * whether it did. */
int mlsae_sae_flush_step(mlsae_sae *sae, int *stepped, mlsae_error *err);

/* Whether pre_encoder_bias still awaits its geometric-median initialisation
 * (true for a new SAE or one loaded with mlsae_ckpt_load without state). */
int mlsae_sae_bias_pending(const mlsae_sae *sae);
void mlsae_sae_set_bias_pending(mlsae_sae *sae, int pending);

/* ---- evaluation ----------------------------------------------------------- */

typedef struct mlsae_sae_layer_metrics {
    double mse; /* mean (R - X)^2 over the layer's elements */
    double fvu; /* mse / Var(X_l), unbiased variance */
    double l1;  /* sum of the (ReLU'd) TopK values / tokens */
    double l0;  /* count(values > dead_threshold) / tokens */
} mlsae_sae_layer_metrics;

typedef struct mlsae_sae_forward_out {
    /* Buffers owned by the SAE, valid until its next forward or training call. */
    mlsae_ref recons;  /* [rows, d], un-standardised */
    mlsae_ref values;  /* [rows, k] ReLU'd TopK values, any order */
    mlsae_ref indices; /* int32 [rows, k] */
    int rows, k;
} mlsae_sae_forward_out;

/* Evaluation forward: no dead-latent update, no AuxK, no gradients.
 * layers (may be NULL) receives n_layers entries. */
int mlsae_sae_forward(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                      mlsae_sae_forward_out *out, mlsae_sae_layer_metrics *layers,
                      mlsae_error *err);

/* The encoder alone (SPEC §4 steps 1-3, no dead-latent update): per row the
 * TopK of the pre-activations with the values BEFORE the ReLU, as the
 * reference's `encode(x).topk` returns them (autoencoder.py). out->values
 * [rows, k] raw values, out->indices int32 [rows, k], any order;
 * out->recons is MLSAE_NOREF. Buffers as for mlsae_sae_forward. */
int mlsae_sae_encode(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                     mlsae_sae_forward_out *out, mlsae_error *err);
/* Finish an mlsae_sae_encode on the same x as mlsae_sae_forward would: the
 * values are ReLU'd in place, then decoded; out and layers (may be NULL)
 * as for mlsae_sae_forward. */
int mlsae_sae_decode_last(mlsae_sae *sae, mlsae_ref x, mlsae_sae_forward_out *out,
                          mlsae_sae_layer_metrics *layers, mlsae_error *err);

/* The forward of the reference's test step: as in training (dead-latent
 * bookkeeping, AuxK) with both losses, but no gradient and no optimizer
 * step. out's buffers as for mlsae_sae_forward. */
int mlsae_sae_test_forward(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                           mlsae_sae_forward_out *out, double *loss_mse, double *loss_aux,
                           mlsae_error *err);

/* The per-layer metrics of the last forward (training or evaluation) on x,
 * the same input it ran on; and, when dead_rel is not NULL, the reference's
 * per-batch dead fraction: latents whose TopK appearances over all layers
 * number fewer than tokens / dead_tokens_threshold. layers may be NULL. */
int mlsae_sae_last_metrics(mlsae_sae *sae, mlsae_ref x, mlsae_sae_layer_metrics *layers,
                           double dead_tokens_threshold, double *dead_rel, mlsae_error *err);

/* ---- inspection of the last training micro-batch (tests, tools) ---------- */

/* TopK (ReLU'd values, indices) [rows, k]; recons [rows, d]; any may be NULL. */
int mlsae_sae_last_topk(mlsae_sae *sae, float *values, int32_t *indices, float *recons,
                        mlsae_error *err);
/* AuxK over the dead latents: [rows, auxk] ReLU'd values and latent indices.
 * Every positive value belongs to a dead latent. Entries of value 0
 * contribute nothing; their index may name any latent (as in the
 * reference's TopK of the masked pre-activations, whose live entries are 0).
 * Entries beyond the number of dead latents (or all, when none is dead) are
 * value 0, index -1. aux_recons [rows, d]. */
int mlsae_sae_last_auxk(mlsae_sae *sae, float *values, int32_t *indices, float *aux_recons,
                        mlsae_error *err);

/* Optimizer and counters, for checkpoints. m/v in the parameters' layouts
 * (enc [n_latents, d], dec [d, n_latents], bias [d]); any pointer may be NULL. */
typedef struct mlsae_sae_counters {
    int64_t step;        /* Adam steps taken */
    int64_t micro_batch; /* micro-batches seen */
    int64_t pending;     /* micro-batches accumulated since the last Adam step */
    int bias_pending;    /* geometric-median initialisation still to do */
} mlsae_sae_counters;
int mlsae_sae_get_adam(mlsae_sae *sae, float *m_enc, float *v_enc, float *m_dec, float *v_dec,
                       float *m_bias, float *v_bias, mlsae_error *err);
int mlsae_sae_set_adam(mlsae_sae *sae, const float *m_enc, const float *v_enc, const float *m_dec,
                       const float *v_dec, const float *m_bias, const float *v_bias,
                       mlsae_error *err);
/* The accumulated gradients are part of the state when pending > 0. */
int mlsae_sae_set_grads(mlsae_sae *sae, const float *enc, const float *dec, const float *bias,
                        mlsae_error *err);
void mlsae_sae_get_counters(const mlsae_sae *sae, mlsae_sae_counters *c);
void mlsae_sae_set_counters(mlsae_sae *sae, const mlsae_sae_counters *c);

#endif
