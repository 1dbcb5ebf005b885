/* `mlsae serve` over loopback (libcurl): every API endpoint against the
 * fixtures of tests/gen/gen_server.py (the reference Analyser's maths in
 * PyTorch on the same model, SAE and tokenizer), every bad request the
 * server must refuse, the page, the security defaults and concurrent
 * clients.
 *
 * Tolerances: logits, probabilities, activations and metrics within 1e-4
 * of the larger of the value and 1 (our transformer matches transformers to
 * ~1e-5; the fixtures keep 7 significant digits). Top-k ids must match
 * slot for slot unless the expected value at that slot is within 1e-4 of a
 * neighbour's (a tie within the tolerance may swap). Histogram edges are
 * rounded to 3 decimals by both: they must be equal within 1e-3 (one unit
 * of the last digit, when a maximum sits on a rounding boundary); counts may
 * move at most 2 between bins in total (one activation within rounding of
 * a bin edge).
 *
 * With --device opencl (tests/test_server_opencl.sh) the model and the SAE
 * run on the OpenCL plugin and only the numbers are checked, with the same
 * tolerances; skipped without the plugin or a device. */
#include "config.h"
#include "server/analyser.h"
#include "server/server.h"
#include "core/safetensors.h"
#include "testutil.h"
#include "opencl_testutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#define TOL 1e-4

static int g_port;

typedef struct response {
    long status;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
} response;

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
    response *r = data;
    size_t m = size * n;
    char *b = realloc(r->body, r->len + m + 1);
    if (!b) return 0;
    memcpy(b + r->len, p, m);
    r->body = b;
    r->len += m;
    b[r->len] = '\0';
    return m;
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
    response *r = data;
    size_t m = size * n;
    if (r->hlen + m < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, m);
        r->hlen += m;
        r->headers[r->hlen] = '\0';
    }
    return m;
}

/* One request. method NULL = GET (POST when body is set). extra: one header
 * line or NULL. */
static void request(const char *method, const char *path, const char *body, size_t body_len,
                    const char *extra, response *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (extra) h = curl_slist_append(h, extra);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s %s: %s\n", method ? method : body ? "POST" : "GET", path,
                curl_easy_strerror(rc));
        r->status = -1;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static json_t *post_json(const char *path, json_t *body, long want_status)
{
    char *b = json_dumps(body, JSON_COMPACT);
    response r;
    request(NULL, path, b, strlen(b), NULL, &r);
    free(b);
    CHECKF(r.status == want_status, "%s: status %ld, want %ld: %.300s", path, r.status,
           want_status, r.body ? r.body : "");
    json_t *j = r.body ? json_loads(r.body, JSON_DECODE_ANY, NULL) : NULL;
    CHECKF(j != NULL, "%s: the reply is not JSON", path);
    free(r.body);
    return j;
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= TOL * fmax(1.0, fabs(b));
}

/* Compare numbers/arrays/objects recursively: numbers within TOL, the rest
 * equal. Reports the first difference with its path. */
static int same(json_t *got, json_t *want, const char *where)
{
    if (json_is_number(want)) {
        if (!json_is_number(got) || !close_enough(json_number_value(got), json_number_value(want))) {
            fprintf(stderr, "  %s: got %g, want %g\n", where,
                    json_is_number(got) ? json_number_value(got) : NAN, json_number_value(want));
            return 0;
        }
        return 1;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
            fprintf(stderr, "  %s: array sizes %zu vs %zu\n", where, json_array_size(got),
                    json_array_size(want));
            return 0;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            char w[256];
            snprintf(w, sizeof w, "%s[%zu]", where, i);
            if (!same(json_array_get(got, i), json_array_get(want, i), w)) return 0;
        }
        return 1;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got) || json_object_size(got) != json_object_size(want)) {
            fprintf(stderr, "  %s: objects of %zu vs %zu keys\n", where, json_object_size(got),
                    json_object_size(want));
            return 0;
        }
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) {
            char w[256];
            snprintf(w, sizeof w, "%s.%s", where, k);
            if (!same(json_object_get(got, k), v, w)) return 0;
        }
        return 1;
    }
    if (!json_equal(got, want)) {
        char *a = json_dumps(got, JSON_ENCODE_ANY), *b = json_dumps(want, JSON_ENCODE_ANY);
        fprintf(stderr, "  %s: got %s, want %s\n", where, a ? a : "?", b ? b : "?");
        free(a);
        free(b);
        return 0;
    }
    return 1;
}

