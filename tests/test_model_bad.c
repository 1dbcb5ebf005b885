/* Bad model inputs (SPEC §11) for config.json and the weights, the random
 * model writer, and the HF hub cache lookup. Every error must be one line
 * naming the file and the field or tensor. */
#include "config.h"
#include "testutil.h"
#include "core/atomic_file.h"
#include "hub/hub.h"
#include "model/neox.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static mlsae_backend *be;

static const char *good_config =
    "{\"hidden_size\": 16, \"num_attention_heads\": 2, \"num_hidden_layers\": 2,"
    " \"intermediate_size\": 24, \"vocab_size\": 40, \"max_position_embeddings\": 32,"
    " \"rotary_pct\": 0.5, \"rotary_emb_base\": 10000, \"layer_norm_eps\": 1e-5,"
    " \"use_parallel_residual\": true, \"hidden_act\": \"gelu\", \"eos_token_id\": 0}";

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, 4096, "%s/%s", dir, name);
    return b;
}

static void expect_config_error(const char *text, const char *needle, const char *label)
{
    mlsae_neox_config c;
    mlsae_error err = {{0}};
    int rc = mlsae_neox_config_parse(text, "m/config.json", &c, &err);
    CHECKF(rc == -1, "%s: accepted", label);
    CHECKF(strstr(err.msg, "config.json") && strstr(err.msg, needle), "%s: message '%s' lacks '%s'",
           label, err.msg, needle);
    CHECKF(!strchr(err.msg, '\n'), "%s: message is not one line", label);
    printf("  %s -> %s\n", label, err.msg);
}

/* good_config with `key` removed or its value replaced. */
static char *edit_config(const char *key, const char *new_value)
{
    static char out[4096];
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(good_config, pat);
    const char *end = at + strlen(pat);
    while (*end && *end != ',' && *end != '}') end++;
    if (new_value) {
        snprintf(out, sizeof out, "%.*s%s%s%s", (int)(at - good_config), good_config, pat,
                 new_value, end);
    } else {
        if (*end == ',') end++;
        snprintf(out, sizeof out, "%.*s%s", (int)(at - good_config), good_config, end);
    }
    return out;
}

