/* Evaluation forward and the per-layer metrics of SPEC §5; the inspection
 * accessors of the last training micro-batch. */
#include "config.h"
#include "sae/sae_internal.h"

#include <stdlib.h>
#include <string.h>

/* SPEC §5 per layer, from the workspace of the last forward: MSE and FVU
 * (unbiased variance of the layer's inputs), L1 and L0 of the TopK values.
 * With reduce, the sums are over every process of a data-parallel run
 * (sae_reduce.h). */
enum { LM_SX, LM_SXX, LM_SE, LM_N, LM_L1, LM_L0, LM_ROWS, LM_COUNT };

static int layer_metrics(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                         int reduce, mlsae_sae_layer_metrics *layers, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int d = sae->cfg.n_inputs, k = sae->cfg.k;
    const size_t n_l = (size_t)rows_per_layer * d, k_l = (size_t)rows_per_layer * k;
    float *vals = malloc(k_l * sizeof *vals);
    double *sums = calloc((size_t)n_layers * LM_COUNT, sizeof *sums);
    if (!vals || !sums) {
        free(vals);
        free(sums);
        return mlsae_fail(err, "sae: out of memory");
    }
    for (int l = 0; l < n_layers; l++) {
        double st[2], *sl = sums + (size_t)l * LM_COUNT;
        mlsae_ref xl = mlsae_ref_add(x, l * n_l);
        if (be->ops->core.sum_stats(be, n_l, xl, MLSAE_NOREF, st)) goto fail;
        sl[LM_SX] = st[0];
        sl[LM_SXX] = st[1];
        if (be->ops->core.sum_stats(be, n_l, mlsae_at(sae->recons, l * n_l), xl, st)) goto fail;
        sl[LM_SE] = st[1];
        sl[LM_N] = (double)n_l;
        if (be->ops->core.read(be, sae->vals, l * k_l * 4, vals, k_l * 4)) goto fail;
        double l1 = 0;
        size_t l0 = 0;
        for (size_t i = 0; i < k_l; i++) {
            l1 += vals[i] < 0 ? -vals[i] : vals[i];
            l0 += vals[i] > sae->cfg.dead_threshold;
        }
        sl[LM_L1] = l1;
        sl[LM_L0] = (double)l0;
        sl[LM_ROWS] = rows_per_layer;
    }
    free(vals);
    vals = NULL;
    if (reduce && sae_reduce_sum(sae, sums, (size_t)n_layers * LM_COUNT, err)) {
        free(sums);
        return -1;
    }
    for (int l = 0; l < n_layers; l++) {
        const double *sl = sums + (size_t)l * LM_COUNT;
        double var = (sl[LM_SXX] - sl[LM_SX] * sl[LM_SX] / sl[LM_N]) / (sl[LM_N] - 1);
        layers[l].mse = sl[LM_SE] / sl[LM_N];
        layers[l].fvu = layers[l].mse / var;
        layers[l].l1 = sl[LM_L1] / sl[LM_ROWS];
        layers[l].l0 = sl[LM_L0] / sl[LM_ROWS];
    }
    free(sums);
    return 0;
fail:
    free(vals);
    free(sums);
    return sae_be_fail(sae, "metrics", err);
}

static int check_shape(int n_layers, int rows_per_layer, mlsae_error *err)
{
    if (n_layers < 1 || rows_per_layer < 1 || (int64_t)n_layers * rows_per_layer > INT32_MAX / 2)
        return mlsae_fail(err, "sae: bad batch shape %d layers x %d rows", n_layers,
                          rows_per_layer);
    return 0;
}

static void fill_out(mlsae_sae *sae, mlsae_sae_forward_out *out, int decoded)
{
    if (!out) return;
    out->recons = decoded ? sae_ref(sae->recons) : MLSAE_NOREF;
    out->values = sae_ref(sae->vals);
    out->indices = sae_ref(sae->idx);
    out->rows = sae->last_rows;
    out->k = sae->cfg.k;
}

int mlsae_sae_forward(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                      mlsae_sae_forward_out *out, mlsae_sae_layer_metrics *layers,
                      mlsae_error *err)
{
    if (mlsae_sae_encode(sae, x, n_layers, rows_per_layer, NULL, err)) return -1;
    return mlsae_sae_decode_last(sae, x, out, layers, err);
}

int mlsae_sae_encode(mlsae_sae *sae, mlsae_ref x, int n_layers, int rows_per_layer,
                     mlsae_sae_forward_out *out, mlsae_error *err)
{
    if (check_shape(n_layers, rows_per_layer, err)) return -1;
    if (sae_encode_pass(sae, x, n_layers * rows_per_layer, 0, err)) return -1;
    sae->last_n_layers = n_layers;
    sae->last_rows_per_layer = rows_per_layer;
    fill_out(sae, out, 0);
    return 0;
}

