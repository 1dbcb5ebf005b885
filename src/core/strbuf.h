/* A growable byte buffer: the text of a file, an HTTP body or an encoded
 * image built in memory before it is written whole.
 *
 * After any put, data[len] == '\0' (so text can be used as a C string).
 * An allocation that fails sets oom and every later put does nothing: the
 * owner checks oom once at the end and reports "NAME: out of memory".
 * A zeroed struct is an empty buffer; mlsae_strbuf_free releases it. */
#ifndef MLSAE_CORE_STRBUF_H
#define MLSAE_CORE_STRBUF_H

#include <stddef.h>

typedef struct mlsae_strbuf {
    char *data;
    size_t len, cap;
    int oom;
} mlsae_strbuf;

/* Append n bytes. 0, or -1 when the buffer is (or now becomes) oom. */
int mlsae_strbuf_put(mlsae_strbuf *b, const void *s, size_t n);
/* Append a C string. */
int mlsae_strbuf_puts(mlsae_strbuf *b, const char *s);
/* Forget the contents, keep the allocation (and oom). */
void mlsae_strbuf_clear(mlsae_strbuf *b);
void mlsae_strbuf_free(mlsae_strbuf *b);

#endif