static void test_config(void)
{
    mlsae_neox_config c;
    mlsae_error err = {{0}};
    CHECK(mlsae_neox_config_parse(good_config, "config.json", &c, &err) == 0);
    CHECK(c.head_dim == 8 && c.rot_dims == 4 && c.eos_token_id == 0 && c.pad_token_id == -1);
    /* a missing key takes HF GPTNeoXConfig's default */
    const char *keys[] = {"max_position_embeddings", "rotary_pct", "rotary_emb_base",
                          "layer_norm_eps", "use_parallel_residual",
                          "hidden_act"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        int rc = mlsae_neox_config_parse(edit_config(keys[i], NULL), "config.json", &c, &err);
        CHECKF(rc == 0, "without %s: %s", keys[i], err.msg);
    }
    expect_config_error(edit_config("hidden_size", "\"16\""), "hidden_size", "string hidden_size");
    expect_config_error(edit_config("hidden_size", "16.5"), "hidden_size", "real hidden_size");
    expect_config_error(edit_config("num_hidden_layers", "-2"), "num_hidden_layers", "negative layers");
    expect_config_error(edit_config("rotary_pct", "\"a\""), "rotary_pct", "string rotary_pct");
    expect_config_error(edit_config("rotary_pct", "null"), "rotary_pct", "null rotary_pct");
    expect_config_error(edit_config("use_parallel_residual", "1"), "use_parallel_residual",
                        "integer bool");
    expect_config_error(edit_config("layer_norm_eps", "null"), "layer_norm_eps", "null eps");
    expect_config_error(edit_config("num_attention_heads", "3"), "num_attention_heads",
                        "heads do not divide");
    expect_config_error(edit_config("hidden_act", "\"relu\""), "hidden_act", "relu");
    /* model_type: absent or gpt_neox; another architecture's config is refused */
    char typed[4096];
    snprintf(typed, sizeof typed, "{\"model_type\": \"gpt_neox\", %s", good_config + 1);
    CHECKF(mlsae_neox_config_parse(typed, "config.json", &c, &err) == 0, "%s", err.msg);
    snprintf(typed, sizeof typed, "{\"model_type\": \"llama\", %s", good_config + 1);
    expect_config_error(typed, "'model_type' = 'llama' is not supported", "llama model_type");
    snprintf(typed, sizeof typed, "{\"model_type\": 7, %s", good_config + 1);
    expect_config_error(typed, "model_type", "integer model_type");
    /* products of the sizes: each field in range, the model not */
    expect_config_error("{\"hidden_size\": 1024, \"num_attention_heads\": 8, \"vocab_size\": 16,"
                        " \"intermediate_size\": 1073741824, \"num_hidden_layers\": 1073741824}",
                        "implausibly large", "parameter count overflows");
    expect_config_error("{\"hidden_size\": 1073741824, \"num_attention_heads\": 1,"
                        " \"vocab_size\": 16, \"num_hidden_layers\": 1}",
                        "implausibly large", "hidden_size^2 too large");
    expect_config_error("{\"hidden_size\": 16,", "JSON", "truncated JSON");
    expect_config_error("[1, 2]", "object", "not an object");
    expect_config_error("", "JSON", "empty file");

    /* aliases newer transformers write */
    char alias[4096];
    snprintf(alias, sizeof alias, "%s", edit_config("rotary_pct", NULL));
    char *p = strstr(alias, "\"rotary_emb_base\"");
    memcpy(p, "\"rope_theta\"     ", 17);
    char *close = strrchr(alias, '}');
    snprintf(close, 200, ", \"partial_rotary_factor\": 0.25}");
    CHECKF(mlsae_neox_config_parse(alias, "config.json", &c, &err) == 0, "%s", err.msg);
    CHECK(c.rot_dims == 2 && c.rotary_base == 10000);
    snprintf(alias, sizeof alias, "%s", edit_config("rotary_pct", NULL));
    p = strstr(alias, "\"rotary_emb_base\": 10000,");
    memset(p, ' ', strlen("\"rotary_emb_base\": 10000,"));
    close = strrchr(alias, '}');
    snprintf(close, 200, ", \"rope_parameters\": {\"rope_theta\": 500.0, "
             "\"partial_rotary_factor\": 1.0, \"rope_type\": \"default\"}}");
    CHECKF(mlsae_neox_config_parse(alias, "config.json", &c, &err) == 0, "%s", err.msg);
    CHECK(c.rot_dims == 8 && c.rotary_base == 500);
    close = strstr(alias, "\"default\"");
    memcpy(close, "\"linear\" ", 9);
    expect_config_error(alias, "rope_type", "scaled rope");
}

/* HF GPTNeoXConfig's defaults and refusals (tests/gen/gen_neox_defaults.py,
 * from transformers' configuration_gpt_neox.py): "{}" gives every default,
 * and each recorded case is accepted or refused as transformers does, with
 * the same resolved values. */
