/* Error reporting for library code.
 *
 * Library functions never print or exit. A function that can fail returns
 * 0 on success and -1 on failure, and fills an mlsae_error with ONE line that
 * names the file, field or position at fault. Only src/cli/ prints it.
 */
#ifndef MLSAE_CORE_STATUS_H
#define MLSAE_CORE_STATUS_H

#include <stddef.h>

#define MLSAE_ERROR_MAX 1024

typedef struct mlsae_error {
    char msg[MLSAE_ERROR_MAX];
} mlsae_error;

/* Format a message into err (err may be NULL). Always returns -1. */
int mlsae_fail(mlsae_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like mlsae_fail, appending ": strerror(errno)" for the current errno. */
int mlsae_fail_errno(mlsae_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the message already in err with "prefix: " (for adding context). */
int mlsae_error_prefix(mlsae_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void mlsae_error_clear(mlsae_error *err);

#endif
