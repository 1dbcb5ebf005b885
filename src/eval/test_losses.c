/* See test_losses.h. */
#include "config.h"
#include "eval/test_losses.h"

#include <float.h>
#include <math.h>

void mlsae_test_losses_host(const float *x, const float *r, const float *a, int n_layers,
                            size_t rows_per_layer, int d, double auxk_coef, double *mse_out,
                            double *aux_out)
{
    const size_t per = rows_per_layer * (size_t)d, n = per * (size_t)n_layers;
    double mse = 0;
    for (int l = 0; l < n_layers; l++) {
        const float *xl = x + l * per, *rl = r + l * per;
        double sum = 0, ss = 0, se = 0;
        for (size_t i = 0; i < per; i++) {
            sum += xl[i];
            double e = (double)rl[i] - xl[i];
            se += e * e;
        }
        const double mean = sum / (double)per;
        for (size_t i = 0; i < per; i++) ss += ((double)xl[i] - mean) * ((double)xl[i] - mean);
        mse += (se / (double)per) / (ss / (double)(per - 1));
    }
    *mse_out = mse / n_layers;
    *aux_out = 0;
    if (!a) return;
    double num = 0, den = 0;
    for (size_t row = 0; row < n / (size_t)d; row++) {
        const float *xr = x + row * d, *rr = r + row * d, *ar = a + row * d;
        double m = 0;
        for (int j = 0; j < d; j++) m += (double)xr[j] - rr[j];
        m /= d;
        for (int j = 0; j < d; j++) {
            const double e = (double)xr[j] - rr[j];
            num += (e - ar[j]) * (e - ar[j]);
            den += (e - m) * (e - m);
        }
    }
    /* the reference's nan_to_num on the float32 ratio: NaN -> 0, inf -> the largest float */
    double ratio = (num / (double)n) / (den / (double)n);
    if (isnan(ratio)) ratio = 0;
    else if (isinf(ratio)) ratio = FLT_MAX;
    *aux_out = auxk_coef * ratio;
}
