/* Loading a GPT-NeoX model directory into backend buffers. Every weight
 * must be finite: a NaN or Inf is refused naming the tensor and the element
 * (it would make every hidden state and logit NaN). */
#include "config.h"
#include "model/neox_internal.h"
#include "sae/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct load_plan {
    const char *name;
    int ndim;
    int64_t shape[2];
    size_t *dst; /* where the element offset is stored */
} load_plan;

/* Tensor names are the HF ones after `prefix` ("" in a model directory,
 * "transformer.model." inside a -tfm checkpoint). */
static int add(load_plan **plan, size_t *n, size_t *cap, const char *prefix, const char *name,
               int ndim, int64_t d0, int64_t d1, size_t *dst)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        load_plan *np = realloc(*plan, nc * sizeof *np);
        if (!np) return -1;
        *plan = np;
        *cap = nc;
    }
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *copy = malloc(len);
    if (!copy) return -1;
    snprintf(copy, len, "%s%s", prefix, name);
    (*plan)[(*n)++] = (load_plan){copy, ndim, {d0, d1}, dst};
    return 0;
}

/* The list of tensors to read, in HF names, with their expected shapes. */
static int build_plan(mlsae_neox *m, unsigned flags, const mlsae_safetensors *st,
                      const char *prefix, load_plan **plan, size_t *n_plan)
{
    const mlsae_neox_config *c = &m->cfg;
    int64_t d = c->hidden_size, ff = c->intermediate_size, v = c->vocab_size;
    size_t n = 0, cap = 0;
    char name[256];
    int bad = 0;
    bad |= add(plan, &n, &cap, prefix, "gpt_neox.embed_in.weight", 2, v, d, &m->embed_in);
    for (int l = 0; l < c->n_layers; l++) {
        neox_layer *L = &m->layers[l];
#define T(field, suffix, nd, a, b)                                                       \
    snprintf(name, sizeof name, "gpt_neox.layers.%d.%s", l, suffix);                      \
    bad |= add(plan, &n, &cap, prefix, name, nd, a, b, &L->field)
        T(ln1_w, "input_layernorm.weight", 1, d, 0);
        T(ln1_b, "input_layernorm.bias", 1, d, 0);
        T(ln2_w, "post_attention_layernorm.weight", 1, d, 0);
        T(ln2_b, "post_attention_layernorm.bias", 1, d, 0);
        T(qkv_w, "attention.query_key_value.weight", 2, 3 * d, d);
        T(dense_w, "attention.dense.weight", 2, d, d);
        if (c->attention_bias) {
            T(qkv_b, "attention.query_key_value.bias", 1, 3 * d, 0);
            T(dense_b, "attention.dense.bias", 1, d, 0);
        } else {
            L->qkv_b = L->dense_b = NEOX_ABSENT;
        }
        T(fc1_w, "mlp.dense_h_to_4h.weight", 2, ff, d);
        T(fc1_b, "mlp.dense_h_to_4h.bias", 1, ff, 0);
        T(fc2_w, "mlp.dense_4h_to_h.weight", 2, d, ff);
        T(fc2_b, "mlp.dense_4h_to_h.bias", 1, d, 0);
#undef T
    }
    bad |= add(plan, &n, &cap, prefix, "gpt_neox.final_layer_norm.weight", 1, d, 0, &m->final_ln_w);
    bad |= add(plan, &n, &cap, prefix, "gpt_neox.final_layer_norm.bias", 1, d, 0, &m->final_ln_b);
    m->lm_head = NEOX_ABSENT;
    if (!(flags & MLSAE_NEOX_NO_LM_HEAD)) {
        /* Pythia files call it embed_out; some writers use lm_head; tied models may omit it. */
        char embed_out[256], lm_head[256];
        snprintf(embed_out, sizeof embed_out, "%sembed_out.weight", prefix);
        snprintf(lm_head, sizeof lm_head, "%slm_head.weight", prefix);
        const char *head = mlsae_st_find(st, embed_out)  ? "embed_out.weight"
                           : mlsae_st_find(st, lm_head) ? "lm_head.weight"
                           : c->tie_word_embeddings     ? NULL
                                                        : "embed_out.weight";
        if (head) bad |= add(plan, &n, &cap, prefix, head, 2, v, d, &m->lm_head);
    }
    *n_plan = n;
    return bad ? -1 : 0;
}

