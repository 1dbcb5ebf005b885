/* The device grammar, parsed in one place (options, YAML, the registry):
 *
 *   cpu       the built-in CPU backend
 *   auto      the best-scoring device of every registered backend (a GPU
 *             when a plugin finds one), else cpu
 *   NAME      device 0 of the backend plugin NAME (e.g. opencl)
 *   NAME:N    device N of that plugin (N counts its devices, 0-based)
 *
 * NAME is [a-z][a-z0-9_]* (at most 31 characters); N is 0..9999. */
#ifndef MLSAE_BACKEND_DEVICE_SPEC_H
#define MLSAE_BACKEND_DEVICE_SPEC_H

#include "core/status.h"

#define MLSAE_DEVICE_NAME_MAX 32

typedef enum { MLSAE_DEVICE_CPU, MLSAE_DEVICE_AUTO, MLSAE_DEVICE_PLUGIN } mlsae_device_kind;

typedef struct mlsae_device_spec {
    mlsae_device_kind kind;
    char name[MLSAE_DEVICE_NAME_MAX]; /* "cpu", "auto" or the plugin's name */
    int index;                        /* NAME:N; 0 for a bare NAME */
} mlsae_device_spec;

/* Parse s; -1 with "unknown device 'S' (...)" when it does not follow the
 * grammar. Whether a plugin of that name exists is the registry's business. */
int mlsae_device_parse(const char *s, mlsae_device_spec *out, mlsae_error *err);

#endif
