/* Per-layer metric names as the reference logs them (its LayerwiseWrapper):
 * "<prefix>layer_<L>" for each selected layer L, then "<prefix>avg", the
 * mean over the layers. */
#ifndef MLSAE_EVAL_LAYER_LOG_H
#define MLSAE_EVAL_LAYER_LOG_H

#include <jansson.h>
#include "sae/mlsae.h"

/* row[prefix + "layer_L"] = values[i] for layers[i], and row[prefix + "avg"]. */
void mlsae_layer_log_values(json_t *row, const char *prefix, const int *layers, int n,
                            const double *values);

/* The training metrics of SPEC §5 under <prefix>: l1/, mse/, fvu/, l0/. */
void mlsae_layer_log_train(json_t *row, const char *prefix, const int *layers, int n,
                           const mlsae_sae_layer_metrics *m);

#endif