/* A list of Logit rows [P][k]: values slot by slot, ids unless tied. */
static int same_logit_rows(json_t *got, json_t *want, const char *where)
{
    if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
        fprintf(stderr, "  %s: %zu rows, want %zu\n", where, json_array_size(got), json_array_size(want));
        return 0;
    }
    for (size_t p = 0; p < json_array_size(want); p++) {
        json_t *g = json_array_get(got, p), *w = json_array_get(want, p);
        size_t n = json_array_size(w);
        if (json_array_size(g) != n) {
            fprintf(stderr, "  %s[%zu]: %zu logits, want %zu\n", where, p, json_array_size(g), n);
            return 0;
        }
        for (size_t j = 0; j < n; j++) {
            json_t *ge = json_array_get(g, j), *we = json_array_get(w, j);
            double wv = json_real_value(json_object_get(we, "logit"));
            double gv = json_number_value(json_object_get(ge, "logit"));
            if (!close_enough(gv, wv)) {
                fprintf(stderr, "  %s[%zu][%zu].logit: got %g, want %g\n", where, p, j, gv, wv);
                return 0;
            }
            json_t *wp = json_object_get(we, "prob"), *gp = json_object_get(ge, "prob");
            if (json_is_null(wp) ? !json_is_null(gp)
                                 : !close_enough(json_number_value(gp), json_number_value(wp))) {
                fprintf(stderr, "  %s[%zu][%zu].prob differs\n", where, p, j);
                return 0;
            }
            int tied = 0;
            for (size_t q = 0; q < n; q++)
                if (q != j && fabs(json_real_value(json_object_get(json_array_get(w, q), "logit")) - wv) <= TOL)
                    tied = 1;
            if (!tied && (!json_equal(json_object_get(ge, "id"), json_object_get(we, "id")) ||
                          !json_equal(json_object_get(ge, "token"), json_object_get(we, "token")))) {
                fprintf(stderr, "  %s[%zu][%zu]: id %lld, want %lld\n", where, p, j,
                        (long long)json_integer_value(json_object_get(ge, "id")),
                        (long long)json_integer_value(json_object_get(we, "id")));
                return 0;
            }
        }
    }
    return 1;
}

static int same_max_logits(json_t *got, json_t *want, const char *where)
{
    return json_is_object(got) && json_object_size(got) == 1 &&
           same_logit_rows(json_object_get(got, "max"), json_object_get(want, "max"), where);
}

/* [MaxLogits, LogitChanges] */
static int same_spliced(json_t *got, json_t *want, const char *where)
{
    if (!json_is_array(got) || json_array_size(got) != 2) return 0;
    json_t *gc = json_array_get(got, 1), *wc = json_array_get(want, 1);
    return same_max_logits(json_array_get(got, 0), json_array_get(want, 0), where) &&
           json_object_size(gc) == 2 &&
           same_logit_rows(json_object_get(gc, "max"), json_object_get(wc, "max"), where) &&
           same_logit_rows(json_object_get(gc, "min"), json_object_get(wc, "min"), where);
}

static int same_histograms(json_t *got, json_t *want)
{
    json_t *ge = json_object_get(got, "edges"), *we = json_object_get(want, "edges");
    if (json_array_size(ge) != json_array_size(we)) return 0;
    for (size_t i = 0; i < json_array_size(we); i++)
        if (fabs(json_number_value(json_array_get(ge, i)) - json_number_value(json_array_get(we, i))) > 1e-3 + 1e-9)
            return 0;
    json_t *gv = json_object_get(got, "values"), *wv = json_object_get(want, "values");
    if (json_array_size(gv) != json_array_size(wv)) return 0;
    for (size_t l = 0; l < json_array_size(wv); l++) {
        json_t *g = json_array_get(gv, l), *w = json_array_get(wv, l);
        if (json_array_size(g) != json_array_size(w)) return 0;
        long moved = 0;
        for (size_t b = 0; b < json_array_size(w); b++) {
            if (!json_is_integer(json_array_get(g, b))) return 0;
            moved += labs((long)(json_integer_value(json_array_get(g, b)) -
                                 json_integer_value(json_array_get(w, b))));
        }
        if (moved > 2) {
            fprintf(stderr, "  histogram of layer %zu: %ld counts differ\n", l, moved);
            return 0;
        }
    }
    return 1;
}

