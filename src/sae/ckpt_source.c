#include "config.h"
#include "sae/ckpt_source.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/paths.h"
#include "hub/hub.h"

int mlsae_ckpt_source_is_repo_id(const char *arg)
{
    return !mlsae_is_dir(arg) && strchr(arg, '/') && !mlsae_path_exists(arg);
}

int mlsae_ckpt_source_resolve(const char *arg, mlsae_ckpt_source *src, mlsae_error *err)
{
    memset(src, 0, sizeof *src);
    size_t n = strlen(arg);
    while (n > 1 && arg[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && arg[start - 1] != '/') start--;
    if (n - start >= sizeof src->name) return mlsae_fail(err, "%s: checkpoint name too long", arg);
    memcpy(src->name, arg + start, n - start);
    src->name[n - start] = '\0';
    if (mlsae_ckpt_source_is_repo_id(arg)) {
        src->repo_id = strdup(arg);
        if (!src->repo_id) return mlsae_fail(err, "out of memory");
        if (mlsae_model_resolve(arg, &src->dir, err)) {
            mlsae_ckpt_source_free(src);
            return -1;
        }
        return 0;
    }
    if (!mlsae_is_dir(arg)) return mlsae_fail(err, "%s: no such checkpoint directory", arg);
    src->dir = strdup(arg);
    if (!src->dir) return mlsae_fail(err, "out of memory");
    return 0;
}

void mlsae_ckpt_source_free(mlsae_ckpt_source *src)
{
    free(src->dir);
    free(src->repo_id);
    memset(src, 0, sizeof *src);
}

int mlsae_ckpt_run_args(const char *dir, char **out, int max, char *store, size_t store_n)
{
    char *path = mlsae_path_join_new(dir, "config.json");
    json_t *root = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    int n = 0;
    size_t used = 0;
#define PUT(...)                                                                        \
    do {                                                                                \
        int w = snprintf(store + used, store_n - used, __VA_ARGS__);                    \
        if (n >= max || w < 0 || (size_t)w >= store_n - used) goto done;                \
        out[n++] = store + used;                                                        \
        used += (size_t)w + 1;                                                          \
    } while (0)
    json_t *name = json_object_get(root, "model_name");
    if (!json_is_string(name)) goto done;
    PUT("--model_name=%s", json_string_value(name));
    json_t *layers = json_object_get(root, "layers");
    if (json_is_array(layers) && json_array_size(layers) > 0) {
        char list[1024] = "";
        size_t len = 0, i;
        json_t *v;
        json_array_foreach(layers, i, v) {
            if (!json_is_integer(v)) goto done;
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", i ? "," : "",
                                    (long long)json_integer_value(v));
            if (len >= sizeof list) goto done;
        }
        PUT("--layers=%s", list);
    }
    json_t *v = json_object_get(root, "max_length");
    if (json_is_integer(v)) PUT("--data.max_length=%lld", (long long)json_integer_value(v));
    v = json_object_get(root, "batch_size");
    if (json_is_integer(v)) PUT("--data.batch_size=%lld", (long long)json_integer_value(v));
    v = json_object_get(root, "skip_special_tokens");
    if (json_is_boolean(v))
        PUT("--autoencoder.skip_special_tokens=%s", json_is_true(v) ? "true" : "false");
#undef PUT
done:
    json_decref(root);
    return n;
}
