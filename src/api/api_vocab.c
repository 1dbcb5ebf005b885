/* The tokenizer (src/tokenizer/tokenizer.h) behind a handle. */
#include "config.h"
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "core/paths.h"

MLSAE_API mlsae_status mlsae_vocab_load(const char *path, mlsae_vocab **out)
{
    static const char fn[] = "mlsae_vocab_load";
    API_REQUIRE_OUT(out, fn);
    mlsae_error err;
    char bundled[4096];
    if (!path) {
        if (mlsae_find_data_file("gpt-neox-20b-tokenizer.json", bundled, sizeof bundled, &err))
            return api_failed(&err);
        path = bundled;
    }
    mlsae_vocab *v = api_new(sizeof *v, fn);
    if (!v) return MLSAE_ERR_FAILED;
    if (mlsae_tokenizer_load(path, &v->tok, &err)) {
        free(v);
        return api_failed(&err);
    }
    *out = v;
    return MLSAE_OK;
}

MLSAE_API void mlsae_vocab_free(mlsae_vocab *vocab)
{
    if (!vocab) return;
    mlsae_tokenizer_free(vocab->tok);
    free(vocab);
}

MLSAE_API int32_t mlsae_vocab_n_tokens(const mlsae_vocab *vocab)
{
    return vocab ? (int32_t)mlsae_tokenizer_vocab_size(vocab->tok) : 0;
}

MLSAE_API int32_t mlsae_vocab_eos(const mlsae_vocab *vocab)
{
    return vocab ? mlsae_tokenizer_eos_id(vocab->tok) : -1;
}

MLSAE_API mlsae_status mlsae_tokenize(const mlsae_vocab *vocab, const char *text, size_t len,
                                      int32_t *ids, size_t max_ids, size_t *n_ids)
{
    static const char fn[] = "mlsae_tokenize";
    API_REQUIRE(vocab, fn, "vocab");
    API_REQUIRE(text || len == 0, fn, "text");
    API_REQUIRE(n_ids, fn, "n_ids");
    API_REQUIRE(ids || max_ids == 0, fn, "ids");
    mlsae_ids got = {0};
    mlsae_error err;
    if (mlsae_tokenizer_encode(vocab->tok, text ? text : "", len, &got, &err)) {
        mlsae_ids_free(&got);
        return api_failed(&err);
    }
    *n_ids = got.len;
    mlsae_status st = MLSAE_OK;
    if (got.len > max_ids)
        st = api_fail(MLSAE_ERR_SIZE, "%s: the text has %zu tokens, room for %zu", fn, got.len,
                      max_ids);
    else if (got.len)
        memcpy(ids, got.data, got.len * sizeof *ids);
    mlsae_ids_free(&got);
    return st;
}

MLSAE_API mlsae_status mlsae_detokenize(const mlsae_vocab *vocab, const int32_t *ids,
                                        size_t n_ids, int skip_special, char *text,
                                        size_t text_size, size_t *len)
{
    static const char fn[] = "mlsae_detokenize";
    API_REQUIRE(vocab, fn, "vocab");
    API_REQUIRE(ids || n_ids == 0, fn, "ids");
    API_REQUIRE(len, fn, "len");
    API_REQUIRE(text || text_size == 0, fn, "text");
    char *s = NULL;
    size_t n = 0;
    mlsae_error err;
    if (mlsae_tokenizer_decode(vocab->tok, ids, n_ids, skip_special, &s, &n, &err))
        return api_failed(&err);
    *len = n;
    mlsae_status st = MLSAE_OK;
    if (n >= text_size)
        st = api_fail(MLSAE_ERR_SIZE, "%s: the text has %zu bytes, room for %zu and the NUL",
                      fn, n, text_size ? text_size - 1 : 0);
    else
        memcpy(text, s, n + 1);
    free(s);
    return st;
}
