#include "config.h"
#include "eval/layer_log.h"

#include <stddef.h>
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
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {{"l1/", offsetof(mlsae_sae_layer_metrics, l1)},
                  {"mse/", offsetof(mlsae_sae_layer_metrics, mse)},
                  {"fvu/", offsetof(mlsae_sae_layer_metrics, fvu)},
                  {"l0/", offsetof(mlsae_sae_layer_metrics, l0)}};
    double v[MLSAE_CONFIG_MAX_LAYERS] = {0};
    char p[128];
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        snprintf(p, sizeof p, "%s%s", prefix, fields[f].name);
        for (int i = 0; i < n; i++)
            v[i] = *(const double *)((const char *)&m[i] + fields[f].offset);
        mlsae_layer_log_values(row, p, layers, n, v);
    }
}
