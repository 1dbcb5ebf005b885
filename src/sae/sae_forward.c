/* MLSAE forward (SPEC §4 steps 1-7). The dense encoder product is computed
 * in chunks of rows, each immediately reduced to its TopK, so no
 * [rows x n_latents] matrix ever exists. AuxK needs the pre-activations of
 * the dead latents only: after the dead-latent update, the encoder rows of
 * the dead latents are gathered into a compact table and multiplied again
 * (rows x n_dead), and the TopK runs over those. This equals the
 * reference's TopK of the masked pre-activations (live entries set to 0)
 * after the ReLU: the positive dead values are the same, and entries that
 * the ReLU sends to 0 contribute neither to the reconstruction nor to the
 * gradient. */
#include "config.h"
#include "sae/sae_internal.h"

#include <stdint.h>

#define STANDARDIZE_EPS 1e-5f

/* TopK of (xin @ table^T) per row, chunk by chunk: table [n_table, d]. */
static int encode_topk(mlsae_sae *sae, int rows, mlsae_buffer *table, int n_table, int k,
                       mlsae_buffer *vals, mlsae_buffer *idx, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs;
    for (int r0 = 0; r0 < rows; r0 += sae->chunk_rows) {
        int c = rows - r0 < sae->chunk_rows ? rows - r0 : sae->chunk_rows;
        SAE_CALL(sae, err, "encoder",
                 be->ops->core.sgemm(be, 0, 1, c, n_table, d, 1.0f,
                                     mlsae_at(sae->xin, (size_t)r0 * d), d, sae_ref(table), d,
                                     0.0f, sae_ref(sae->pre), n_table));
        SAE_CALL(sae, err, "topk",
                 be->ops->sae.topk(be, sae_ref(sae->pre), c, n_table, k, MLSAE_NOREF,
                                   mlsae_at(vals, (size_t)r0 * k), mlsae_at(idx, (size_t)r0 * k)));
    }
    return 0;
}

/* Dead-latent bookkeeping (step 4); fills the host list of dead latents. */
static int update_dead(mlsae_sae *sae, int rows, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int n = sae->cfg.n_latents;
    int64_t thr64 = sae->cfg.dead_steps_threshold;
    int thr = thr64 > INT32_MAX ? INT32_MAX : (int)thr64;
    SAE_CALL(sae, err, "dead latents",
             be->ops->sae.update_dead(be, sae_ref(sae->vals), sae_ref(sae->idx), rows, sae->cfg.k,
                                      sae->cfg.dead_threshold, sae_ref(sae->last_nonzero), n, thr,
                                      sae_ref(sae->dead_mask)));
    SAE_CALL(sae, err, "dead latents",
             be->ops->core.read(be, sae->dead_mask, 0, sae->host_mask, (size_t)n * 4));
    int n_dead = 0;
    for (int i = 0; i < n; i++)
        if (sae->host_mask[i]) sae->host_dead[n_dead++] = i;
    sae->n_dead = n_dead;
    return 0;
}

/* AuxK over the dead latents (step 5) and its reconstruction (step 7). */
static int auxk_pass(mlsae_sae *sae, int rows, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, n_dead = sae->n_dead;
    const size_t rd = (size_t)rows * d;
    sae->kaux = n_dead < sae->cfg.auxk ? n_dead : sae->cfg.auxk;
    if (sae->kaux == 0) {
        SAE_CALL(sae, err, "auxk", be->ops->core.fill(be, sae_ref(sae->aux_recons), rd, 0.0f));
    } else {
        if (sae_reserve_dead(sae, n_dead, err)) return -1;
        SAE_CALL(sae, err, "auxk",
                 be->ops->core.write(be, sae->dead_idx, 0, sae->host_dead, (size_t)n_dead * 4));
        /* Compact tables: row c = row dead_idx[c] of enc / dec. */
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.sparse_gather(be, sae_ref(sae->ones_n), sae_ref(sae->dead_idx),
                                            n_dead, 1, sae_ref(sae->enc), d, 0, 0.0f,
                                            sae_ref(sae->enc_dead)));
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.sparse_gather(be, sae_ref(sae->ones_n), sae_ref(sae->dead_idx),
                                            n_dead, 1, sae_ref(sae->dec), d, 0, 0.0f,
                                            sae_ref(sae->dec_dead)));
        if (encode_topk(sae, rows, sae->enc_dead, n_dead, sae->kaux, sae->avals, sae->aidx, err))
            return -1;
        SAE_CALL(sae, err, "auxk",
                 be->ops->sae.relu(be, sae_ref(sae->avals), (size_t)rows * sae->kaux));
        SAE_CALL(sae, err, "auxk decode",
                 be->ops->sae.sparse_gather(be, sae_ref(sae->avals), sae_ref(sae->aidx), rows,
                                            sae->kaux, sae_ref(sae->dec_dead), d, 0, 0.0f,
                                            sae_ref(sae->aux_recons)));
    }
    /* Not un-standardised, as in the reference. */
    SAE_CALL(sae, err, "auxk decode",
             be->ops->core.add_row_vector(be, sae_ref(sae->aux_recons), rows, d,
                                          sae_ref(sae->bias), 1.0f));
    return 0;
}

int sae_forward_pass(mlsae_sae *sae, mlsae_ref x, int rows, int train, mlsae_error *err)
{
    if (sae_reserve_rows(sae, rows, err)) return -1;
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, n = sae->cfg.n_latents, k = sae->cfg.k;
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
    /* 2-3: TopK of enc @ xin */
    if (encode_topk(sae, rows, sae->enc, n, k, sae->vals, sae->idx, err)) return -1;
    /* 4: bookkeeping on the values before the ReLU (as the reference) */
    if (train && update_dead(sae, rows, err)) return -1;
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
    if (train && sae->cfg.auxk > 0 && auxk_pass(sae, rows, err)) return -1;
    return 0;
}
