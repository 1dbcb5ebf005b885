/* Writing files so that readers never see half of one.
 *
 * Data goes to "<path>.tmp.<pid>" in the same directory; commit flushes,
 * fsyncs and renames it over <path>; abort removes it. A failed write (disk
 * full, I/O error) is reported by commit and leaves <path> untouched.
 */
#ifndef MLSAE_CORE_ATOMIC_FILE_H
#define MLSAE_CORE_ATOMIC_FILE_H

#include <stdio.h>
#include "core/status.h"

typedef struct mlsae_atomic_file {
    FILE *fp;
    char *tmp_path;
    char *final_path;
} mlsae_atomic_file;

int mlsae_atomic_open(mlsae_atomic_file *af, const char *path, mlsae_error *err);
/* fwrite that remembers nothing: errors surface at commit (ferror). */
int mlsae_atomic_write(mlsae_atomic_file *af, const void *data, size_t n, mlsae_error *err);
int mlsae_atomic_commit(mlsae_atomic_file *af, mlsae_error *err);
void mlsae_atomic_abort(mlsae_atomic_file *af);

/* Whole-buffer convenience: write data to path atomically. */
int mlsae_write_file_atomic(const char *path, const void *data, size_t n, mlsae_error *err);

/* Read a whole file into a NUL-terminated malloc'd buffer. A regular file
 * only (core/input_file.h): a FIFO or a directory is an error, never a hang. */
int mlsae_read_file(const char *path, char **data, size_t *n, mlsae_error *err);
/* The same, also reading a FIFO, a pipe or a terminal (standard input). */
int mlsae_read_file_or_stream(const char *path, char **data, size_t *n, mlsae_error *err);

/* mkdir -p */
int mlsae_mkdir_p(const char *path, mlsae_error *err);

/* Whether path can be written later by mlsae_atomic_open: its directory
 * exists and is writable, and path is not a directory. For commands that
 * compute for a long time before writing: checked first, so a bad output path
 * fails at once. */
int mlsae_check_output_file(const char *path, mlsae_error *err);

#endif
