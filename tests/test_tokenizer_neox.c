/* The GPT-NeoX-20B / Pythia tokenizer against HF tokenizers' ids
 * (tests/fixtures/text/tokenizer_cases.json, from tests/gen/gen_tokenizer.py):
 * every case and generated text, both tokenizer files (identical ids), decode,
 * token strings, and whole documents of the shared corpora (ids counted and
 * hashed) plus snippets of them (ids compared one by one). SKIPs when the
 * shared data is absent; the corpora part SKIPs separately. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "text_testgen.h"
#include "core/paths.h"
#include "testutil.h"
#include "dataset/dataset.h"
#include "tokenizer/tokenizer.h"

static mlsae_tokenizer *load(const char *path)
{
    mlsae_tokenizer *tok;
    mlsae_error err;
    if (mlsae_tokenizer_load(path, &tok, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return tok;
}

static void check_decode_and_tokens(const mlsae_tokenizer *tok, json_t *fixture)
{
    json_t *cases = json_object_get(fixture, "cases");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *ids_j = json_object_get(c, "neox");
        size_t n = json_array_size(ids_j);
        int32_t *ids = malloc((n + 1) * sizeof *ids);
        for (size_t k = 0; k < n; k++) ids[k] = (int32_t)json_integer_value(json_array_get(ids_j, k));
        char *want;
        size_t want_n;
        json_t *dec = json_object_get(c, "decoded");
        if (dec) {
            want_n = json_string_length(dec);
            want = malloc(want_n + 1);
            memcpy(want, json_string_value(dec), want_n);
        } else {
            tg_case_bytes(c, &want, &want_n);
        }
        char *out;
        size_t out_n;
        mlsae_error err;
        CHECK(mlsae_tokenizer_decode(tok, ids, n, 0, &out, &out_n, &err) == 0);
        CHECKF(out_n == want_n && memcmp(out, want, out_n) == 0, "decode of case '%s'", name);
        free(out);
        json_t *skip = json_object_get(c, "decoded_skip_special");
        CHECK(mlsae_tokenizer_decode(tok, ids, n, 1, &out, &out_n, &err) == 0);
        CHECKF(out_n == json_string_length(skip) && memcmp(out, json_string_value(skip), out_n) == 0,
               "decode (skip special) of case '%s'", name);
        free(out);
        free(want);
        free(ids);
    }
    json_array_foreach(json_object_get(fixture, "neox_tokens"), i, c) {
        int32_t id = (int32_t)json_integer_value(json_object_get(c, "id"));
        const char *want = json_string_value(json_object_get(c, "token"));
        const char *got = mlsae_tokenizer_id_to_token(tok, id);
        CHECKF(got && strcmp(got, want) == 0, "id_to_token(%d)", (int)id);
        CHECKF(mlsae_tokenizer_token_to_id(tok, want, strlen(want)) == id, "token_to_id('%s')", want);
    }
    CHECK(mlsae_tokenizer_vocab_size(tok) ==
          (size_t)json_integer_value(json_object_get(fixture, "neox_vocab_size")));
    CHECK(mlsae_tokenizer_eos_id(tok) == 0 && mlsae_tokenizer_bos_id(tok) == 0);
}

/* Whole documents (count + hash) and snippets (exact ids) of one corpus. */
static void check_corpus(const mlsae_tokenizer *tok, json_t *corpus, const char *path)
{
    mlsae_dataset *ds;
    mlsae_error err;
    const char *src[] = {path};
    CHECK(mlsae_dataset_open(src, 1, &ds, &err) == 0);
    json_t *docs = json_object_get(corpus, "docs");
    json_t *snippets = json_object_get(corpus, "snippets");
    size_t n_docs = json_array_size(docs), ok_docs = 0, ok_snip = 0;
    mlsae_doc doc;
    for (size_t d = 0; d < n_docs; d++) {
        if (mlsae_dataset_next(ds, &doc, &err) != 1) {
            CHECKF(0, "%s: document %zu missing: %s", path, d, err.msg);
            break;
        }
        mlsae_ids ids = {0};
        CHECK(mlsae_tokenizer_encode(tok, doc.text, doc.len, &ids, &err) == 0);
        json_t *want = json_array_get(docs, d);
        char fnv[17];
        tg_fnv64_hex(ids.data, ids.len, fnv);
        int ok = ids.len == (size_t)json_integer_value(json_object_get(want, "n")) &&
                 strcmp(fnv, json_string_value(json_object_get(want, "fnv"))) == 0;
        CHECKF(ok, "%s: document %zu: %zu ids, fnv %s", path, d, ids.len, fnv);
        ok_docs += ok;
        mlsae_ids_free(&ids);
        size_t i;
        json_t *s;
        json_array_foreach(snippets, i, s) {
            if ((size_t)json_integer_value(json_object_get(s, "doc")) != d) continue;
            size_t start = (size_t)json_integer_value(json_object_get(s, "start"));
            size_t len = (size_t)json_integer_value(json_object_get(s, "len"));
            CHECK(start + len <= doc.len);
            mlsae_ids sids = {0};
            CHECK(mlsae_tokenizer_encode(tok, doc.text + start, len, &sids, &err) == 0);
            int sok = tg_ids_equal(sids.data, sids.len, json_object_get(s, "ids"), "snippet");
            CHECKF(sok, "%s: snippet of document %zu at byte %zu", path, d, start);
            ok_snip += sok;
            mlsae_ids_free(&sids);
        }
    }
    CHECKF(mlsae_dataset_next(ds, &doc, &err) == 0, "%s: more documents than the oracle saw", path);
    printf("  %s: %zu/%zu documents and %zu/%zu snippets exact\n", path, ok_docs, n_docs, ok_snip,
           json_array_size(snippets));
    mlsae_dataset_close(ds);
}

int main(void)
{
    /* the shared copy, else the identical one this package ships (data/) */
    const char *neox_path = tu_shared_data("gpt-neox-20b-tokenizer.json");
    char bundled[4096];
    mlsae_error ferr;
    if (!neox_path && mlsae_find_data_file("gpt-neox-20b-tokenizer.json", bundled,
                                           sizeof bundled, &ferr) == 0)
        neox_path = bundled;
    if (!neox_path) tu_skip("no GPT-NeoX tokenizer: %s", ferr.msg);
    const char *pythia_path = tu_shared_data("pythia-hf-tokenizer.json");
    json_t *fixture = tg_load_json(tu_fixture("text/tokenizer_cases.json"));
    mlsae_tokenizer *neox = load(neox_path);
    printf("gpt-neox-20b-tokenizer.json (%s):\n", neox_path);
    tg_check_fixture(neox, fixture, "neox");
    check_decode_and_tokens(neox, fixture);
    mlsae_tokenizer *pythia = NULL;
    if (pythia_path) {
        pythia = load(pythia_path);
        printf("pythia-hf-tokenizer.json (must give the same ids):\n");
        tg_check_fixture(pythia, fixture, "neox");
    } else {
        printf("  SKIP pythia-hf-tokenizer.json: not in the shared data\n");
    }

    size_t i;
    json_t *corpus;
    json_array_foreach(json_object_get(fixture, "corpora"), i, corpus) {
        const char *file = json_string_value(json_object_get(corpus, "file"));
        const char *path = tu_shared_data(file);
        if (!path) {
            printf("  SKIP corpus %s: not in the shared data\n", file);
            continue;
        }
        check_corpus(neox, corpus, path);
    }
    mlsae_tokenizer_free(neox);
    if (pythia) mlsae_tokenizer_free(pythia);
    json_decref(fixture);
    return tu_finish("test_tokenizer_neox");
}
