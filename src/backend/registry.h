/* The backend registry: the built-in CPU backend and every plugin found by
 * scanning, in this order, for files named mlsae-*.so:
 *   1. each entry of $MLSAE_PLUGIN_PATH (':'-separated; a directory, or a
 *      plugin file itself),
 *   2. the installed plugin directory ($(pkglibdir)/plugins),
 *   3. the directory of the running executable.
 * Each file is dlopen()ed and asked for its table (MLSAE_PLUGIN_ENTRY,
 * backend.h); a table of another interface version, a file without the
 * entry point, or a second plugin of an already registered name is not
 * registered and is reported by mlsae_registry_problems(). Plugins stay
 * loaded for the life of the process.
 *
 * Threads: the scan happens once, on first use, under a pthread_once; after
 * it every function here may be called from any thread. */
#ifndef MLSAE_BACKEND_REGISTRY_H
#define MLSAE_BACKEND_REGISTRY_H

#include <stddef.h>
#include "backend/backend.h"

typedef struct mlsae_registry_entry {
    const char *name;                   /* the plugin's name, e.g. "opencl" */
    const char *path;                   /* the file it came from */
    const mlsae_backend_plugin *plugin; /* its table */
} mlsae_registry_entry;

/* Registered plugins (the CPU backend is built in and not counted). */
int mlsae_registry_count(void);
const mlsae_registry_entry *mlsae_registry_get(int i);
/* The plugin registered under name, or NULL. */
const mlsae_registry_entry *mlsae_registry_find(const char *name);

/* One line per plugin file that was found but not registered. */
void mlsae_registry_problems(void (*emit)(void *ctx, const char *line), void *ctx);

/* The directories and files scanned, ':'-separated, into out[n]. */
void mlsae_registry_search_path(char *out, size_t n);

/* The names of the plugins this source tree can build (configure's list),
 * e.g. "opencl", ','-separated; for messages about a plugin that is absent. */
const char *mlsae_registry_known_plugins(void);

/* The device `auto` resolves to: "cpu" or "NAME:N" of the best score
 * (ties: the first plugin, the lowest N; with a slot s set, the (s mod
 * count)-th of the devices tied for the best score). */
void mlsae_registry_auto(char *out, size_t n);

/* The slot of `auto` among equally good devices: a data-parallel run sets
 * its node-local rank, so the ranks of a node spread over its GPUs
 * (doc/scaling.md). Default 0. */
void mlsae_registry_set_auto_slot(int slot);

#endif
