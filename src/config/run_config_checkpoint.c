/* The run options a reference -tfm checkpoint holds, or a training
 * checkpoint's run.yaml (run_config.h). */
#include "config.h"
#include "core/json_file.h"
#include "config/run_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/paths.h"

static int bad_type(const char *path, const char *key, const char *want, mlsae_error *err)
{
    return mlsae_fail(err, "%s: key '%s' must be %s", path, key, want);
}

int mlsae_run_config_check_run_yaml(const char *path, mlsae_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
        return mlsae_fail(err, "%s: empty (a training checkpoint's run options)", path);
    return 0;
}

/* A training checkpoint (<out>/checkpoints/<c>/, doc/formats.md): its
 * run.yaml's model and the options a -tfm config.json would hold. 1 when
 * there is no run.yaml, 0 when applied, -1 on error. */
static int apply_run_yaml(mlsae_run_config *cfg, const char *dir, mlsae_error *err)
{
    char *path = mlsae_path_join_new(dir, "run.yaml");
    if (!path) return mlsae_fail(err, "out of memory");
    mlsae_run_config *run = NULL;
    int rc = 1;
    /* a run.yaml that is not a regular file is named as such (the loader
     * says what it is), not taken for an absent one */
    if (!mlsae_path_exists(path)) goto done;
    run = malloc(sizeof *run);
    if (!run) {
        rc = mlsae_fail(err, "out of memory");
        goto done;
    }
    mlsae_run_config_defaults(run);
    if (mlsae_run_config_check_run_yaml(path, err) || mlsae_run_config_load_yaml(run, path, err)) {
        rc = -1;
        goto done;
    }
    memcpy(cfg->model_name, run->model_name, sizeof cfg->model_name);
    memcpy(cfg->revision, run->revision, sizeof cfg->revision);
    memcpy(cfg->tokenizer, run->tokenizer, sizeof cfg->tokenizer);
    memcpy(cfg->layers, run->layers, sizeof cfg->layers);
    cfg->n_layers = run->n_layers;
    cfg->data.max_length = run->data.max_length;
    cfg->data.batch_size = run->data.batch_size;
    cfg->autoencoder.skip_special_tokens = run->autoencoder.skip_special_tokens;
    cfg->autoencoder.tuned_lens = run->autoencoder.tuned_lens;
    cfg->autoencoder.dead_tokens_threshold = run->autoencoder.dead_tokens_threshold;
    /* the SAE's own shape (its name: mlsae-<model>-x<E>-k<K>) */
    cfg->autoencoder.expansion_factor = run->autoencoder.expansion_factor;
    cfg->autoencoder.k = run->autoencoder.k;
    rc = 0;
done:
    free(run);
    free(path);
    return rc;
}

/* A hint in out[n] when dir is a training run's or a sweep's directory
 * (doc/formats.md), else "". */
static const char *run_hint(const char *dir, char *out, size_t n)
{
    char *p = mlsae_path_join_new(dir, "checkpoints/last/config.json");
    int run = p && mlsae_path_exists(p);
    free(p);
    p = mlsae_path_join_new(dir, "sweep.json");
    int sweep = !run && p && mlsae_path_exists(p);
    free(p);
    const char *sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";
    out[0] = '\0';
    if (run) snprintf(out, n, "; a training run: its checkpoint is %s%scheckpoints/last", dir, sep);
    if (sweep) snprintf(out, n, "; a sweep: its SAEs' checkpoints are %s%s<name>/checkpoints/last",
                        dir, sep);
    return out;
}

int mlsae_run_config_apply_checkpoint(mlsae_run_config *cfg, const char *dir, int *is_tfm,
                                      mlsae_error *err)
{
    *is_tfm = 0;
    char *path = mlsae_path_join_new(dir, "config.json");
    if (!path) return mlsae_fail(err, "out of memory");
    int missing;
    json_t *root = mlsae_json_read_file(path, 0, &missing, err);
    int rc = 0;
    if (!root) {
        char hint[600];
        rc = missing ? mlsae_fail(err, "%s: no config.json (not an MLSAE checkpoint%s)", dir,
                                  run_hint(dir, hint, sizeof hint)) : -1;
        goto done;
    }
    json_t *name = json_object_get(root, "model_name");
    if (!name) { /* a plain SAE: no run options, unless a training run saved it */
        rc = apply_run_yaml(cfg, dir, err);
        if (rc == 0) *is_tfm = 1;
        if (rc > 0) rc = 0;
        goto done;
    }
    if (!json_is_string(name) || !*json_string_value(name)) {
        rc = bad_type(path, "model_name", "a non-empty string", err);
        goto done;
    }
    if (strlen(json_string_value(name)) >= sizeof cfg->model_name) {
        rc = mlsae_fail(err, "%s: key 'model_name' is too long", path);
        goto done;
    }
    *is_tfm = 1;
    snprintf(cfg->model_name, sizeof cfg->model_name, "%s", json_string_value(name));
    json_t *v = json_object_get(root, "layers");
    if (json_is_array(v)) {
        size_t i, n = json_array_size(v);
        json_t *e;
        if (n > MLSAE_CONFIG_MAX_LAYERS) {
            rc = mlsae_fail(err, "%s: key 'layers' has %zu entries, at most %d", path, n,
                            MLSAE_CONFIG_MAX_LAYERS);
            goto done;
        }
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 0 ||
                json_integer_value(e) > 1023) {
                rc = bad_type(path, "layers", "a list of layer indices 0..1023", err);
                goto done;
            }
            cfg->layers[i] = (int)json_integer_value(e);
        }
        cfg->n_layers = (int)n;
    } else if (v && !json_is_null(v)) {
        rc = bad_type(path, "layers", "a list or null", err);
        goto done;
    }
    struct {
        const char *key;
        int64_t *dst, lo, hi;
    } ints[] = {
        {"max_length", &cfg->data.max_length, 1, 1048576},
        {"batch_size", &cfg->data.batch_size, 1, 1048576},
        {"dead_tokens_threshold", &cfg->autoencoder.dead_tokens_threshold, 1, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        v = json_object_get(root, ints[i].key);
        if (!v || json_is_null(v)) continue;
        if (!json_is_integer(v) || json_integer_value(v) < ints[i].lo ||
            json_integer_value(v) > ints[i].hi) {
            char want[96];
            snprintf(want, sizeof want, "an integer in %lld..%lld", (long long)ints[i].lo,
                     (long long)ints[i].hi);
            rc = bad_type(path, ints[i].key, want, err);
            goto done;
        }
        *ints[i].dst = json_integer_value(v);
    }
    struct {
        const char *key;
        int *dst;
    } bools[] = {{"skip_special_tokens", &cfg->autoencoder.skip_special_tokens},
                 {"tuned_lens", &cfg->autoencoder.tuned_lens}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        v = json_object_get(root, bools[i].key);
        if (!v || json_is_null(v)) continue;
        if (!json_is_boolean(v)) {
            rc = bad_type(path, bools[i].key, "true or false", err);
            goto done;
        }
        *bools[i].dst = json_is_true(v);
    }
done:
    json_decref(root);
    free(path);
    return rc;
}
