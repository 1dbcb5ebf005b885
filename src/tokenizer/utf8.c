/* UTF-8 validation and repair (see utf8.h for the replacement convention). */
#include "config.h"
#include "tokenizer/utf8.h"

#include <stdlib.h>
#include <string.h>

/* Length of the longest prefix of s[0..n) that is the start of a well-formed
 * sequence (the "maximal subpart"), and the full length the lead byte asks
 * for. A return of *need == 0 means the first byte cannot start a sequence. */
static size_t maximal_subpart(const unsigned char *s, size_t n, size_t *need)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) {
        *need = 1;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        *need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        *need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        *need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *need = 0;
        return 1;
    }
    size_t k = 1;
    if (k < n && s[k] >= lo && s[k] <= hi) {
        k++;
        while (k < *need && k < n && s[k] >= 0x80 && s[k] <= 0xBF) k++;
    }
    return k;
}

size_t mlsae_utf8_valid_len(const unsigned char *s, size_t n)
{
    if (n == 0) return 0;
    size_t need;
    size_t k = maximal_subpart(s, n, &need);
    return (need != 0 && k == need) ? k : 0;
}

size_t mlsae_utf8_put(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Offset of the first ill-formed byte, or n when all is valid. */
static size_t first_invalid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = mlsae_utf8_valid_len(s + i, n - i);
        if (k == 0) return i;
        i += k;
    }
    return n;
}

int mlsae_utf8_repair(const char *text, size_t n, char **out, size_t *out_n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t bad = first_invalid(s, n);
    if (bad == n) return 0;
    /* Each ill-formed byte becomes at most 3 bytes (U+FFFD). */
    if (n > (SIZE_MAX - 1) / 3) return -1;
    unsigned char *o = malloc(3 * n + 1);
    if (!o) return -1;
    memcpy(o, s, bad);
    size_t w = bad, i = bad;
    while (i < n) {
        size_t need;
        size_t k = maximal_subpart(s + i, n - i, &need);
        if (need != 0 && k == need) {
            memcpy(o + w, s + i, k);
            w += k;
        } else {
            w += mlsae_utf8_put(0xFFFD, o + w);
        }
        i += k;
    }
    o[w] = 0;
    *out = (char *)o;
    *out_n = w;
    return 1;
}
