/* Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json
 * (GPT-NeoX-20B / Pythia; SPEC §3). Encoding equals HF `tokenizers` id for id.
 *
 * Encoding pipeline (as HF does it):
 *   1. bytes that are not well-formed UTF-8 are replaced by U+FFFD, exactly as
 *      Python's bytes.decode("utf-8", "replace") does (see text/utf8.h); the
 *      oracle is HF tokenizers applied to that Python string;
 *   2. added tokens with normalized=false (<|endoftext|>, <|padding|>) are
 *      split out of the raw text, leftmost-longest;
 *   3. each remaining stretch is NFC-normalized (utf8proc), then added tokens
 *      with normalized=true (the runs of 2..24 spaces, ids 50254..50276) are
 *      split out of it the same way;
 *   4. each remaining stretch is cut by the GPT-2 pattern (text/pretokenize.h)
 *      and each piece goes through ranked-merge BPE (text/bpe.h).
 *
 * A loaded tokenizer is immutable; every function here may be called from
 * several threads at once (encode keeps a small pool of per-thread scratch
 * spaces with a cache of piece -> ids).
 */
#ifndef MLSAE_TOKENIZER_TOKENIZER_H
#define MLSAE_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"
#include "tokenizer/ids.h"

typedef struct mlsae_tokenizer mlsae_tokenizer;

/* Load a tokenizer.json. Errors name the file and the field at fault. */
int mlsae_tokenizer_load(const char *path, mlsae_tokenizer **out, mlsae_error *err);
/* The same from JSON text in memory; `name` is used in error messages. */
int mlsae_tokenizer_load_json(const char *json, size_t len, const char *name,
                              mlsae_tokenizer **out, mlsae_error *err);
void mlsae_tokenizer_free(mlsae_tokenizer *tok);

/* Append the ids of text[0..len) (any bytes) to out. Fails only when out of
 * memory. */
int mlsae_tokenizer_encode(const mlsae_tokenizer *tok, const char *text, size_t len,
                           mlsae_ids *out, mlsae_error *err);

/* Encode n texts with up to n_threads threads (0: all online CPUs); outs[i]
 * receives the ids of texts[i] (appended). */
int mlsae_tokenizer_encode_batch(const mlsae_tokenizer *tok, size_t n, const char *const *texts,
                                 const size_t *lens, mlsae_ids *outs, int n_threads,
                                 mlsae_error *err);

/* Number of online CPUs (at least 1): the thread count that 0 stands for. */
int mlsae_default_threads(void);

/* Decode ids to UTF-8 text as HF's ByteLevel decoder does: token bytes are
 * concatenated and the result made valid UTF-8 (ill-formed parts become
 * U+FFFD). With skip_special, special added tokens (<|endoftext|>,
 * <|padding|>) are left out. *text is malloc'd and NUL-terminated; *len
 * excludes the NUL. An unknown id is an error naming the id and its position. */
int mlsae_tokenizer_decode(const mlsae_tokenizer *tok, const int32_t *ids, size_t n,
                           int skip_special, char **text, size_t *len, mlsae_error *err);

/* The token's string as stored in tokenizer.json (byte-level alphabet, e.g.
 * "Ġworld"; NUL-terminated), or NULL for an unknown id. */
const char *mlsae_tokenizer_id_to_token(const mlsae_tokenizer *tok, int32_t id);
/* Inverse of id_to_token (added tokens first); -1 when absent. */
int32_t mlsae_tokenizer_token_to_id(const mlsae_tokenizer *tok, const char *token, size_t len);
/* The raw bytes a token stands for (what decode emits for it, before the
 * UTF-8 repair); NULL for an unknown id. */
const unsigned char *mlsae_tokenizer_token_bytes(const mlsae_tokenizer *tok, int32_t id,
                                                 size_t *len);
/* 1 when id is a special added token. */
int mlsae_tokenizer_is_special(const mlsae_tokenizer *tok, int32_t id);

/* Ids run 0 .. vocab_size-1 (50277 for GPT-NeoX-20B: 50254 BPE tokens and
 * 23 added whitespace tokens; <|endoftext|> and <|padding|> are ids 0, 1). */
size_t mlsae_tokenizer_vocab_size(const mlsae_tokenizer *tok);

/* Special ids as the Pythia tokenizer config sets them: eos = bos =
 * "<|endoftext|>"; no pad token (-1), like the reference whose pad_token_id is
 * None. Each is -1 when the tokenizer lacks the token. */
int32_t mlsae_tokenizer_eos_id(const mlsae_tokenizer *tok);
int32_t mlsae_tokenizer_bos_id(const mlsae_tokenizer *tok);
int32_t mlsae_tokenizer_pad_id(const mlsae_tokenizer *tok);

#endif