static void test_prompt(json_t *e, int n_latents)
{
    const char *prompt = json_string_value(json_object_get(e, "prompt"));
    printf("prompt %s\n", prompt);
    json_t *body = json_pack("{s:s}", "prompt", prompt);
    json_t *j = post_json("/api/py/prompt/tokens", body, 200);
    CHECK(same(j, json_object_get(e, "tokens"), "tokens"));
    json_decref(j);
    j = post_json("/api/py/prompt/metrics", body, 200);
    CHECK(same(j, json_object_get(e, "metrics"), "metrics"));
    json_decref(j);
    j = post_json("/api/py/prompt/latent-activations", body, 200);
    CHECK(same(j, json_object_get(e, "latent_activations"), "latent_activations"));
    json_decref(j);
    /* the sparse form holds the same activations */
    json_t *s = post_json("/api/py/prompt/latent-activations-sparse", body, 200);
    json_t *dense = json_object_get(json_object_get(e, "latent_activations"), "values");
    CHECK(json_integer_value(json_object_get(s, "n_latents")) == n_latents);
    CHECK(same(json_object_get(s, "max"), json_object_get(json_object_get(e, "latent_activations"), "max"), "sparse max"));
    int sparse_ok = json_array_size(json_object_get(s, "indices")) == json_array_size(dense);
    for (size_t l = 0; sparse_ok && l < json_array_size(dense); l++) {
        json_t *dl = json_array_get(dense, l);
        for (size_t p = 0; sparse_ok && p < json_array_size(dl); p++) {
            json_t *row = json_array_get(dl, p);
            json_t *ix = json_array_get(json_array_get(json_object_get(s, "indices"), l), p);
            json_t *vx = json_array_get(json_array_get(json_object_get(s, "values"), l), p);
            double prev = INFINITY, sum_sparse = 0, sum_dense = 0;
            for (size_t q = 0; q < json_array_size(ix); q++) {
                double v = json_number_value(json_array_get(vx, q));
                json_int_t i = json_integer_value(json_array_get(ix, q));
                sparse_ok &= v > 0 && v <= prev && i >= 0 && i < n_latents &&
                             close_enough(v, json_number_value(json_array_get(row, (size_t)i)));
                prev = v;
                sum_sparse += v;
            }
            for (size_t q = 0; q < json_array_size(row); q++)
                sum_dense += json_number_value(json_array_get(row, q));
            sparse_ok &= fabs(sum_sparse - sum_dense) <= TOL * fmax(1, sum_dense);
        }
    }
    CHECKF(sparse_ok, "the sparse latent activations differ from the dense ones");
    json_decref(s);
    j = post_json("/api/py/prompt/layer-histograms", body, 200);
    CHECK(same_histograms(j, json_object_get(e, "layer_histograms")));
    json_decref(j);
    j = post_json("/api/py/prompt/logits-input", body, 200);
    CHECK(same_max_logits(j, json_object_get(e, "logits_input"), "logits-input"));
    json_decref(j);
    const char *key;
    json_t *want;
    json_object_foreach(json_object_get(e, "logits_recon"), key, want) {
        json_t *b = json_pack("{s:s, s:i}", "prompt", prompt, "layer", atoi(key));
        j = post_json("/api/py/prompt/logits-recon", b, 200);
        CHECKF(same_spliced(j, want, "logits-recon"), "logits-recon at layer %s", key);
        json_decref(j);
        json_decref(b);
    }
    json_t *st = json_object_get(e, "steer");
    json_t *b = json_pack("{s:s, s:O, s:O, s:O}", "prompt", prompt, "latent",
                          json_object_get(st, "latent"), "layer", json_object_get(st, "layer"),
                          "factor", json_object_get(st, "factor"));
    j = post_json("/api/py/prompt/logits-steer", b, 200);
    CHECK(same_spliced(j, json_object_get(st, "result"), "logits-steer"));
    json_decref(j);
    json_decref(b);
    json_decref(body);
}

/* A request that must fail with `status`, naming `field` (422) when given;
 * extra: one more header line or NULL. */
