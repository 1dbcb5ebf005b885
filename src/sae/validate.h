/* Validation of what a checkpoint or a training state holds, on load and
 * before a save: a checkpoint we would refuse to load is never written.
 *
 *   weights (encoder, decoder, pre_encoder_bias), exp_avg, gradients: finite
 *   exp_avg_sq (Adam's second moment): finite and >= 0
 *   last_nonzero: >= 0
 *   counters: step, micro_batch, pending >= 0, step <= micro_batch,
 *             step < 2^31 (Adam's bias correction takes an int),
 *             bias_pending 0 or 1
 * Hyper-parameters are checked by mlsae_sae_config_check. Each failure
 * names the file (or "checkpoint" when none), the tensor and the element. */
#ifndef MLSAE_SAE_VALIDATE_H
#define MLSAE_SAE_VALIDATE_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

/* x[0..n) finite; with nonneg_why (not NULL) also >= 0, the error then
 * saying why in the caller's words, e.g. "an Adam second moment is >= 0"
 * (NULL: finiteness only). */
int mlsae_validate_f32(const char *file, const char *tensor, const float *x, size_t n,
                       const char *nonneg_why, mlsae_error *err);
/* x[0..n) >= 0. */
int mlsae_validate_i64_nonneg(const char *file, const char *tensor, const int64_t *x, size_t n,
                              mlsae_error *err);
/* The counters of a training state: step, micro_batch, pending,
 * bias_pending, data_position (in that order, as stored). */
int mlsae_validate_counters(const char *file, const int64_t c[5], mlsae_error *err);

#endif
