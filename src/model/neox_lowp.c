/* Mixed precision for the transformer's products (SPEC §13,
 * doc/precision.md): every linear layer's weight rounded to bf16 / fp16 and
 * packed once (backend/lowp.h), and the products computed from the rounded
 * inputs with float32 sums; biases, LayerNorm, attention, GELU, residual
 * adds and the loss stay float32. */
#include "config.h"
#include "model/neox_internal.h"
#include "backend/lowp.h"

static void free_lowp(mlsae_neox *m)
{
    if (m->w_lp) m->be->ops->core.free(m->be, m->w_lp);
    if (m->lp_scratch) m->be->ops->core.free(m->be, m->lp_scratch);
    m->w_lp = m->lp_scratch = NULL;
    m->lp_scratch_n = 0;
    m->lowp_fmt = 0;
}

void neox_lowp_free(mlsae_neox *m) { free_lowp(m); }

int mlsae_neox_set_precision(mlsae_neox *m, int fmt, mlsae_error *err)
{
    if (fmt == m->lowp_fmt) return 0;
    free_lowp(m);
    if (fmt == 0) return 0;
    if (fmt != MLSAE_LOWP_BF16 && fmt != MLSAE_LOWP_F16)
        return mlsae_fail(err, "model precision: unknown 16-bit format %d", fmt);
    const mlsae_neox_config *c = &m->cfg;
    const int d = c->hidden_size, ff = c->intermediate_size;
    /* offsets of the packed matrices: each takes at most its own size */
    size_t off = 0;
    for (int l = 0; l < c->n_layers; l++) {
        neox_layer *L = &m->layers[l];
        L->qkv_lp = off, off += mlsae_lowp_packed_elems(3 * d, d);
        L->dense_lp = off, off += mlsae_lowp_packed_elems(d, d);
        L->fc1_lp = off, off += mlsae_lowp_packed_elems(ff, d);
        L->fc2_lp = off, off += mlsae_lowp_packed_elems(d, ff);
    }
    m->lm_head_lp = off;
    if (m->lm_head != NEOX_ABSENT) off += mlsae_lowp_packed_elems(c->vocab_size, d);
    m->w_lp = mlsae_alloc_f32(m->be, off);
    if (!m->w_lp)
        return mlsae_fail(err, "cannot allocate %zu MB for the model's %s weights", off * 4 >> 20,
                          fmt == MLSAE_LOWP_BF16 ? "bf16" : "fp16");
    for (int l = 0; l < c->n_layers; l++) {
        const neox_layer *L = &m->layers[l];
        const struct { size_t w, lp; int n, k; } mats[4] = {
            {L->qkv_w, L->qkv_lp, 3 * d, d},
            {L->dense_w, L->dense_lp, d, d},
            {L->fc1_w, L->fc1_lp, ff, d},
            {L->fc2_w, L->fc2_lp, d, ff},
        };
        for (int i = 0; i < 4; i++)
            if (mlsae_lowp_pack(m->be, fmt, mlsae_at(m->w, mats[i].w), mats[i].n, mats[i].k,
                                mlsae_at(m->w_lp, mats[i].lp))) {
                mlsae_fail(err, "packing layer %d's weights: %s", l, mlsae_backend_error(m->be));
                free_lowp(m);
                return -1;
            }
    }
    if (m->lm_head != NEOX_ABSENT &&
        mlsae_lowp_pack(m->be, fmt, mlsae_at(m->w, m->lm_head), c->vocab_size, d,
                        mlsae_at(m->w_lp, m->lm_head_lp))) {
        mlsae_fail(err, "packing embed_out: %s", mlsae_backend_error(m->be));
        free_lowp(m);
        return -1;
    }
    m->lowp_fmt = fmt;
    return 0;
}

int mlsae_neox_get_precision(const mlsae_neox *m) { return m->lowp_fmt; }

int neox_linear(mlsae_neox *m, mlsae_ref x, size_t w, size_t w_lp, size_t b, int rows, int in,
                int out, mlsae_ref y)
{
    mlsae_backend *be = m->be;
    mlsae_ref bias = b == NEOX_ABSENT ? MLSAE_NOREF : mlsae_at(m->w, b);
    if (!m->lowp_fmt) return be->ops->nn.linear(be, x, mlsae_at(m->w, w), bias, rows, in, out, y);
    mlsae_ref scratch = MLSAE_NOREF;
    if (mlsae_lowp_needs_scratch(be)) {
        size_t need = (size_t)rows * in;
        if (need > m->lp_scratch_n) {
            if (m->lp_scratch) be->ops->core.free(be, m->lp_scratch);
            m->lp_scratch_n = 0;
            m->lp_scratch = mlsae_alloc_f32(be, need);
            if (!m->lp_scratch) {
                mlsae_fail(&be->last_error, "cannot allocate the %zu-float product scratch",
                           need);
                return -1;
            }
            m->lp_scratch_n = need;
        }
        scratch = mlsae_at(m->lp_scratch, 0);
    }
    if (mlsae_lowp_gemm(be, m->lowp_fmt, rows, out, in, x, in, mlsae_at(m->w_lp, w_lp), y, out,
                        scratch))
        return -1;
    return bias.buf ? be->ops->core.add_row_vector(be, y, rows, out, bias, 1.0f) : 0;
}
