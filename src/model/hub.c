/* Hugging Face hub cache lookup (see hub.h). */
#include "config.h"
#include "model/hub.h"
#include "core/atomic_file.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

char *mlsae_hub_cache_dir(void)
{
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) return strdup(v);
    v = getenv("HF_HOME");
    if (v && *v) return join(v, "hub");
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) return join(v, "huggingface/hub");
    v = getenv("HOME");
    return join(v && *v ? v : ".", ".cache/huggingface/hub");
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
        char *p = join(dir, e->d_name);
        if (p && is_dir(p) && ++count == 1) found = p;
        else free(p);
    }
    closedir(d);
    if (count != 1) {
        if (count > 1) free(found);
        return NULL;
    }
    return found;
}

static int not_cached(const char *name, const char *where, mlsae_error *err)
{
    const char *off = getenv("HF_HUB_OFFLINE");
    return mlsae_fail(err, "model '%s' is not in the Hugging Face cache: fill %s (e.g. "
                      "'huggingface-cli download %s' on a machine with access, then copy the "
                      "cache) or pass a local model directory; this build never downloads "
                      "(HF_HUB_OFFLINE=%s)", name, where, name, off && *off ? off : "unset");
}

int mlsae_model_resolve(const char *name, char **dir_out, mlsae_error *err)
{
    *dir_out = NULL;
    if (!name || !*name) return mlsae_fail(err, "no model given");
    if (is_dir(name)) {
        *dir_out = strdup(name);
        return *dir_out ? 0 : mlsae_fail(err, "out of memory");
    }
    if (!is_repo_id(name)) return mlsae_fail(err, "%s: no such model directory", name);
    char *cache = mlsae_hub_cache_dir();
    size_t n = strlen(cache) + strlen(name) + 64;
    char *repo = malloc(n), *snaps = malloc(n), *ref = malloc(n);
    char *snap = NULL, *rev = NULL;
    int rc = -1;
    if (!cache || !repo || !snaps || !ref) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    snprintf(repo, n, "%s/models--", cache);
    for (const char *p = name; *p; p++) {
        size_t len = strlen(repo);
        if (*p == '/') snprintf(repo + len, n - len, "--");
        else repo[len] = *p, repo[len + 1] = 0;
    }
    snprintf(snaps, n, "%s/snapshots", repo);
    snprintf(ref, n, "%s/refs/main", repo);
    size_t rev_len = 0;
    mlsae_error ignore;
    if (mlsae_read_file(ref, &rev, &rev_len, &ignore) == 0) {
        while (rev_len && isspace((unsigned char)rev[rev_len - 1])) rev[--rev_len] = 0;
        if (!rev_len || strchr(rev, '/') || strstr(rev, "..")) {
            mlsae_fail(err, "%s: not a valid revision", ref);
            goto done;
        }
        snap = join(snaps, rev);
        if (!snap || !is_dir(snap)) {
            not_cached(name, snap ? snap : snaps, err);
            goto done;
        }
    } else {
        snap = only_subdir(snaps);
        if (!snap) {
            char where[4200];
            snprintf(where, sizeof where, "%s/<revision>/", snaps);
            not_cached(name, where, err);
            goto done;
        }
    }
    char *cfg = join(snap, "config.json");
    struct stat sb;
    int have_cfg = cfg && stat(cfg, &sb) == 0;
    if (!have_cfg) not_cached(name, snap, err);
    free(cfg);
    if (!have_cfg) goto done;
    *dir_out = snap;
    snap = NULL;
    rc = 0;
done:
    free(cache), free(repo), free(snaps), free(ref), free(snap), free(rev);
    return rc;
}
