/* The unembedding on its own (no final LayerNorm): what a residual-stream
 * direction, e.g. an SAE decoder column, writes into the logits. */
#include "config.h"
#include "model/neox_internal.h"

#include <stdlib.h>

int mlsae_neox_unembed_host(mlsae_neox *m, const float *x, int rows, float *out, mlsae_error *err)
{
    const int d = m->cfg.hidden_size, vocab = m->cfg.vocab_size;
    if (m->lm_head == NEOX_ABSENT)
        return mlsae_fail(err, "the unembedding was not loaded (model loaded without embed_out)");
    mlsae_backend *be = m->be;
    const mlsae_core_ops *core = &be->ops->core;
    mlsae_buffer *bx = mlsae_alloc_f32(be, (size_t)rows * d);
    mlsae_buffer *by = mlsae_alloc_f32(be, (size_t)rows * vocab);
    int rc = !bx || !by ? mlsae_fail(err, "out of memory") : 0;
    if (!rc && (core->write(be, bx, 0, x, (size_t)rows * d * 4) ||
                be->ops->nn.linear(be, mlsae_at(bx, 0), mlsae_at(m->w, m->lm_head), MLSAE_NOREF,
                                   rows, d, vocab, mlsae_at(by, 0)) ||
                core->read(be, by, 0, out, (size_t)rows * vocab * 4)))
        rc = mlsae_fail(err, "unembedding: %s", mlsae_backend_error(be));
    if (bx) core->free(be, bx);
    if (by) core->free(be, by);
    return rc;
}

int mlsae_neox_unembed_row(mlsae_neox *m, int32_t id, float *out, mlsae_error *err)
{
    const int d = m->cfg.hidden_size;
    if (m->lm_head == NEOX_ABSENT)
        return mlsae_fail(err, "the unembedding was not loaded (model loaded without embed_out)");
    if (id < 0 || id >= m->cfg.vocab_size)
        return mlsae_fail(err, "token id %d is not in 0..%d", id, m->cfg.vocab_size - 1);
    mlsae_backend *be = m->be;
    if (be->ops->core.read(be, m->w, (m->lm_head + (size_t)id * d) * 4, out, (size_t)d * 4))
        return mlsae_fail(err, "reading the unembedding: %s", mlsae_backend_error(be));
    return 0;
}