static void test_hf_defaults(void)
{
    json_error_t je;
    json_t *fx = json_load_file(tu_fixture("model/neox_hf_defaults.json"), 0, &je);
    CHECKF(fx != NULL, "neox_hf_defaults.json: %s", je.text);
    if (!fx) return;
    json_t *d = json_object_get(fx, "defaults");
    mlsae_neox_config c;
    mlsae_error err = {{0}};
    /* {} alone: 64 heads divide 6144 */
    CHECKF(mlsae_neox_config_parse("{}", "config.json", &c, &err) == 0, "%s", err.msg);
#define DI(key) ((int)json_integer_value(json_object_get(d, key)))
#define DR(key) json_number_value(json_object_get(d, key))
    CHECK(c.vocab_size == DI("vocab_size") && c.hidden_size == DI("hidden_size"));
    CHECK(c.n_layers == DI("num_hidden_layers") && c.n_heads == DI("num_attention_heads"));
    CHECK(c.intermediate_size == DI("intermediate_size"));
    CHECK(c.max_positions == DI("max_position_embeddings"));
    CHECK(c.layer_norm_eps == DR("layer_norm_eps") && c.rotary_pct == DR("rotary_pct"));
    CHECK(c.rotary_base == DR("rotary_emb_base"));
    CHECK(c.use_parallel_residual == json_is_true(json_object_get(d, "use_parallel_residual")));
    CHECK(c.attention_bias == json_is_true(json_object_get(d, "attention_bias")));
    CHECK(c.tie_word_embeddings == json_is_true(json_object_get(d, "tie_word_embeddings")));
    CHECK(c.bos_token_id == DI("bos_token_id") && c.eos_token_id == DI("eos_token_id"));
    CHECK(json_is_null(json_object_get(d, "pad_token_id")) && c.pad_token_id == -1);
#undef DI
#undef DR
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(fx, "cases"), i, cs) {
        const char *text = json_string_value(json_array_get(cs, 0));
        int want = json_is_true(json_array_get(cs, 1));
        int rc = mlsae_neox_config_parse(text, "config.json", &c, &err);
        CHECKF((rc == 0) == want, "case %zu: HF %s, we %s (%s)", i, want ? "accepts" : "refuses",
               rc == 0 ? "accept" : "refuse", rc ? err.msg : "");
        json_t *v = json_array_get(cs, 2);
        if (rc == 0 && want) {
            CHECKF(c.rotary_pct == json_number_value(json_object_get(v, "rotary_pct")) &&
                   c.rotary_base == json_number_value(json_object_get(v, "rotary_emb_base")) &&
                   c.layer_norm_eps == json_number_value(json_object_get(v, "layer_norm_eps")) &&
                   c.use_parallel_residual ==
                       json_is_true(json_object_get(v, "use_parallel_residual")) &&
                   c.max_positions ==
                       json_integer_value(json_object_get(v, "max_position_embeddings")) &&
                   c.eos_token_id == json_integer_value(json_object_get(v, "eos_token_id")),
                   "case %zu: values differ from transformers'", i);
        }
        if (rc) printf("  HF case %zu -> %s\n", i, err.msg);
    }
    json_decref(fx);
}

/* Copy the tensors of src/model.safetensors to dst, dropping `drop`, giving
 * `reshape` a wrong shape, or `retype` an integer dtype. */
