/* The one error helper of every backend: compiled into libmlsae and into
 * each plugin (a plugin uses no symbol of the program that loads it). */
#include "config.h"
#include "backend/backend.h"

#include <stdarg.h>
#include <stdio.h>

int mlsae_backend_fail(mlsae_backend *be, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->last_error.msg, sizeof be->last_error.msg, fmt, ap);
    va_end(ap);
    return -1;
}
