/* Command-line pieces shared by the commands that take a trained SAE. */
#include "config.h"
#include "cli/checkpoint_args.h"
#include "cli/commands.h"
#include "cli/download_progress.h"
#include "core/paths.h"
#include "hub/hub.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_take_value(int *argc, char **argv, const char *flag, const char **value)
{
    size_t fl = strlen(flag);
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int used = 0;
        if (strcmp(argv[i], flag) == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            used = 2;
        } else if (strncmp(argv[i], flag, fl) == 0 && argv[i][fl] == '=') {
            v = argv[i] + fl + 1;
            used = 1;
        } else if (strcmp(argv[i], flag) == 0) {
            return -1;
        }
        if (used) {
            *value = v;
            for (int j = i; j + used < *argc; j++) argv[j] = argv[j + used];
            *argc -= used;
            return 1;
        }
    }
    return 0;
}

int cli_tfm_args(const char *dir, char **out, char *store, size_t store_n)
{
    char *path = mlsae_path_join_new(dir, "config.json");
    json_t *root = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    int n = 0;
    size_t used = 0;
#define PUT(...)                                                                        \
    do {                                                                                \
        int w = snprintf(store + used, store_n - used, __VA_ARGS__);                    \
        if (w < 0 || (size_t)w >= store_n - used) goto done;                            \
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

int cli_resolve_checkpoint(const char *cmd, const char **ckpt, char **resolved,
                           const char **repo_id)
{
    *resolved = NULL;
    *repo_id = NULL;
    if (mlsae_is_dir(*ckpt) || !strchr(*ckpt, '/') || mlsae_path_exists(*ckpt)) return 0;
    mlsae_error err;
    int status = 0;
    cli_download_progress(1);
    if (mlsae_model_resolve(*ckpt, resolved, &err) != 0) {
        status = cli_error(cmd, "%s", err.msg);
    } else {
        *repo_id = *ckpt;
        *ckpt = *resolved;
    }
    cli_download_progress(0);
    return status;
}
