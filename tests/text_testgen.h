/* Helpers shared by the tokenizer and dataset tests: the deterministic text
 * generators of tests/gen/textgen.py, FNV-1a over ids, and fixture access. */
#ifndef MLSAE_TEST_TEXT_TESTGEN_H
#define MLSAE_TEST_TEXT_TESTGEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 over ids as little-endian int32 bytes, as 16 hex digits. */
void tg_fnv64_hex(const int32_t *ids, size_t n, char out[17]);
/* Build the text of a "generated" fixture entry (kinds repeat, word, soup,
 * bytes); malloc'd. Returns 0, or -1 for an unknown kind. */
int tg_build(json_t *spec, char **text, size_t *len);
/* The bytes of a case: its "text" string or its "hex" field; malloc'd. */
int tg_case_bytes(json_t *c, char **text, size_t *len);
/* Load a JSON fixture file (exits the test with a failure when unreadable). */
json_t *tg_load_json(const char *path);
/* Compare ids with a JSON array of integers; prints the first difference. */
int tg_ids_equal(const int32_t *ids, size_t n, json_t *expected, const char *what);



#include "tokenizer/tokenizer.h"
/* Check every case and generated text of the fixture for the oracle ids
 * stored under `key` ("tiny" or "neox"): exact equality. Also checks
 * thread-parallel batch encoding against the same ids. */
void tg_check_fixture(const mlsae_tokenizer *tok, json_t *fixture, const char *key);
#endif
