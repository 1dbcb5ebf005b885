/* tokenizer.json loader: a tokenizer that loads encodes and decodes a fixed
 * text without failing. */
#include "config.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mlsae_tokenizer *tok;
    mlsae_error err;
    if (mlsae_tokenizer_load_json((const char *)data, size, "tokenizer.json", &tok, &err)) return 0;
    static const char text[] = "Hello, world! <|endoftext|>  \xc3\xa9t\xc3\xa9 123\n";
    mlsae_ids ids = {0};
    if (mlsae_tokenizer_encode(tok, text, sizeof text - 1, &ids, &err) == 0) {
        char *out = NULL;
        size_t len;
        if (mlsae_tokenizer_decode(tok, ids.data, ids.len, 0, &out, &len, &err) == 0) free(out);
    }
    free(ids.data);
    mlsae_tokenizer_free(tok);
    return 0;
}
