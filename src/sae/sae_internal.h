/* The SAE's state and workspace; shared by the files of src/sae only. */
#ifndef MLSAE_SAE_INTERNAL_H
#define MLSAE_SAE_INTERNAL_H

#include "sae/mlsae.h"
#include "sae/sae_reduce.h"

struct mlsae_sae {
    mlsae_sae_config cfg;
    mlsae_backend *be;

    /* Parameters (backend buffers): enc [n, d], dec [n, d] (transposed),
     * bias [d]; last_nonzero int32 [n]; dead mask int32 [n]. */
    mlsae_buffer *enc, *dec, *bias, *last_nonzero, *dead_mask;
    /* Gradients and Adam moments, same shapes. */
    mlsae_buffer *g_enc, *g_dec, *g_bias;
    mlsae_buffer *m_enc, *v_enc, *m_dec, *v_dec, *m_bias, *v_bias;
    int64_t step, micro_batch, pending;
    int bias_pending;

    /* Per-latent scratch [n]: per-latent gradient sums; ones; the AuxK
     * candidates (latent indices, first n_cand entries) and their dead mask
     * (int32, first n_cand entries). */
    mlsae_buffer *cvec, *ones_n, *cand_idx, *cand_mask;
    /* host [n]: dead mask (or last_nonzero, while the candidates are found);
     * candidate list */
    int32_t *host_mask, *host_cand;

    /* Row workspace, grown on demand (capacity rows_cap). */
    int rows_cap;
    mlsae_buffer *xin;   /* standardized x - bias [rows, d] (the encoder input) */
    mlsae_buffer *recons, *aux_recons, *err_buf, *g1, *g2, *tmp; /* [rows, d] */
    mlsae_buffer *mu, *sd, *ones_r, *zeros_r, *neg_mu_e, *sd_e;   /* [rows] */
    mlsae_buffer *vals, *idx, *ga;   /* [rows, k] */
    mlsae_buffer *avals, *aidx, *gu; /* [rows, auxk] */
    /* Dense encoder output for a chunk of rows [chunk_rows, n]. */
    mlsae_buffer *pre;
    int chunk_rows;
    /* Mixed precision: the encoder rounded and packed for the product
     * (mlsae_lowp_pack; valid while enc_lp_fmt is the format it holds, 0 =
     * stale) and, for backends that compose the product, a [chunk_rows, d]
     * scratch for the rounded inputs. Allocated on first use. */
    mlsae_buffer *enc_lp, *xin_lp;
    int enc_lp_fmt;
    /* The candidates' pre-activations, gathered from every chunk:
     * [rows, n_cand], capacity aux_pre_cap elements (grown on demand). */
    mlsae_buffer *aux_pre;
    size_t aux_pre_cap;
    /* Candidate tables (row c = latent cand_idx[c]), capacity cand_cap rows:
     * [cand_cap, d] and [cand_cap]. */
    int cand_cap;
    mlsae_buffer *enc_cand, *dec_cand, *genc_cand, *gdec_cand, *cvec_cand;

    /* What the last forward computed. */
    int last_rows, last_n_layers, last_rows_per_layer;
    int n_dead;  /* dead latents at the last training forward */
    int n_cand;  /* AuxK candidates (a superset of the dead latents); aidx
                  * indexes them, and the candidate tables have n_cand rows */
    int kaux;    /* AuxK entries per row actually selected: min(auxk, n_dead) */

    /* Data-parallel runs (sae_reduce.h): has_red = 0 for one process. */
    mlsae_sae_reducer red;
    int has_red;
};

/* Workspace for `rows` rows (no-op when it is large enough). */
int sae_reserve_rows(mlsae_sae *sae, int rows, mlsae_error *err);
/* Candidate tables for n_cand latents; the [rows, n_cand] gather buffer. */
int sae_reserve_cand(mlsae_sae *sae, int n_cand, mlsae_error *err);
int sae_reserve_aux_pre(mlsae_sae *sae, int rows, int n_cand, mlsae_error *err);

/* Backend op failure -> err (the backend's message with context). */
int sae_be_fail(mlsae_sae *sae, const char *what, mlsae_error *err);

/* With a reducer (sae_reduce.c): sums v[n] over the processes; makes
 * last_nonzero the minimum over them and recomputes the dead mask and
 * n_dead; sums the accumulated gradients. No-ops without one. */
int sae_reduce_sum(mlsae_sae *sae, double *v, size_t n, mlsae_error *err);
int sae_reduce_dead(mlsae_sae *sae, int dead_steps, mlsae_error *err);
int sae_reduce_grads(mlsae_sae *sae, mlsae_error *err);

/* Forward pieces (sae_forward.c). Leaves vals (ReLU'd), idx, recons and
 * xin, mu, sd in the workspace. With train set, also updates last_nonzero,
 * the dead list and the AuxK selection and aux_recons. */
int sae_forward_pass(mlsae_sae *sae, mlsae_ref x, int rows, int train, mlsae_error *err);
/* Its two halves: steps 1-4 (standardize, bias, TopK with the raw values
 * before the ReLU left in vals, and with train the dead-latent bookkeeping
 * and AuxK candidates); then steps 5-7 (ReLU of vals in place, decode,
 * AuxK). */
int sae_encode_pass(mlsae_sae *sae, mlsae_ref x, int rows, int train, mlsae_error *err);
int sae_decode_pass(mlsae_sae *sae, int rows, int train, mlsae_error *err);

/* Loss and gradient accumulation (sae_backward.c); fills the losses. With
 * grad = 0 only the losses are computed (nothing is accumulated). */
int sae_backward_pass(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                      double *loss_mse, double *loss_aux, int grad, mlsae_error *err);

#define SAE_CALL(sae, err, what, call)                                                     \
    do {                                                                                  \
        if ((call) != 0) return sae_be_fail((sae), (what), (err));                        \
    } while (0)

static inline mlsae_ref sae_ref(mlsae_buffer *b) { return mlsae_at(b, 0); }

#endif
