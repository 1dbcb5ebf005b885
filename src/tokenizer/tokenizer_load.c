/* Loading a HF tokenizer.json (byte-level BPE) into an mlsae_tokenizer.
 * Only the features the GPT-NeoX/Pythia tokenizers use are accepted; anything
 * else is refused with an error naming the field, never silently ignored. */
#include "config.h"
#include "tokenizer/tokenizer_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/atomic_file.h"
#include "tokenizer/bytelevel.h"
#include "tokenizer/utf8.h"

#define MAX_TOKEN_ID (1 << 24) /* far above any real vocabulary; bounds allocations */

typedef struct loader {
    const char *name;
    mlsae_error *err;
    mlsae_tokenizer *tok;
    mlsae_strmap vocab; /* model vocabulary only: string -> id */
} loader;

static int field_error(loader *L, const char *field, const char *what)
{
    return mlsae_fail(L->err, "%s: field '%s': %s", L->name, field, what);
}

static int oom(loader *L)
{
    return mlsae_fail(L->err, "%s: out of memory while loading the tokenizer", L->name);
}

/* A boolean field that may be absent (then def). */
static int get_bool(loader *L, json_t *obj, const char *key, const char *field, int def, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return field_error(L, field, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

/* The object's "type" string, or NULL. */
static const char *type_of(json_t *obj)
{
    json_t *t = json_is_object(obj) ? json_object_get(obj, "type") : NULL;
    return json_is_string(t) ? json_string_value(t) : NULL;
}

static int check_normalizer(loader *L, json_t *n, const char *field)
{
    if (!n || json_is_null(n)) return 0;
    const char *type = type_of(n);
    if (!type) return field_error(L, field, "expected an object with a \"type\"");
    if (strcmp(type, "NFC") == 0) {
        L->tok->nfc = 1;
        return 0;
    }
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return field_error(L, field, "Sequence without a \"normalizers\" array");
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            if (check_normalizer(L, item, field) != 0) return -1;
        }
        return 0;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "unsupported normalizer type \"%.100s\" (only NFC is supported)", type);
    return field_error(L, field, msg);
}

static int check_byte_level(loader *L, json_t *p, const char *field, int is_decoder)
{
    const char *type = type_of(p);
    if (!type) return field_error(L, field, "expected an object with a \"type\"");
    if (strcmp(type, "Sequence") == 0 && !is_decoder) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list) || json_array_size(list) != 1)
            return field_error(L, field, "only a Sequence of one ByteLevel pre-tokenizer is supported");
        return check_byte_level(L, json_array_get(list, 0), field, is_decoder);
    }
    if (strcmp(type, "ByteLevel") != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "unsupported type \"%.100s\" (only ByteLevel is supported)", type);
        return field_error(L, field, msg);
    }
    if (is_decoder) return 0;
    int prefix, regex;
    if (get_bool(L, p, "add_prefix_space", field, 0, &prefix) != 0 ||
        get_bool(L, p, "use_regex", field, 1, &regex) != 0)
        return -1;
    if (prefix) return field_error(L, field, "add_prefix_space=true is not supported");
    if (!regex) return field_error(L, field, "use_regex=false is not supported");
    return 0;
}

/* A post-processor must not add tokens (ours never adds any). */
static int check_post_processor(loader *L, json_t *p)
{
    const char *field = "post_processor";
    if (!p || json_is_null(p)) return 0;
    const char *type = type_of(p);
    if (type && strcmp(type, "ByteLevel") == 0) return 0;
    if (type && strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(p, "single");
        size_t i;
        json_t *item;
        if (!json_is_array(single)) return field_error(L, "post_processor.single", "expected an array");
        json_array_foreach(single, i, item) {
            if (json_object_get(item, "SpecialToken"))
                return field_error(L, "post_processor.single",
                                   "templates that add special tokens are not supported");
        }
        return 0;
    }
    return field_error(L, field, "unsupported post-processor (ByteLevel or a TemplateProcessing "
                                 "that adds no tokens are supported)");
}

static int check_model_options(loader *L, json_t *model)
{
    const char *type = type_of(model);
    if (type && strcmp(type, "BPE") != 0) return field_error(L, "model.type", "only BPE is supported");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0))
        return field_error(L, "model.dropout", "BPE dropout is not supported");
    const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, affixes[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
            char field[64];
            snprintf(field, sizeof field, "model.%s", affixes[i]);
            return field_error(L, field, "not supported by byte-level BPE here");
        }
    }
    int fallback, ignore_merges;
    if (get_bool(L, model, "byte_fallback", "model.byte_fallback", 0, &fallback) != 0 ||
        get_bool(L, model, "ignore_merges", "model.ignore_merges", 0, &ignore_merges) != 0)
        return -1;
    if (fallback) return field_error(L, "model.byte_fallback", "byte_fallback=true is not supported");
    if (ignore_merges) return field_error(L, "model.ignore_merges", "ignore_merges=true is not supported");
    return 0;
}

