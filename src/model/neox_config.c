/* config.json of a GPT-NeoX model (see neox_config.h). */
#include "config.h"
#include "model/neox_config.h"
#include "core/atomic_file.h"
#include "core/checked_size.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* HF GPTNeoXConfig's defaults (transformers' configuration_gpt_neox.py), for
 * every key a config.json may leave out. */
#define HF_VOCAB_SIZE 50432
#define HF_HIDDEN_SIZE 6144
#define HF_NUM_HIDDEN_LAYERS 44
#define HF_NUM_ATTENTION_HEADS 64
#define HF_INTERMEDIATE_SIZE 24576
#define HF_MAX_POSITION_EMBEDDINGS 2048
#define HF_LAYER_NORM_EPS 1e-5
#define HF_ROTARY_PCT 0.25
#define HF_ROTARY_EMB_BASE 10000.0
#define HF_BOS_TOKEN_ID 0
#define HF_EOS_TOKEN_ID 2

/* Integer field in 1..2^30, or dflt when absent. */
static int get_int(json_t *root, const char *origin, const char *key, int dflt, int *out,
                   mlsae_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v)) return mlsae_fail(err, "%s: field '%s' must be an integer", origin, key);
    json_int_t i = json_integer_value(v);
    if (i <= 0 || i > 1 << 30)
        return mlsae_fail(err, "%s: field '%s' = %lld is out of range", origin, key, (long long)i);
    *out = (int)i;
    return 0;
}

/* A number: rope_parameters.<nested> (or rope_scaling.<nested>) first, as
 * transformers takes it, then the first of `keys` present at the top level,
 * else dflt. null counts as absent only inside rope_parameters. */
static int get_number_alias(json_t *root, const char *origin, const char *const *keys,
                            const char *nested, double dflt, double *out, mlsae_error *err)
{
    const char *objs[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2; i++) {
        json_t *rp = json_object_get(root, objs[i]);
        json_t *v = rp && json_is_object(rp) ? json_object_get(rp, nested) : NULL;
        if (!v || json_is_null(v)) continue;
        if (!json_is_number(v))
            return mlsae_fail(err, "%s: field '%s.%s' must be a number", origin, objs[i], nested);
        *out = json_number_value(v);
        return 0;
    }
    for (const char *const *k = keys; *k; k++) {
        json_t *v = json_object_get(root, *k);
        if (!v) continue;
        if (!json_is_number(v)) return mlsae_fail(err, "%s: field '%s' must be a number", origin, *k);
        *out = json_number_value(v);
        return 0;
    }
    *out = dflt;
    return 0;
}

