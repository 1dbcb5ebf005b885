/* Shared helpers of the text tests (see text_testgen.h). */
#include "config.h"
#include "text_testgen.h"
#include "tokenizer/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_fnv64_hex(const int32_t *ids, size_t n, char out[17])
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int k = 0; k < 4; k++) {
            h ^= (v >> (8 * k)) & 0xFF;
            h *= 0x100000001B3ull;
        }
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

typedef struct lcg {
    uint64_t x;
} lcg;

static uint64_t lcg_next(lcg *r)
{
    r->x = r->x * 6364136223846793005ull + 1442695040888963407ull;
    return r->x >> 33;
}

int tg_build(json_t *spec, char **text, size_t *len)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    size_t count = (size_t)json_integer_value(json_object_get(spec, "count"));
    lcg r = {(uint64_t)json_integer_value(json_object_get(spec, "seed"))};
    if (!kind) return -1;
    if (strcmp(kind, "repeat") == 0) {
        json_t *u = json_object_get(spec, "unit");
        size_t k = json_string_length(u);
        char *t = malloc(k * count + 1);
        for (size_t i = 0; i < count; i++) memcpy(t + i * k, json_string_value(u), k);
        *text = t;
        *len = k * count;
        return 0;
    }
    if (strcmp(kind, "word") == 0 || strcmp(kind, "bytes") == 0) {
        int word = kind[0] == 'w';
        char *t = malloc(count + 1);
        for (size_t i = 0; i < count; i++) {
            uint64_t v = lcg_next(&r);
            t[i] = word ? (char)('a' + v % 26) : (char)(v & 0xFF);
        }
        *text = t;
        *len = count;
        return 0;
    }
    if (strcmp(kind, "soup") == 0) {
        json_t *alpha = json_object_get(spec, "alphabet");
        size_t n = json_array_size(alpha), cap = 64, w = 0;
        char *t = malloc(cap);
        for (size_t i = 0; i < count; i++) {
            json_t *a = json_array_get(alpha, lcg_next(&r) % n);
            size_t k = json_string_length(a);
            if (w + k + 1 > cap) {
                cap = 2 * (w + k + 1);
                t = realloc(t, cap);
            }
            memcpy(t + w, json_string_value(a), k);
            w += k;
        }
        *text = t;
        *len = w;
        return 0;
    }
    if (strcmp(kind, "sweep") == 0) {
        /* "a" c "1" c " " c c "x " c "\n" for every code point c of the range */
        uint32_t start = (uint32_t)json_integer_value(json_object_get(spec, "start"));
        uint32_t end = (uint32_t)json_integer_value(json_object_get(spec, "end"));
        uint32_t step = (uint32_t)json_integer_value(json_object_get(spec, "step"));
        size_t cap = ((size_t)(end - start) / step + 1) * 30, w = 0;
        char *t = malloc(cap);
        for (uint32_t c = start; c < end; c += step) {
            if (c >= 0xD800 && c < 0xE000) continue;
            unsigned char u[4];
            size_t k = mlsae_utf8_put(c, u);
            const char *ctx[] = {"1", " ", "", "x ", "\n"};
            t[w++] = 'a';
            for (int j = 0; j < 5; j++) {
                memcpy(t + w, u, k);
                w += k;
                memcpy(t + w, ctx[j], strlen(ctx[j]));
                w += strlen(ctx[j]);
            }
        }
        *text = t;
        *len = w;
        return 0;
    }
    return -1;
}

int tg_case_bytes(json_t *c, char **text, size_t *len)
{
    json_t *s = json_object_get(c, "text");
    if (json_is_string(s)) {
        *len = json_string_length(s);
        *text = malloc(*len + 1);
        memcpy(*text, json_string_value(s), *len + 1);
        return 0;
    }
    const char *hex = json_string_value(json_object_get(c, "hex"));
    if (!hex) return -1;
    size_t n = strlen(hex) / 2;
    char *t = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        t[i] = (char)v;
    }
    t[n] = 0;
    *text = t;
    *len = n;
    return 0;
}

json_t *tg_load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!j) {
        fprintf(stderr, "%s:%d: cannot load fixture: %s\n", path, je.line, je.text);
        exit(1);
    }
    return j;
}

int tg_ids_equal(const int32_t *ids, size_t n, json_t *expected, const char *what)
{
    size_t m = json_array_size(expected);
    for (size_t i = 0; i < n && i < m; i++) {
        long want = (long)json_integer_value(json_array_get(expected, i));
        if (ids[i] != want) {
            fprintf(stderr, "  %s: first difference at id %zu: got %ld, expected %ld\n", what, i,
                    (long)ids[i], want);
            return 0;
        }
    }
    if (n != m) {
        fprintf(stderr, "  %s: got %zu ids, expected %zu\n", what, n, m);
        return 0;
    }
    return 1;
}

#include "testutil.h"

void tg_check_fixture(const mlsae_tokenizer *tok, json_t *fixture, const char *key)
{
    json_t *cases = json_object_get(fixture, "cases");
    size_t n = json_array_size(cases), i;
    json_t *c;
    char **texts = calloc(n, sizeof *texts);
    size_t *lens = calloc(n, sizeof *lens);
    mlsae_ids *batch = calloc(n, sizeof *batch);
    size_t exact = 0;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        CHECK(tg_case_bytes(c, &texts[i], &lens[i]) == 0);
        mlsae_ids ids = {0};
        mlsae_error err;
        CHECK(mlsae_tokenizer_encode(tok, texts[i], lens[i], &ids, &err) == 0);
        int ok = tg_ids_equal(ids.data, ids.len, json_object_get(c, key), name);
        CHECKF(ok, "case '%s' (%s)", name, key);
        exact += ok;
        mlsae_ids_free(&ids);
    }
    printf("  %s: %zu/%zu cases give the oracle ids exactly\n", key, exact, n);
    /* The same through the thread pool (4 threads, shared tokenizer). */
    mlsae_error err;
    CHECK(mlsae_tokenizer_encode_batch(tok, n, (const char *const *)texts, lens, batch, 4, &err) == 0);
    json_array_foreach(cases, i, c) {
        CHECKF(tg_ids_equal(batch[i].data, batch[i].len, json_object_get(c, key), "batch"),
               "batch case '%s'", json_string_value(json_object_get(c, "name")));
        mlsae_ids_free(&batch[i]);
        free(texts[i]);
    }
    free(batch);
    free(texts);
    free(lens);

    json_t *gen = json_object_get(fixture, "generated");
    json_array_foreach(gen, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        char *text;
        size_t len;
        CHECK(tg_build(c, &text, &len) == 0);
        mlsae_ids ids = {0};
        CHECK(mlsae_tokenizer_encode(tok, text, len, &ids, &err) == 0);
        json_t *want = json_object_get(c, key);
        char fnv[17];
        tg_fnv64_hex(ids.data, ids.len, fnv);
        size_t want_n = (size_t)json_integer_value(json_object_get(want, "n"));
        const char *want_fnv = json_string_value(json_object_get(want, "fnv"));
        CHECKF(ids.len == want_n && strcmp(fnv, want_fnv) == 0,
               "generated '%s' (%s): %zu ids fnv %s, expected %zu ids fnv %s", name, key, ids.len,
               fnv, want_n, want_fnv);
        printf("  %s: generated '%s' (%zu bytes): %zu ids, fnv %s\n", key, name, len, ids.len, fnv);
        mlsae_ids_free(&ids);
        free(text);
    }
}