static void bad_with(const char *path, const char *body, long status, const char *field,
                     const char *extra)
{
    response r;
    request(NULL, path, body, strlen(body), extra, &r);
    int ok = r.status == status;
    if (ok && field) {
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *loc = json_object_get(json_array_get(json_object_get(j, "detail"), 0), "loc");
        ok = json_is_string(json_array_get(loc, 1)) &&
             strcmp(json_string_value(json_array_get(loc, 1)), field) == 0;
        json_decref(j);
    }
    CHECKF(ok, "%s %.80s: status %ld, want %ld naming %s: %.300s", path, body, r.status, status,
           field ? field : "-", r.body ? r.body : "");
    if (ok) printf("  refused %s %.60s: %ld %.120s\n", path, body, r.status, r.body);
    free(r.body);
}

static void bad(const char *path, const char *body, long status, const char *field)
{
    bad_with(path, body, status, field, NULL);
}

static void test_bad_requests(int max_positions)
{
    printf("bad requests\n");
    bad("/api/py/prompt/tokens", "{\"prompt\": \"a\"", 422, "body");
    bad("/api/py/prompt/tokens", "", 422, "body");
    bad("/api/py/prompt/tokens", "[\"a\"]", 422, "body");
    bad("/api/py/prompt/tokens", "{}", 422, "prompt");
    bad("/api/py/prompt/tokens", "{\"prompt\": 3}", 422, "prompt");
    bad("/api/py/prompt/tokens", "{\"prompt\": null}", 422, "prompt");
    bad("/api/py/prompt/metrics", "{\"prompt\": \"\"}", 422, "prompt");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\"}", 422, "layer");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\", \"layer\": \"1\"}", 422, "layer");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\", \"layer\": 1.5}", 422, "layer");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\", \"layer\": true}", 422, "layer");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\", \"layer\": 3}", 422, "layer");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\", \"layer\": -1}", 422, "layer");
    bad("/api/py/prompt/logits-recon", "{\"prompt\": \"a b\", \"layer\": 99999999999999999999}", 422, "body");
    bad("/api/py/prompt/logits-steer", "{\"prompt\": \"a b\", \"layer\": 0, \"latent\": 64, \"factor\": 1}", 422, "latent");
    bad("/api/py/prompt/logits-steer", "{\"prompt\": \"a b\", \"layer\": 0, \"latent\": -1, \"factor\": 1}", 422, "latent");
    bad("/api/py/prompt/logits-steer", "{\"prompt\": \"a b\", \"layer\": 0, \"latent\": 1}", 422, "factor");
    bad("/api/py/prompt/logits-steer", "{\"prompt\": \"a b\", \"layer\": 0, \"latent\": 1, \"factor\": \"x\"}", 422, "factor");
    /* beyond float32, or large enough to overflow the steered residual */
    bad("/api/py/prompt/logits-steer", "{\"prompt\": \"a b\", \"layer\": 0, \"latent\": 1, \"factor\": 1e39}", 422, "factor");
    bad("/api/py/prompt/logits-steer", "{\"prompt\": \"a b\", \"layer\": 0, \"latent\": 1, \"factor\": -1e308}", 422, "factor");
    bad("/api/py/examples", "{\"layer\": 0, \"latent\": 1e30}", 422, "latent");
    bad("/api/py/examples", "{\"layer\": 0}", 422, "latent");
    bad("/api/py/examples", "{\"layer\": 3, \"latent\": 0}", 422, "layer");
    bad("/api/py/examples", "{\"layer\": 0, \"latent\": 64}", 422, "latent");
    /* a prompt longer than the context: max_positions + 1 single-byte tokens
     * at least (every "x " is at least one token) */
    size_t n = (size_t)max_positions + 8;
    char *long_body = malloc(2 * n + 32);
    strcpy(long_body, "{\"prompt\": \"");
    for (size_t i = 0; i < n; i++) strcat(long_body, "x,");
    strcat(long_body, "\"}");
    bad("/api/py/prompt/latent-activations", long_body, 422, "prompt");
    bad("/api/py/prompt/logits-input", long_body, 422, "prompt");
    free(long_body);
    /* a body over the limit (64 KiB): 413 */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 32);
    strcpy(huge, "{\"prompt\": \"");
    memset(huge + 12, 'a', big);
    strcpy(huge + 12 + big, "\"}");
    bad("/api/py/prompt/tokens", huge, 413, NULL);
    /* the same without Content-Length (chunked): refused while it arrives */
    bad_with("/api/py/prompt/tokens", huge, 413, NULL, "Transfer-Encoding: chunked");
    /* a chunked body under the limit is fine */
    response ok;
    request(NULL, "/api/py/prompt/tokens", "{\"prompt\": \"hi\"}", 16, "Transfer-Encoding: chunked", &ok);
    CHECKF(ok.status == 200, "chunked body: %ld", ok.status);
    free(ok.body);
    free(huge);
    /* paths and methods */
    bad("/api/py/nothing", "{}", 404, NULL);
    bad("/api/py/params", "{}", 405, NULL);
    response r;
    request("GET", "/api/py/prompt/tokens", NULL, 0, NULL, &r);
    CHECKF(r.status == 405, "GET on a POST endpoint: %ld", r.status);
    free(r.body);
    request("GET", "/no/such/page", NULL, 0, NULL, &r);
    CHECKF(r.status == 404, "unknown page: %ld", r.status);
    free(r.body);
    request("GET", "/assets/../../etc/passwd", NULL, 0, NULL, &r);
    CHECKF(r.status == 404 || r.status == 400, "path traversal: %ld", r.status);
    free(r.body);
}