static void rewrite_weights(const char *src, const char *dst, const char *drop,
                            const char *reshape, const char *retype)
{
    mlsae_safetensors *st;
    mlsae_error err = {{0}};
    CHECK(mlsae_st_open(src, &st, &err) == 0);
    mlsae_st_writer *w = mlsae_st_writer_new();
    void **keep = calloc(mlsae_st_count(st), sizeof *keep);
    for (size_t i = 0; i < mlsae_st_count(st); i++) {
        const mlsae_st_tensor *t = mlsae_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        int64_t shape[MLSAE_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        mlsae_dtype dt = t->dtype;
        int ndim = t->ndim;
        if (reshape && !strcmp(t->name, reshape)) { /* same bytes, transposed-looking shape */
            if (ndim == 2) {
                int64_t tmp = shape[0];
                shape[0] = shape[1];
                shape[1] = tmp;
            } else {
                shape[1] = 1, ndim = 2;
            }
        }
        if (retype && !strcmp(t->name, retype)) dt = MLSAE_DT_I32;
        keep[i] = malloc(t->nbytes);
        memcpy(keep[i], t->data, t->nbytes);
        CHECK(mlsae_st_writer_add(w, t->name, dt, ndim, shape, keep[i], &err) == 0);
    }
    CHECK(mlsae_st_writer_save(w, path_in(dst, "model.safetensors"), &err) == 0);
    mlsae_st_writer_free(w);
    for (size_t i = 0; i < mlsae_st_count(st); i++) free(keep[i]);
    free(keep);
    mlsae_st_close(st);
}

/* Copy the tensors of src/model.safetensors to dst with element `at` of the
 * F32 tensor `name` set to `value`. */
static void poison_weights(const char *src, const char *dst, const char *name, size_t at,
                           float value)
{
    mlsae_safetensors *st;
    mlsae_error err = {{0}};
    CHECK(mlsae_st_open(src, &st, &err) == 0);
    mlsae_st_writer *w = mlsae_st_writer_new();
    void **keep = calloc(mlsae_st_count(st), sizeof *keep);
    int found = 0;
    for (size_t i = 0; i < mlsae_st_count(st); i++) {
        const mlsae_st_tensor *t = mlsae_st_at(st, i);
        keep[i] = malloc(t->nbytes);
        memcpy(keep[i], t->data, t->nbytes);
        if (!strcmp(t->name, name)) {
            CHECK(t->dtype == MLSAE_DT_F32 && (at + 1) * sizeof(float) <= t->nbytes);
            memcpy((char *)keep[i] + at * sizeof(float), &value, sizeof value);
            found = 1;
        }
        CHECK(mlsae_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, keep[i], &err) == 0);
    }
    CHECKF(found, "no tensor %s", name);
    CHECK(mlsae_st_writer_save(w, path_in(dst, "model.safetensors"), &err) == 0);
    mlsae_st_writer_free(w);
    for (size_t i = 0; i < mlsae_st_count(st); i++) free(keep[i]);
    free(keep);
    mlsae_st_close(st);
}

static void expect_load_error(const char *dir, const char *needle, const char *label)
{
    mlsae_neox *m = NULL;
    mlsae_error err = {{0}};
    int rc = mlsae_neox_load(dir, be, 0, &m, &err);
    CHECKF(rc == -1 && m == NULL, "%s: loaded", label);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", label, err.msg, needle);
    CHECKF(!strchr(err.msg, '\n'), "%s: not one line", label);
    printf("  %s -> %s\n", label, err.msg);
}

static void test_weights(void)
{
    mlsae_neox_config c;
    mlsae_error err = {{0}};
    CHECK(mlsae_neox_config_parse(good_config, "config.json", &c, &err) == 0);
    char *good = strdup(path_in(tu_tmpdir(), "good"));
    CHECK(mlsae_neox_write_random(good, &c, 7, MLSAE_DT_F32, &err) == 0);
    char *bad = strdup(path_in(tu_tmpdir(), "bad"));
    CHECK(mlsae_mkdir_p(bad, &err) == 0);
    char *text;
    size_t n;
    CHECK(mlsae_read_file(path_in(good, "config.json"), &text, &n, &err) == 0);
    CHECK(mlsae_write_file_atomic(path_in(bad, "config.json"), text, n, &err) == 0);
    free(text);
    const char *qkv = "gpt_neox.layers.1.attention.query_key_value.weight";
    rewrite_weights(good, bad, qkv, NULL, NULL);
    expect_load_error(bad, qkv, "missing tensor");
    rewrite_weights(good, bad, NULL, "gpt_neox.layers.0.mlp.dense_h_to_4h.weight", NULL);
    expect_load_error(bad, "dense_h_to_4h.weight' has shape", "wrong shape");
    rewrite_weights(good, bad, NULL, "gpt_neox.final_layer_norm.bias", NULL);
    expect_load_error(bad, "final_layer_norm.bias' has shape", "wrong rank");
    rewrite_weights(good, bad, NULL, NULL, "embed_out.weight");
    expect_load_error(bad, "embed_out.weight' has dtype", "wrong dtype");
    rewrite_weights(good, bad, "embed_out.weight", NULL, NULL);
    expect_load_error(bad, "embed_out.weight", "missing embed_out");
    /* NaN or Inf in a weight: refused, naming the tensor and the element,
     * rather than every hidden state and logit computed as NaN */
    const char *h4h = "gpt_neox.layers.1.mlp.dense_h_to_4h.weight";
    poison_weights(good, bad, h4h, 5, NAN);
    expect_load_error(bad, "dense_h_to_4h.weight' has a non-finite value (nan) at element 5",
                      "NaN weight");
    poison_weights(good, bad, "gpt_neox.final_layer_norm.bias", 0, -INFINITY);
    expect_load_error(bad, "final_layer_norm.bias' has a non-finite value (-inf) at element 0",
                      "-Inf weight");
    poison_weights(good, bad, "embed_out.weight", 39, INFINITY);
    expect_load_error(bad, "embed_out.weight' has a non-finite value (inf)", "Inf in embed_out");
    /* no weights file at all, no config at all */
    remove(path_in(bad, "model.safetensors"));
    expect_load_error(bad, "model.safetensors", "no weights");
    remove(path_in(bad, "config.json"));
    expect_load_error(bad, "config.json", "no config");
    /* a truncated weights file */
    CHECK(mlsae_read_file(path_in(good, "config.json"), &text, &n, &err) == 0);
    CHECK(mlsae_write_file_atomic(path_in(bad, "config.json"), text, n, &err) == 0);
    free(text);
    CHECK(mlsae_read_file(path_in(good, "model.safetensors"), &text, &n, &err) == 0);
    CHECK(mlsae_write_file_atomic(path_in(bad, "model.safetensors"), text, n / 2, &err) == 0);
    free(text);
    expect_load_error(bad, "model.safetensors", "truncated weights");
    free(good);
    free(bad);
}

