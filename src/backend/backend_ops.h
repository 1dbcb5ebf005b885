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

#endif
