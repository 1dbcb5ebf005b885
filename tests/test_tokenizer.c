/* Tokenizer tests that always run: a small byte-level BPE trained with HF
 * tokenizers (tests/fixtures/text/tiny-tokenizer.json) against its oracle ids
 * (tokenizer_cases.json, from tests/gen/gen_tokenizer.py), plus the parts of
 * the tokenizer that need no oracle: UTF-8 repair, the split pattern on
 * hand-checked inputs, loader and decode errors. Exact equality throughout. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "text_testgen.h"
#include "testutil.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static void test_utf8_repair(void)
{
    /* Python: b"...".decode("utf-8", "replace"), one U+FFFD per maximal subpart. */
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"abc", 3, NULL},
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xe2\x82", 2, "\xef\xbf\xbd"},
        {"\xf0\x9f\x98" "a", 4, "\xef\xbf\xbd" "a"},
        {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"a\x00" "b", 3, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        size_t n = 0;
        int r = mlsae_utf8_repair(cases[i].in, cases[i].n, &out, &n);
        if (!cases[i].out) {
            CHECKF(r == 0, "repair case %zu should be valid", i);
        } else {
            CHECKF(r == 1 && n == strlen(cases[i].out) && memcmp(out, cases[i].out, n) == 0,
                   "repair case %zu", i);
        }
        free(out);
    }
}

typedef struct pieces {
    char buf[512];
    size_t len;
} pieces;

static int collect(void *ctx, const char *p, size_t n)
{
    pieces *ps = ctx;
    ps->buf[ps->len++] = '|';
    memcpy(ps->buf + ps->len, p, n);
    ps->len += n;
    ps->buf[ps->len] = 0;
    return 0;
}

static void test_pretokenize(void)
{
    /* Hand-checked splits of the GPT-2 pattern (see pretokenize.h). */
    static const char *cases[][2] = {
        {"Hello world", "|Hello| world"},
        {"a  b", "|a| | b"},
        {"a \t b", "|a| \t| b"},
        {" \n\n\nx", "| \n\n|\n|x"},
        {"x   ", "|x|   "},
        {"it's I'M", "|it|'s| I|'|M"},
        {"!'s ?!x", "|!'|s| ?!|x"},
        {"abc123 45", "|abc|123| 45"},
        {"\t\tq", "|\t|\t|q"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pieces ps = {.len = 0};
        ps.buf[0] = 0;
        mlsae_pretokenize(cases[i][0], strlen(cases[i][0]), collect, &ps);
        CHECKF(strcmp(ps.buf, cases[i][1]) == 0, "split of '%s': got '%s', expected '%s'",
               cases[i][0], ps.buf, cases[i][1]);
    }
}

static void expect_load_error(const char *json, const char *needle)
{
    mlsae_tokenizer *tok = NULL;
    mlsae_error err = {{0}};
    int rc = mlsae_tokenizer_load_json(json, strlen(json), "bad.json", &tok, &err);
    CHECKF(rc != 0 && tok == NULL, "loading should fail: %s", json);
    CHECKF(strstr(err.msg, "bad.json") && strstr(err.msg, needle),
           "error '%s' should name the file and '%s'", err.msg, needle);
    CHECKF(!strchr(err.msg, '\n'), "error should be one line: %s", err.msg);
}

static void test_load_errors(void)
{
    expect_load_error("{\"model\": ", "malformed JSON");
    expect_load_error("[1, 2]", "not a tokenizer.json");
    expect_load_error("{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "'model'");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"merges\": []},"
                      " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "'model.vocab'");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
                      " \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "'model.merges[0]'");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []},"
                      " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "model.vocab[\"a\"]");
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "'model.type'");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                      " \"normalizer\": {\"type\": \"Lowercase\"},"
                      " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "'normalizer'");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                      " \"pre_tokenizer\": {\"type\": \"ByteLevel\"},"
                      " \"added_tokens\": [{\"id\": 1, \"content\": \"x\", \"lstrip\": true}]}",
                      "'added_tokens[0].lstrip'");
    mlsae_tokenizer *tok;
    mlsae_error err;
    CHECK(mlsae_tokenizer_load("/nonexistent/tokenizer.json", &tok, &err) != 0);
    CHECK(strstr(err.msg, "/nonexistent/tokenizer.json") != NULL);
}

static void test_api(const mlsae_tokenizer *tok, json_t *fixture)
{
    CHECK(mlsae_tokenizer_vocab_size(tok) ==
          (size_t)json_integer_value(json_object_get(fixture, "tiny_vocab_size")));
    CHECK(mlsae_tokenizer_eos_id(tok) == 0 && mlsae_tokenizer_bos_id(tok) == 0);
    CHECK(mlsae_tokenizer_pad_id(tok) == -1);
    CHECK(mlsae_tokenizer_token_to_id(tok, "<|padding|>", 11) == 1);
    CHECK(mlsae_tokenizer_is_special(tok, 0) && mlsae_tokenizer_is_special(tok, 1));
    CHECK(!mlsae_tokenizer_is_special(tok, 2));
    CHECK(mlsae_tokenizer_id_to_token(tok, -1) == NULL);
    CHECK(mlsae_tokenizer_id_to_token(tok, (int32_t)mlsae_tokenizer_vocab_size(tok)) == NULL);
    /* Every id round-trips through its token string. */
    size_t bad = 0;
    for (int32_t id = 0; id < (int32_t)mlsae_tokenizer_vocab_size(tok); id++) {
        const char *s = mlsae_tokenizer_id_to_token(tok, id);
        if (!s || mlsae_tokenizer_token_to_id(tok, s, strlen(s)) != id) bad++;
    }
    CHECKF(bad == 0, "%zu ids do not round-trip through id_to_token/token_to_id", bad);

    /* Decode: round trip of valid NFC text, and the unknown-id error. */
    const char *text = "Hello <|endoftext|> wor  ld\n";
    mlsae_ids ids = {0};
    mlsae_error err;
    CHECK(mlsae_tokenizer_encode(tok, text, strlen(text), &ids, &err) == 0);
    char *out;
    size_t n;
    CHECK(mlsae_tokenizer_decode(tok, ids.data, ids.len, 0, &out, &n, &err) == 0);
    CHECK(n == strlen(text) && memcmp(out, text, n) == 0);
    free(out);
    CHECK(mlsae_tokenizer_decode(tok, ids.data, ids.len, 1, &out, &n, &err) == 0);
    CHECK(strcmp(out, "Hello  wor  ld\n") == 0);
    free(out);
    int32_t bad_ids[] = {5, 6, 99999};
    CHECK(mlsae_tokenizer_decode(tok, bad_ids, 3, 0, &out, &n, &err) != 0);
    CHECKF(strstr(err.msg, "99999") && strstr(err.msg, "position 2"), "decode error: %s", err.msg);
    mlsae_ids_free(&ids);
}

int main(void)
{
    test_utf8_repair();
    test_pretokenize();
    test_load_errors();

    json_t *fixture = tg_load_json(tu_fixture("text/tokenizer_cases.json"));
    mlsae_tokenizer *tok;
    mlsae_error err;
    if (mlsae_tokenizer_load(tu_fixture("text/tiny-tokenizer.json"), &tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_api(tok, fixture);
    tg_check_fixture(tok, fixture, "tiny");
    mlsae_tokenizer_free(tok);
    json_decref(fixture);
    return tu_finish("test_tokenizer");
}
