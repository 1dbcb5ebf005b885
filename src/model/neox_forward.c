/* The GPT-NeoX forward pass over the backend (SPEC §2): embeddings, the
 * layer stack (parallel or sequential residual), final LayerNorm, embed_out,
 * next-token cross-entropy. Batches are processed in chunks of whole
 * sequences (about NEOX_CHUNK_ROWS rows) so the scratch stays bounded. */
#include "config.h"
#include "model/neox_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BE_TRY(call)                                                                     \
    do {                                                                                 \
        if ((call)) return mlsae_fail(err, "%s", mlsae_backend_error(m->be));            \
    } while (0)

static mlsae_ref W(const mlsae_neox *m, size_t off)
{
    return off == NEOX_ABSENT ? MLSAE_NOREF : mlsae_at(m->w, off);
}

static mlsae_ref WS(const mlsae_neox *m, size_t off) { return mlsae_at(m->ws.buf, off); }

static int ensure_workspace(mlsae_neox *m, size_t rows, int with_logits, mlsae_error *err)
{
    neox_workspace *ws = &m->ws;
    int have_logits = ws->logits != 0;
    if (ws->buf && ws->rows >= rows && (have_logits || !with_logits)) return 0;
    if (ws->buf && ws->rows > rows) rows = ws->rows;
    with_logits |= have_logits;
    if (ws->buf) m->be->ops->core.free(m->be, ws->buf);
    memset(ws, 0, sizeof *ws);
    size_t d = (size_t)m->cfg.hidden_size, ff = (size_t)m->cfg.intermediate_size, off = 0;
    ws->x = off, off += rows * d;
    ws->t = off, off += rows * d;
    ws->a = off, off += rows * d;
    ws->qkv = off, off += rows * 3 * d;
    ws->ff = off, off += rows * ff;
    ws->ids = off, off += rows;
    ws->targets = off, off += rows;
    ws->loss = off, off += rows;
    if (with_logits) ws->logits = off, off += (size_t)NEOX_LOGIT_ROWS * m->cfg.vocab_size;
    ws->buf = mlsae_alloc_f32(m->be, off);
    if (!ws->buf)
        return mlsae_fail(err, "cannot allocate %zu MB of scratch for %zu rows: %s", off * 4 >> 20,
                          rows, mlsae_backend_error(m->be));
    ws->rows = rows;
    return 0;
}

/* One transformer layer in place on ws.x ([rows, d], nb sequences of seq). */
static int layer_forward(mlsae_neox *m, int l, int nb, int seq, mlsae_error *err)
{
    const mlsae_neox_config *c = &m->cfg;
    const neox_layer *L = &m->layers[l];
    const mlsae_nn_ops *nn = &m->be->ops->nn;
    const mlsae_core_ops *core = &m->be->ops->core;
    mlsae_backend *be = m->be;
    int rows = nb * seq, d = c->hidden_size, ff = c->intermediate_size;
    size_t n = (size_t)rows * d;
    float eps = (float)c->layer_norm_eps;
    mlsae_ref x = WS(m, m->ws.x), t = WS(m, m->ws.t), a = WS(m, m->ws.a);
    mlsae_ref qkv = WS(m, m->ws.qkv), h = WS(m, m->ws.ff);

    /* attention branch: a = dense(attn(rotary(qkv(ln1 x)))) */
    BE_TRY(nn->layer_norm(be, x, t, W(m, L->ln1_w), W(m, L->ln1_b), rows, d, eps));
    BE_TRY(neox_linear(m, t, L->qkv_w, L->qkv_lp, L->qkv_b, rows, d, 3 * d, qkv));
    BE_TRY(nn->rotary(be, qkv, nb, seq, c->n_heads, c->head_dim, c->rot_dims,
                      (float)c->rotary_base));
    BE_TRY(nn->attention(be, qkv, t, nb, seq, c->n_heads, c->head_dim));
    BE_TRY(neox_linear(m, t, L->dense_w, L->dense_lp, L->dense_b, rows, d, d, a));

    /* mlp input: ln2 of x (parallel) or of x + a (sequential) */
    if (!c->use_parallel_residual) BE_TRY(core->axpby(be, n, 1.0f, a, 1.0f, x));
    BE_TRY(nn->layer_norm(be, x, t, W(m, L->ln2_w), W(m, L->ln2_b), rows, d, eps));
    BE_TRY(neox_linear(m, t, L->fc1_w, L->fc1_lp, L->fc1_b, rows, d, ff, h));
    BE_TRY(nn->gelu(be, h, (size_t)rows * ff));
    BE_TRY(neox_linear(m, h, L->fc2_w, L->fc2_lp, L->fc2_b, rows, ff, d, t));

    /* parallel: x = (mlp + attn) + x; sequential: x = mlp + (attn + x) */
    if (c->use_parallel_residual) BE_TRY(core->axpby(be, n, 1.0f, a, 1.0f, t));
    BE_TRY(core->axpby(be, n, 1.0f, t, 1.0f, x));
    return 0;
}

