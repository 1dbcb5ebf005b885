/* MLSAE forward (SPEC §4 steps 1-7). The dense encoder product is computed
 * in chunks of rows, each immediately reduced to its TopK, so no
 * [rows x n_latents] matrix ever exists.
 *
 * AuxK needs the pre-activations of the latents that are dead AFTER this
 * micro-batch's bookkeeping, which depends on every row's TopK. That set is
 * known up to the latents that fire now: with c = last_nonzero before the
 * update and T = dead_steps_threshold, a latent ends up dead iff
 * (not fired and min(c + 1, INT32_MAX) >= T) or (fired and 1 >= T), so
 * every dead latent is in the candidate set {c + 1 >= T}, known before the
 * chunk pass. Each chunk's pre-activations of the candidates are copied
 * (gather_columns: no arithmetic) into a [rows, n_cand] buffer; after the
 * bookkeeping, AuxK is the TopK over that buffer with the candidates that
 * are not dead masked to 0.0: the reference's TopK of pre * dead_mask,
 * restricted to the candidate columns, on the same float values as the
 * main TopK. The masked-out columns outside the candidates are 0.0 in the
 * reference too; whenever the selection reaches such zeros (fewer than
 * auxk positive dead entries in a row) the ReLU sends them, as every
 * non-positive entry, to 0, and they contribute neither to the
 * reconstruction nor to the gradient.
 *
 * Memory: the buffer holds rows x n_cand floats, at most rows x n_latents
 * (every latent a candidate, e.g. dead_steps_threshold <= 1): never more
 * than the reference's dense pre-activation matrix. The candidate tables
 * (encoder and decoder rows of the candidates, their gradients) are
 * n_cand x d each. */
#include "config.h"
#include "sae/sae_internal.h"
#include "backend/backend_ops.h"
#include "backend/lowp.h"

#include <stdint.h>

#define STANDARDIZE_EPS 1e-5f

/* Mixed precision: the encoder rounded to fmt and packed (once per weight
 * update), and the scratch of a composed product. */
static int pack_encoder(mlsae_sae *sae, int fmt, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, n = sae->cfg.n_latents;
    if (!sae->enc_lp) {
        sae->enc_lp = be->ops->core.alloc(be, mlsae_lowp_packed_elems(n, d) * 4);
        if (!sae->enc_lp)
            return mlsae_fail(err, "sae: cannot allocate the %s encoder (%d x %d)",
                              mlsae_precision_name(sae->cfg.precision), n, d);
    }
    if (!sae->xin_lp && mlsae_lowp_needs_scratch(be)) {
        sae->xin_lp = be->ops->core.alloc(be, (size_t)sae->chunk_rows * d * 4);
        if (!sae->xin_lp) return mlsae_fail(err, "sae: cannot allocate the encoder scratch");
    }
    if (sae->enc_lp_fmt == fmt) return 0;
    SAE_CALL(sae, err, "encoder (packing)",
             mlsae_lowp_pack(be, fmt, sae_ref(sae->enc), n, d, sae_ref(sae->enc_lp)));
    sae->enc_lp_fmt = fmt;
    return 0;
}

/* TopK of (xin @ enc^T) per row, chunk by chunk; with n_cand > 0 each
 * chunk's candidate columns are also gathered into aux_pre (in the same
 * pass as the TopK where the backend has topk_gather). Under a mixed
 * precision the product takes the rounded xin and enc (doc/precision.md),
 * fused with the TopK where the backend can (then no chunk of pre is ever
 * written); everything after the product is float32. */