static void test_security(void)
{
    printf("security defaults\n");
    response r;
    /* DNS rebinding: a Host that is not this server */
    request("GET", "/api/py/params", NULL, 0, "Host: evil.example:1234", &r);
    CHECKF(r.status == 421, "foreign Host: %ld", r.status);
    free(r.body);
    char host[64];
    snprintf(host, sizeof host, "Host: localhost:%d", g_port + 1 > 65535 ? 1 : g_port + 1);
    request("GET", "/api/py/params", NULL, 0, host, &r);
    CHECKF(r.status == 421, "Host with another port: %ld", r.status);
    free(r.body);
    request("GET", "/api/py/params", NULL, 0, "Host:", &r);
    CHECKF(r.status == 400, "no Host: %ld", r.status);
    free(r.body);
    snprintf(host, sizeof host, "Host: localhost:%d", g_port);
    request("GET", "/api/py/params", NULL, 0, host, &r);
    CHECKF(r.status == 200, "Host localhost: %ld", r.status);
    free(r.body);
    /* no CORS unless asked */
    request("GET", "/api/py/params", NULL, 0, "Origin: http://evil.example", &r);
    CHECKF(r.status == 200 && !strcasestr(r.headers, "Access-Control-Allow-Origin"),
           "CORS header without --cors: %s", r.headers);
    free(r.body);
    request("OPTIONS", "/api/py/prompt/tokens", NULL, 0, "Origin: http://evil.example", &r);
    CHECKF(r.status == 405 && !strcasestr(r.headers, "Access-Control-Allow-Origin"),
           "preflight without --cors: %ld", r.status);
    free(r.body);
}

static void test_page(void)
{
    printf("page\n");
    static const char *const pages[] = {"/", "/prompt/Hello%20world", "/latent/3"};
    response r;
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        request("GET", pages[i], NULL, 0, NULL, &r);
        CHECKF(r.status == 200 && strcasestr(r.headers, "Content-Type: text/html") &&
                   strcasestr(r.headers, "Content-Security-Policy: default-src 'self'") &&
                   r.body && strstr(r.body, "<script src=\"/assets/app.js\""),
               "%s: %ld", pages[i], r.status);
        free(r.body);
    }
    request("GET", "/assets/app.js", NULL, 0, NULL, &r);
    CHECKF(r.status == 200 && strcasestr(r.headers, "Content-Type: text/javascript") &&
               r.body && strstr(r.body, "/prompt/latent-activations-sparse"),
           "app.js: %ld", r.status);
    free(r.body);
    request("GET", "/assets/style.css", NULL, 0, NULL, &r);
    CHECKF(r.status == 200 && strcasestr(r.headers, "Content-Type: text/css"), "style.css: %ld", r.status);
    free(r.body);
    request("GET", "/api/py/openapi.json", NULL, 0, NULL, &r);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    json_t *paths = json_object_get(j, "paths");
    static const char *const want[] = {
        "/api/py/params", "/api/py/examples", "/api/py/prompt/tokens", "/api/py/prompt/metrics",
        "/api/py/prompt/latent-activations", "/api/py/prompt/latent-activations-sparse",
        "/api/py/prompt/layer-histograms", "/api/py/prompt/logits-input",
        "/api/py/prompt/logits-recon", "/api/py/prompt/logits-steer", "/api/py/latent",
        "/api/py/search"};
    int all = r.status == 200 && json_is_object(paths);
    for (size_t i = 0; all && i < sizeof want / sizeof want[0]; i++)
        all = json_object_get(paths, want[i]) != NULL;
    CHECKF(all, "openapi.json lists every endpoint (status %ld)", r.status);
    json_decref(j);
    free(r.body);
}

