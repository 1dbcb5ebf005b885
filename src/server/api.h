/* Routing and request validation of `mlsae serve`, independent of the HTTP
 * library: a method, a path and a body in, a status, a content type and a
 * body out. Paths, bodies and JSON shapes are the reference's
 * (mlsae/api/__main__.py, FastAPI + pydantic):
 *
 *   GET  /api/py/params
 *   POST /api/py/examples                       {layer, latent}
 *   POST /api/py/prompt/tokens                  {prompt}
 *   POST /api/py/prompt/metrics                 {prompt}
 *   POST /api/py/prompt/latent-activations      {prompt}
 *   POST /api/py/prompt/layer-histograms        {prompt}
 *   POST /api/py/prompt/logits-input            {prompt}
 *   POST /api/py/prompt/logits-recon            {prompt, layer}
 *   POST /api/py/prompt/logits-steer            {prompt, latent, layer, factor}
 * and ours:
 *   POST /api/py/prompt/latent-activations-sparse {prompt}
 *   POST /api/py/latent                         {latent}  (the latent page)
 *   POST /api/py/search                         {text}    (latents by token)
 *   GET  /api/py/openapi.json
 *   GET  /, /prompt/<text>, /latent/<n>: the page; GET /assets/<file>
 *
 * Errors are FastAPI's shapes: 422 {"detail": [{"type", "loc": ["body",
 * FIELD], "msg"}]} for a body that is not a JSON object or a field that is
 * missing, of the wrong type or out of range; {"detail": "message"} for the
 * others (404 unknown path, 405 wrong method). */
#ifndef MLSAE_SERVER_API_H
#define MLSAE_SERVER_API_H

#include <stddef.h>
#include "server/analyser.h"

typedef struct mlsae_reply {
    int status;
    const char *content_type;
    char *body;          /* malloc'd unless is_static */
    size_t len;
    int is_static;       /* body points into the embedded assets */
} mlsae_reply;

/* Fill rep (never fails: out of memory gives a 500 with a static body). */
void mlsae_api_handle(mlsae_analyser *a, const char *method, const char *path,
                      const char *body, size_t len, mlsae_reply *rep);
void mlsae_reply_free(mlsae_reply *rep);

/* An error reply in FastAPI's shape (field NULL: {"detail": msg}). */
void mlsae_reply_error(mlsae_reply *rep, int status, const char *field, const char *type,
                       const char *msg);

#endif
