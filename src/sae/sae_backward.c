/* Loss and its analytic, sparse gradient (SPEC §4 "Loss").
 *
 * With s = 1 / accumulate_grad_batches, L layers of N_l = rows_l * d
 * elements, M = rows * d, E = X - R, A = aux reconstruction,
 * Ec = E - mean_D(E), Num = mean (E - A)^2, Den = mean Ec^2:
 *   mse_loss = (1/L) sum_l sum_{layer l} (R - X)^2 / (N_l var_l)
 *   aux_loss = c Num / Den
 * and, as autograd of these expressions (the denominator depends on R):
 *   dL/dR = -a_l E - b (E - A) + g Ec,   dL/dA = -b (E - A),
 *   a_l = 2 s / (L N_l var_l),  b = 2 s c / (M Den),  g = 2 s c Num / (M Den^2).
 * Then with y = R / sd (standardized space): dL/dy = dL/dR * sd, and for
 * each selected latent j of row r (a = ReLU(pre), pre = enc (x - bias)):
 *   dL/ddec_j += a_j dL/dy_r,   dL/dpre_j = [a_j > 0] dot(dL/dy_r, dec_j),
 *   dL/denc_j += dL/dpre_j (x_r - bias),
 *   dL/dbias = sum_r (dL/dy_r + dL/dA_r) - enc^T (sum of dL/dpre per latent).
 * mu and sd are functions of the data only (no gradient flows into X). */
#include "config.h"
#include "sae/sae_internal.h"
#include "backend/backend_ops.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Every sum over the batch that the loss needs, into sums[3 + 4 L]:
 * [0] sum (E - A)^2, [1] sum Ec^2 (AuxK only, else 0), [2] the element
 * count M; per layer l at 3 + 4 l: sum X, sum X^2, sum (R - X)^2, N_l.
 * Leaves E in err_buf and, with AuxK, Ec in tmp. */
static int batch_sums(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                      double *sums, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const mlsae_core_ops *core = &be->ops->core;
    const mlsae_sae_ops *ops = &be->ops->sae;
    const int d = sae->cfg.n_inputs;
    const int rows = n_layers * rows_per_layer;
    const size_t n_l = (size_t)rows_per_layer * d, m = (size_t)rows * d;
    mlsae_ref e = sae_ref(sae->err_buf), ar = sae_ref(sae->aux_recons), ec = sae_ref(sae->tmp);
    mlsae_ref r = sae_ref(sae->recons);
    double st[2];

    /* E = X - R */
    SAE_CALL(sae, err, "loss", core->copy(be, e, x, m));
    SAE_CALL(sae, err, "loss", core->axpby(be, m, -1.0f, r, 1.0f, e));
    if (sae->cfg.auxk > 0) {
        SAE_CALL(sae, err, "aux loss", core->sum_stats(be, m, e, ar, st));
        sums[0] = st[1];
        /* Row means of E (standardize's other outputs are unused), then Ec. */
        SAE_CALL(sae, err, "aux loss",
                 ops->standardize(be, e, ec, sae_ref(sae->neg_mu_e), sae_ref(sae->sd_e), rows, d,
                                  1.0f));
        SAE_CALL(sae, err, "aux loss",
                 core->axpby(be, (size_t)rows, 0.0f, sae_ref(sae->zeros_r), -1.0f,
                             sae_ref(sae->neg_mu_e)));
        SAE_CALL(sae, err, "aux loss",
                 ops->row_affine(be, e, ec, sae_ref(sae->ones_r), sae_ref(sae->neg_mu_e), rows, d));
        SAE_CALL(sae, err, "aux loss", core->sum_stats(be, m, ec, MLSAE_NOREF, st));
        sums[1] = st[1];
    }
    sums[2] = (double)m;
    for (int l = 0; l < n_layers; l++) {
        mlsae_ref xl = mlsae_ref_add(x, l * n_l);
        double *sl = sums + 3 + 4 * l;
        SAE_CALL(sae, err, "mse loss", core->sum_stats(be, n_l, xl, MLSAE_NOREF, st));
        sl[0] = st[0];
        sl[1] = st[1];
        SAE_CALL(sae, err, "mse loss",
                 core->sum_stats(be, n_l, mlsae_ref_add(r, l * n_l), xl, st));
        sl[2] = st[1];
        sl[3] = (double)n_l;
    }
    return 0;
}