/* Several clients at once, on prompts that evict each other from the
 * cache: every answer equals the one-at-a-time answer. */
typedef struct client_arg {
    const char *prompts[3];
    char *want[3];
    int failures;
} client_arg;

static void *client(void *p)
{
    client_arg *a = p;
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 3; i++) {
            json_t *b = json_pack("{s:s, s:i}", "prompt", a->prompts[(i + round) % 3], "layer", 1);
            char *s = json_dumps(b, JSON_COMPACT);
            response r;
            request(NULL, "/api/py/prompt/logits-recon", s, strlen(s), NULL, &r);
            if (r.status != 200 || !r.body || strcmp(r.body, a->want[(i + round) % 3]) != 0)
                a->failures++;
            free(r.body);
            free(s);
            json_decref(b);
        }
    return NULL;
}

static void test_concurrent(void)
{
    printf("concurrent clients\n");
    client_arg a = {{"one two three", "four five", "six seven eight nine"}, {0}, 0};
    for (int i = 0; i < 3; i++) {
        json_t *b = json_pack("{s:s, s:i}", "prompt", a.prompts[i], "layer", 1);
        char *s = json_dumps(b, JSON_COMPACT);
        response r;
        request(NULL, "/api/py/prompt/logits-recon", s, strlen(s), NULL, &r);
        CHECK(r.status == 200);
        a.want[i] = r.body;
        free(s);
        json_decref(b);
    }
    enum { N = 4 };
    pthread_t t[N];
    client_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = a;
        pthread_create(&t[i], NULL, client, &args[i]);
    }
    int failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        failures += args[i].failures;
    }
    CHECKF(failures == 0, "%d of %d concurrent answers differ", failures, N * 12);
    for (int i = 0; i < 3; i++) free(a.want[i]);
}

static void test_cors(mlsae_analyser *an)
{
    printf("--cors ORIGIN\n");
    mlsae_server_options so = {0};
    so.cors_origin = "http://localhost:3000";
    mlsae_server *srv = NULL;
    mlsae_error err;
    CHECKF(mlsae_server_start(an, &so, &srv, &err) == 0, "%s", err.msg);
    if (!srv) return;
    int saved = g_port;
    g_port = mlsae_server_port(srv);
    response r;
    request("OPTIONS", "/api/py/prompt/tokens", NULL, 0, "Origin: http://localhost:3000", &r);
    CHECKF(r.status == 204 && strcasestr(r.headers, "Access-Control-Allow-Origin: http://localhost:3000") &&
               !strstr(r.headers, "Access-Control-Allow-Origin: *"),
           "preflight: %ld %s", r.status, r.headers);
    free(r.body);
    request(NULL, "/api/py/prompt/tokens", "{\"prompt\": \"hi\"}", 16, NULL, &r);
    CHECKF(r.status == 200 && strcasestr(r.headers, "Access-Control-Allow-Origin: http://localhost:3000"),
           "CORS reply: %ld", r.status);
    free(r.body);
    g_port = saved;
    mlsae_server_stop(srv);
}

/* ---- the latent page and the search, against plain loops over the
 * fixture files (embed_out.weight [vocab, d], decoder.weight [d, n_latents]) */

enum { V = 712, D = 16, NL = 64, NLAYERS = 3, KSAE = 4 };
static float g_wu[V * D], g_dec[D * NL], g_counts[NLAYERS * NL], g_totals[NLAYERS * NL];

