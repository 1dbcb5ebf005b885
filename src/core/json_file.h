/* Reading a JSON file (config.json of a model, a checkpoint or a tuned lens)
 * as a regular file only: a FIFO or a directory in its place is an error,
 * never a hang (json_load_file would block in open(2) on a FIFO). */
#ifndef MLSAE_CORE_JSON_FILE_H
#define MLSAE_CORE_JSON_FILE_H

#include <jansson.h>
#include "core/status.h"

/* The parsed document (jansson flags as json_loadb), or NULL with err:
 * "PATH: cannot open: ...", "PATH: not a regular file (a FIFO)" or
 * "PATH:LINE:COL: <jansson's message>". *missing (may be NULL) is set to 1
 * when the file does not exist, else 0. */
json_t *mlsae_json_read_file(const char *path, size_t flags, int *missing, mlsae_error *err);

#endif