int sae_backward_pass(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                      double *loss_mse, double *loss_aux, int grad, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const mlsae_core_ops *core = &be->ops->core;
    const mlsae_sae_ops *ops = &be->ops->sae;
    const int d = sae->cfg.n_inputs, n = sae->cfg.n_latents, k = sae->cfg.k;
    const int rows = n_layers * rows_per_layer;
    const size_t n_l = (size_t)rows_per_layer * d, m = (size_t)rows * d;
    const double s = 1.0 / sae->cfg.accumulate_grad_batches;
    const double coef = sae->cfg.auxk_coef;
    mlsae_ref e = sae_ref(sae->err_buf), g1 = sae_ref(sae->g1), g2 = sae_ref(sae->g2);
    mlsae_ref ar = sae_ref(sae->aux_recons), ec = sae_ref(sae->tmp);

    /* The batch's sums, over every process of a data-parallel run
     * (sae_reduce.h): the normalisers below are the global batch's. */
    const size_t n_sums = 3 + 4 * (size_t)n_layers;
    double *sums = calloc(n_sums, sizeof *sums);
    if (!sums) return mlsae_fail(err, "sae: out of memory");
    if (batch_sums(sae, x, n_layers, rows_per_layer, sums, err) ||
        sae_reduce_sum(sae, sums, n_sums, err)) {
        free(sums);
        return -1;
    }
    const double m_all = sums[2];

    /* AuxK: Num, Den and the coefficients b, g (0 when the loss is NaN/inf,
     * whose gradient torch.nan_to_num zeroes). */
    int aux_on = sae->cfg.auxk > 0;
    double beta = 0, gamma = 0, aux = 0;
    if (aux_on) {
        double num = sums[0] / m_all;
        double den = sums[1] / m_all;
        aux = coef * (num / den);
        if (isnan(aux)) {
            aux = 0;
        } else if (isinf(aux)) {
            aux = aux > 0 ? FLT_MAX : -FLT_MAX;
        } else {
            beta = 2.0 * s * coef / (m_all * den);
            gamma = 2.0 * s * coef * num / (m_all * den * den);
        }
    }
    int aux_grad = aux_on && (beta != 0 || gamma != 0);

    /* dL/dR into g1: (b A + g Ec) - (a_l + b) E per layer */
    int rc = 0;
    if (aux_grad)
        rc = core->copy(be, g1, ar, m) || core->axpby(be, m, (float)gamma, ec, (float)beta, g1);
    else
        rc = core->fill(be, g1, m, 0.0f);
    double mse_sum = 0;
    for (int l = 0; l < n_layers && !rc; l++) {
        const double *sl = sums + 3 + 4 * l;
        const double nl_all = sl[3];
        if (!isfinite(sl[0]) || !isfinite(sl[1])) {
            free(sums);
            return mlsae_fail(err, "layer %d: non-finite input (NaN or infinity in the "
                              "activations)", l);
        }
        double var = (sl[1] - sl[0] * sl[0] / nl_all) / (nl_all - 1);
        if (var < 0) var = 0;
        /* The normalised MSE divides by this variance: with every input of
         * the layer equal (e.g. all positions masked to zero) it is 0/0. */
        if (!(var > 0)) {
            free(sums);
            return mlsae_fail(err, "layer %d: all %.0f inputs are equal (zero variance), so the "
                              "normalised MSE is undefined (are all positions masked?)", l,
                              nl_all);
        }
        mse_sum += sl[2] / nl_all / var;
        double alpha = 2.0 * s / ((double)n_layers * nl_all * var);
        rc = core->axpby(be, n_l, (float)-(alpha + beta), mlsae_ref_add(e, l * n_l), 1.0f,
                         mlsae_ref_add(g1, l * n_l));
    }
    free(sums);
    if (rc) return sae_be_fail(sae, "loss grad", err);
    *loss_mse = mse_sum / n_layers;
    *loss_aux = aux;
    if (!grad) return 0;
    /* to the standardized space */
    if (sae->cfg.standardize)
        SAE_CALL(sae, err, "loss grad",
                 ops->row_affine(be, g1, g1, sae_ref(sae->sd), sae_ref(sae->zeros_r), rows, d));

    /* TopK path */
    mlsae_ref vals = sae_ref(sae->vals), idx = sae_ref(sae->idx), ga = sae_ref(sae->ga);
    mlsae_ref ones_r = sae_ref(sae->ones_r), cvec = sae_ref(sae->cvec);
    SAE_CALL(sae, err, "backward",
             mlsae_op_sparse_backward(be, g1, sae_ref(sae->xin), vals, idx, rows, k,
                                      sae_ref(sae->dec), d, n, ga, sae_ref(sae->g_dec),
                                      sae_ref(sae->g_enc)));
    SAE_CALL(sae, err, "backward", core->fill(be, cvec, (size_t)n, 0.0f));
    SAE_CALL(sae, err, "backward", ops->sparse_scatter(be, ga, idx, rows, k, ones_r, 1, cvec, n));
    /* bias: column sums of dL/dy, minus enc^T cvec */
    mlsae_ref gb = sae_ref(sae->g_bias);
    SAE_CALL(sae, err, "backward",
             core->sgemm(be, 0, 0, 1, d, rows, 1.0f, ones_r, rows, g1, d, 1.0f, gb, d));
    SAE_CALL(sae, err, "backward",
             core->sgemm(be, 1, 0, 1, d, n, -1.0f, cvec, 1, sae_ref(sae->enc), d, 1.0f, gb, d));

    if (!aux_grad) return 0;
    /* AuxK path: dL/dA into g2 = b (A - E) */
    SAE_CALL(sae, err, "aux grad", core->copy(be, g2, e, m));
    SAE_CALL(sae, err, "aux grad", core->axpby(be, m, (float)beta, ar, (float)-beta, g2));
    SAE_CALL(sae, err, "aux grad",
             core->sgemm(be, 0, 0, 1, d, rows, 1.0f, ones_r, rows, g2, d, 1.0f, gb, d));
    /* the candidate tables: n_cand rows, indexed by aidx */
    const int kaux = sae->kaux, n_cand = sae->n_cand;
    if (kaux == 0) return 0;
    mlsae_ref avals = sae_ref(sae->avals), aidx = sae_ref(sae->aidx), gu = sae_ref(sae->gu);
    mlsae_ref gdd = sae_ref(sae->gdec_cand), ged = sae_ref(sae->genc_cand);
    mlsae_ref cvd = sae_ref(sae->cvec_cand);
    size_t nd = (size_t)n_cand * d;
    SAE_CALL(sae, err, "aux grad", core->fill(be, gdd, nd, 0.0f));
    SAE_CALL(sae, err, "aux grad", core->fill(be, ged, nd, 0.0f));
    SAE_CALL(sae, err, "aux grad", core->fill(be, cvd, (size_t)n_cand, 0.0f));
    SAE_CALL(sae, err, "aux grad",
             mlsae_op_sparse_backward(be, g2, sae_ref(sae->xin), avals, aidx, rows, kaux,
                                      sae_ref(sae->dec_cand), d, n_cand, gu, gdd, ged));
    SAE_CALL(sae, err, "aux grad", ops->sparse_scatter(be, gu, aidx, rows, kaux, ones_r, 1, cvd, n_cand));
    SAE_CALL(sae, err, "aux grad",
             core->sgemm(be, 1, 0, 1, d, n_cand, -1.0f, cvd, 1, sae_ref(sae->enc_cand), d, 1.0f,
                         gb, d));
    /* compact tables back into the full gradients */
    mlsae_ref ones_n = sae_ref(sae->ones_n), cand_idx = sae_ref(sae->cand_idx);
    SAE_CALL(sae, err, "aux grad",
             ops->sparse_scatter(be, ones_n, cand_idx, n_cand, 1, gdd, d, sae_ref(sae->g_dec), n));
    SAE_CALL(sae, err, "aux grad",
             ops->sparse_scatter(be, ones_n, cand_idx, n_cand, 1, ged, d, sae_ref(sae->g_enc), n));
    return 0;
}
