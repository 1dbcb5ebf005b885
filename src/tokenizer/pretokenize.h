/* The GPT-2 pre-tokenizer split used by byte-level BPE (SPEC §3):
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * implemented as a scanner over code points with the same leftmost-first
 * alternation semantics as a backtracking regex engine: \p{L} and \p{N} are
 * the Unicode general categories L* and N* (from utf8proc), \s is the Unicode
 * White_Space property (categories Zs, Zl, Zp plus U+0009..U+000D and U+0085).
 * In particular a whitespace run of two or more code points followed by a
 * non-space gives back its last code point, which then starts the next piece
 * (so "  word" splits as " " + " word").
 */
#ifndef MLSAE_TOKENIZER_PRETOKENIZE_H
#define MLSAE_TOKENIZER_PRETOKENIZE_H

#include <stddef.h>

/* Called once per piece, in order; a non-zero return stops the scan and is
 * returned by mlsae_pretokenize. */
typedef int (*mlsae_piece_fn)(void *ctx, const char *piece, size_t len);

/* Split VALID UTF-8 text s[0..n) into pieces that cover it exactly. */
int mlsae_pretokenize(const char *s, size_t n, mlsae_piece_fn emit, void *ctx);

#endif