static int encode_topk(mlsae_sae *sae, int rows, int n_cand, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, n = sae->cfg.n_latents, k = sae->cfg.k;
    const int fmt = mlsae_precision_lowp((mlsae_precision)sae->cfg.precision);
    if (fmt) {
        if (pack_encoder(sae, fmt, err)) return -1;
        SAE_CALL(sae, err, "encoder and topk",
                 mlsae_lowp_gemm_topk(be, fmt, rows, n, d, sae_ref(sae->xin), d,
                                      sae_ref(sae->enc_lp), sae_ref(sae->pre), sae->chunk_rows,
                                      sae->xin_lp ? sae_ref(sae->xin_lp) : MLSAE_NOREF, k,
                                      sae_ref(sae->vals), sae_ref(sae->idx),
                                      sae_ref(sae->cand_idx), n_cand, sae_ref(sae->aux_pre)));
        return 0;
    }
    for (int r0 = 0; r0 < rows; r0 += sae->chunk_rows) {
        int c = rows - r0 < sae->chunk_rows ? rows - r0 : sae->chunk_rows;
        SAE_CALL(sae, err, "encoder",
                 be->ops->core.sgemm(be, 0, 1, c, n, d, 1.0f, mlsae_at(sae->xin, (size_t)r0 * d),
                                     d, sae_ref(sae->enc), d, 0.0f, sae_ref(sae->pre), n));
        /* one pass where the backend can: each row's candidates are copied
         * while it is in cache */
        SAE_CALL(sae, err, "topk and auxk candidates",
                 mlsae_op_topk_gather(be, sae_ref(sae->pre), c, n, k, MLSAE_NOREF,
                                      mlsae_at(sae->vals, (size_t)r0 * k),
                                      mlsae_at(sae->idx, (size_t)r0 * k), sae_ref(sae->cand_idx),
                                      n_cand, mlsae_at(sae->aux_pre, (size_t)r0 * n_cand)));
    }
    return 0;
}

static int dead_steps(const mlsae_sae *sae)
{
    int64_t thr = sae->cfg.dead_steps_threshold;
    return thr > INT32_MAX ? INT32_MAX : (int)thr;
}

/* The AuxK candidates (see the top of this file) from last_nonzero before
 * the update: host_cand, n_cand, uploaded to cand_idx; aux_pre sized. */
static int find_candidates(mlsae_sae *sae, int rows, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int n = sae->cfg.n_latents;
    const int64_t thr = dead_steps(sae);
    int32_t *last = sae->host_mask; /* scratch until update_dead overwrites it */
    SAE_CALL(sae, err, "auxk candidates",
             be->ops->core.read(be, sae->last_nonzero, 0, last, (size_t)n * 4));
    int n_cand = 0;
    for (int i = 0; i < n; i++)
        if ((int64_t)last[i] + 1 >= thr) sae->host_cand[n_cand++] = i;
    sae->n_cand = n_cand;
    if (n_cand == 0) return 0;
    SAE_CALL(sae, err, "auxk candidates",
             be->ops->core.write(be, sae->cand_idx, 0, sae->host_cand, (size_t)n_cand * 4));
    return sae_reserve_aux_pre(sae, rows, n_cand, err);
}

/* Dead-latent bookkeeping (step 4): last_nonzero, the dead mask (device and
 * host) and n_dead. */
static int update_dead(mlsae_sae *sae, int rows, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int n = sae->cfg.n_latents;
    SAE_CALL(sae, err, "dead latents",
             be->ops->sae.update_dead(be, sae_ref(sae->vals), sae_ref(sae->idx), rows, sae->cfg.k,
                                      sae->cfg.dead_threshold, sae_ref(sae->last_nonzero), n,
                                      dead_steps(sae), sae_ref(sae->dead_mask)));
    if (sae->has_red) return sae_reduce_dead(sae, dead_steps(sae), err);
    SAE_CALL(sae, err, "dead latents",
             be->ops->core.read(be, sae->dead_mask, 0, sae->host_mask, (size_t)n * 4));
    int n_dead = 0;
    for (int i = 0; i < n; i++) n_dead += sae->host_mask[i] != 0;
    sae->n_dead = n_dead;
    return 0;
}

/* AuxK over the dead latents (step 5) and its reconstruction (step 7);
 * only when auxk > 0, after update_dead. */
