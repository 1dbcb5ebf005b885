/* Tokenizer encode on the test tokenizer (tests/fixtures/text/tiny-tokenizer.json,
 * NFC + ByteLevel BPE): any bytes encode to valid ids; for valid UTF-8 in
 * NFC, decoding gives the text back exactly. */
#include "config.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

#include <utf8proc.h>

#ifndef MLSAE_FUZZ_FIXTURES
#define MLSAE_FUZZ_FIXTURES "tests/fixtures"
#endif

static mlsae_tokenizer *tok;

static void load(void)
{
    const char *dir = getenv("MLSAE_TEST_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/text/tiny-tokenizer.json", dir ? dir : MLSAE_FUZZ_FIXTURES);
    mlsae_error err;
    if (mlsae_tokenizer_load(path, &tok, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
}

static int is_nfc_utf8(const uint8_t *s, size_t n)
{
    if (utf8proc_decompose(s, (utf8proc_ssize_t)n, NULL, 0, 0) < 0) return 0; /* invalid */
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0) return 0;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    int same = m >= 0 && (size_t)m == n && memcmp(nfc, s, n) == 0;
    free(nfc);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok) load();
    mlsae_ids ids = {0};
    mlsae_error err;
    if (mlsae_tokenizer_encode(tok, (const char *)data, size, &ids, &err)) abort();
    for (size_t i = 0; i < ids.len; i++)
        if (ids.data[i] < 0 || (size_t)ids.data[i] >= mlsae_tokenizer_vocab_size(tok)) abort();
    char *out = NULL;
    size_t len = 0;
    if (mlsae_tokenizer_decode(tok, ids.data, ids.len, 0, &out, &len, &err)) abort();
    if (is_nfc_utf8(data, size) && (len != size || memcmp(out, data, size) != 0)) {
        fprintf(stderr, "round trip: %zu bytes in, %zu out\n", size, len);
        abort();
    }
    free(out);
    free(ids.data);
    return 0;
}
