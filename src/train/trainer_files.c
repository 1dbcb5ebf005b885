/* The run's own output: a record of the files and directories this run
 * created, removed when the run fails before its first checkpoint (a
 * pre-existing file, or a resumed run's, is never on it);
 * trainer_internal.h. */
#include "config.h"
#include "train/trainer_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int push(trainer *t, const char *path, mlsae_error *err)
{
    if (t->n_created == t->cap_created) {
        int cap = t->cap_created ? 2 * t->cap_created : 16;
        char **grown = realloc(t->created, (size_t)cap * sizeof *grown);
        if (!grown) return mlsae_fail(err, "out of memory");
        t->created = grown;
        t->cap_created = cap;
    }
    char *copy = strdup(path);
    if (!copy) return mlsae_fail(err, "out of memory");
    t->created[t->n_created++] = copy;
    return 0;
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

int trainer_note_created(trainer *t, const char *path, int parents, mlsae_error *err)
{
    if (!parents) return exists(path) ? 0 : push(t, path, err);
    /* every missing prefix, outermost first */
    char *buf = strdup(path);
    if (!buf) return mlsae_fail(err, "out of memory");
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/') buf[--len] = '\0';
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if (i < len && buf[i] != '/') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (!exists(buf)) rc = push(t, buf, err);
        buf[i] = c;
    }
    free(buf);
    return rc;
}

void trainer_remove_created(trainer *t)
{
    for (int i = t->n_created - 1; i >= 0; i--) {
        struct stat sb;
        if (lstat(t->created[i], &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) rmdir(t->created[i]); /* only if empty */
        else unlink(t->created[i]);
    }
    trainer_forget_created(t);
}

void trainer_forget_created(trainer *t)
{
    for (int i = 0; i < t->n_created; i++) free(t->created[i]);
    free(t->created);
    t->created = NULL;
    t->n_created = t->cap_created = 0;
}