static int auxk_pass(mlsae_sae *sae, int rows, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, n = sae->cfg.n_latents;
    const int n_dead = sae->n_dead, n_cand = sae->n_cand;
    const size_t rd = (size_t)rows * d;
    /* Every dead latent is a candidate (file comment); check it, since the
     * selection below would silently miss one that is not. */
    int dead_cands = 0;
    for (int c = 0; c < n_cand; c++) dead_cands += sae->host_mask[sae->host_cand[c]] != 0;
    if (dead_cands != n_dead)
        return mlsae_fail(err, "sae auxk: %d dead latents, %d of them among the %d candidates",
                          n_dead, dead_cands, n_cand);
    sae->kaux = n_dead < sae->cfg.auxk ? n_dead : sae->cfg.auxk;
    if (sae->kaux == 0) {
        SAE_CALL(sae, err, "auxk", be->ops->core.fill(be, sae_ref(sae->aux_recons), rd, 0.0f));
    } else {
        if (sae_reserve_cand(sae, n_cand, err)) return -1;
        /* the candidates' dead mask, and their tables: row c = latent cand_idx[c] */
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.gather_columns(be, sae_ref(sae->dead_mask), 1, n,
                                             sae_ref(sae->cand_idx), n_cand,
                                             sae_ref(sae->cand_mask)));
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.sparse_gather(be, sae_ref(sae->ones_n), sae_ref(sae->cand_idx),
                                            n_cand, 1, sae_ref(sae->enc), d, 0, 0.0f,
                                            sae_ref(sae->enc_cand)));
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.sparse_gather(be, sae_ref(sae->ones_n), sae_ref(sae->cand_idx),
                                            n_cand, 1, sae_ref(sae->dec), d, 0, 0.0f,
                                            sae_ref(sae->dec_cand)));
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.topk(be, sae_ref(sae->aux_pre), rows, n_cand, sae->kaux,
                                   sae_ref(sae->cand_mask), sae_ref(sae->avals),
                                   sae_ref(sae->aidx)));
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.relu(be, sae_ref(sae->avals), (size_t)rows * sae->kaux));
        SAE_CALL(sae, err, "auxk decode",
                 be->ops->sae.sparse_gather(be, sae_ref(sae->avals), sae_ref(sae->aidx), rows,
                                            sae->kaux, sae_ref(sae->dec_cand), d, 0, 0.0f,
                                            sae_ref(sae->aux_recons)));
    }
    /* Not un-standardised, as in the reference. */
    SAE_CALL(sae, err, "auxk decode",
             be->ops->core.add_row_vector(be, sae_ref(sae->aux_recons), rows, d,
                                          sae_ref(sae->bias), 1.0f));
    return 0;
}

int sae_encode_pass(mlsae_sae *sae, mlsae_ref x, int rows, int train, mlsae_error *err)
{
    if (sae_reserve_rows(sae, rows, err)) return -1;
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs;
    const size_t rd = (size_t)rows * d;
    sae->last_rows = rows;
    sae->kaux = 0;

    /* 1-2: encoder input = standardize(x) - bias */
    if (sae->cfg.standardize)
        SAE_CALL(sae, err, "standardize",
                 be->ops->sae.standardize(be, x, sae_ref(sae->xin), sae_ref(sae->mu),
                                          sae_ref(sae->sd), rows, d, STANDARDIZE_EPS));
    else
        SAE_CALL(sae, err, "input", be->ops->core.copy(be, sae_ref(sae->xin), x, rd));
    SAE_CALL(sae, err, "bias",
             be->ops->core.add_row_vector(be, sae_ref(sae->xin), rows, d, sae_ref(sae->bias),
                                          -1.0f));
    /* 2-3: TopK of enc @ xin, and the AuxK candidates' pre-activations */
    const int aux = train && sae->cfg.auxk > 0;
    sae->n_cand = 0;
    if (aux && find_candidates(sae, rows, err)) return -1;
    if (encode_topk(sae, rows, sae->n_cand, err)) return -1;
    /* 4: bookkeeping on the values before the ReLU (as the reference) */
    if (train && update_dead(sae, rows, err)) return -1;
    return 0;
}

int sae_decode_pass(mlsae_sae *sae, int rows, int train, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, k = sae->cfg.k;
    const int aux = train && sae->cfg.auxk > 0;
    /* 6: ReLU, sparse decode, + bias, un-standardize */
    SAE_CALL(sae, err, "relu", be->ops->sae.relu(be, sae_ref(sae->vals), (size_t)rows * k));
    SAE_CALL(sae, err, "decode",
             be->ops->sae.sparse_gather(be, sae_ref(sae->vals), sae_ref(sae->idx), rows, k,
                                        sae_ref(sae->dec), d, 0, 0.0f, sae_ref(sae->recons)));
    SAE_CALL(sae, err, "decode",
             be->ops->core.add_row_vector(be, sae_ref(sae->recons), rows, d, sae_ref(sae->bias),
                                          1.0f));
    if (sae->cfg.standardize)
        SAE_CALL(sae, err, "decode",
                 be->ops->sae.row_affine(be, sae_ref(sae->recons), sae_ref(sae->recons),
                                         sae_ref(sae->sd), sae_ref(sae->mu), rows, d));
    /* 5, 7: AuxK */
    if (aux && auxk_pass(sae, rows, err)) return -1;
    return 0;
}

int sae_forward_pass(mlsae_sae *sae, mlsae_ref x, int rows, int train, mlsae_error *err)
{
    if (sae_encode_pass(sae, x, rows, train, err)) return -1;
    return sae_decode_pass(sae, rows, train, err);
}