/* A valid token id from a JSON value. */
static int get_id(loader *L, json_t *v, const char *field, int32_t *id)
{
    if (!json_is_integer(v)) return field_error(L, field, "expected an integer token id");
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= MAX_TOKEN_ID) return field_error(L, field, "token id out of range");
    *id = (int32_t)x;
    return 0;
}

static int read_vocab(loader *L, json_t *vocab, int32_t *max_id)
{
    if (!json_is_object(vocab)) return field_error(L, "model.vocab", "missing or not an object");
    if (mlsae_strmap_init(&L->vocab, json_object_size(vocab)) != 0) return oom(L);
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        char field[160];
        snprintf(field, sizeof field, "model.vocab[\"%.100s\"]", key);
        int32_t id;
        if (get_id(L, v, field, &id) != 0) return -1;
        if (mlsae_strmap_put(&L->vocab, key, strlen(key), (uint64_t)id) != 0) return oom(L);
        if (id > *max_id) *max_id = id;
    }
    return 0;
}

static int read_added(loader *L, json_t *added, int32_t *max_id)
{
    if (!added || json_is_null(added)) return 0;
    if (!json_is_array(added)) return field_error(L, "added_tokens", "expected an array");
    size_t i;
    json_t *t;
    json_array_foreach(added, i, t) {
        char field[96];
        snprintf(field, sizeof field, "added_tokens[%zu]", i);
        if (!json_is_object(t)) return field_error(L, field, "expected an object");
        int32_t id;
        snprintf(field, sizeof field, "added_tokens[%zu].id", i);
        if (get_id(L, json_object_get(t, "id"), field, &id) != 0) return -1;
        snprintf(field, sizeof field, "added_tokens[%zu].content", i);
        json_t *c = json_object_get(t, "content");
        if (!json_is_string(c) || json_string_length(c) == 0)
            return field_error(L, field, "expected a non-empty string");
        const char *flags[] = {"lstrip", "rstrip", "single_word"};
        for (int k = 0; k < 3; k++) {
            int on;
            snprintf(field, sizeof field, "added_tokens[%zu].%s", i, flags[k]);
            if (get_bool(L, t, flags[k], field, 0, &on) != 0) return -1;
            if (on) return field_error(L, field, "true is not supported");
        }
        if (id > *max_id) *max_id = id;
    }
    return 0;
}

/* Byte string of the code point sequence, or NULL when a code point is not
 * in the byte-level alphabet (then HF's decoder keeps the token's UTF-8). */
static size_t token_bytes(const char *s, size_t n, const int16_t *cp_to_byte, unsigned char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = mlsae_utf8_valid_len((const unsigned char *)s + i, n - i);
        if (k == 0) goto raw;
        mlsae_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (cp >= MLSAE_BYTELEVEL_MAX_CP || cp_to_byte[cp] < 0) goto raw;
        out[w++] = (unsigned char)cp_to_byte[cp];
        i += k;
    }
    return w;
raw:
    memcpy(out, s, n);
    return n;
}

/* Token strings, decoded bytes and the string -> id map, from the vocab and
 * the added tokens (added tokens take precedence, as in HF). */
static int build_tables(loader *L, json_t *vocab, json_t *added)
{
    mlsae_tokenizer *tok = L->tok;
    size_t n = tok->vocab_size;
    const char **str = calloc(n, sizeof *str);
    size_t *len = calloc(n, sizeof *len);
    int rc = -1;
    if (!str || !len) goto out_oom;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        int32_t id = (int32_t)json_integer_value(v);
        if (str[id]) {
            char field[160];
            snprintf(field, sizeof field, "model.vocab[\"%.100s\"]", key);
            field_error(L, field, "id used twice in the vocabulary");
            goto out;
        }
        str[id] = key;
        len[id] = strlen(key);
    }
    size_t i;
    json_t *t;
    if (json_is_array(added)) json_array_foreach(added, i, t) {
            int32_t id = (int32_t)json_integer_value(json_object_get(t, "id"));
            json_t *c = json_object_get(t, "content");
            str[id] = json_string_value(c);
            len[id] = json_string_length(c);
        }
    size_t total = 0;
    for (size_t k = 0; k < n; k++) total += len[k] + 1;
    tok->strings = malloc(total);
    tok->bytes = malloc(total);
    tok->string_off = malloc(n * sizeof *tok->string_off);
    tok->bytes_off = malloc((n + 1) * sizeof *tok->bytes_off);
    tok->special = calloc(n, 1);
    if (!tok->strings || !tok->bytes || !tok->string_off || !tok->bytes_off || !tok->special)
        goto out_oom;
    if (mlsae_strmap_init(&tok->ids_by_string, n) != 0) goto out_oom;
    uint32_t byte_to_cp[256];
    int16_t cp_to_byte[MLSAE_BYTELEVEL_MAX_CP];
    mlsae_bytelevel_tables(byte_to_cp, cp_to_byte);
    size_t s_off = 0, b_off = 0;
    for (size_t k = 0; k < n; k++) {
        tok->bytes_off[k] = b_off;
        if (!str[k]) {
            tok->string_off[k] = SIZE_MAX;
            continue;
        }
        tok->string_off[k] = s_off;
        memcpy(tok->strings + s_off, str[k], len[k]);
        tok->strings[s_off + len[k]] = 0;
        s_off += len[k] + 1;
        b_off += token_bytes(str[k], len[k], cp_to_byte, tok->bytes + b_off);
    }
    tok->bytes_off[n] = b_off;
    /* string -> id: the vocabulary, then the added tokens over it. */
    json_object_foreach(vocab, key, v) {
        if (mlsae_strmap_put(&tok->ids_by_string, key, strlen(key), (uint64_t)json_integer_value(v)))
            goto out_oom;
    }
    if (json_is_array(added)) json_array_foreach(added, i, t) {
            json_t *c = json_object_get(t, "content");
            int64_t id = json_integer_value(json_object_get(t, "id"));
            if (mlsae_strmap_put(&tok->ids_by_string, json_string_value(c), json_string_length(c),
                                 (uint64_t)id))
                goto out_oom;
        }
    rc = 0;
    goto out;