static int load_weights(const char *model, const char *sae)
{
    char path[4200];
    mlsae_error err;
    mlsae_safetensors *st = NULL;
    const int64_t wu_shape[2] = {V, D}, dec_shape[2] = {D, NL};
    snprintf(path, sizeof path, "%s/model.safetensors", model);
    int rc = mlsae_st_open(path, &st, &err) || mlsae_st_read_f32(st, "embed_out.weight", 2, wu_shape, g_wu, &err);
    if (st) mlsae_st_close(st);
    st = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", sae);
    if (!rc) rc = mlsae_st_open(path, &st, &err) || mlsae_st_read_f32(st, "decoder.weight", 2, dec_shape, g_dec, &err);
    if (st) mlsae_st_close(st);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* A dists file of random counts and totals [3, 64]. */
static int write_dists(const char *path)
{
    tu_rng r = {42};
    for (int i = 0; i < NLAYERS * NL; i++) {
        g_counts[i] = (float)(int)tu_uniform(&r, 0, 100);
        g_totals[i] = g_counts[i] * tu_uniform(&r, 0.1f, 2.0f);
    }
    const int64_t shape[2] = {NLAYERS, NL};
    mlsae_error err;
    mlsae_st_writer *w = mlsae_st_writer_new();
    int rc = mlsae_st_writer_add(w, "counts", MLSAE_DT_F32, 2, shape, g_counts, &err) ||
             mlsae_st_writer_add(w, "totals", MLSAE_DT_F32, 2, shape, g_totals, &err) ||
             mlsae_st_writer_save(w, path, &err);
    mlsae_st_writer_free(w);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* ids sorted by score (largest or smallest first), stable */
static void oracle_order(const double *score, int n, int largest, int *order)
{
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            double a = score[order[j - 1]], b = score[order[j]];
            if (largest ? a < b : a > b) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        }
}

/* got: [{key_id, key_value}] of 16 against the oracle's order */
static int same_ranking(json_t *got, const double *score, int n, int largest, const char *id_key,
                        const char *value_key, const char *what)
{
    int order[V];
    oracle_order(score, n, largest, order);
    if (json_array_size(got) != 16) {
        fprintf(stderr, "  %s: %zu entries\n", what, json_array_size(got));
        return 0;
    }
    for (int j = 0; j < 16; j++) {
        json_t *e = json_array_get(got, (size_t)j);
        double v = json_number_value(json_object_get(e, value_key));
        int id = (int)json_integer_value(json_object_get(e, id_key));
        double want = score[order[j]];
        int tied = (j > 0 && fabs(score[order[j - 1]] - want) <= TOL) ||
                   (j < n - 1 && fabs(score[order[j + 1]] - want) <= TOL);
        if (!close_enough(v, want) || (!tied && id != order[j])) {
            fprintf(stderr, "  %s[%d]: %d %g, want %d %g\n", what, j, id, v, order[j], want);
            return 0;
        }
    }
    return 1;
}

static void test_latent_page(void)
{
    printf("latent page and search\n");
    const int latent = 5;
    json_t *b = json_pack("{s:i}", "latent", latent);
    json_t *j = post_json("/api/py/latent", b, 200);
    json_decref(b);
    double score[V];
    for (int v = 0; v < V; v++) {
        double s = 0;
        for (int i = 0; i < D; i++) s += (double)g_wu[v * D + i] * g_dec[i * NL + latent];
        score[v] = s;
    }
    CHECK(same_ranking(json_object_get(j, "promoted"), score, V, 1, "id", "logit", "promoted"));
    CHECK(same_ranking(json_object_get(j, "suppressed"), score, V, 0, "id", "logit", "suppressed"));
    json_t *dists = json_object_get(j, "dists");
    int ok = json_is_object(dists);
    for (int l = 0; ok && l < NLAYERS; l++) {
        double tokens = 0;
        for (int q = 0; q < NL; q++) tokens += g_counts[l * NL + q];
        tokens /= KSAE;
        double c = g_counts[l * NL + latent];
        ok = close_enough(json_number_value(json_array_get(json_object_get(dists, "counts"), (size_t)l)), c) &&
             close_enough(json_number_value(json_array_get(json_object_get(dists, "totals"), (size_t)l)),
                          g_totals[l * NL + latent]) &&
             close_enough(json_number_value(json_array_get(json_object_get(dists, "density"), (size_t)l)),
                          c / tokens);
    }
    CHECKF(ok, "the latent's dists (counts, totals, density per layer)");
    json_decref(j);

    /* search: the latents writing most into the first token of the text */
    b = json_pack("{s:s}", "prompt", "the cat");
    json_t *t = post_json("/api/py/prompt/tokens", b, 200);
    json_decref(b);
    int id = (int)json_integer_value(json_object_get(json_array_get(t, 0), "id"));
    json_decref(t);
    b = json_pack("{s:s}", "text", "the cat");
    j = post_json("/api/py/search", b, 200);
    json_decref(b);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "token"), "id")) == id);
    double lat[NL];
    for (int q = 0; q < NL; q++) {
        double s = 0;
        for (int i = 0; i < D; i++) s += (double)g_wu[id * D + i] * g_dec[i * NL + q];
        lat[q] = s;
    }
    CHECK(same_ranking(json_object_get(j, "latents"), lat, NL, 1, "latent", "value", "search"));
    json_decref(j);
    bad("/api/py/latent", "{\"latent\": 64}", 422, "latent");
    bad("/api/py/latent", "{}", 422, "latent");
    bad("/api/py/search", "{\"text\": \"\"}", 422, "text");
    bad("/api/py/search", "{\"text\": 5}", 422, "text");
}

