/* The viewer's request handling (server/api.h: routing, JSON body
 * validation, the analyser behind it) on the tests' tiny model and SAE
 * (tests/fixtures/server): input = METHOD, PATH and BODY split at
 * "\n--8<--\n". Every request gets a status in 200..599 with a body; a 5xx
 * other than 500's out-of-memory shape is a finding (bad input is a 4xx). */
#include "config.h"
#include "fuzz_util.h"
#include "config/run_config.h"
#include "server/api.h"

static mlsae_analyser *analyser(void)
{
    static mlsae_analyser *a;
    static int tried;
    if (tried) return a;
    tried = 1;
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    if (!cfg) abort();
    mlsae_run_config_defaults(cfg);
    snprintf(cfg->model_name, sizeof cfg->model_name, "%s/server/model", MLSAE_FUZZ_FIXTURES);
    snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s/text/tiny-tokenizer.json",
             MLSAE_FUZZ_FIXTURES);
    snprintf(cfg->device, sizeof cfg->device, "cpu");
    cfg->threads = 1;
    char sae[4096];
    snprintf(sae, sizeof sae, "%s/server/sae", MLSAE_FUZZ_FIXTURES);
    mlsae_analyser_options ao = {0};
    ao.checkpoint = sae;
    ao.cache_size = 2;
    json_t *params = json_pack("{s:s}", "model_name", "fuzz");
    mlsae_error err;
    if (mlsae_analyser_open(cfg, &ao, params, &a, &err)) {
        fprintf(stderr, "fuzz_server_request: %s\n", err.msg);
        abort();
    }
    json_decref(params);
    free(cfg);
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nm, np, nb;
    const uint8_t *m = fuzz_part(data, size, 0, &nm);
    const uint8_t *p = fuzz_part(data, size, 1, &np);
    const uint8_t *b = fuzz_part(data, size, 2, &nb);
    char method[16], path[1024];
    if (nm >= sizeof method || np >= sizeof path) return 0;
    memcpy(method, m, nm);
    method[nm] = '\0';
    memcpy(path, p, np);
    path[np] = '\0';
    char *body = malloc(nb + 1);
    if (!body) return 0;
    memcpy(body, b, nb);
    body[nb] = '\0';
    mlsae_reply rep;
    mlsae_api_handle(analyser(), method, path, body, nb, &rep);
    if (rep.status < 200 || rep.status > 599 || !rep.body) abort();
    if (rep.status >= 500) {
        fprintf(stderr, "fuzz_server_request: %s %s -> %d %.*s\n", method, path, rep.status,
                (int)(rep.len < 300 ? rep.len : 300), rep.body);
        abort();
    }
    mlsae_reply_free(&rep);
    free(body);
    return 0;
}
