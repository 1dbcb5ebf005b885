/* MLSAE parameters: configuration, initialisation (SPEC §4), host access,
 * workspace. */
#include "config.h"
#include "sae/sae_internal.h"
#include "backend/lowp.h"
#include "core/rng.h"
#include "core/checked_size.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mlsae_sae_config_default(mlsae_sae_config *cfg, int n_inputs, int expansion_factor)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_inputs = n_inputs;
    cfg->n_latents = n_inputs * expansion_factor;
    cfg->k = 32;
    cfg->auxk = 256;
    cfg->accumulate_grad_batches = 64;
    /* batch_size 1 x max_length 2048 tokens per micro-batch by default */
    cfg->dead_steps_threshold = mlsae_dead_steps_threshold(10000000, 2048, 64);
    cfg->dead_threshold = 1e-3f;
    cfg->standardize = 1;
    cfg->auxk_coef = 1.0f / 32.0f;
    cfg->lr = 1e-4f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->adam_eps = 6.25e-10f;
}

int64_t mlsae_dead_steps_threshold(int64_t dead_tokens_threshold, int64_t tokens_per_micro_batch,
                                   int accumulate_grad_batches)
{
    int64_t per_step;
    /* a product past int64 exceeds any threshold: floor division gives 0 */
    if (mlsae_mul_nonneg_i64(tokens_per_micro_batch,
                             accumulate_grad_batches > 0 ? accumulate_grad_batches : 1, &per_step))
        return tokens_per_micro_batch < 0 ? dead_tokens_threshold : 0;
    return per_step > 0 ? dead_tokens_threshold / per_step : dead_tokens_threshold;
}

int mlsae_sae_config_check(const mlsae_sae_config *c, mlsae_error *err)
{
    if (c->n_inputs < 2) return mlsae_fail(err, "n_inputs = %d: must be at least 2", c->n_inputs);
    if (c->n_latents < 1) return mlsae_fail(err, "n_latents = %d: must be positive", c->n_latents);
    if ((int64_t)c->n_inputs * c->n_latents > ((int64_t)1 << 40))
        return mlsae_fail(err, "n_inputs x n_latents = %d x %d: too large", c->n_inputs,
                          c->n_latents);
    if (c->k < 1 || c->k > c->n_latents)
        return mlsae_fail(err, "k = %d: must be in 1..n_latents (%d)", c->k, c->n_latents);
    if (c->auxk < 0 || c->auxk > c->n_latents)
        return mlsae_fail(err, "auxk = %d: must be in 0..n_latents (%d)", c->auxk, c->n_latents);
    if (c->accumulate_grad_batches < 1)
        return mlsae_fail(err, "accumulate_grad_batches = %d: must be at least 1",
                          c->accumulate_grad_batches);
    if (c->dead_steps_threshold < 0)
        return mlsae_fail(err, "dead_steps_threshold = %lld: must not be negative",
                          (long long)c->dead_steps_threshold);
    if (!isfinite(c->dead_threshold)) return mlsae_fail(err, "dead_threshold: not finite");
    if (!(c->lr >= 0) || !isfinite(c->lr)) return mlsae_fail(err, "lr: must be finite, >= 0");
    if (!(c->beta1 >= 0 && c->beta1 < 1)) return mlsae_fail(err, "beta1: must be in [0, 1)");
    if (!(c->beta2 >= 0 && c->beta2 < 1)) return mlsae_fail(err, "beta2: must be in [0, 1)");
    if (!(c->adam_eps >= 0) || !isfinite(c->adam_eps))
        return mlsae_fail(err, "adam eps: must be finite, >= 0");
    if (!isfinite(c->auxk_coef)) return mlsae_fail(err, "auxk_coef: not finite");
    if (c->precision != MLSAE_PRECISION_32 && c->precision != MLSAE_PRECISION_BF16_MIXED &&
        c->precision != MLSAE_PRECISION_16_MIXED)
        return mlsae_fail(err, "precision = %d: not one of 32, bf16-mixed, 16-mixed",
                          c->precision);
    return 0;
}

