/* Symbols the OpenCL plugin (mlsae-opencl.so) exports, besides the backend
 * entry point MLSAE_PLUGIN_ENTRY of backend.h. Callers find them with
 * dlsym(); the CLI's `mlsae devices` uses the listing. */
#ifndef MLSAE_OCL_PLUGIN_H
#define MLSAE_OCL_PLUGIN_H

#include <stdint.h>
#include "core/status.h"

/* List every OpenCL platform and device, in the order device numbers
 * (opencl:N) count them. emit() receives one line of text at a time
 * (no newline), at nesting depth 0 (platform) or 1 (device). Returns the
 * number of devices found (0 when there is no platform: a line says why),
 * or -1 with a message. api_version is the caller's MLSAE_BACKEND_API_VERSION. */
#define MLSAE_PLUGIN_LIST_DEVICES "mlsae_backend_plugin_list_devices"
typedef int (*mlsae_plugin_list_devices_fn)(uint32_t api_version,
                                            void (*emit)(void *ctx, int depth, const char *line),
                                            void *ctx, mlsae_error *err);

#endif