out_oom:
    oom(L);
out:
    free(str);
    free(len);
    return rc;
}

static int read_merges(loader *L, json_t *merges)
{
    mlsae_tokenizer *tok = L->tok;
    if (!json_is_array(merges)) return field_error(L, "model.merges", "missing or not an array");
    if (mlsae_bpe_init(&tok->bpe, json_array_size(merges)) != 0) return oom(L);
    uint32_t byte_to_cp[256];
    int16_t cp_to_byte[MLSAE_BYTELEVEL_MAX_CP];
    mlsae_bytelevel_tables(byte_to_cp, cp_to_byte);
    for (int b = 0; b < 256; b++) {
        unsigned char u[4];
        size_t k = mlsae_utf8_put(byte_to_cp[b], u);
        uint64_t id;
        if (mlsae_strmap_get(&L->vocab, u, k, &id)) tok->bpe.byte_id[b] = (int32_t)id;
    }
    char *joined = NULL;
    size_t joined_cap = 0;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        char field[64];
        snprintf(field, sizeof field, "model.merges[%zu]", i);
        const char *a, *b;
        size_t alen, blen;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *space = memchr(a, ' ', json_string_length(m));
            if (!space) {
                free(joined);
                return field_error(L, field, "expected \"left right\"");
            }
            alen = (size_t)(space - a);
            b = space + 1;
            blen = json_string_length(m) - alen - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            alen = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            blen = json_string_length(json_array_get(m, 1));
        } else {
            free(joined);
            return field_error(L, field, "expected \"left right\" or [left, right]");
        }
        if (alen + blen > joined_cap) {
            joined_cap = 2 * (alen + blen);
            char *j = realloc(joined, joined_cap);
            if (!j) {
                free(joined);
                return oom(L);
            }
            joined = j;
        }
        memcpy(joined, a, alen);
        memcpy(joined + alen, b, blen);
        uint64_t left, right, merged;
        if (!mlsae_strmap_get(&L->vocab, a, alen, &left) ||
            !mlsae_strmap_get(&L->vocab, b, blen, &right) ||
            !mlsae_strmap_get(&L->vocab, joined, alen + blen, &merged)) {
            free(joined);
            return field_error(L, field, "a token of this merge (or its result) is not in model.vocab");
        }
        if (mlsae_bpe_add_merge(&tok->bpe, (int32_t)left, (int32_t)right, (int32_t)merged,
                                (uint32_t)i) != 0) {
            free(joined);
            return oom(L);
        }
    }
    free(joined);
    return 0;
}

