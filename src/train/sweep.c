/* Training sweeps: members, names and the sweep.json manifest (sweep.h). */
#include "config.h"
#include "train/sweep.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"

void mlsae_sweep_name(const char *model_name, int64_t expansion_factor, int64_t k, char *out,
                      size_t n)
{
    size_t len = strlen(model_name);
    while (len > 1 && model_name[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && model_name[start - 1] != '/') start--;
    snprintf(out, n, "mlsae-%.*s-x%lld-k%lld", (int)(len - start), model_name + start,
             (long long)expansion_factor, (long long)k);
}

int mlsae_sweep_members(const mlsae_run_config *cfg, mlsae_sweep_member *out, int *n,
                        mlsae_error *err)
{
    const mlsae_sweep_config *sw = &cfg->sweep;
    const int n_e = sw->n_expansion_factor > 0 ? sw->n_expansion_factor : 1;
    const int n_k = sw->n_k > 0 ? sw->n_k : 1;
    if (n_e * n_k > MLSAE_CONFIG_MAX_MEMBERS)
        return mlsae_fail(err, "a sweep of %d expansion factors x %d values of k is %d SAEs; at "
                          "most %d train together (split the sweep over several commands)", n_e,
                          n_k, n_e * n_k, MLSAE_CONFIG_MAX_MEMBERS);
    *n = 0;
    for (int e = 0; e < n_e; e++)
        for (int q = 0; q < n_k; q++) {
            mlsae_sweep_member *m = &out[(*n)++];
            m->expansion_factor = sw->n_expansion_factor > 0 ? sw->expansion_factor[e]
                                                             : cfg->autoencoder.expansion_factor;
            m->k = sw->n_k > 0 ? sw->k[q] : cfg->autoencoder.k;
            mlsae_sweep_name(cfg->model_name, m->expansion_factor, m->k, m->name, sizeof m->name);
        }
    return 0;
}

static void manifest_path(const char *dir, char *out, size_t n)
{
    snprintf(out, n, "%s/sweep.json", dir);
}

int mlsae_sweep_is_root(const char *dir)
{
    char path[MLSAE_CONFIG_STR_MAX + 16];
    struct stat sb;
    manifest_path(dir, path, sizeof path);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int mlsae_sweep_write(const char *out_dir, const mlsae_sweep_member *m, int n, mlsae_error *err)
{
    char path[MLSAE_CONFIG_STR_MAX + 16];
    manifest_path(out_dir, path, sizeof path);
    json_t *root = json_object(), *list = json_array();
    int rc = -1;
    if (!root || !list) goto done;
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        if (!o || json_array_append_new(list, o)) goto done;
        json_object_set_new(o, "name", json_string(m[i].name));
        json_object_set_new(o, "expansion_factor", json_integer(m[i].expansion_factor));
        json_object_set_new(o, "k", json_integer(m[i].k));
    }
    json_object_set_new(root, "members", list);
    list = NULL;
    char *text = json_dumps(root, JSON_INDENT(2));
    if (!text) goto done;
    size_t len = strlen(text);
    /* a final newline, as text files end */
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        free(text);
        goto done;
    }
    with_nl[len] = '\n';
    with_nl[len + 1] = '\0';
    rc = mlsae_write_file_atomic(path, with_nl, len + 1, err);
    free(with_nl);
    json_decref(root);
    return rc;
done:
    json_decref(list);
    json_decref(root);
    return mlsae_fail(err, "%s: out of memory", path);
}

int mlsae_sweep_read(const char *dir, mlsae_sweep_member *out, int *n, mlsae_error *err)
{
    char path[MLSAE_CONFIG_STR_MAX + 16];
    manifest_path(dir, path, sizeof path);
    char *text = NULL;
    size_t len = 0;
    if (mlsae_read_file(path, &text, &len, err)) return -1;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) return mlsae_fail(err, "%s:%d: %s", path, jerr.line, jerr.text);
    int rc = 0;
    json_t *list = json_object_get(root, "members");
    size_t count = json_is_array(list) ? json_array_size(list) : 0;
    if (count == 0 || count > MLSAE_CONFIG_MAX_MEMBERS) {
        rc = mlsae_fail(err, "%s: 'members' must be a list of 1 to %d entries", path,
                        MLSAE_CONFIG_MAX_MEMBERS);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(list, i);
        json_t *name = json_object_get(o, "name"), *e = json_object_get(o, "expansion_factor"),
               *k = json_object_get(o, "k");
        const char *s = json_string_value(name);
        if (!s || !s[0] || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
            strlen(s) >= sizeof out[i].name || !json_is_integer(e) || json_integer_value(e) < 1 ||
            !json_is_integer(k) || json_integer_value(k) < 1) {
            rc = mlsae_fail(err, "%s: members[%zu] needs a plain directory 'name' and positive "
                            "integers 'expansion_factor' and 'k'", path, i);
            goto done;
        }
        snprintf(out[i].name, sizeof out[i].name, "%s", s);
        out[i].expansion_factor = json_integer_value(e);
        out[i].k = json_integer_value(k);
    }
    *n = (int)count;
done:
    json_decref(root);
    return rc;
}

int mlsae_sweep_member_config(const mlsae_run_config *cfg, const char *out_dir,
                              const mlsae_sweep_member *m, mlsae_run_config *out,
                              mlsae_error *err)
{
    *out = *cfg;
    memset(&out->sweep, 0, sizeof out->sweep);
    out->autoencoder.expansion_factor = m->expansion_factor;
    out->autoencoder.k = m->k;
    int w = snprintf(out->trainer.default_root_dir, sizeof out->trainer.default_root_dir,
                     "%s/%s", out_dir, m->name);
    if (cfg->trainer.checkpoint_path[0])
        w |= snprintf(out->trainer.checkpoint_path, sizeof out->trainer.checkpoint_path,
                      "%s/%s/checkpoints/last", cfg->trainer.checkpoint_path, m->name);
    if (w < 0 || (size_t)w >= sizeof out->trainer.checkpoint_path)
        return mlsae_fail(err, "%s/%s: path too long", out_dir, m->name);
    return 0;
}
