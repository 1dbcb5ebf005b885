#include "config.h"
#include "eval/layer_log.h"

#include <stdio.h>

#include "core/metrics_log.h"
#include "config/run_config.h"

void mlsae_layer_log_values(json_t *row, const char *prefix, const int *layers, int n,
                            const double *values)
{
    char key[256];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%slayer_%d", prefix, layers[i]);
        mlsae_metrics_row_set(row, key, values[i]);
        sum += values[i];
    }
    snprintf(key, sizeof key, "%savg", prefix);
    mlsae_metrics_row_set(row, key, n ? sum / n : 0.0);
}

void mlsae_layer_log_train(json_t *row, const char *prefix, const int *layers, int n,
                           const mlsae_sae_layer_metrics *m)
{
    double v[MLSAE_CONFIG_MAX_LAYERS];
    char p[128];
    snprintf(p, sizeof p, "%sl1/", prefix);
    for (int i = 0; i < n; i++) v[i] = m[i].l1;
    mlsae_layer_log_values(row, p, layers, n, v);
    snprintf(p, sizeof p, "%smse/", prefix);
    for (int i = 0; i < n; i++) v[i] = m[i].mse;
    mlsae_layer_log_values(row, p, layers, n, v);
    snprintf(p, sizeof p, "%sfvu/", prefix);
    for (int i = 0; i < n; i++) v[i] = m[i].fvu;
    mlsae_layer_log_values(row, p, layers, n, v);
    snprintf(p, sizeof p, "%sl0/", prefix);
    for (int i = 0; i < n; i++) v[i] = m[i].l0;
    mlsae_layer_log_values(row, p, layers, n, v);
}