/* The writer's models load, run, are deterministic in the seed, and their
 * F16 / BF16 variants are the F32 weights rounded. */
static void test_random_model(void)
{
    mlsae_neox_config c;
    mlsae_error err = {{0}};
    CHECK(mlsae_neox_config_parse(good_config, "config.json", &c, &err) == 0);
    const mlsae_dtype dts[3] = {MLSAE_DT_F32, MLSAE_DT_F16, MLSAE_DT_BF16};
    int32_t tokens[2 * 5] = {1, 5, 39, 0, 7, 2, 2, 9, 30, 11};
    size_t per = 2 * 5 * 16;
    float *out[3];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "rand%d", i);
        const char *dir = path_in(tu_tmpdir(), name);
        CHECKF(mlsae_neox_write_random(dir, &c, 42, dts[i], &err) == 0, "%s", err.msg);
        mlsae_neox *m = NULL;
        CHECKF(mlsae_neox_load(dir, be, 0, &m, &err) == 0, "%s", err.msg);
        out[i] = calloc(2 * per, sizeof(float));
        if (!m) continue;
        const mlsae_neox_config *lc = mlsae_neox_get_config(m);
        CHECK(lc->n_layers == 2 && lc->hidden_size == 16 && lc->rot_dims == 4 &&
              lc->use_parallel_residual && lc->eos_token_id == 0);
        double ce = 0;
        mlsae_neox_run r = {.tokens = tokens, .batch = 2, .seq = 5, .start_layer = -1,
                            .layers = (int[]){0, 1}, .n_layers = 2, .hidden_host = out[i],
                            .mean_ce = &ce};
        CHECK(mlsae_neox_forward(m, &r, &err) == 0);
        /* HF init: near-uniform predictions over 40 tokens */
        CHECKF(fabs(ce - log(40.0)) < 0.1, "random model CE %.4f vs log(40) %.4f", ce, log(40.0));
        mlsae_neox_free(m);
    }
    /* rounding the weights moves the outputs a little, not a lot */
    double e16 = tu_max_rel_err(out[1], out[0], 2 * per, 1e-30);
    double ebf = tu_max_rel_err(out[2], out[0], 2 * per, 1e-30);
    CHECKF(e16 > 0 && e16 < 2e-3, "F16 model differs from F32 by %.3g", e16);
    CHECKF(ebf > 0 && ebf < 2e-2, "BF16 model differs from F32 by %.3g", ebf);
    /* same seed, same model */
    char again[4096];
    snprintf(again, sizeof again, "%s/again", tu_tmpdir());
    CHECK(mlsae_neox_write_random(again, &c, 42, MLSAE_DT_F32, &err) == 0);
    char *a, *b;
    size_t na, nb;
    CHECK(mlsae_read_file(path_in(again, "model.safetensors"), &a, &na, &err) == 0);
    CHECK(mlsae_read_file(path_in(path_in(tu_tmpdir(), "rand0"), "model.safetensors"), &b, &nb,
                          &err) == 0);
    CHECK(na == nb && memcmp(a, b, na) == 0);
    free(a), free(b);
    for (int i = 0; i < 3; i++) free(out[i]);
}

