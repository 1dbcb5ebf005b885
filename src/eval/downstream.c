#include "config.h"
#include "eval/downstream.h"

#include <stdlib.h>

struct mlsae_downstream {
    mlsae_session *s;
    int max_tokens;
    int vocab;
    mlsae_buffer *logits_true, *logits_pred, *kl_rows;
    float *kl_host;
    int per_layer_true;      /* mlsae_downstream_set_per_layer_true */
    int64_t shared_batches;  /* batches whose true path was computed once */
};

int mlsae_downstream_new(mlsae_session *s, int batch, int seq, mlsae_downstream **out,
                         mlsae_error *err)
{
    mlsae_downstream *ds = calloc(1, sizeof *ds);
    if (!ds) return mlsae_fail(err, "out of memory");
    ds->s = s;
    ds->max_tokens = batch * seq;
    ds->vocab = mlsae_neox_get_config(s->model)->vocab_size;
    size_t n = (size_t)ds->max_tokens * ds->vocab;
    ds->logits_true = mlsae_alloc_f32(s->be, n);
    ds->logits_pred = mlsae_alloc_f32(s->be, n);
    ds->kl_rows = mlsae_alloc_f32(s->be, (size_t)ds->max_tokens);
    ds->kl_host = malloc((size_t)ds->max_tokens * sizeof *ds->kl_host);
    if (!ds->logits_true || !ds->logits_pred || !ds->kl_rows || !ds->kl_host) {
        mlsae_downstream_free(ds);
        return mlsae_fail(err, "cannot allocate logits for %d tokens x %d vocabulary rows",
                          batch * seq, ds->vocab);
    }
    *out = ds;
    return 0;
}

void mlsae_downstream_set_per_layer_true(mlsae_downstream *ds, int on)
{
    ds->per_layer_true = on != 0;
}

int64_t mlsae_downstream_shared_batches(const mlsae_downstream *ds) { return ds->shared_batches; }

void mlsae_downstream_free(mlsae_downstream *ds)
{
    if (!ds) return;
    mlsae_backend *be = ds->s->be;
    be->ops->core.free(be, ds->logits_true);
    be->ops->core.free(be, ds->logits_pred);
    be->ops->core.free(be, ds->kl_rows);
    free(ds->kl_host);
    free(ds);
}

/* Whether the activations of this batch had a position zeroed (SPEC §2
 * special-token masking). */
static int any_masked(const mlsae_session *s, const int32_t *ids, size_t n)
{
    if (!s->skip_special) return 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < s->n_special; j++)
            if (s->special[j] >= 0 && ids[i] == s->special[j]) return 1;
    return 0;
}

/* logits_pred (already computed) against logits_true into o. */
static int compare_logits(mlsae_downstream *ds, int layer, int batch, int tokens,
                          mlsae_downstream_layer *o, mlsae_error *err)
{
    mlsae_backend *be = ds->s->be;
    const size_t n_logits = (size_t)tokens * ds->vocab;
    o->loss_delta = o->loss_pred - o->loss_true;
    double st[2];
    if (be->ops->core.sum_stats(be, n_logits, mlsae_at(ds->logits_true, 0),
                                mlsae_at(ds->logits_pred, 0), st) ||
        be->ops->nn.kl_div(be, mlsae_at(ds->logits_true, 0), mlsae_at(ds->logits_pred, 0),
                           tokens, ds->vocab, mlsae_at(ds->kl_rows, 0)) ||
        be->ops->core.read(be, ds->kl_rows, 0, ds->kl_host, (size_t)tokens * 4))
        return mlsae_fail(err, "downstream metrics at layer %d: %s", layer,
                          mlsae_backend_error(be));
    o->logit_mse = st[1] / (double)n_logits;
    double kl = 0;
    for (int r = 0; r < tokens; r++) kl += ds->kl_host[r];
    o->kl = kl / batch; /* "batchmean": divided by the batch size */
    return 0;
}

int mlsae_downstream_batch(mlsae_downstream *ds, mlsae_ref x, mlsae_ref recons,
                           const int32_t *ids, int batch, int seq, mlsae_downstream_layer *out,
                           mlsae_error *err)
{
    return mlsae_downstream_batch_many(ds, x, &recons, 1, ids, batch, seq, &out, err);
}

int mlsae_downstream_batch_many(mlsae_downstream *ds, mlsae_ref x, const mlsae_ref *recons,
                                int n_recons, const int32_t *ids, int batch, int seq,
                                mlsae_downstream_layer *const *out, mlsae_error *err)
{
    mlsae_session *s = ds->s;
    const int tokens = batch * seq;
    if (tokens > ds->max_tokens)
        return mlsae_fail(err, "downstream metrics: batch of %d tokens exceeds the %d prepared",
                          tokens, ds->max_tokens);
    const size_t per_layer = (size_t)tokens * s->d_model;
    /* The true path once for every layer when nothing was masked (see the
     * header): from the deepest selected layer, the fewest blocks to run. */
    const int shared = !ds->per_layer_true && !any_masked(s, ids, (size_t)tokens);
    double loss_true = 0;
    if (shared) {
        int deepest = 0;
        for (int li = 1; li < s->n_layers; li++)
            if (s->layers[li] > s->layers[deepest]) deepest = li;
        if (mlsae_neox_forward_at_layer(s->model, mlsae_ref_add(x, deepest * per_layer),
                                        s->layers[deepest], ids, batch, seq,
                                        mlsae_at(ds->logits_true, 0), NULL, &loss_true, err))
            return -1;
    }
    ds->shared_batches += shared;
    for (int li = 0; li < s->n_layers; li++) {
        const int layer = s->layers[li];
        /* otherwise the true path of this layer, once for every reconstruction */
        if (!shared &&
            mlsae_neox_forward_at_layer(s->model, mlsae_ref_add(x, li * per_layer), layer, ids,
                                        batch, seq, mlsae_at(ds->logits_true, 0), NULL,
                                        &loss_true, err))
            return -1;
        for (int i = 0; i < n_recons; i++) {
            mlsae_downstream_layer *o = &out[i][li];
            o->loss_true = loss_true;
            if (mlsae_neox_forward_at_layer(s->model, mlsae_ref_add(recons[i], li * per_layer),
                                            layer, ids, batch, seq, mlsae_at(ds->logits_pred, 0),
                                            NULL, &o->loss_pred, err) ||
                compare_logits(ds, layer, batch, tokens, o, err))
                return -1;
        }
    }
    return 0;
}
