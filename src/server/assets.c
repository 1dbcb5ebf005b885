/* Lookup in the embedded page files (assets.h). */
#include "config.h"
#include "server/assets.h"

#include <string.h>

const mlsae_asset *mlsae_asset_find(const char *name)
{
    for (size_t i = 0; i < mlsae_n_assets; i++)
        if (strcmp(mlsae_assets[i].name, name) == 0) return &mlsae_assets[i];
    return NULL;
}

const char *mlsae_asset_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0) return types[i][1];
    return "application/octet-stream";
}
