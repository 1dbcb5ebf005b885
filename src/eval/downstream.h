/* Downstream metrics of SPEC §5: splice the reconstruction of layer l into
 * the transformer and compare with the original residual.
 *
 * For each selected layer l of one batch:
 *   loss_true = CE(forward_at_layer(X_l, l)), loss_pred = CE(forward_at_layer(R_l, l)),
 *   loss_delta = loss_pred - loss_true,
 *   logit_mse = mean((logits_true - logits_pred)^2) over batch, pos, vocab,
 *   kl = sum over positions and vocab of p_pred (log p_pred - log p_true) / batch
 *        (the reference's kl_div(log_softmax(true), log_softmax(pred),
 *         log_target=True, reduction="batchmean")). */
#ifndef MLSAE_EVAL_DOWNSTREAM_H
#define MLSAE_EVAL_DOWNSTREAM_H

#include "pipeline/session.h"

typedef struct mlsae_downstream_layer {
    double loss_true, loss_pred, loss_delta, logit_mse, kl;
} mlsae_downstream_layer;

typedef struct mlsae_downstream mlsae_downstream;

/* Scratch for batches of up to batch x seq tokens. */
int mlsae_downstream_new(mlsae_session *s, int batch, int seq, mlsae_downstream **out,
                         mlsae_error *err);
void mlsae_downstream_free(mlsae_downstream *ds);

/* x, recons: [n_layers, batch, seq, d_model] on the model's backend (s->be);
 * out receives s->n_layers entries. */
int mlsae_downstream_batch(mlsae_downstream *ds, mlsae_ref x, mlsae_ref recons,
                           const int32_t *ids, int batch, int seq, mlsae_downstream_layer *out,
                           mlsae_error *err);

#endif