int sae_be_fail(mlsae_sae *sae, const char *what, mlsae_error *err)
{
    return mlsae_fail(err, "sae %s: %s", what, mlsae_backend_error(sae->be));
}

static mlsae_buffer *alloc_f32(mlsae_sae *sae, size_t n)
{
    return sae->be->ops->core.alloc(sae->be, (n ? n : 1) * 4);
}

static void free_buf(mlsae_sae *sae, mlsae_buffer **b)
{
    if (*b) sae->be->ops->core.free(sae->be, *b);
    *b = NULL;
}

static void free_rows(mlsae_sae *sae)
{
    mlsae_buffer **bufs[] = {&sae->xin, &sae->recons, &sae->aux_recons, &sae->err_buf, &sae->g1,
                             &sae->g2, &sae->tmp, &sae->mu, &sae->sd, &sae->ones_r,
                             &sae->zeros_r, &sae->neg_mu_e, &sae->sd_e, &sae->vals, &sae->idx,
                             &sae->ga, &sae->avals, &sae->aidx, &sae->gu};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_buf(sae, bufs[i]);
    sae->rows_cap = 0;
}

static void free_cand(mlsae_sae *sae)
{
    free_buf(sae, &sae->enc_cand);
    free_buf(sae, &sae->dec_cand);
    free_buf(sae, &sae->genc_cand);
    free_buf(sae, &sae->gdec_cand);
    free_buf(sae, &sae->cvec_cand);
    sae->cand_cap = 0;
}

/* Rows per dense encoder chunk: about 16M floats of output. */
static int chunk_rows_for(int n_latents)
{
    size_t c = ((size_t)16 << 20) / (size_t)n_latents;
    if (c < 16) c = 16;
    if (c > 4096) c = 4096;
    return (int)c;
}

int sae_reserve_rows(mlsae_sae *sae, int rows, mlsae_error *err)
{
    if (rows <= sae->rows_cap) return 0;
    free_rows(sae);
    const mlsae_core_ops *core = &sae->be->ops->core;
    size_t rd = (size_t)rows * sae->cfg.n_inputs;
    size_t rk = (size_t)rows * sae->cfg.k;
    size_t ra = (size_t)rows * (sae->cfg.auxk > 0 ? sae->cfg.auxk : 1);
    struct { mlsae_buffer **b; size_t n; } want[] = {
        {&sae->xin, rd},   {&sae->recons, rd}, {&sae->aux_recons, rd}, {&sae->err_buf, rd},
        {&sae->g1, rd},    {&sae->g2, rd},     {&sae->tmp, rd},        {&sae->mu, rows},
        {&sae->sd, rows},  {&sae->ones_r, rows}, {&sae->zeros_r, rows}, {&sae->neg_mu_e, rows},
        {&sae->sd_e, rows}, {&sae->vals, rk},  {&sae->idx, rk},        {&sae->ga, rk},
        {&sae->avals, ra}, {&sae->aidx, ra},   {&sae->gu, ra},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        *want[i].b = alloc_f32(sae, want[i].n);
        if (!*want[i].b) {
            free_rows(sae);
            return mlsae_fail(err, "sae: cannot allocate the workspace for %d rows", rows);
        }
    }
    if (core->fill(sae->be, sae_ref(sae->ones_r), (size_t)rows, 1.0f) ||
        core->fill(sae->be, sae_ref(sae->zeros_r), (size_t)rows, 0.0f))
        return sae_be_fail(sae, "workspace", err);
    sae->rows_cap = rows;
    return 0;
}

