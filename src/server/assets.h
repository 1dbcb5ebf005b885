/* The viewer's files (src/server/www/), embedded at build time by the rule
 * in src/server/Makefile.inc into the generated assets_gen.c. */
#ifndef MLSAE_SERVER_ASSETS_H
#define MLSAE_SERVER_ASSETS_H

#include <stddef.h>

typedef struct mlsae_asset {
    const char *name;  /* file name under www/, e.g. "app.js" */
    const char *data;
    size_t len;
} mlsae_asset;

extern const mlsae_asset mlsae_assets[];
extern const size_t mlsae_n_assets;

/* The asset called name, or NULL. */
const mlsae_asset *mlsae_asset_find(const char *name);
/* Content type from the name's extension (text/html, text/javascript, ...). */
const char *mlsae_asset_type(const char *name);

#endif
