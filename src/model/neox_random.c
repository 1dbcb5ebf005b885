/* A random-weight GPT-NeoX model in HF format, initialised as HF does
 * (GPTNeoXPreTrainedModel._init_weights): Linear and Embedding weights
 * ~ N(0, 0.02), Linear biases 0, LayerNorm weight 1 and bias 0. */
#include "config.h"
#include "model/neox.h"
#include "core/atomic_file.h"
#include "core/fp16.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rng { uint64_t s; } rng;

static uint64_t splitmix(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double normal(rng *r)
{
    double u1 = ((splitmix(r) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double u2 = (splitmix(r) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

enum fill_kind { FILL_NORMAL, FILL_ONE, FILL_ZERO };

typedef struct tensor_list {
    void **data;
    size_t n, cap;
} tensor_list;

static int add_tensor(mlsae_st_writer *w, tensor_list *tl, rng *r, const char *name, int ndim,
                      int64_t d0, int64_t d1, enum fill_kind kind, mlsae_dtype dt,
                      mlsae_error *err)
{
    int64_t shape[2] = {d0, d1};
    size_t n = (size_t)(ndim == 1 ? d0 : d0 * d1), es = mlsae_dtype_size(dt);
    if (tl->n == tl->cap) {
        size_t nc = tl->cap ? tl->cap * 2 : 64;
        void **nd = realloc(tl->data, nc * sizeof *nd);
        if (!nd) return mlsae_fail(err, "out of memory");
        tl->data = nd;
        tl->cap = nc;
    }
    void *buf = malloc(n > 0 ? n * es : 1);
    if (!buf) return mlsae_fail(err, "out of memory for tensor '%s'", name);
    tl->data[tl->n++] = buf;
    for (size_t i = 0; i < n; i++) {
        float v = kind == FILL_ONE ? 1.0f : kind == FILL_ZERO ? 0.0f : (float)(0.02 * normal(r));
        if (dt == MLSAE_DT_F32) ((float *)buf)[i] = v;
        else if (dt == MLSAE_DT_F16) ((uint16_t *)buf)[i] = mlsae_f32_to_f16(v);
        else ((uint16_t *)buf)[i] = mlsae_f32_to_bf16(v);
    }
    return mlsae_st_writer_add(w, name, dt, ndim, shape, buf, err);
}

int mlsae_neox_write_random(const char *dir, const mlsae_neox_config *cfg_in, uint64_t seed,
                            mlsae_dtype dtype, mlsae_error *err)
{
    if (dtype != MLSAE_DT_F32 && dtype != MLSAE_DT_F16 && dtype != MLSAE_DT_BF16)
        return mlsae_fail(err, "random model: dtype %s is not F32, F16 or BF16",
                          mlsae_dtype_name(dtype));
    mlsae_neox_config cfg = *cfg_in;
    if (mlsae_neox_config_validate(&cfg, "random model config", err)) return -1;
    if (mlsae_mkdir_p(dir, err)) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (mlsae_neox_config_write(path, &cfg, err)) return -1;

    mlsae_st_writer *w = mlsae_st_writer_new();
    if (!w) return mlsae_fail(err, "out of memory");
    tensor_list tl = {0};
    rng r = {seed};
    int64_t d = cfg.hidden_size, ff = cfg.intermediate_size, v = cfg.vocab_size;
    char name[256];
    int rc = add_tensor(w, &tl, &r, "gpt_neox.embed_in.weight", 2, v, d, FILL_NORMAL, dtype, err);
    for (int l = 0; l < cfg.n_layers && !rc; l++) {
        struct { const char *suffix; int ndim; int64_t a, b; enum fill_kind k; } t[] = {
            {"input_layernorm.weight", 1, d, 0, FILL_ONE},
            {"input_layernorm.bias", 1, d, 0, FILL_ZERO},
            {"post_attention_layernorm.weight", 1, d, 0, FILL_ONE},
            {"post_attention_layernorm.bias", 1, d, 0, FILL_ZERO},
            {"attention.query_key_value.weight", 2, 3 * d, d, FILL_NORMAL},
            {"attention.query_key_value.bias", 1, 3 * d, 0, FILL_ZERO},
            {"attention.dense.weight", 2, d, d, FILL_NORMAL},
            {"attention.dense.bias", 1, d, 0, FILL_ZERO},
            {"mlp.dense_h_to_4h.weight", 2, ff, d, FILL_NORMAL},
            {"mlp.dense_h_to_4h.bias", 1, ff, 0, FILL_ZERO},
            {"mlp.dense_4h_to_h.weight", 2, d, ff, FILL_NORMAL},
            {"mlp.dense_4h_to_h.bias", 1, d, 0, FILL_ZERO},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0] && !rc; i++) {
            if (!cfg.attention_bias && strstr(t[i].suffix, "attention.") && strstr(t[i].suffix, ".bias"))
                continue;
            snprintf(name, sizeof name, "gpt_neox.layers.%d.%s", l, t[i].suffix);
            rc = add_tensor(w, &tl, &r, name, t[i].ndim, t[i].a, t[i].b, t[i].k, dtype, err);
        }
    }
    if (!rc) rc = add_tensor(w, &tl, &r, "gpt_neox.final_layer_norm.weight", 1, d, 0, FILL_ONE, dtype, err);
    if (!rc) rc = add_tensor(w, &tl, &r, "gpt_neox.final_layer_norm.bias", 1, d, 0, FILL_ZERO, dtype, err);
    if (!rc && !cfg.tie_word_embeddings)
        rc = add_tensor(w, &tl, &r, "embed_out.weight", 2, v, d, FILL_NORMAL, dtype, err);
    if (!rc) rc = mlsae_st_writer_metadata(w, "format", "pt", err);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = mlsae_st_writer_save(w, path, err);
    mlsae_st_writer_free(w);
    for (size_t i = 0; i < tl.n; i++) free(tl.data[i]);
    free(tl.data);
    return rc;
}
