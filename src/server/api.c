/* Routing and request validation (see api.h). */
#include "config.h"
#include "server/api.h"
#include "server/assets.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reals of float32 results: 9 significant digits round-trip them. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

static const char json_ctype[] = "application/json";
static const char oom_body[] = "{\"detail\":\"out of memory\"}";

static void reply_oom(mlsae_reply *rep)
{
    rep->status = 500;
    rep->content_type = json_ctype;
    rep->body = (char *)oom_body;
    rep->len = sizeof oom_body - 1;
    rep->is_static = 1;
}

/* Reply with j (reference stolen). */
static void reply_json(mlsae_reply *rep, int status, json_t *j)
{
    char *s = j ? json_dumps(j, DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!s) {
        reply_oom(rep);
        return;
    }
    rep->status = status;
    rep->content_type = json_ctype;
    rep->body = s;
    rep->len = strlen(s);
    rep->is_static = 0;
}

void mlsae_reply_error(mlsae_reply *rep, int status, const char *field, const char *type,
                       const char *msg)
{
    json_t *j;
    if (field)
        j = json_pack("{s:[{s:s, s:[s, s], s:s}]}", "detail", "type", type ? type : "value_error",
                      "loc", "body", field, "msg", msg);
    else
        j = json_pack("{s:s}", "detail", msg);
    reply_json(rep, status, j);
}

void mlsae_reply_free(mlsae_reply *rep)
{
    if (!rep->is_static) free(rep->body);
    rep->body = NULL;
}

static void reply_fault(mlsae_reply *rep, const mlsae_fault *f)
{
    if (f->status == 422 && f->field[0])
        mlsae_reply_error(rep, 422, f->field, "value_error", f->msg);
    else
        mlsae_reply_error(rep, f->status ? f->status : 500, NULL, NULL, f->msg);
}

/* ---- request bodies -------------------------------------------------------- */

typedef struct request {
    json_t *root;
    const char *prompt;
    size_t prompt_len;
    int64_t layer, latent;
    double factor;
} request;

enum { F_PROMPT = 1, F_LAYER = 2, F_LATENT = 4, F_FACTOR = 8, F_TEXT = 16 };

static int bad_field(mlsae_reply *rep, const char *field, const char *type, const char *fmt,
                     const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    mlsae_reply_error(rep, 422, field, type, msg);
    return -1;
}

/* An integer field: a JSON integer, or a real with no fractional part (as
 * pydantic's lax mode); no strings, no booleans. */
static int get_int(json_t *root, const char *name, int64_t *out, mlsae_reply *rep)
{
    json_t *v = json_object_get(root, name);
    if (!v) return bad_field(rep, name, "missing", "Field required: %s", name);
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isfinite(d) && d == floor(d) && fabs(d) < 9e15) {
            *out = (int64_t)d;
            return 0;
        }
        if (isfinite(d) && d == floor(d))
            return bad_field(rep, name, "int_parsing_size",
                             "Input should be an integer within range: %s", name);
        return bad_field(rep, name, "int_from_float",
                         "Input should be a valid integer, got a number with a fractional part: %s",
                         name);
    }
    return bad_field(rep, name, "int_type", "Input should be a valid integer: %s", name);
}

static int parse(const char *body, size_t len, unsigned fields, request *rq, mlsae_reply *rep)
{
    memset(rq, 0, sizeof *rq);
    json_error_t jerr;
    rq->root = json_loadb(body ? body : "", len, 0, &jerr);
    if (!rq->root) {
        char msg[300];
        snprintf(msg, sizeof msg, "JSON decode error at position %d: %s", jerr.position, jerr.text);
        mlsae_reply_error(rep, 422, "body", "json_invalid", msg);
        return -1;
    }
    if (!json_is_object(rq->root)) {
        mlsae_reply_error(rep, 422, "body", "dict_type", "Input should be a valid dictionary "
                          "(a JSON object)");
        goto fail;
    }
    if (fields & (F_PROMPT | F_TEXT)) {
        const char *name = fields & F_PROMPT ? "prompt" : "text";
        json_t *p = json_object_get(rq->root, name);
        if (!p) {
            bad_field(rep, name, "missing", "Field required: %s", name);
            goto fail;
        }
        if (!json_is_string(p)) {
            bad_field(rep, name, "string_type", "Input should be a valid string: %s", name);
            goto fail;
        }
        rq->prompt = json_string_value(p);
        rq->prompt_len = json_string_length(p);
    }
    if ((fields & F_LATENT) && get_int(rq->root, "latent", &rq->latent, rep)) goto fail;
    if ((fields & F_LAYER) && get_int(rq->root, "layer", &rq->layer, rep)) goto fail;
    if (fields & F_FACTOR) {
        json_t *v = json_object_get(rq->root, "factor");
        if (!v) {
            bad_field(rep, "factor", "missing", "Field required: %s", "factor");
            goto fail;
        }
        if (!json_is_number(v)) {
            bad_field(rep, "factor", "float_type", "Input should be a valid number: %s", "factor");
            goto fail;
        }
        rq->factor = json_number_value(v);
    }
    return 0;
fail:
    json_decref(rq->root);
    rq->root = NULL;
    return -1;
}

/* ---- routes ---------------------------------------------------------------- */

typedef enum route_id {
    R_PARAMS, R_EXAMPLES, R_TOKENS, R_METRICS, R_ACTS, R_ACTS_SPARSE, R_HIST, R_LOGITS_INPUT,
    R_LOGITS_RECON, R_LOGITS_STEER, R_OPENAPI, R_LATENT, R_SEARCH
} route_id;

