/* GPT-2 split pattern as a hand-written scanner (see pretokenize.h). */
#include "config.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"

#include <stdint.h>
#include <utf8proc.h>

enum { CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE, CLASS_OTHER };

static int ascii_class(uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CLASS_LETTER;
    if (c >= '0' && c <= '9') return CLASS_NUMBER;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CLASS_SPACE;
    return CLASS_OTHER;
}

static int code_point_class(uint32_t c)
{
    if (c < 0x80) return ascii_class(c);
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CLASS_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CLASS_NUMBER;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return CLASS_SPACE;
    default:
        return c == 0x85 ? CLASS_SPACE : CLASS_OTHER; /* NEL is White_Space */
    }
}

/* Class of the code point at s[i] (i < n); stores its byte length. */
static int class_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    if (s[i] < 0x80) {
        *len = 1;
        return ascii_class(s[i]);
    }
    uint32_t cp;
    *len = mlsae_utf8_next(s + i, n - i, &cp);
    return code_point_class(cp);
}

/* End of the run of code points of class cls starting at i. */
static size_t run_end(const unsigned char *s, size_t n, size_t i, int cls)
{
    while (i < n) {
        size_t len;
        if (class_at(s, n, i, &len) != cls) break;
        i += len;
    }
    return i;
}

/* 's 't 're 've 'm 'll 'd at s[i] == '\'' (case-sensitive); 0 if none. */
static size_t contraction_len(const unsigned char *s, size_t n, size_t i)
{
    if (i + 1 >= n) return 0;
    unsigned char a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= n) return 0;
    unsigned char b = s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S) | \s+ starting at i (s[i] is white space). */
static size_t whitespace_piece_end(const unsigned char *s, size_t n, size_t i)
{
    size_t last_start = i, count = 0, j = i;
    while (j < n) {
        size_t len;
        if (class_at(s, n, j, &len) != CLASS_SPACE) break;
        last_start = j;
        count++;
        j += len;
    }
    if (j == n || count < 2) return j;
    return last_start; /* give back the last space: it prefixes what follows */
}

int mlsae_pretokenize(const char *text, size_t n, mlsae_piece_fn emit, void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        size_t end = 0;
        if (s[i] == '\'') {
            size_t k = contraction_len(s, n, i);
            if (k) end = i + k;
        }
        if (!end) {
            size_t len;
            int cls = class_at(s, n, i, &len);
            size_t start = i;
            if (s[i] == ' ' && i + 1 < n) {
                size_t len2;
                int next = class_at(s, n, i + 1, &len2);
                if (next != CLASS_SPACE) {
                    cls = next; /* " ?" takes the space */
                    start = i + 1;
                }
            }
            if (cls == CLASS_SPACE)
                end = whitespace_piece_end(s, n, i);
            else
                end = run_end(s, n, start, cls);
        }
        int rc = emit(ctx, text + i, end - i);
        if (rc) return rc;
        i = end;
    }
    return 0;
}
