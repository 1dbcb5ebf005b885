/* A backend plugin for the registry test: FAKE_NAME with FAKE_DEVICES
 * devices (device 1 scores as a GPU), built for FAKE_API_VERSION. Its
 * backend has no ops: the test only opens, describes and closes it. */
#include "config.h"
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>

#ifndef FAKE_API_VERSION
#define FAKE_API_VERSION MLSAE_BACKEND_API_VERSION
#endif

static int fake_count(mlsae_error *why)
{
    (void)why;
    return FAKE_DEVICES;
}

static int fake_info(int i, char *line, size_t n)
{
    if (i < 0 || i >= FAKE_DEVICES) return -1;
    snprintf(line, n, "fake device %d", i);
    return i == 1 ? MLSAE_SCORE_GPU : MLSAE_SCORE_PLUGIN_CPU;
}

typedef struct {
    mlsae_backend base;
    char description[64];
} fake_backend;

static void fake_destroy(mlsae_backend *be) { free(be); }
static const char *fake_describe(mlsae_backend *be) { return ((fake_backend *)be)->description; }

static mlsae_backend_ops fake_ops = {
    .api_version = FAKE_API_VERSION,
    .name = FAKE_NAME,
    .destroy = fake_destroy,
    .describe = fake_describe,
};

static int fake_init(const mlsae_backend_params *params, mlsae_backend **out, mlsae_error *err)
{
    *out = NULL;
    if (params->device_index < 0 || params->device_index >= FAKE_DEVICES) {
        snprintf(err->msg, sizeof err->msg, "no device %d", params->device_index);
        return -1;
    }
    fake_backend *fb = calloc(1, sizeof *fb);
    if (!fb) return -1;
    fb->base.ops = &fake_ops;
    snprintf(fb->description, sizeof fb->description, "%s device %d", FAKE_NAME,
             params->device_index);
    *out = &fb->base;
    return 0;
}

static const mlsae_backend_plugin fake_plugin = {
    .api_version = FAKE_API_VERSION,
    .name = FAKE_NAME,
    .device_count = fake_count,
    .device_info = fake_info,
    .init = fake_init,
};

const mlsae_backend_plugin *mlsae_backend_plugin_register(void);
const mlsae_backend_plugin *mlsae_backend_plugin_register(void) { return &fake_plugin; }