static const struct route {
    const char *path;
    const char *method;
    route_id id;
    unsigned fields;
} routes[] = {
    {"/api/py/params", "GET", R_PARAMS, 0},
    {"/api/py/openapi.json", "GET", R_OPENAPI, 0},
    {"/api/py/examples", "POST", R_EXAMPLES, F_LAYER | F_LATENT},
    {"/api/py/prompt/tokens", "POST", R_TOKENS, F_PROMPT},
    {"/api/py/prompt/metrics", "POST", R_METRICS, F_PROMPT},
    {"/api/py/prompt/latent-activations", "POST", R_ACTS, F_PROMPT},
    {"/api/py/prompt/latent-activations-sparse", "POST", R_ACTS_SPARSE, F_PROMPT},
    {"/api/py/prompt/layer-histograms", "POST", R_HIST, F_PROMPT},
    {"/api/py/prompt/logits-input", "POST", R_LOGITS_INPUT, F_PROMPT},
    {"/api/py/prompt/logits-recon", "POST", R_LOGITS_RECON, F_PROMPT | F_LAYER},
    {"/api/py/prompt/logits-steer", "POST", R_LOGITS_STEER, F_PROMPT | F_LATENT | F_LAYER | F_FACTOR},
    {"/api/py/latent", "POST", R_LATENT, F_LATENT},
    {"/api/py/search", "POST", R_SEARCH, F_TEXT},
};

static void reply_asset(mlsae_reply *rep, const char *name)
{
    const mlsae_asset *as = mlsae_asset_find(name);
    if (!as) {
        mlsae_reply_error(rep, 404, NULL, NULL, "Not Found");
        return;
    }
    rep->status = 200;
    rep->content_type = mlsae_asset_type(name);
    rep->body = (char *)as->data;
    rep->len = as->len;
    rep->is_static = 1;
}

/* The page's own paths: /, /prompt/<anything>, /latent/<anything>. */
static int is_page(const char *path)
{
    return strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
           strncmp(path, "/prompt/", 8) == 0 || strncmp(path, "/latent/", 8) == 0;
}

static void call(mlsae_analyser *a, route_id id, request *rq, mlsae_reply *rep)
{
    mlsae_fault f = {0};
    json_t *out = NULL;
    int rc = 0;
    switch (id) {
    case R_PARAMS:
        out = mlsae_analyser_params(a);
        break;
    case R_EXAMPLES:
        rc = mlsae_analyser_examples(a, rq->layer, rq->latent, &out, &f);
        break;
    case R_TOKENS:
        rc = mlsae_analyser_tokens(a, rq->prompt, rq->prompt_len, &out, &f);
        break;
    case R_METRICS:
        rc = mlsae_analyser_metrics(a, rq->prompt, rq->prompt_len, &out, &f);
        break;
    case R_ACTS: {
        char *text = NULL;
        size_t n = 0;
        rc = mlsae_analyser_latent_activations(a, rq->prompt, rq->prompt_len, &text, &n, &f);
        if (!rc) {
            rep->status = 200;
            rep->content_type = json_ctype;
            rep->body = text;
            rep->len = n;
            rep->is_static = 0;
            return;
        }
        break;
    }
    case R_ACTS_SPARSE:
        rc = mlsae_analyser_latent_activations_sparse(a, rq->prompt, rq->prompt_len, &out, &f);
        break;
    case R_HIST:
        rc = mlsae_analyser_layer_histograms(a, rq->prompt, rq->prompt_len, &out, &f);
        break;
    case R_LOGITS_INPUT:
        rc = mlsae_analyser_logits_input(a, rq->prompt, rq->prompt_len, &out, &f);
        break;
    case R_LOGITS_RECON:
        rc = mlsae_analyser_logits_recon(a, rq->prompt, rq->prompt_len, rq->layer, &out, &f);
        break;
    case R_LOGITS_STEER:
        rc = mlsae_analyser_logits_steer(a, rq->prompt, rq->prompt_len, rq->latent, rq->layer,
                                         rq->factor, &out, &f);
        break;
    case R_LATENT:
        rc = mlsae_analyser_latent(a, rq->latent, &out, &f);
        break;
    case R_SEARCH:
        rc = mlsae_analyser_search(a, rq->prompt, rq->prompt_len, &out, &f);
        break;
    case R_OPENAPI:
        reply_asset(rep, "openapi.json");
        return;
    }
    if (rc) reply_fault(rep, &f);
    else reply_json(rep, 200, out);
}

void mlsae_api_handle(mlsae_analyser *a, const char *method, const char *path,
                      const char *body, size_t len, mlsae_reply *rep)
{
    memset(rep, 0, sizeof *rep);
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        if (strcmp(path, r->path) != 0) continue;
        if (strcmp(method, r->method) != 0 && !(get && strcmp(r->method, "GET") == 0)) {
            mlsae_reply_error(rep, 405, NULL, NULL, "Method Not Allowed");
            return;
        }
        request rq = {0};
        if (r->fields && parse(body, len, r->fields, &rq, rep)) return;
        call(a, r->id, &rq, rep);
        json_decref(rq.root);
        return;
    }
    if (strncmp(path, "/api/", 5) == 0) {
        mlsae_reply_error(rep, 404, NULL, NULL, "Not Found");
        return;
    }
    if (!get) {
        mlsae_reply_error(rep, 405, NULL, NULL, "Method Not Allowed");
        return;
    }
    if (is_page(path)) reply_asset(rep, "index.html");
    else if (strncmp(path, "/assets/", 8) == 0 && !strchr(path + 8, '/')) reply_asset(rep, path + 8);
    else mlsae_reply_error(rep, 404, NULL, NULL, "Not Found");
}
