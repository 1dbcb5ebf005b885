/* The reference's test-step losses computed on the host, in double, for the
 * cases where the SAE's own (fused with its backward pass) do not apply:
 * with a tuned lens, the reference takes them between the lensed inputs and
 * the un-lensed reconstruction (mlsae/model/lightning.py test_step).
 *
 *   loss/mse  = mean_l mean((R_l - X_l)^2) / var(X_l), var unbiased over the
 *               layer's rows * d elements         (mlsae/metrics/mse_loss.py)
 *   loss/auxk = coef * mean((E - A)^2) / mean((E - mean_d E)^2), E = X - R,
 *               means over every element; a NaN ratio -> 0, inf -> FLT_MAX
 *               (torch's nan_to_num on float32); 0 without A
 *                                                 (mlsae/metrics/auxiliary_loss.py)
 * x, r, a: [n_layers, rows_per_layer, d]; a (AuxK reconstruction) may be NULL. */
#ifndef MLSAE_TRAIN_TEST_LOSSES_H
#define MLSAE_TRAIN_TEST_LOSSES_H

#include <stddef.h>

void mlsae_test_losses_host(const float *x, const float *r, const float *a, int n_layers,
                            size_t rows_per_layer, int d, double auxk_coef, double *mse,
                            double *aux);

#endif
