#include "config.h"
#include "core/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MLSAE_DATA_DIR
#define MLSAE_DATA_DIR "/usr/local/share/mlsae"
#endif

int mlsae_path_join(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

char *mlsae_path_join_new(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

int mlsae_path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

int mlsae_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int mlsae_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int mlsae_find_data_file(const char *name, char *out, size_t n, mlsae_error *err)
{
    char dirs[8][PATH_MAX];
    int n_dirs = 0;
    /* $MLSAE_DATA_DIR: one directory or a colon-separated list */
    const char *env = getenv("MLSAE_DATA_DIR");
    while (env && *env && n_dirs < 4) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        if (len > 0 && len < PATH_MAX) snprintf(dirs[n_dirs++], PATH_MAX, "%.*s", (int)len, env);
        env = colon ? colon + 1 : NULL;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            /* build tree: ./mlsae or ./.libs/mlsae (libtool); install: bin/../share/mlsae */
            const char *base = strrchr(exe, '/');
            if (base && strcmp(base + 1, ".libs") == 0)
                snprintf(dirs[n_dirs++], PATH_MAX, "%.*s/data", (int)(base - exe), exe);
            else
                snprintf(dirs[n_dirs++], PATH_MAX, "%.4000s/data", exe);
            snprintf(dirs[n_dirs++], PATH_MAX, "%.4000s/../share/mlsae", exe);
        }
    }
    snprintf(dirs[n_dirs++], PATH_MAX, "%s", MLSAE_DATA_DIR);
    for (int i = 0; i < n_dirs; i++) {
        if (mlsae_path_join(out, n, dirs[i], name) == 0 && mlsae_path_exists(out)) return 0;
    }
    return mlsae_fail(err, "data file %s not found (looked in $MLSAE_DATA_DIR, next to the "
                      "program, and %s); set MLSAE_DATA_DIR", name, MLSAE_DATA_DIR);
}
