/* Downstream metrics of SPEC §5: splice the reconstruction of layer l into
 * the transformer and compare with the original residual.
 *
 * For each selected layer l of one batch:
 *   loss_true = CE(forward_at_layer(X_l, l)), loss_pred = CE(forward_at_layer(R_l, l)),
 *   loss_delta = loss_pred - loss_true,
 *   logit_mse = mean((logits_true - logits_pred)^2) over batch, pos, vocab,
 *   kl = sum over positions and vocab of p_pred (log p_pred - log p_true) / batch
 *        (the reference's kl_div(log_softmax(true), log_softmax(pred),
 *         log_target=True, reduction="batchmean")).
 *
 * The true path is computed once per batch and shared by every layer when
 * no position of the batch was zeroed by the special-token masking (SPEC
 * §2; none is a special token, or skip_special_tokens is off). X_l is then
 * the residual after block l of the one forward that produced every X_l',
 * so forward_at_layer(X_l, l) feeds blocks l+1 .. n-1 exactly the values
 * that forward fed them, and its logits and loss are those of the full
 * forward, bit for bit, for every l (the kernels are deterministic:
 * tests/test_model.c checks the equality on the golden models). With a
 * zeroed position X_l differs from the full forward's residual at that
 * position, every later position sees the difference through attention, and
 * the true path differs per layer: it is then computed per layer, as the
 * reference does. */
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
/* on: compute the true path per layer even when it could be shared (the
 * reference's way; for tests and benchmarks). */
void mlsae_downstream_set_per_layer_true(mlsae_downstream *ds, int on);
/* Batches so far whose true path was computed once for every layer. */
int64_t mlsae_downstream_shared_batches(const mlsae_downstream *ds);

/* x, recons: [n_layers, batch, seq, d_model] on the model's backend (s->be);
 * out receives s->n_layers entries. */
int mlsae_downstream_batch(mlsae_downstream *ds, mlsae_ref x, mlsae_ref recons,
                           const int32_t *ids, int batch, int seq, mlsae_downstream_layer *out,
                           mlsae_error *err);

/* The same for n_recons reconstructions of one batch (several SAEs of one
 * model tested in one pass): recons[i] as above, out[i] receives
 * s->n_layers entries. The true path depends only on x and ids, so it is
 * computed once per batch (shared, see above) or once per layer, and serves
 * every reconstruction: each out[i] is bit for bit what
 * mlsae_downstream_batch(ds, x, recons[i], ...) gives (deterministic
 * kernels on the same inputs). */
int mlsae_downstream_batch_many(mlsae_downstream *ds, mlsae_ref x, const mlsae_ref *recons,
                                int n_recons, const int32_t *ids, int batch, int seq,
                                mlsae_downstream_layer *const *out, mlsae_error *err);

#endif
