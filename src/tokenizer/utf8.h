/* UTF-8 helpers for the tokenizer.
 *
 * Invalid input is repaired the way Python's bytes.decode("utf-8", "replace")
 * does it (the Unicode "maximal subpart" practice): every maximal prefix of a
 * well-formed sequence that cannot be completed, and every byte that cannot
 * start one, becomes one U+FFFD. This is the convention under which our
 * tokenizer matches HF tokenizers on arbitrary bytes (SPEC §3).
 */
#ifndef MLSAE_TOKENIZER_UTF8_H
#define MLSAE_TOKENIZER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed sequence at s[0..n) (1..4), or 0 when s does not
 * start with one. With n == 0 returns 0. */
size_t mlsae_utf8_valid_len(const unsigned char *s, size_t n);

/* Decode one code point from VALID UTF-8 at s (n >= 1 bytes left); returns
 * its byte length and stores the code point. */
static inline size_t mlsae_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0 || n < 4) {
        if (n < 3) {
            *cp = c;
            return 1;
        }
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
          ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

/* Encode cp (<= 0x10FFFF) into out (4 bytes room); returns the length. */
size_t mlsae_utf8_put(uint32_t cp, unsigned char *out);

/* Repair s[0..n) as described above. Returns 0 when s is already valid
 * (*out untouched), 1 when a repaired malloc'd copy was stored in *out and *out_n,
 * -1 when out of memory. */
int mlsae_utf8_repair(const char *s, size_t n, char **out, size_t *out_n);

#endif