int mlsae_sae_decode_last(mlsae_sae *sae, mlsae_ref x, mlsae_sae_forward_out *out,
                          mlsae_sae_layer_metrics *layers, mlsae_error *err)
{
    if (sae->last_rows <= 0) return mlsae_fail(err, "sae: nothing encoded to decode");
    if (sae_decode_pass(sae, sae->last_rows, 0, err)) return -1;
    fill_out(sae, out, 1);
    if (!layers) return 0;
    return layer_metrics(sae, x, sae->last_n_layers, sae->last_rows_per_layer, 0, layers, err);
}

int mlsae_sae_last_topk(mlsae_sae *sae, float *values, int32_t *indices, float *recons,
                        mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    size_t rk = (size_t)sae->last_rows * sae->cfg.k, rd = (size_t)sae->last_rows * sae->cfg.n_inputs;
    if ((values && be->ops->core.read(be, sae->vals, 0, values, rk * 4)) ||
        (indices && be->ops->core.read(be, sae->idx, 0, indices, rk * 4)) ||
        (recons && be->ops->core.read(be, sae->recons, 0, recons, rd * 4)))
        return sae_be_fail(sae, "read", err);
    return 0;
}

int mlsae_sae_last_auxk(mlsae_sae *sae, float *values, int32_t *indices, float *aux_recons,
                        mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const int rows = sae->last_rows, auxk = sae->cfg.auxk, kaux = sae->kaux;
    size_t rd = (size_t)rows * sae->cfg.n_inputs;
    if (aux_recons && auxk > 0 && be->ops->core.read(be, sae->aux_recons, 0, aux_recons, rd * 4))
        return sae_be_fail(sae, "read", err);
    if (!values && !indices) return 0;
    if (auxk == 0) return 0;
    size_t ra = (size_t)rows * kaux;
    float *v = malloc((ra ? ra : 1) * sizeof *v);
    int32_t *ix = malloc((ra ? ra : 1) * sizeof *ix);
    if (!v || !ix) {
        free(v);
        free(ix);
        return mlsae_fail(err, "sae: out of memory");
    }
    if (ra && (be->ops->core.read(be, sae->avals, 0, v, ra * 4) ||
               be->ops->core.read(be, sae->aidx, 0, ix, ra * 4))) {
        free(v);
        free(ix);
        return sae_be_fail(sae, "read", err);
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < auxk; j++) {
            size_t o = (size_t)r * auxk + j;
            int in = j < kaux;
            if (values) values[o] = in ? v[(size_t)r * kaux + j] : 0.0f;
            /* candidate position -> latent */
            if (indices) indices[o] = in ? sae->host_cand[ix[(size_t)r * kaux + j]] : -1;
        }
    free(v);
    free(ix);
    return 0;
}

int mlsae_sae_last_metrics(mlsae_sae *sae, mlsae_ref x, mlsae_sae_layer_metrics *layers,
                           double dead_tokens_threshold, double *dead_rel, mlsae_error *err)
{
    if (sae->last_rows <= 0) return mlsae_fail(err, "sae: no forward pass to report on");
    if (layers &&
        layer_metrics(sae, x, sae->last_n_layers, sae->last_rows_per_layer, 1, layers, err))
        return -1;
    if (!dead_rel) return 0;
    /* The reference's DeadLatents for one batch: latents whose count of TopK
     * appearances (over every layer) is below tokens / dead_tokens_threshold. */
    const size_t rk = (size_t)sae->last_rows * sae->cfg.k;
    const int n = sae->cfg.n_latents;
    int32_t *idx = malloc(rk * sizeof *idx);
    int64_t *count = calloc((size_t)n, sizeof *count);
    if (!idx || !count) {
        free(idx);
        free(count);
        return mlsae_fail(err, "sae: out of memory");
    }
    if (sae->be->ops->core.read(sae->be, sae->idx, 0, idx, rk * 4)) {
        free(idx);
        free(count);
        return sae_be_fail(sae, "read", err);
    }
    for (size_t i = 0; i < rk; i++)
        if (idx[i] >= 0 && idx[i] < n) count[idx[i]]++;
    double rows_per_layer = sae->last_rows_per_layer;
    if (sae->has_red) {
        /* counts and rows of every process (sae_reduce.h), as doubles:
         * exact below 2^53 */
        double *all = malloc(((size_t)n + 1) * sizeof *all);
        if (!all) {
            free(idx);
            free(count);
            return mlsae_fail(err, "sae: out of memory");
        }
        for (int j = 0; j < n; j++) all[j] = (double)count[j];
        all[n] = rows_per_layer;
        int rc = sae_reduce_sum(sae, all, (size_t)n + 1, err);
        for (int j = 0; j < n; j++) count[j] = (int64_t)all[j];
        rows_per_layer = all[n];
        free(all);
        if (rc) {
            free(idx);
            free(count);
            return -1;
        }
    }
    const double limit = rows_per_layer / dead_tokens_threshold;
    int64_t dead = 0;
    for (int j = 0; j < n; j++) dead += (double)count[j] < limit;
    *dead_rel = (double)dead / n;
    free(idx);
    free(count);
    return 0;
}