int sae_reserve_cand(mlsae_sae *sae, int n_cand, mlsae_error *err)
{
    if (n_cand <= sae->cand_cap) return 0;
    free_cand(sae);
    size_t nd = (size_t)n_cand * sae->cfg.n_inputs;
    sae->enc_cand = alloc_f32(sae, nd);
    sae->dec_cand = alloc_f32(sae, nd);
    sae->genc_cand = alloc_f32(sae, nd);
    sae->gdec_cand = alloc_f32(sae, nd);
    sae->cvec_cand = alloc_f32(sae, (size_t)n_cand);
    if (!sae->enc_cand || !sae->dec_cand || !sae->genc_cand || !sae->gdec_cand ||
        !sae->cvec_cand) {
        free_cand(sae);
        return mlsae_fail(err, "sae: cannot allocate the AuxK candidate tables (%d)", n_cand);
    }
    sae->cand_cap = n_cand;
    return 0;
}

/* At most rows x n_latents floats: no more than the dense pre-activation
 * matrix that the reference holds for every micro-batch. */
int sae_reserve_aux_pre(mlsae_sae *sae, int rows, int n_cand, mlsae_error *err)
{
    size_t want = (size_t)rows * (size_t)n_cand;
    if (want <= sae->aux_pre_cap) return 0;
    free_buf(sae, &sae->aux_pre);
    sae->aux_pre_cap = 0;
    sae->aux_pre = alloc_f32(sae, want);
    if (!sae->aux_pre)
        return mlsae_fail(err, "sae: cannot allocate the AuxK pre-activations (%d x %d)", rows,
                          n_cand);
    sae->aux_pre_cap = want;
    return 0;
}