int main(int argc, char **argv)
{
    /* --device opencl: the numbers (model and SAE on the OpenCL plugin)
     * only; the HTTP side does not depend on the device */
    const char *device = argc > 2 && strcmp(argv[1], "--device") == 0 ? argv[2] : "cpu";
    const int full = strcmp(device, "cpu") == 0;
    if (!full) tu_opencl_or_skip();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char model[4096], tokenizer[4096], sae[4096], db[4096], expected_path[4096];
    snprintf(model, sizeof model, "%s", tu_fixture("server/model"));
    snprintf(tokenizer, sizeof tokenizer, "%s", tu_fixture("text/tiny-tokenizer.json"));
    snprintf(sae, sizeof sae, "%s", tu_fixture("server/sae"));
    snprintf(db, sizeof db, "%s", tu_fixture("server/examples.db"));
    snprintf(expected_path, sizeof expected_path, "%s", tu_fixture("server/expected.json"));
    json_error_t jerr;
    json_t *expected = json_load_file(expected_path, 0, &jerr);
    if (!expected) {
        fprintf(stderr, "%s: %s\n", expected_path, jerr.text);
        return 1;
    }
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    mlsae_run_config_defaults(cfg);
    snprintf(cfg->model_name, sizeof cfg->model_name, "%s", model);
    snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s", tokenizer);
    snprintf(cfg->device, sizeof cfg->device, "%s", device);
    snprintf(cfg->model_device, sizeof cfg->model_device, "%s", device);
    cfg->threads = 2;
    char dists[4200];
    snprintf(dists, sizeof dists, "%s/dists.safetensors", tu_tmpdir());
    if (load_weights(model, sae) || write_dists(dists)) return 1;
    json_t *params = json_pack("{s:s, s:i}", "model_name", model, "k", 4);
    mlsae_analyser_options ao = {0};
    ao.checkpoint = sae;
    ao.examples = db;
    ao.dists = dists;
    ao.cache_size = 2; /* small, so the tests evict */
    mlsae_analyser *an = NULL;
    mlsae_error err;
    if (mlsae_analyser_open(cfg, &ao, params, &an, &err)) {
        fprintf(stderr, "analyser: %s\n", err.msg);
        return 1;
    }
    mlsae_server_options so = {0};
    mlsae_server *srv = NULL;
    if (mlsae_server_start(an, &so, &srv, &err)) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 1;
    }
    g_port = mlsae_server_port(srv);
    printf("listening on 127.0.0.1:%d\n", g_port);
    int n_latents = (int)json_integer_value(json_object_get(expected, "n_latents"));

    response r;
    request(NULL, "/api/py/params", NULL, 0, NULL, &r);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    CHECK(r.status == 200 && json_equal(j, params));
    json_decref(j);
    free(r.body);

    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(expected, "prompts"), i, e) test_prompt(e, n_latents);
    /* again, from the cache (two prompts, cache of two) */
    json_array_foreach(json_object_get(expected, "prompts"), i, e) test_prompt(e, n_latents);

    json_t *ex = json_object_get(expected, "examples");
    json_t *b = json_pack("{s:O, s:O}", "layer", json_object_get(ex, "layer"), "latent",
                          json_object_get(ex, "latent"));
    j = post_json("/api/py/examples", b, 200);
    CHECK(same(j, json_object_get(ex, "result"), "examples"));
    json_decref(j);
    json_decref(b);
    b = json_pack("{s:i, s:i}", "layer", 0, "latent", 0);
    j = post_json("/api/py/examples", b, 200);
    CHECK(json_is_array(j) && json_array_size(j) == 0);
    json_decref(j);
    json_decref(b);

    test_latent_page();
    if (full) {
        test_bad_requests((int)json_integer_value(json_object_get(expected, "max_positions")));
        test_security();
        test_page();
        test_concurrent();
        test_cors(an);
    }

    mlsae_server_stop(srv);
    mlsae_analyser_close(an);
    json_decref(params);
    json_decref(expected);
    free(cfg);
    curl_global_cleanup();
    return tu_finish("test_server");
}
