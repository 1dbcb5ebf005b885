/* Locating the package's data files (tokenizer, bundled corpus) at run
 * time: $MLSAE_DATA_DIR (a directory or a colon-separated list), then data/ next to the executable (build tree, or
 * a relocated install's ../share/mlsae), then the configured pkgdatadir. */
#ifndef MLSAE_CORE_PATHS_H
#define MLSAE_CORE_PATHS_H

#include <stddef.h>
#include "core/status.h"

/* Write the full path of data file `name` into out (size n). */
int mlsae_find_data_file(const char *name, char *out, size_t n, mlsae_error *err);

/* Join dir and name into out; returns -1 if it does not fit. */
int mlsae_path_join(char *out, size_t n, const char *dir, const char *name);
/* "dir/name", malloc'd (NULL when out of memory). */
char *mlsae_path_join_new(const char *dir, const char *name);

int mlsae_path_exists(const char *path);
int mlsae_is_dir(const char *path);
int mlsae_is_file(const char *path); /* a regular file */

#endif
