/* A resumed run's configuration against the run it continues: see
 * mlsae_run_config_reconcile in run_config.h. */
#include "config.h"
#include "config/run_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* What may change when a run is resumed: its budget, its logging, validation
 * and checkpoint cadence, where it runs and what it is called. Everything
 * else fixes the state the checkpoint holds (shapes, k, the optimizer, the
 * model, the data and its order). */
static const char *const mutable_keys[] = {
    "data.max_tokens", "data.num_workers", "trainer.checkpoint_path", "trainer.max_steps",
    "trainer.log_every_n_steps", "trainer.val_check_interval", "trainer.limit_val_batches",
    "trainer.default_root_dir", "trainer.checkpoint_every_n_steps", "project", "run", "device",
    "model_device", "threads", NULL};

int mlsae_run_config_resume_mutable(const char *key)
{
    for (const char *const *k = mutable_keys; *k; k++)
        if (strcmp(*k, key) == 0) return 1;
    return 0;
}

void mlsae_run_config_value_text(const mlsae_run_config *cfg, const mlsae_option *o, char *out,
                                 size_t n)
{
    const char *f = (const char *)cfg + o->offset;
    switch (o->type) {
    case MLSAE_OPT_BOOL: snprintf(out, n, "%s", *(const int *)f ? "true" : "false"); break;
    case MLSAE_OPT_INT:
        if (*(const int64_t *)f == MLSAE_CONFIG_NONE) snprintf(out, n, "null");
        else snprintf(out, n, "%lld", (long long)*(const int64_t *)f);
        break;
    case MLSAE_OPT_REAL:
        if (isnan(*(const double *)f)) snprintf(out, n, "null");
        else snprintf(out, n, "%.10g", *(const double *)f);
        break;
    case MLSAE_OPT_STRING: snprintf(out, n, "%s", f[0] ? f : "null"); break;
    case MLSAE_OPT_LAYERS: {
        size_t used = (size_t)snprintf(out, n, cfg->n_layers ? "[" : "null");
        for (int i = 0; i < cfg->n_layers && used < n; i++)
            used += (size_t)snprintf(out + used, n - used, i ? ", %d" : "%d", cfg->layers[i]);
        if (cfg->n_layers && used < n) snprintf(out + used, n - used, "]");
        break;
    }
    }
}

int mlsae_run_config_option_equal(const mlsae_run_config *a, const mlsae_run_config *b,
                                  const mlsae_option *o)
{
    const char *fa = (const char *)a + o->offset, *fb = (const char *)b + o->offset;
    switch (o->type) {
    case MLSAE_OPT_BOOL: return *(const int *)fa == *(const int *)fb;
    case MLSAE_OPT_INT: return *(const int64_t *)fa == *(const int64_t *)fb;
    case MLSAE_OPT_REAL: {
        double x = *(const double *)fa, y = *(const double *)fb;
        return x == y || (isnan(x) && isnan(y));
    }
    case MLSAE_OPT_STRING: return strncmp(fa, fb, o->size) == 0;
    case MLSAE_OPT_LAYERS:
        if (a->n_layers != b->n_layers) return 0;
        for (int i = 0; i < a->n_layers; i++)
            if (a->layers[i] != b->layers[i]) return 0;
        return 1;
    }
    return 0;
}

int mlsae_run_config_reconcile(const mlsae_run_config *saved, const mlsae_run_config *now,
                               const char *where, mlsae_error *err)
{
    size_t count;
    const mlsae_option *opts = mlsae_run_config_options(&count);
    for (size_t i = 0; i < count; i++) {
        if (mlsae_run_config_option_equal(saved, now, &opts[i]) ||
            mlsae_run_config_resume_mutable(opts[i].key))
            continue;
        char was[256], is[256];
        mlsae_run_config_value_text(saved, &opts[i], was, sizeof was);
        mlsae_run_config_value_text(now, &opts[i], is, sizeof is);
        return mlsae_fail(err, "%s: cannot change when resuming %s: the run was made with %s, "
                          "this invocation gives %s (start a new run to change it; a resumed run "
                          "may change only its budget, logging, validation and checkpoint cadence, "
                          "output directory, device and threads)", opts[i].key, where, was, is);
    }
    return 0;
}
