/* Hugging Face hub cache lookup (see hub.h). */
#include "config.h"
#include "hub/hub.h"
#include "core/paths.h"
#include "core/atomic_file.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *mlsae_hub_cache_dir(void)
{
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) return strdup(v);
    v = getenv("HF_HOME");
    if (v && *v) return mlsae_path_join_new(v, "hub");
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) return mlsae_path_join_new(v, "huggingface/hub");
    v = getenv("HOME");
    return mlsae_path_join_new(v && *v ? v : ".", ".cache/huggingface/hub");
}

/* "org/name" with the characters the hub allows, not a path. */
static int is_repo_id(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/')) return 0;
    if (s[0] == '.' || slash[1] == '.') return 0;
    for (const char *p = s; *p; p++)
        if (p != slash && !isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return 1;
}

/* The only entry of dir that is a directory, or NULL (none or several). */
static char *only_subdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *found = NULL;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = mlsae_path_join_new(dir, e->d_name);
        if (p && mlsae_is_dir(p) && ++count == 1) found = p;
        else free(p);
    }
    closedir(d);
    if (count != 1) {
        if (count > 1) free(found);
        return NULL;
    }
    return found;
}

char *mlsae_hub_repo_dir(const char *cache, const char *repo_id)
{
    size_t n = strlen(cache) + 2 * strlen(repo_id) + 16;
    char *repo = malloc(n);
    if (!repo) return NULL;
    size_t len = (size_t)snprintf(repo, n, "%s/models--", cache);
    for (const char *p = repo_id; *p; p++) {
        if (*p == '/') repo[len++] = '-', repo[len++] = '-';
        else repo[len++] = *p;
    }
    repo[len] = 0;
    return repo;
}

static int not_cached(const char *name, const char *where, mlsae_error *err)
{
    return mlsae_fail(err, "model '%s' is not in the Hugging Face cache and HF_HUB_OFFLINE=%s "
                      "forbids downloading it: fill %s (e.g. 'huggingface-cli download %s' on a "
                      "machine with access, then copy the cache) or pass a local model directory",
                      name, getenv("HF_HUB_OFFLINE"), where, name);
}

/* The cached snapshot of repo with a config.json: 0 and *snap_out, 1 when
 * not cached (*where_out: the directory to fill, malloc'd), -1 on error. */
static int find_snapshot(const char *repo, char **snap_out, char **where_out, mlsae_error *err)
{
    *snap_out = *where_out = NULL;
    char *snaps = mlsae_path_join_new(repo, "snapshots"), *ref = mlsae_path_join_new(repo, "refs/main");
    char *snap = NULL, *rev = NULL;
    int rc = -1;
    if (!snaps || !ref) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    size_t rev_len = 0;
    mlsae_error ignore;
    if (mlsae_read_file(ref, &rev, &rev_len, &ignore) == 0) {
        while (rev_len && isspace((unsigned char)rev[rev_len - 1])) rev[--rev_len] = 0;
        if (!rev_len || strchr(rev, '/') || strstr(rev, "..")) {
            mlsae_fail(err, "%s: not a valid revision", ref);
            goto done;
        }
        snap = mlsae_path_join_new(snaps, rev);
    } else {
        snap = only_subdir(snaps);
    }
    char *cfg = snap ? mlsae_path_join_new(snap, "config.json") : NULL;
    struct stat sb;
    if (cfg && stat(cfg, &sb) == 0) {
        *snap_out = snap;
        snap = NULL;
        rc = 0;
    } else {
        *where_out = snap ? snap : mlsae_path_join_new(snaps, "<revision>/");
        snap = NULL;
        rc = *where_out ? 1 : mlsae_fail(err, "out of memory");
    }
    free(cfg);
done:
    free(snaps), free(ref), free(snap), free(rev);
    return rc;
}

int mlsae_model_find_local(const char *name, char **dir_out, mlsae_error *err)
{
    *dir_out = NULL;
    if (!name || !*name) return mlsae_fail(err, "no model given");
    if (mlsae_is_dir(name)) {
        *dir_out = strdup(name);
        return *dir_out ? 0 : mlsae_fail(err, "out of memory");
    }
    if (!is_repo_id(name)) return mlsae_fail(err, "%s: no such model directory", name);
    char *cache = mlsae_hub_cache_dir();
    char *repo = cache ? mlsae_hub_repo_dir(cache, name) : NULL, *where = NULL;
    int rc = repo ? find_snapshot(repo, dir_out, &where, err) : mlsae_fail(err, "out of memory");
    free(cache), free(repo), free(where);
    return rc;
}

int mlsae_model_resolve(const char *name, char **dir_out, mlsae_error *err)
{
    *dir_out = NULL;
    if (!name || !*name) return mlsae_fail(err, "no model given");
    if (mlsae_is_dir(name)) {
        *dir_out = strdup(name);
        return *dir_out ? 0 : mlsae_fail(err, "out of memory");
    }
    if (!is_repo_id(name)) return mlsae_fail(err, "%s: no such model directory", name);
    char *cache = mlsae_hub_cache_dir();
    char *repo = cache ? mlsae_hub_repo_dir(cache, name) : NULL, *where = NULL;
    int rc = -1;
    if (!repo) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    rc = find_snapshot(repo, dir_out, &where, err);
    if (rc == 1 && mlsae_hub_offline()) rc = not_cached(name, where, err);
    else if (rc == 1 && mlsae_hub_download_model(cache, name, "main", dir_out, err))
        rc = mlsae_error_prefix(err, "model '%s' (not cached in %s)", name, repo);
    else if (rc == 1)
        rc = 0;
done:
    free(cache), free(repo), free(where);
    return rc;
}
