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

/* True when dir exists and holds anything but dot files. */
static int has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) found = e->d_name[0] != '.';
    closedir(d);
    return found;
}

char *mlsae_hub_repo_dir(const char *cache, const char *repo_id)
{
    return mlsae_hub_repo_dir_typed(cache, "model", repo_id);
}

char *mlsae_hub_repo_dir_typed(const char *cache, const char *repo_type, const char *repo_id)
{
    size_t n = strlen(cache) + strlen(repo_type) + 2 * strlen(repo_id) + 16;
    char *repo = malloc(n);
    if (!repo) return NULL;
    size_t len = (size_t)snprintf(repo, n, "%s/%ss--", cache, repo_type);
    for (const char *p = repo_id; *p; p++) {
        if (*p == '/') repo[len++] = '-', repo[len++] = '-';
        else repo[len++] = *p;
    }
    repo[len] = 0;
    return repo;
}

static int not_cached(const char *name, const char *rev, const char *where, mlsae_error *err)
{
    int main_rev = strcmp(rev, "main") == 0;
    return mlsae_fail(err, "model '%s'%s%s is not in the Hugging Face cache and HF_HUB_OFFLINE=%s "
                      "forbids downloading it: fill %s (e.g. 'huggingface-cli download %s%s%s' on "
                      "a machine with access, then copy the cache) or pass a local model directory",
                      name, main_rev ? "" : " at revision ", main_rev ? "" : rev,
                      getenv("HF_HUB_OFFLINE"), where, name, main_rev ? "" : " --revision ",
                      main_rev ? "" : rev);
}

int mlsae_hub_is_commit(const char *rev)
{
    size_t n = 0;
    for (; rev[n]; n++)
        if (!isxdigit((unsigned char)rev[n]) || isupper((unsigned char)rev[n])) return 0;
    return n == 40;
}

int mlsae_hub_check_revision(const char *rev, mlsae_error *err)
{
    size_t n = strlen(rev);
    int ok = n > 0 && n <= 100 && rev[0] != '.';
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)rev[i]) || rev[i] == '.' || rev[i] == '_' || rev[i] == '-';
    if (!ok)
        return mlsae_fail(err, "revision '%.100s' is not a branch, tag or commit name mlsae can use "
                          "([A-Za-z0-9._-], not starting with '.'; refs/pr/N is not supported)", rev);
    return 0;
}

/* The cached snapshot of repo at `rev` with a config.json: 0 and *snap_out,
 * 1 when not cached (*where_out: the directory to fill, malloc'd), -1 on
 * error. A commit hash names its snapshot directly; a branch or tag goes
 * through refs/{rev}; for main when there are no refs at all, the only
 * snapshot is used (another revision's snapshot is never taken for main). */
static int find_snapshot(const char *repo, const char *rev, char **snap_out, char **where_out,
                         mlsae_error *err)
{
    *snap_out = *where_out = NULL;
    char *snaps = mlsae_path_join_new(repo, "snapshots"), *refs = mlsae_path_join_new(repo, "refs");
    char *ref = refs ? mlsae_path_join_new(refs, rev) : NULL;
    char *snap = NULL, *commit = NULL;
    int rc = -1;
    if (!snaps || !ref) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    size_t len = 0;
    mlsae_error ignore;
    if (mlsae_hub_is_commit(rev)) {
        snap = mlsae_path_join_new(snaps, rev);
    } else if (mlsae_read_file(ref, &commit, &len, &ignore) == 0) {
        while (len && isspace((unsigned char)commit[len - 1])) commit[--len] = 0;
        if (!len || strchr(commit, '/') || strstr(commit, "..")) {
            mlsae_fail(err, "%s: not a valid revision", ref);
            goto done;
        }
        snap = mlsae_path_join_new(snaps, commit);
    } else if (strcmp(rev, "main") == 0 && !has_entries(refs)) {
        snap = only_subdir(snaps); /* a snapshot copied in by hand, no refs at all */
    }
    char *cfg = snap ? mlsae_path_join_new(snap, "config.json") : NULL;
    struct stat sb;
    if (cfg && stat(cfg, &sb) == 0) {
        *snap_out = snap;
        snap = NULL;
        rc = 0;
    } else {
        *where_out = snap ? snap : mlsae_path_join_new(snaps, "<commit>/");
        snap = NULL;
        rc = *where_out ? 1 : mlsae_fail(err, "out of memory");
    }
    free(cfg);
done:
    free(snaps), free(refs), free(ref), free(snap), free(commit);
    return rc;
}

int mlsae_hub_find_cached(const char *repo_id, char **dir_out, char **where_out,
                          mlsae_error *err)
{
    *dir_out = NULL;
    if (where_out) *where_out = NULL;
    if (!is_repo_id(repo_id)) return mlsae_fail(err, "%s: not a repo id (org/name)", repo_id);
    char *cache = mlsae_hub_cache_dir();
    char *repo = cache ? mlsae_hub_repo_dir(cache, repo_id) : NULL, *where = NULL;
    int rc = repo ? find_snapshot(repo, "main", dir_out, &where, err)
                  : mlsae_fail(err, "out of memory");
    if (where_out) *where_out = where;
    else free(where);
    free(cache), free(repo);
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
    return mlsae_hub_find_cached(name, dir_out, NULL, err);
}

int mlsae_model_resolve(const char *name, char **dir_out, mlsae_error *err)
{
    return mlsae_model_resolve_revision(name, NULL, dir_out, err);
}

int mlsae_model_resolve_revision(const char *name, const char *rev, char **dir_out,
                                 mlsae_error *err)
{
    *dir_out = NULL;
    if (!name || !*name) return mlsae_fail(err, "no model given");
    if (!rev || !*rev) rev = "main";
    if (mlsae_is_dir(name)) {
        if (strcmp(rev, "main") != 0)
            return mlsae_fail(err, "%s: a local directory has no revisions (revision '%s' given)",
                              name, rev);
        *dir_out = strdup(name);
        return *dir_out ? 0 : mlsae_fail(err, "out of memory");
    }
    if (!is_repo_id(name)) return mlsae_fail(err, "%s: no such model directory", name);
    if (mlsae_hub_check_revision(rev, err)) return -1;
    char *cache = mlsae_hub_cache_dir();
    char *repo = cache ? mlsae_hub_repo_dir(cache, name) : NULL, *where = NULL;
    int rc = -1;
    if (!repo) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    rc = find_snapshot(repo, rev, dir_out, &where, err);
    if (rc == 1 && mlsae_hub_offline()) rc = not_cached(name, rev, where, err);
    else if (rc == 1 && mlsae_hub_download_model(cache, name, rev, dir_out, err))
        rc = strcmp(rev, "main") == 0
                 ? mlsae_error_prefix(err, "model '%s' (not cached in %s)", name, repo)
                 : mlsae_error_prefix(err, "model '%s' at revision '%s' (not cached in %s)", name,
                                      rev, repo);
    else if (rc == 1)
        rc = 0;
done:
    free(cache), free(repo), free(where);
    return rc;
}

int mlsae_checkpoint_resolve(const char *ref, const char *rev, char **dir_out, mlsae_error *err)
{
    *dir_out = NULL;
    if (ref && *ref && mlsae_path_exists(ref) && !mlsae_is_dir(ref))
        return mlsae_fail(err, "checkpoint %s: not a directory (expected config.json + "
                          "model.safetensors in one)", ref);
    if (mlsae_model_resolve_revision(ref, rev, dir_out, err))
        return mlsae_error_prefix(err, "checkpoint");
    return 0;
}