static void touch(const char *path, const char *text)
{
    mlsae_error err = {{0}};
    CHECK(mlsae_write_file_atomic(path, text, strlen(text), &err) == 0);
}

static void test_hub(void)
{
    mlsae_error err = {{0}};
    char *dir = NULL;
    const char *cache = path_in(tu_tmpdir(), "hub");
    setenv("HF_HUB_CACHE", cache, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    char snap[8192], repo[4096];
    snprintf(repo, sizeof repo, "%s/models--EleutherAI--pythia-70m-deduped", cache);
    /* nothing cached: the message names the directory to fill and the offline mode */
    CHECK(mlsae_model_resolve("EleutherAI/pythia-70m-deduped", &dir, &err) == -1);
    CHECKF(strstr(err.msg, repo) && strstr(err.msg, "HF_HUB_OFFLINE"), "%s", err.msg);
    printf("  not cached -> %s\n", err.msg);
    /* one snapshot, no refs/main */
    snprintf(snap, sizeof snap, "%s/snapshots/abc123", repo);
    CHECK(mlsae_mkdir_p(snap, &err) == 0);
    touch(path_in(snap, "config.json"), "{}");
    CHECKF(mlsae_model_resolve("EleutherAI/pythia-70m-deduped", &dir, &err) == 0, "%s", err.msg);
    CHECK(dir && strcmp(dir, snap) == 0);
    free(dir);
    /* refs/main picks among several */
    snprintf(snap, sizeof snap, "%s/snapshots/def456", repo);
    CHECK(mlsae_mkdir_p(snap, &err) == 0);
    touch(path_in(snap, "config.json"), "{}");
    CHECK(mlsae_model_resolve("EleutherAI/pythia-70m-deduped", &dir, &err) == -1);
    CHECK(mlsae_mkdir_p(path_in(repo, "refs"), &err) == 0);
    touch(path_in(repo, "refs/main"), "def456\n");
    CHECKF(mlsae_model_resolve("EleutherAI/pythia-70m-deduped", &dir, &err) == 0, "%s", err.msg);
    CHECK(dir && strcmp(dir, snap) == 0);
    free(dir);
    /* HF_HOME/hub when HF_HUB_CACHE is unset */
    unsetenv("HF_HUB_CACHE");
    setenv("HF_HOME", tu_tmpdir(), 1);
    CHECKF(mlsae_model_resolve("EleutherAI/pythia-70m-deduped", &dir, &err) == 0, "%s", err.msg);
    free(dir);
    /* a local directory is itself; a missing path is an error */
    CHECK(mlsae_model_resolve(tu_tmpdir(), &dir, &err) == 0 && strcmp(dir, tu_tmpdir()) == 0);
    free(dir);
    CHECK(mlsae_model_resolve("/nonexistent/model/dir", &dir, &err) == -1);
    CHECKF(strstr(err.msg, "/nonexistent/model/dir") != NULL, "%s", err.msg);
}

int main(void)
{
    mlsae_error err = {{0}};
    mlsae_backend_params params = {.n_threads = 2};
    if (mlsae_backend_cpu_new(&params, &be, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_config();
    test_hf_defaults();
    test_weights();
    test_random_model();
    test_hub();
    mlsae_backend_close(be);
    return tu_finish("test_model_bad");
}
