/* Checkpoint and training-state validation: see validate.h. */
#include "config.h"
#include "sae/validate.h"

#include <math.h>

int mlsae_validate_f32(const char *file, const char *tensor, const float *x, size_t n,
                       const char *nonneg_why, mlsae_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return mlsae_fail(err, "%s: tensor '%s' has a non-finite value (%g) at element %zu",
                              file ? file : "checkpoint", tensor, (double)x[i], i);
        if (nonneg_why && x[i] < 0)
            return mlsae_fail(err, "%s: tensor '%s' has a negative value (%g) at element %zu "
                              "(%s)", file ? file : "checkpoint", tensor, (double)x[i], i,
                              nonneg_why);
    }
    return 0;
}

int mlsae_validate_i64_nonneg(const char *file, const char *tensor, const int64_t *x, size_t n,
                              mlsae_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] < 0)
            return mlsae_fail(err, "%s: tensor '%s' has a negative value (%lld) at element %zu",
                              file ? file : "checkpoint", tensor, (long long)x[i], i);
    return 0;
}

int mlsae_validate_counters(const char *file, const int64_t c[5], mlsae_error *err)
{
    static const char *names[5] = {"step", "micro_batch", "pending", "bias_pending",
                                   "data_position"};
    for (int i = 0; i < 5; i++)
        if (c[i] < 0)
            return mlsae_fail(err, "%s: counter '%s' = %lld is negative", file, names[i],
                              (long long)c[i]);
    if (c[0] >= INT32_MAX)
        return mlsae_fail(err, "%s: counter 'step' = %lld is too large", file, (long long)c[0]);
    if (c[0] > c[1])
        return mlsae_fail(err, "%s: counter 'step' = %lld exceeds 'micro_batch' = %lld", file,
                          (long long)c[0], (long long)c[1]);
    if (c[3] > 1)
        return mlsae_fail(err, "%s: counter 'bias_pending' = %lld is not 0 or 1", file,
                          (long long)c[3]);
    return 0;
}
