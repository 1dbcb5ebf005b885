#include "config.h"
#include "analysis/variances.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mlsae_variances_init(mlsae_variances *v, int n_layers, int n_latents, mlsae_error *err)
{
    memset(v, 0, sizeof *v);
    v->pmean = calloc((size_t)n_layers * n_latents, sizeof *v->pmean);
    v->s = calloc((size_t)n_latents, sizeof *v->s);
    v->a1 = calloc((size_t)n_latents, sizeof *v->a1);
    v->a2 = calloc((size_t)n_latents, sizeof *v->a2);
    v->touched = calloc((size_t)n_latents, sizeof *v->touched);
    if (!v->pmean || !v->s || !v->a1 || !v->a2 || !v->touched) {
        mlsae_variances_free(v);
        return mlsae_fail(err, "out of memory for variances");
    }
    v->n_layers = n_layers;
    v->n_latents = n_latents;
    return 0;
}

void mlsae_variances_free(mlsae_variances *v)
{
    free(v->pmean);
    free(v->s);
    free(v->a1);
    free(v->a2);
    free(v->touched);
    memset(v, 0, sizeof *v);
}

static double prob(double a, double s)
{
    double p = a / s;
    return isfinite(p) ? p : 0.0;
}

int mlsae_variances_update(mlsae_variances *v, const float *values, const int32_t *indices,
                           int rows_per_layer, int n_tokens, int k, mlsae_error *err)
{
    const int L = v->n_layers, F = v->n_latents;
    memset(v->pmean, 0, (size_t)L * F * sizeof *v->pmean);
    double tf_sum = 0;
    for (int t = 0; t < n_tokens; t++) {
        int n_touched = 0;
        for (int l = 0; l < L; l++) {
            size_t row = ((size_t)l * rows_per_layer + t) * k;
            for (int j = 0; j < k; j++) {
                int32_t f = indices[row + j];
                if (f < 0 || f >= F)
                    return mlsae_fail(err, "variances: latent index %d outside 0..%d", f, F - 1);
                if (v->s[f] == 0 && v->a1[f] == 0) {
                    /* first sight of f for this token (a1 marks it even when s is 0) */
                    v->touched[n_touched++] = f;
                    v->a1[f] = 1;
                }
                v->s[f] += values[row + j];
            }
        }
        for (int i = 0; i < n_touched; i++) v->a1[v->touched[i]] = 0;
        for (int l = 0; l < L; l++) {
            size_t row = ((size_t)l * rows_per_layer + t) * k;
            for (int j = 0; j < k; j++) {
                int32_t f = indices[row + j];
                double p = prob(values[row + j], v->s[f]);
                v->a1[f] += l * p;
                v->a2[f] += (double)l * l * p;
                v->pmean[(size_t)l * F + f] += p;
            }
        }
        for (int i = 0; i < n_touched; i++) {
            int32_t f = v->touched[i];
            tf_sum += v->a2[f] - v->a1[f] * v->a1[f];
            v->s[f] = v->a1[f] = v->a2[f] = 0;
        }
    }
    const double T = n_tokens;
    double e_f = 0, m1 = 0, m2 = 0;
    for (int f = 0; f < F; f++) {
        double b1 = 0, b2 = 0;
        for (int l = 0; l < L; l++) {
            double p = v->pmean[(size_t)l * F + f] / T;
            b1 += l * p;
            b2 += (double)l * l * p;
        }
        e_f += b2 - b1 * b1;
    }
    for (int l = 0; l < L; l++) {
        double p = 0;
        for (int f = 0; f < F; f++) p += v->pmean[(size_t)l * F + f];
        p /= T * F;
        m1 += l * p;
        m2 += (double)l * l * p;
    }
    double exp_var_l_f = e_f / F, exp_var_l_tf = tf_sum / (T * F), var_l = m2 - m1 * m1;
    v->batch[0] = exp_var_l_f;
    v->batch[1] = exp_var_l_tf;
    v->batch[2] = var_l;
    v->batch[3] = exp_var_l_f / var_l;
    v->batch[4] = exp_var_l_tf / exp_var_l_f;
    return 0;
}

void mlsae_variances_add(mlsae_variances *v, const double batch[5])
{
    for (int i = 0; i < 5; i++) v->sum[i] += batch[i];
    v->batches++;
}

void mlsae_variances_compute(const mlsae_variances *v, double out[5])
{
    for (int i = 0; i < 5; i++) out[i] = v->batches ? v->sum[i] / (double)v->batches : NAN;
}