static int get_bool(json_t *root, const char *origin, const char *key, int required, int dflt,
                    int *out, mlsae_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (required) return mlsae_fail(err, "%s: field '%s' is missing", origin, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return mlsae_fail(err, "%s: field '%s' must be true or false", origin, key);
    *out = json_is_true(v);
    return 0;
}

/* Optional token id: integer, null (-1), or (eos) a list whose first entry
 * counts; dflt when absent. */
static int get_token_id(json_t *root, const char *origin, const char *key, int dflt, int *out,
                        mlsae_error *err)
{
    json_t *v = json_object_get(root, key);
    *out = -1;
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (json_is_null(v)) return 0;
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30)
        return mlsae_fail(err, "%s: field '%s' must be a non-negative integer or null", origin, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int check_supported(json_t *root, const char *origin, mlsae_error *err)
{
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !json_is_string(act))
        return mlsae_fail(err, "%s: field 'hidden_act' must be a string", origin);
    if (act && strcmp(json_string_value(act), "gelu") != 0)
        return mlsae_fail(err, "%s: field 'hidden_act' = '%s' is not supported (only exact 'gelu')",
                          origin, json_string_value(act));
    const char *rope_objs[] = {"rope_scaling", "rope_parameters"};
    for (int i = 0; i < 2; i++) {
        json_t *o = json_object_get(root, rope_objs[i]);
        if (!o || json_is_null(o)) continue;
        if (!json_is_object(o))
            return mlsae_fail(err, "%s: field '%s' must be an object or null", origin, rope_objs[i]);
        json_t *type = json_object_get(o, "rope_type");
        if (!type) type = json_object_get(o, "type");
        if (type && (!json_is_string(type) || strcmp(json_string_value(type), "default") != 0))
            return mlsae_fail(err, "%s: field '%s.rope_type' is not supported (only 'default')",
                              origin, rope_objs[i]);
    }
    return 0;
}

int mlsae_neox_config_pythia(mlsae_neox_config *c, int d_model, int n_layers, int n_heads,
                             int d_ff, int vocab_size, mlsae_error *err)
{
    memset(c, 0, sizeof *c);
    c->vocab_size = vocab_size;
    c->hidden_size = d_model;
    c->n_heads = n_heads;
    c->n_layers = n_layers;
    c->intermediate_size = d_ff;
    c->max_positions = 2048;
    c->rotary_pct = 0.25;
    c->rotary_base = 10000;
    c->layer_norm_eps = 1e-5;
    c->use_parallel_residual = 1;
    c->attention_bias = 1;
    c->bos_token_id = 0;
    c->eos_token_id = 0;
    c->pad_token_id = -1;
    return mlsae_neox_config_validate(c, "model size", err);
}

int mlsae_neox_config_validate(mlsae_neox_config *c, const char *origin, mlsae_error *err)
{
    if (c->hidden_size % c->n_heads)
        return mlsae_fail(err, "%s: field 'hidden_size' (%d) is not a multiple of "
                          "'num_attention_heads' (%d)", origin, c->hidden_size, c->n_heads);
    if (!(c->rotary_pct >= 0 && c->rotary_pct <= 1))
        return mlsae_fail(err, "%s: field 'rotary_pct' = %g must be in [0, 1]", origin, c->rotary_pct);
    if (!(c->rotary_base > 0) || !isfinite(c->rotary_base))
        return mlsae_fail(err, "%s: field 'rotary_emb_base' = %g must be positive", origin,
                          c->rotary_base);
    if (!(c->layer_norm_eps > 0) || !isfinite(c->layer_norm_eps))
        return mlsae_fail(err, "%s: field 'layer_norm_eps' = %g must be positive", origin,
                          c->layer_norm_eps);
    c->head_dim = c->hidden_size / c->n_heads;
    c->rot_dims = (int)(c->head_dim * c->rotary_pct);
    if (c->rot_dims % 2)
        return mlsae_fail(err, "%s: field 'rotary_pct' gives an odd number of rotary dims (%d)",
                          origin, c->rot_dims);
    if ((long long)c->vocab_size * c->hidden_size > (1LL << 40))
        return mlsae_fail(err, "%s: vocab_size x hidden_size is implausibly large", origin);
    /* The parameter count, as the loader sums it: every product checked, and
     * the total kept under 2^40 floats so that byte offsets fit with room. */
    int64_t d = c->hidden_size, per_layer = 0, total = 0, t;
    int ok = !mlsae_mul_nonneg_i64(4 * d, d, &per_layer) && /* qkv 3d x d, dense d x d */
             !mlsae_mul_nonneg_i64(2 * d, c->intermediate_size, &t) &&
             !__builtin_add_overflow(per_layer, t + 10 * d, &per_layer) &&
             !mlsae_mul_nonneg_i64(per_layer, c->n_layers, &total) &&
             !__builtin_add_overflow(total, 2 * (int64_t)c->vocab_size * d + 2 * d, &total) &&
             total <= ((int64_t)1 << 40);
    if (!ok)
        return mlsae_fail(err, "%s: fields 'hidden_size' %d, 'intermediate_size' %d, "
                          "'num_hidden_layers' %d and 'vocab_size' %d give an implausibly large "
                          "model (over 2^40 parameters)", origin, c->hidden_size,
                          c->intermediate_size, c->n_layers, c->vocab_size);
    return 0;
}

int mlsae_neox_config_parse(const char *text, const char *origin, mlsae_neox_config *cfg,
                            mlsae_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        return mlsae_fail(err, "%s: not valid JSON (line %d: %s)", origin, jerr.line, jerr.text);
    mlsae_neox_config c;
    memset(&c, 0, sizeof c);
    static const char *const pct_keys[] = {"rotary_pct", "partial_rotary_factor", NULL};
    static const char *const base_keys[] = {"rotary_emb_base", "rope_theta", NULL};
    int rc = -1;
    if (!json_is_object(root)) {
        mlsae_fail(err, "%s: not a JSON object", origin);
        goto done;
    }
    /* transformers picks the architecture by model_type: another one's
     * config.json is refused, not read as GPT-NeoX with defaults filled in */
    json_t *type = json_object_get(root, "model_type");
    if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "gpt_neox"))) {
        if (json_is_string(type))
            mlsae_fail(err, "%s: field 'model_type' = '%.100s' is not supported (only 'gpt_neox': "
                       "GPT-NeoX / Pythia)", origin, json_string_value(type));
        else
            mlsae_fail(err, "%s: field 'model_type' must be a string", origin);
        goto done;
    }
    if (get_int(root, origin, "hidden_size", HF_HIDDEN_SIZE, &c.hidden_size, err) ||
        get_int(root, origin, "num_attention_heads", HF_NUM_ATTENTION_HEADS, &c.n_heads, err) ||
        get_int(root, origin, "num_hidden_layers", HF_NUM_HIDDEN_LAYERS, &c.n_layers, err) ||
        get_int(root, origin, "intermediate_size", HF_INTERMEDIATE_SIZE, &c.intermediate_size,
                err) ||
        get_int(root, origin, "vocab_size", HF_VOCAB_SIZE, &c.vocab_size, err) ||
        get_int(root, origin, "max_position_embeddings", HF_MAX_POSITION_EMBEDDINGS,
                &c.max_positions, err) ||
        get_number_alias(root, origin, pct_keys, "partial_rotary_factor", HF_ROTARY_PCT,
                         &c.rotary_pct, err) ||
        get_number_alias(root, origin, base_keys, "rope_theta", HF_ROTARY_EMB_BASE,
                         &c.rotary_base, err))
        goto done;
    json_t *eps = json_object_get(root, "layer_norm_eps");
    c.layer_norm_eps = HF_LAYER_NORM_EPS;
    if (eps && !json_is_number(eps)) {
        mlsae_fail(err, "%s: field 'layer_norm_eps' must be a number", origin);
        goto done;
    }
    if (eps) c.layer_norm_eps = json_number_value(eps);
    if (get_bool(root, origin, "use_parallel_residual", 0, 1, &c.use_parallel_residual, err) ||
        get_bool(root, origin, "attention_bias", 0, 1, &c.attention_bias, err) ||
        get_bool(root, origin, "tie_word_embeddings", 0, 0, &c.tie_word_embeddings, err) ||
        get_token_id(root, origin, "bos_token_id", HF_BOS_TOKEN_ID, &c.bos_token_id, err) ||
        get_token_id(root, origin, "eos_token_id", HF_EOS_TOKEN_ID, &c.eos_token_id, err) ||
        get_token_id(root, origin, "pad_token_id", -1, &c.pad_token_id, err) ||
        check_supported(root, origin, err) || mlsae_neox_config_validate(&c, origin, err))
        goto done;
    *cfg = c;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int mlsae_neox_config_load(const char *path, mlsae_neox_config *cfg, mlsae_error *err)
{
    char buf[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(buf, sizeof buf, "%s/config.json", path);
        path = buf;
    }
    char *text = NULL;
    size_t n = 0;
    if (mlsae_read_file(path, &text, &n, err)) return -1;
    int rc = 0;
    if (strlen(text) != n) rc = mlsae_fail(err, "%s: not valid JSON (NUL byte)", path);
    else rc = mlsae_neox_config_parse(text, path, cfg, err);
    free(text);
    return rc;
}