static int check_run(const mlsae_neox *m, const mlsae_neox_run *r, int need_head, mlsae_error *err)
{
    const mlsae_neox_config *c = &m->cfg;
    if (r->batch <= 0 || r->seq <= 0)
        return mlsae_fail(err, "empty batch (%d sequences of %d tokens)", r->batch, r->seq);
    if (r->seq > c->max_positions)
        return mlsae_fail(err, "sequence of %d tokens is longer than the model's context "
                          "(max_position_embeddings %d)", r->seq, c->max_positions);
    if ((size_t)r->batch * r->seq > ((size_t)1 << 31) / (size_t)c->hidden_size)
        return mlsae_fail(err, "batch of %d x %d tokens is too large", r->batch, r->seq);
    if (!r->tokens) return mlsae_fail(err, "no tokens given");
    for (int b = 0; b < r->batch; b++)
        for (int p = 0; p < r->seq; p++) {
            int32_t id = r->tokens[(size_t)b * r->seq + p];
            if (id < 0 || id >= c->vocab_size)
                return mlsae_fail(err, "token id %d at sequence %d position %d is outside the "
                                  "vocabulary (0..%d)", id, b, p, c->vocab_size - 1);
        }
    if (r->start_layer < -1 || r->start_layer >= c->n_layers)
        return mlsae_fail(err, "start layer %d is not in -1..%d", r->start_layer, c->n_layers - 1);
    if (r->start_layer >= 0 && !r->start.buf && !r->start_host)
        return mlsae_fail(err, "start layer %d given without its residual", r->start_layer);
    if (r->n_layers > 0 && !r->layers) return mlsae_fail(err, "layer selection missing");
    for (int j = 0; j < r->n_layers; j++)
        if (r->layers[j] <= r->start_layer || r->layers[j] >= c->n_layers)
            return mlsae_fail(err, "layer %d is not in %d..%d", r->layers[j], r->start_layer + 1,
                              c->n_layers - 1);
    if (r->n_layers > 0 && !r->hidden.buf && !r->hidden_host)
        return mlsae_fail(err, "hidden states requested without an output");
    if (need_head && m->lm_head == NEOX_ABSENT)
        return mlsae_fail(err, "logits requested but the model was loaded without embed_out");
    return 0;
}

