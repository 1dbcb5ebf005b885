/* Reading a JSON file as a regular file only: see json_file.h. */
#include "config.h"
#include "core/json_file.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/atomic_file.h"

json_t *mlsae_json_read_file(const char *path, size_t flags, int *missing, mlsae_error *err)
{
    struct stat sb;
    if (missing) *missing = stat(path, &sb) != 0 && errno == ENOENT;
    char *text = NULL;
    size_t len = 0;
    if (mlsae_read_file(path, &text, &len, err)) return NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, flags, &je);
    free(text);
    if (!root) mlsae_fail(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return root;
}
