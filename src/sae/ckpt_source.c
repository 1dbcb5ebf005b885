#include "config.h"
#include "sae/ckpt_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/paths.h"
#include "hub/hub.h"

int mlsae_ckpt_source_is_repo_id(const char *arg)
{
    return !mlsae_is_dir(arg) && strchr(arg, '/') && !mlsae_path_exists(arg);
}

int mlsae_ckpt_source_resolve(const char *arg, const char *rev, mlsae_ckpt_source *src,
                              mlsae_error *err)
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
    } else if (!mlsae_is_dir(arg)) {
        return mlsae_fail(err, "%s: no such checkpoint directory", arg);
    } else if (rev && *rev && strcmp(rev, "main") != 0) {
        return mlsae_fail(err, "%s: a revision (%s) needs a repo id, not a directory", arg, rev);
    }
    if (mlsae_checkpoint_resolve(arg, rev, &src->dir, err)) {
        mlsae_ckpt_source_free(src);
        return -1;
    }
    return 0;
}

void mlsae_ckpt_source_free(mlsae_ckpt_source *src)
{
    free(src->dir);
    free(src->repo_id);
    memset(src, 0, sizeof *src);
}