void mlsae_sae_free(mlsae_sae *sae)
{
    if (!sae) return;
    free_rows(sae);
    free_cand(sae);
    mlsae_buffer **bufs[] = {&sae->enc,    &sae->dec,   &sae->bias,  &sae->last_nonzero,
                             &sae->dead_mask, &sae->g_enc, &sae->g_dec, &sae->g_bias,
                             &sae->m_enc,  &sae->v_enc, &sae->m_dec, &sae->v_dec,
                             &sae->m_bias, &sae->v_bias, &sae->cvec, &sae->ones_n,
                             &sae->cand_idx, &sae->cand_mask, &sae->pre, &sae->aux_pre,
                             &sae->enc_lp, &sae->xin_lp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_buf(sae, bufs[i]);
    free(sae->host_mask);
    free(sae->host_cand);
    free(sae);
}

int mlsae_sae_create(const mlsae_sae_config *cfg, mlsae_backend *be, uint64_t seed,
                     mlsae_sae **out, mlsae_error *err)
{
    *out = NULL;
    if (mlsae_sae_config_check(cfg, err)) return -1;
    mlsae_sae *sae = calloc(1, sizeof *sae);
    if (!sae) return mlsae_fail(err, "sae: out of memory");
    sae->cfg = *cfg;
    sae->be = be;
    sae->bias_pending = 1;
    const int n = cfg->n_latents, d = cfg->n_inputs;
    const size_t nd = (size_t)n * d;
    sae->chunk_rows = chunk_rows_for(n);
    struct { mlsae_buffer **b; size_t n; } want[] = {
        {&sae->enc, nd},   {&sae->dec, nd},   {&sae->bias, d},   {&sae->last_nonzero, n},
        {&sae->dead_mask, n}, {&sae->g_enc, nd}, {&sae->g_dec, nd}, {&sae->g_bias, d},
        {&sae->m_enc, nd}, {&sae->v_enc, nd}, {&sae->m_dec, nd}, {&sae->v_dec, nd},
        {&sae->m_bias, d}, {&sae->v_bias, d}, {&sae->cvec, n},  {&sae->ones_n, n},
        {&sae->cand_idx, n}, {&sae->cand_mask, n}, {&sae->pre, (size_t)sae->chunk_rows * n},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        *want[i].b = alloc_f32(sae, want[i].n);
        if (!*want[i].b) {
            mlsae_sae_free(sae);
            return mlsae_fail(err, "sae: cannot allocate %d x %d parameters", n, d);
        }
    }
    sae->host_mask = calloc((size_t)n, sizeof *sae->host_mask);
    sae->host_cand = calloc((size_t)n, sizeof *sae->host_cand);
    float *w = malloc(nd * sizeof *w);
    if (!sae->host_mask || !sae->host_cand || !w) {
        free(w);
        mlsae_sae_free(sae);
        return mlsae_fail(err, "sae: out of memory");
    }
    /* encoder ~ U(-1/sqrt(d), 1/sqrt(d)) (torch Linear's default init) */
    mlsae_rng rng;
    mlsae_rng_seed(&rng, seed);
    float bound = 1.0f / sqrtf((float)d);
    for (size_t i = 0; i < nd; i++) {
        /* u in [0, 1) from the top 24 bits: every float step, no rounding up to 1 */
        float u = (float)(mlsae_rng_next(&rng) >> 40) * (1.0f / 16777216.0f);
        w[i] = -bound + 2.0f * bound * u;
    }
    const mlsae_core_ops *core = &be->ops->core;
    int rc = core->write(be, sae->enc, 0, w, nd * 4);
    /* decoder = encoder^T with unit-norm columns: our rows are its columns */
    rc = rc || core->write(be, sae->dec, 0, w, nd * 4);
    free(w);
    rc = rc || be->ops->sae.normalize_rows(be, sae_ref(sae->dec), n, d);
    mlsae_buffer *zero_f[] = {sae->bias, sae->g_enc, sae->g_dec, sae->g_bias, sae->m_enc,
                              sae->v_enc, sae->m_dec, sae->v_dec, sae->m_bias, sae->v_bias};
    size_t zero_n[] = {d, nd, nd, d, nd, nd, nd, nd, d, d};
    for (size_t i = 0; i < sizeof zero_f / sizeof zero_f[0]; i++)
        rc = rc || core->fill(be, sae_ref(zero_f[i]), zero_n[i], 0.0f);
    /* int32 zeros have the bits of 0.0f */
    rc = rc || core->fill(be, sae_ref(sae->last_nonzero), n, 0.0f);
    rc = rc || core->fill(be, sae_ref(sae->dead_mask), n, 0.0f);
    rc = rc || core->fill(be, sae_ref(sae->ones_n), n, 1.0f);
    if (rc) {
        sae_be_fail(sae, "init", err);
        mlsae_sae_free(sae);
        return -1;
    }
    *out = sae;
    return 0;
}

const mlsae_sae_config *mlsae_sae_get_config(const mlsae_sae *sae) { return &sae->cfg; }
mlsae_backend *mlsae_sae_backend(const mlsae_sae *sae) { return sae->be; }

size_t mlsae_sae_memory_bytes(const mlsae_sae *sae)
{
    const size_t n = (size_t)sae->cfg.n_latents, d = (size_t)sae->cfg.n_inputs;
    const size_t k = (size_t)sae->cfg.k, auxk = sae->cfg.auxk > 0 ? (size_t)sae->cfg.auxk : 1;
    /* the buffers of mlsae_sae_create, sae_reserve_rows, sae_reserve_cand,
     * sae_reserve_aux_pre and pack_encoder, in floats (4 bytes each) */
    size_t f = 8 * n * d + 5 * d + 6 * n + (size_t)sae->chunk_rows * n;
    f += (size_t)sae->rows_cap * (7 * d + 6 + 3 * k + 3 * auxk);
    f += (size_t)sae->cand_cap * (4 * d + 1);
    f += sae->aux_pre_cap;
    if (sae->enc_lp) f += mlsae_lowp_packed_elems((int)n, (int)d);
    if (sae->xin_lp) f += (size_t)sae->chunk_rows * d;
    return f * 4 + 2 * n * sizeof(int32_t);
}

int mlsae_sae_set_config(mlsae_sae *sae, const mlsae_sae_config *cfg, mlsae_error *err)
{
    if (cfg->n_inputs != sae->cfg.n_inputs || cfg->n_latents != sae->cfg.n_latents)
        return mlsae_fail(err, "sae: configuration for %d x %d, the SAE is %d x %d",
                          cfg->n_latents, cfg->n_inputs, sae->cfg.n_latents, sae->cfg.n_inputs);
    if (mlsae_sae_config_check(cfg, err)) return -1;
    if (cfg->k != sae->cfg.k || cfg->auxk != sae->cfg.auxk) free_rows(sae); /* resized on use */
    if (cfg->precision != sae->cfg.precision) sae->enc_lp_fmt = 0;
    sae->cfg = *cfg;
    return 0;
}
int mlsae_sae_set_precision(mlsae_sae *sae, int precision, mlsae_error *err)
{
    mlsae_sae_config c = sae->cfg;
    c.precision = precision;
    return mlsae_sae_set_config(sae, &c, err);
}

int mlsae_sae_bias_pending(const mlsae_sae *sae) { return sae->bias_pending; }
void mlsae_sae_set_bias_pending(mlsae_sae *sae, int pending) { sae->bias_pending = pending != 0; }

/* ---- host transfers --------------------------------------------------------- */

static int read_f32(mlsae_sae *sae, mlsae_buffer *b, float *dst, size_t n, mlsae_error *err)
{
    if (!dst) return 0;
    if (sae->be->ops->core.read(sae->be, b, 0, dst, n * 4)) return sae_be_fail(sae, "read", err);
    return 0;
}

static int write_f32(mlsae_sae *sae, mlsae_buffer *b, const float *src, size_t n,
                     mlsae_error *err)
{
    if (!src) return 0;
    if (sae->be->ops->core.write(sae->be, b, 0, src, n * 4)) return sae_be_fail(sae, "write", err);
    return 0;
}

/* [n, d] on the backend <-> [d, n] on the host. */
static int read_transposed(mlsae_sae *sae, mlsae_buffer *b, float *dst, mlsae_error *err)
{
    if (!dst) return 0;
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    float *tmp = malloc((size_t)n * d * sizeof *tmp);
    if (!tmp) return mlsae_fail(err, "sae: out of memory");
    if (read_f32(sae, b, tmp, (size_t)n * d, err)) {
        free(tmp);
        return -1;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) dst[(size_t)j * n + i] = tmp[(size_t)i * d + j];
    free(tmp);
    return 0;
}

static int write_transposed(mlsae_sae *sae, mlsae_buffer *b, const float *src, mlsae_error *err)
{
    if (!src) return 0;
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    float *tmp = malloc((size_t)n * d * sizeof *tmp);
    if (!tmp) return mlsae_fail(err, "sae: out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) tmp[(size_t)i * d + j] = src[(size_t)j * n + i];
    int rc = write_f32(sae, b, tmp, (size_t)n * d, err);
    free(tmp);
    return rc;
}

int mlsae_sae_get_params(mlsae_sae *sae, float *enc, float *dec, float *bias,
                         int64_t *last_nonzero, mlsae_error *err)
{
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    if (read_f32(sae, sae->enc, enc, (size_t)n * d, err) ||
        read_transposed(sae, sae->dec, dec, err) || read_f32(sae, sae->bias, bias, d, err))
        return -1;
    if (last_nonzero) {
        int32_t *tmp = malloc((size_t)n * sizeof *tmp);
        if (!tmp) return mlsae_fail(err, "sae: out of memory");
        if (sae->be->ops->core.read(sae->be, sae->last_nonzero, 0, tmp, (size_t)n * 4)) {
            free(tmp);
            return sae_be_fail(sae, "read", err);
        }
        for (int i = 0; i < n; i++) last_nonzero[i] = tmp[i];
        free(tmp);
    }
    return 0;
}

int mlsae_sae_set_params(mlsae_sae *sae, const float *enc, const float *dec, const float *bias,
                         const int64_t *last_nonzero, mlsae_error *err)
{
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    if (enc) sae->enc_lp_fmt = 0;
    if (write_f32(sae, sae->enc, enc, (size_t)n * d, err) ||
        write_transposed(sae, sae->dec, dec, err) || write_f32(sae, sae->bias, bias, d, err))
        return -1;
    if (last_nonzero) {
        int32_t *tmp = malloc((size_t)n * sizeof *tmp);
        if (!tmp) return mlsae_fail(err, "sae: out of memory");
        for (int i = 0; i < n; i++) {
            int64_t v = last_nonzero[i];
            tmp[i] = v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : (int32_t)v; /* counter saturates */
        }
        int rc = sae->be->ops->core.write(sae->be, sae->last_nonzero, 0, tmp, (size_t)n * 4);
        free(tmp);
        if (rc) return sae_be_fail(sae, "write", err);
    }
    return 0;
}

int mlsae_sae_get_grads(mlsae_sae *sae, float *enc, float *dec, float *bias, mlsae_error *err)
{
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    if (read_f32(sae, sae->g_enc, enc, (size_t)n * d, err) ||
        read_transposed(sae, sae->g_dec, dec, err) || read_f32(sae, sae->g_bias, bias, d, err))
        return -1;
    return 0;
}

int mlsae_sae_set_grads(mlsae_sae *sae, const float *enc, const float *dec, const float *bias,
                        mlsae_error *err)
{
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    if (write_f32(sae, sae->g_enc, enc, (size_t)n * d, err) ||
        write_transposed(sae, sae->g_dec, dec, err) || write_f32(sae, sae->g_bias, bias, d, err))
        return -1;
    return 0;
}

int mlsae_sae_get_adam(mlsae_sae *sae, float *m_enc, float *v_enc, float *m_dec, float *v_dec,
                       float *m_bias, float *v_bias, mlsae_error *err)
{
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    if (read_f32(sae, sae->m_enc, m_enc, (size_t)n * d, err) ||
        read_f32(sae, sae->v_enc, v_enc, (size_t)n * d, err) ||
        read_transposed(sae, sae->m_dec, m_dec, err) ||
        read_transposed(sae, sae->v_dec, v_dec, err) ||
        read_f32(sae, sae->m_bias, m_bias, d, err) || read_f32(sae, sae->v_bias, v_bias, d, err))
        return -1;
    return 0;
}

int mlsae_sae_set_adam(mlsae_sae *sae, const float *m_enc, const float *v_enc, const float *m_dec,
                       const float *v_dec, const float *m_bias, const float *v_bias,
                       mlsae_error *err)
{
    const int n = sae->cfg.n_latents, d = sae->cfg.n_inputs;
    if (write_f32(sae, sae->m_enc, m_enc, (size_t)n * d, err) ||
        write_f32(sae, sae->v_enc, v_enc, (size_t)n * d, err) ||
        write_transposed(sae, sae->m_dec, m_dec, err) ||
        write_transposed(sae, sae->v_dec, v_dec, err) ||
        write_f32(sae, sae->m_bias, m_bias, d, err) || write_f32(sae, sae->v_bias, v_bias, d, err))
        return -1;
    return 0;
}

void mlsae_sae_get_counters(const mlsae_sae *sae, mlsae_sae_counters *c)
{
    c->step = sae->step;
    c->micro_batch = sae->micro_batch;
    c->pending = sae->pending;
    c->bias_pending = sae->bias_pending;
}

void mlsae_sae_set_counters(mlsae_sae *sae, const mlsae_sae_counters *c)
{
    sae->step = c->step;
    sae->micro_batch = c->micro_batch;
    sae->pending = c->pending;
    sae->bias_pending = c->bias_pending != 0;
}