/* Final LN, embed_out and losses for the chunk of sequences b0 .. b0+nb. */
static int head_forward(mlsae_neox *m, const mlsae_neox_run *r, int b0, int nb, double *ce_sum,
                        mlsae_error *err)
{
    const mlsae_neox_config *c = &m->cfg;
    mlsae_backend *be = m->be;
    const mlsae_core_ops *core = &be->ops->core;
    int d = c->hidden_size, vocab = c->vocab_size, seq = r->seq, rows = nb * seq;
    int want_ce = r->ce_host || r->mean_ce;
    BE_TRY(be->ops->nn.layer_norm(be, WS(m, m->ws.x), WS(m, m->ws.t), W(m, m->final_ln_w),
                                  W(m, m->final_ln_b), rows, d, (float)c->layer_norm_eps));
    if (want_ce) {
        int32_t *tg = malloc((size_t)rows * sizeof *tg);
        if (!tg) return mlsae_fail(err, "out of memory");
        for (int b = 0; b < nb; b++)
            for (int p = 0; p < seq; p++)
                tg[(size_t)b * seq + p] =
                    p + 1 < seq ? r->tokens[(size_t)(b0 + b) * seq + p + 1] : -1;
        int wrc = core->write(be, m->ws.buf, m->ws.targets * 4, tg, (size_t)rows * 4);
        free(tg);
        BE_TRY(wrc);
    }
    size_t first_row = (size_t)b0 * seq;
    for (int r0 = 0; r0 < rows; r0 += NEOX_LOGIT_ROWS) {
        int nr = rows - r0 < NEOX_LOGIT_ROWS ? rows - r0 : NEOX_LOGIT_ROWS;
        mlsae_ref dst = r->logits.buf
                            ? mlsae_ref_add(r->logits, (first_row + r0) * (size_t)vocab)
                            : WS(m, m->ws.logits);
        BE_TRY(neox_linear(m, WS(m, m->ws.t + (size_t)r0 * d), m->lm_head, m->lm_head_lp,
                           NEOX_ABSENT, nr, d, vocab, dst));
        if (r->logits_host)
            BE_TRY(core->read(be, dst.buf, dst.off * 4,
                              r->logits_host + (first_row + r0) * (size_t)vocab,
                              (size_t)nr * vocab * 4));
        if (want_ce)
            BE_TRY(be->ops->nn.cross_entropy(be, dst, WS(m, m->ws.targets + r0), nr, vocab,
                                             WS(m, m->ws.loss + r0)));
    }
    if (want_ce) {
        float *loss = malloc((size_t)rows * sizeof *loss);
        if (!loss) return mlsae_fail(err, "out of memory");
        int rrc = core->read(be, m->ws.buf, m->ws.loss * 4, loss, (size_t)rows * 4);
        if (!rrc) {
            for (int i = 0; i < rows; i++) {
                if (i % seq != seq - 1) *ce_sum += loss[i];
                if (r->ce_host) r->ce_host[first_row + i] = loss[i];
            }
        }
        free(loss);
        BE_TRY(rrc);
    }
    return 0;
}

/* Copy the residual of this chunk to every output slot that selected layer l. */
static int emit_hidden(mlsae_neox *m, const mlsae_neox_run *r, int l, int b0, int nb,
                       mlsae_error *err)
{
    size_t d = (size_t)m->cfg.hidden_size, n = (size_t)nb * r->seq * d;
    for (int j = 0; j < r->n_layers; j++) {
        if (r->layers[j] != l) continue;
        size_t off = (((size_t)j * r->batch + b0) * r->seq) * d;
        if (r->hidden.buf)
            BE_TRY(m->be->ops->core.copy(m->be, mlsae_ref_add(r->hidden, off), WS(m, m->ws.x), n));
        if (r->hidden_host)
            BE_TRY(m->be->ops->core.read(m->be, m->ws.buf, m->ws.x * 4, r->hidden_host + off, n * 4));
    }
    return 0;
}

