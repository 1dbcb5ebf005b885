/* The data-parallel hooks of the SAE (sae_reduce.h). */
#include "config.h"
#include "sae/sae_internal.h"

#include <stdlib.h>

void mlsae_sae_set_reducer(mlsae_sae *sae, const mlsae_sae_reducer *red)
{
    sae->has_red = red != NULL;
    if (red) sae->red = *red;
}

int64_t mlsae_sae_pending(const mlsae_sae *sae) { return sae->pending; }

int sae_reduce_sum(mlsae_sae *sae, double *v, size_t n, mlsae_error *err)
{
    if (!sae->has_red) return 0;
    return sae->red.sum_f64(v, n, err);
}

int sae_reduce_dead(mlsae_sae *sae, int dead_steps, mlsae_error *err)
{
    if (!sae->has_red) return 0;
    mlsae_backend *be = sae->be;
    const int n = sae->cfg.n_latents;
    int32_t *last = malloc((size_t)n * sizeof *last);
    if (!last) return mlsae_fail(err, "sae: out of memory");
    int rc = be->ops->core.read(be, sae->last_nonzero, 0, last, (size_t)n * 4);
    if (rc) {
        free(last);
        return sae_be_fail(sae, "dead latents", err);
    }
    /* every process had the same counts before this micro-batch: the
     * minimum is 0 + 1 where the latent fired on any process */
    if (sae->red.min_i32(last, (size_t)n, err)) {
        free(last);
        return -1;
    }
    int n_dead = 0;
    for (int i = 0; i < n; i++) {
        sae->host_mask[i] = last[i] >= dead_steps;
        n_dead += sae->host_mask[i];
    }
    sae->n_dead = n_dead;
    rc = be->ops->core.write(be, sae->last_nonzero, 0, last, (size_t)n * 4) ||
         be->ops->core.write(be, sae->dead_mask, 0, sae->host_mask, (size_t)n * 4);
    free(last);
    return rc ? sae_be_fail(sae, "dead latents", err) : 0;
}

/* g_enc, g_dec, g_bias through one host buffer: one allreduce. */
int sae_reduce_grads(mlsae_sae *sae, mlsae_error *err)
{
    if (!sae->has_red) return 0;
    mlsae_backend *be = sae->be;
    const size_t nd = (size_t)sae->cfg.n_latents * sae->cfg.n_inputs, d = sae->cfg.n_inputs;
    float *host = malloc((2 * nd + d) * sizeof *host);
    if (!host) return mlsae_fail(err, "sae: out of memory for the gradient allreduce");
    struct { mlsae_buffer *g; size_t off, n; } t[] = {
        {sae->g_enc, 0, nd}, {sae->g_dec, nd, nd}, {sae->g_bias, 2 * nd, d}};
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++)
        if (be->ops->core.read(be, t[i].g, 0, host + t[i].off, t[i].n * 4))
            rc = sae_be_fail(sae, "gradient allreduce", err);
    if (!rc) rc = sae->red.sum_f32(host, 2 * nd + d, err);
    for (int i = 0; i < 3 && !rc; i++)
        if (be->ops->core.write(be, t[i].g, 0, host + t[i].off, t[i].n * 4))
            rc = sae_be_fail(sae, "gradient allreduce", err);
    free(host);
    return rc;
}

int mlsae_sae_reduce_grads(mlsae_sae *sae, mlsae_error *err)
{
    if (sae->pending == 0) return 0;
    return sae_reduce_grads(sae, err);
}

int mlsae_sae_zero_grads(mlsae_sae *sae, mlsae_error *err)
{
    mlsae_backend *be = sae->be;
    const size_t nd = (size_t)sae->cfg.n_latents * sae->cfg.n_inputs, d = sae->cfg.n_inputs;
    if (be->ops->core.fill(be, sae_ref(sae->g_enc), nd, 0.0f) ||
        be->ops->core.fill(be, sae_ref(sae->g_dec), nd, 0.0f) ||
        be->ops->core.fill(be, sae_ref(sae->g_bias), d, 0.0f))
        return sae_be_fail(sae, "zero gradients", err);
    return 0;
}