static int build_added_tries(loader *L, json_t *added)
{
    mlsae_tokenizer *tok = L->tok;
    if (mlsae_token_trie_init(&tok->raw_added) != 0 || mlsae_token_trie_init(&tok->norm_added) != 0)
        return oom(L);
    size_t i;
    json_t *t;
    if (!json_is_array(added)) return 0;
    json_array_foreach(added, i, t) {
        int32_t id = (int32_t)json_integer_value(json_object_get(t, "id"));
        json_t *c = json_object_get(t, "content");
        int special, normalized;
        char field[96];
        snprintf(field, sizeof field, "added_tokens[%zu].special", i);
        if (get_bool(L, t, "special", field, 0, &special) != 0) return -1;
        snprintf(field, sizeof field, "added_tokens[%zu].normalized", i);
        if (get_bool(L, t, "normalized", field, !special, &normalized) != 0) return -1;
        tok->special[id] = (uint8_t)special;
        const char *s = json_string_value(c);
        size_t n = json_string_length(c);
        if (!normalized) {
            if (mlsae_token_trie_add(&tok->raw_added, s, n, id) != 0) return oom(L);
            continue;
        }
        /* Normalized tokens are matched against normalized text, so their
         * own content is normalized first. */
        utf8proc_uint8_t *nfc = NULL;
        if (tok->nfc) {
            utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfc,
                                              UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (m < 0) {
                snprintf(field, sizeof field, "added_tokens[%zu].content", i);
                return field_error(L, field, "not valid UTF-8");
            }
            s = (const char *)nfc;
            n = (size_t)m;
        }
        int rc = mlsae_token_trie_add(&tok->norm_added, s, n, id);
        free(nfc);
        if (rc != 0) return oom(L);
    }
    return 0;
}

static int32_t lookup(const mlsae_tokenizer *tok, const char *s)
{
    return mlsae_tokenizer_token_to_id(tok, s, strlen(s));
}

int mlsae_tokenizer_load_json(const char *json, size_t len, const char *name,
                              mlsae_tokenizer **out, mlsae_error *err)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &je);
    if (!root)
        return mlsae_fail(err, "%s:%d:%d: malformed JSON: %s", name, je.line, je.column, je.text);
    loader L = {.name = name, .err = err};
    L.tok = calloc(1, sizeof *L.tok);
    int rc = -1;
    if (!L.tok) {
        oom(&L);
        goto done;
    }
    pthread_mutex_init(&L.tok->pool_lock, NULL);
    if (!json_is_object(root)) {
        mlsae_fail(err, "%s: not a tokenizer.json (the top level is not an object)", name);
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        field_error(&L, "model", "missing or not an object");
        goto done;
    }
    json_t *added = json_object_get(root, "added_tokens");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    json_t *dec = json_object_get(root, "decoder");
    int32_t max_id = -1;
    if (check_model_options(&L, model) != 0 ||
        check_normalizer(&L, json_object_get(root, "normalizer"), "normalizer") != 0)
        goto done;
    if (!pre || json_is_null(pre)) {
        field_error(&L, "pre_tokenizer", "missing (a ByteLevel pre-tokenizer is required)");
        goto done;
    }
    if (check_byte_level(&L, pre, "pre_tokenizer", 0) != 0 ||
        (dec && !json_is_null(dec) && check_byte_level(&L, dec, "decoder", 1) != 0) ||
        check_post_processor(&L, json_object_get(root, "post_processor")) != 0)
        goto done;
    if (read_vocab(&L, json_object_get(model, "vocab"), &max_id) != 0 ||
        read_added(&L, added, &max_id) != 0)
        goto done;
    if (max_id < 0) {
        field_error(&L, "model.vocab", "the vocabulary is empty");
        goto done;
    }
    L.tok->vocab_size = (size_t)max_id + 1;
    if (build_tables(&L, json_object_get(model, "vocab"), added) != 0 ||
        read_merges(&L, json_object_get(model, "merges")) != 0 || build_added_tries(&L, added) != 0)
        goto done;
    L.tok->eos_id = lookup(L.tok, "<|endoftext|>");
    L.tok->bos_id = L.tok->eos_id;
    L.tok->pad_id = -1;
    rc = 0;
done:
    mlsae_strmap_free(&L.vocab);
    json_decref(root);
    if (rc == 0)
        *out = L.tok;
    else
        mlsae_tokenizer_free(L.tok);
    return rc;
}

int mlsae_tokenizer_load(const char *path, mlsae_tokenizer **out, mlsae_error *err)
{
    char *data;
    size_t n;
    *out = NULL;
    if (mlsae_read_file(path, &data, &n, err) != 0) return -1;
    int rc = mlsae_tokenizer_load_json(data, n, path, out, err);
    free(data);
    return rc;
}

void mlsae_tokenizer_free(mlsae_tokenizer *tok)
{
    if (!tok) return;
    while (tok->pool) {
        mlsae_tok_workspace *w = tok->pool;
        tok->pool = w->next_free;
        mlsae_bpe_work_free(&w->bpe);
        mlsae_strmap_free(&w->cache);
        mlsae_ids_free(&w->cache_ids);
        free(w);
    }
    pthread_mutex_destroy(&tok->pool_lock);
    free(tok->strings);
    free(tok->string_off);
    free(tok->bytes);
    free(tok->bytes_off);
    free(tok->special);
    mlsae_strmap_free(&tok->ids_by_string);
    mlsae_bpe_free(&tok->bpe);
    mlsae_token_trie_free(&tok->raw_added);
    mlsae_token_trie_free(&tok->norm_added);
    free(tok);
}