static json_t *token_or_null(int id) { return id >= 0 ? json_integer(id) : json_null(); }

int mlsae_neox_config_write(const char *path, const mlsae_neox_config *c, mlsae_error *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", "GPTNeoXForCausalLM"));
    json_object_set_new(o, "model_type", json_string("gpt_neox"));
    json_object_set_new(o, "hidden_act", json_string("gelu"));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_positions));
    json_object_set_new(o, "rotary_pct", json_real(c->rotary_pct));
    json_object_set_new(o, "rotary_emb_base", json_integer((json_int_t)c->rotary_base));
    if ((double)(json_int_t)c->rotary_base != c->rotary_base)
        json_object_set_new(o, "rotary_emb_base", json_real(c->rotary_base));
    json_object_set_new(o, "layer_norm_eps", json_real(c->layer_norm_eps));
    json_object_set_new(o, "use_parallel_residual", json_boolean(c->use_parallel_residual));
    json_object_set_new(o, "attention_bias", json_boolean(c->attention_bias));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "initializer_range", json_real(0.02));
    json_object_set_new(o, "attention_dropout", json_real(0.0));
    json_object_set_new(o, "hidden_dropout", json_real(0.0));
    json_object_set_new(o, "use_cache", json_true());
    json_object_set_new(o, "bos_token_id", token_or_null(c->bos_token_id));
    json_object_set_new(o, "eos_token_id", token_or_null(c->eos_token_id));
    if (c->pad_token_id >= 0) json_object_set_new(o, "pad_token_id", json_integer(c->pad_token_id));
    json_object_set_new(o, "torch_dtype", json_string("float32"));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!text) return mlsae_fail(err, "%s: cannot serialise the configuration", path);
    size_t n = strlen(text);
    char *full = malloc(n + 2);
    int rc;
    if (!full) {
        rc = mlsae_fail(err, "out of memory");
    } else {
        memcpy(full, text, n);
        full[n] = '\n';
        rc = mlsae_write_file_atomic(path, full, n + 1, err);
    }
    free(full);
    free(text);
    return rc;
}
