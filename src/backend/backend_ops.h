/* Optional backend ops with their fallback, in one place: callers use these
 * wrappers and never test the table for NULL themselves. */
#ifndef MLSAE_BACKEND_BACKEND_OPS_H
#define MLSAE_BACKEND_BACKEND_OPS_H

#include "backend/backend.h"

/* topk(pre, rows, n, k, mask, values, indices), then, when n_cols > 0,
 * gather_columns(pre, rows, n, cols, n_cols, gathered): in one pass where
 * the backend has topk_gather (backend_sae.h), else as the two ops. */
static inline int mlsae_op_topk_gather(mlsae_backend *be, mlsae_ref pre, int rows, int n, int k,
                                       mlsae_ref mask, mlsae_ref values, mlsae_ref indices,
                                       mlsae_ref cols, int n_cols, mlsae_ref gathered)
{
    const mlsae_sae_ops *s = &be->ops->sae;
    if (s->topk_gather)
        return s->topk_gather(be, pre, rows, n, k, mask, values, indices, cols, n_cols, gathered);
    if (s->topk(be, pre, rows, n, k, mask, values, indices) != 0) return -1;
    return n_cols > 0 ? s->gather_columns(be, pre, rows, n, cols, n_cols, gathered) : 0;
}

/* sparse_dot(g, idx, rows, k, dec, d, vals, ga), then sparse_scatter of
 * vals * g into g_dec and of ga * x into g_enc (backend_sae.h,
 * sparse_backward): in one pass where the backend has it. */
static inline int mlsae_op_sparse_backward(mlsae_backend *be, mlsae_ref g, mlsae_ref x,
                                           mlsae_ref vals, mlsae_ref idx, int rows, int k,
                                           mlsae_ref dec, int d, int n, mlsae_ref ga,
                                           mlsae_ref g_dec, mlsae_ref g_enc)
{
    const mlsae_sae_ops *s = &be->ops->sae;
    if (s->sparse_backward)
        return s->sparse_backward(be, g, x, vals, idx, rows, k, dec, d, n, ga, g_dec, g_enc);
    if (s->sparse_dot(be, g, idx, rows, k, dec, d, vals, ga) != 0 ||
        s->sparse_scatter(be, vals, idx, rows, k, g, d, g_dec, n) != 0)
        return -1;
    return s->sparse_scatter(be, ga, idx, rows, k, x, d, g_enc, n);
}

#endif