int mlsae_neox_forward(mlsae_neox *m, const mlsae_neox_run *r, mlsae_error *err)
{
    const mlsae_neox_config *c = &m->cfg;
    int need_head = r->logits.buf || r->logits_host || r->ce_host || r->mean_ce;
    if (check_run(m, r, need_head, err)) return -1;
    int last = need_head ? c->n_layers - 1 : r->start_layer;
    for (int j = 0; j < r->n_layers; j++)
        if (r->layers[j] > last) last = r->layers[j];
    int nb_chunk = m->chunk_rows / r->seq;
    if (nb_chunk < 1) nb_chunk = 1;
    if (nb_chunk > r->batch) nb_chunk = r->batch;
    if (ensure_workspace(m, (size_t)nb_chunk * r->seq, need_head, err)) return -1;
    mlsae_backend *be = m->be;
    size_t d = (size_t)c->hidden_size;
    double ce_sum = 0;
    for (int b0 = 0; b0 < r->batch; b0 += nb_chunk) {
        int nb = r->batch - b0 < nb_chunk ? r->batch - b0 : nb_chunk;
        int rows = nb * r->seq;
        size_t first = (size_t)b0 * r->seq;
        if (r->start_layer < 0) {
            BE_TRY(be->ops->core.write(be, m->ws.buf, m->ws.ids * 4, r->tokens + first,
                                       (size_t)rows * 4));
            BE_TRY(be->ops->nn.embedding(be, W(m, m->embed_in), WS(m, m->ws.ids), rows, (int)d,
                                         WS(m, m->ws.x)));
        } else if (r->start.buf) {
            BE_TRY(be->ops->core.copy(be, WS(m, m->ws.x), mlsae_ref_add(r->start, first * d),
                                      (size_t)rows * d));
        } else {
            BE_TRY(be->ops->core.write(be, m->ws.buf, m->ws.x * 4, r->start_host + first * d,
                                       (size_t)rows * d * 4));
        }
        for (int l = r->start_layer + 1; l <= last; l++) {
            if (layer_forward(m, l, nb, r->seq, err)) return -1;
            if (emit_hidden(m, r, l, b0, nb, err)) return -1;
        }
        if (need_head && head_forward(m, r, b0, nb, &ce_sum, err)) return -1;
    }
    BE_TRY(be->ops->core.finish(be));
    if (r->mean_ce)
        *r->mean_ce = r->seq > 1 ? ce_sum / ((double)r->batch * (r->seq - 1)) : NAN;
    return 0;
}

static int all_layers(const mlsae_neox *m, const int **layers, int *n_sel, int **owned,
                      mlsae_error *err)
{
    *owned = NULL;
    if (*layers) return 0;
    int n = m->cfg.n_layers;
    *owned = malloc((size_t)n * sizeof **owned);
    if (!*owned) return mlsae_fail(err, "out of memory");
    for (int i = 0; i < n; i++) (*owned)[i] = i;
    *layers = *owned;
    *n_sel = n;
    return 0;
}

int mlsae_neox_hidden_states(mlsae_neox *m, const int32_t *tokens, int batch, int seq,
                             const int *layers, int n_sel, mlsae_ref out, mlsae_error *err)
{
    int *owned;
    if (all_layers(m, &layers, &n_sel, &owned, err)) return -1;
    mlsae_neox_run r = {.tokens = tokens, .batch = batch, .seq = seq, .start_layer = -1,
                        .layers = layers, .n_layers = n_sel, .hidden = out};
    int rc = mlsae_neox_forward(m, &r, err);
    free(owned);
    return rc;
}

int mlsae_neox_hidden_states_host(mlsae_neox *m, const int32_t *tokens, int batch, int seq,
                                  const int *layers, int n_sel, float *out, mlsae_error *err)
{
    int *owned;
    if (all_layers(m, &layers, &n_sel, &owned, err)) return -1;
    mlsae_neox_run r = {.tokens = tokens, .batch = batch, .seq = seq, .start_layer = -1,
                        .layers = layers, .n_layers = n_sel, .hidden_host = out};
    int rc = mlsae_neox_forward(m, &r, err);
    free(owned);
    return rc;
}

int mlsae_neox_forward_at_layer(mlsae_neox *m, mlsae_ref h, int layer, const int32_t *tokens,
                                int batch, int seq, mlsae_ref logits, float *ce_host,
                                double *mean_ce, mlsae_error *err)
{
    if (layer < 0 || layer >= m->cfg.n_layers)
        return mlsae_fail(err, "layer %d is not in 0..%d", layer, m->cfg.n_layers - 1);
    if (!h.buf) return mlsae_fail(err, "forward_at_layer: no residual given");
    mlsae_neox_run r = {.tokens = tokens, .batch = batch, .seq = seq, .start_layer = layer,
                        .start = h, .logits = logits, .ce_host = ce_host, .mean_ce = mean_ce};
    return mlsae_neox_forward(m, &r, err);
}