static void free_plan(load_plan *plan, size_t n)
{
    for (size_t i = 0; i < n; i++) free((char *)plan[i].name);
    free(plan);
}

static int64_t numel(const load_plan *p) { return p->ndim == 1 ? p->shape[0] : p->shape[0] * p->shape[1]; }

int mlsae_neox_load(const char *dir, mlsae_backend *be, unsigned flags, mlsae_neox **out,
                    mlsae_error *err)
{
    return mlsae_neox_load_weights(dir, NULL, NULL, be, flags, out, err);
}

int mlsae_neox_load_weights(const char *dir, const char *weights, const char *prefix,
                            mlsae_backend *be, unsigned flags, mlsae_neox **out, mlsae_error *err)
{
    if (!weights) weights = dir;
    if (!prefix) prefix = "";
    *out = NULL;
    mlsae_neox *m = calloc(1, sizeof *m);
    if (!m) return mlsae_fail(err, "out of memory");
    m->be = be;
    m->chunk_rows = NEOX_CHUNK_ROWS;
    mlsae_safetensors *st = NULL;
    load_plan *plan = NULL;
    size_t n_plan = 0;
    float *staging = NULL;
    int rc = -1;
    if (mlsae_neox_config_load(dir, &m->cfg, err)) goto done;
    m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    if (!m->layers) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    if (mlsae_st_open(weights, &st, err)) goto done;
    if (build_plan(m, flags, st, prefix, &plan, &n_plan)) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    size_t total = 0, largest = 0;
    for (size_t i = 0; i < n_plan; i++) {
        *plan[i].dst = total;
        total += (size_t)numel(&plan[i]);
        if ((size_t)numel(&plan[i]) > largest) largest = (size_t)numel(&plan[i]);
    }
    m->w = mlsae_alloc_f32(be, total);
    if (!m->w) {
        mlsae_fail(err, "%s: cannot allocate %zu MB for the weights: %s", dir,
                   total * 4 >> 20, mlsae_backend_error(be));
        goto done;
    }
    float *host = be->ops->core.host_ptr(be, m->w);
    if (!host && !(staging = malloc(largest * sizeof(float)))) {
        mlsae_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_plan; i++) {
        float *dst = host ? host + *plan[i].dst : staging;
        if (mlsae_st_read_f32(st, plan[i].name, plan[i].ndim, plan[i].shape, dst, err) ||
            mlsae_validate_f32(weights, plan[i].name, dst, (size_t)numel(&plan[i]), NULL, err))
            goto done;
        if (!host && be->ops->core.write(be, m->w, *plan[i].dst * 4, staging,
                                         (size_t)numel(&plan[i]) * 4)) {
            mlsae_fail(err, "%s: %s", plan[i].name, mlsae_backend_error(be));
            goto done;
        }
    }
    if (m->lm_head == NEOX_ABSENT && !(flags & MLSAE_NEOX_NO_LM_HEAD)) m->lm_head = m->embed_in;
    rc = 0;
done:
    free(staging);
    free_plan(plan, n_plan);
    mlsae_st_close(st);
    if (rc) mlsae_neox_free(m);
    else *out = m;
    return rc;
}

void mlsae_neox_free(mlsae_neox *m)
{
    if (!m) return;
    if (m->w) m->be->ops->core.free(m->be, m->w);
    if (m->ws.buf) m->be->ops->core.free(m->be, m->ws.buf);
    neox_lowp_free(m);
    free(m->layers);
    free(m);
}

const mlsae_neox_config *mlsae_neox_get_config(const mlsae_neox *m) { return &m->cfg; }
mlsae_backend *mlsae_neox_backend(const mlsae_neox *m) { return m->be; }

void mlsae_neox_set_chunk_rows(mlsae_neox *m, int rows)
{
    m->chunk_rows = rows > 0 ? rows : NEOX_CHUNK_ROWS;
}
