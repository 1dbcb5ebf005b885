#include "config.h"
#include "core/strbuf.h"

#include <stdlib.h>
#include <string.h>

int mlsae_strbuf_put(mlsae_strbuf *b, const void *s, size_t n)
{
    if (b->oom) return -1;
    if (n + 1 > b->cap - b->len || !b->data) {
        size_t cap = b->cap ? b->cap : 4096;
        while (n + 1 > cap - b->len) {
            if (cap > ((size_t)-1) / 2) {
                b->oom = 1;
                return -1;
            }
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int mlsae_strbuf_puts(mlsae_strbuf *b, const char *s)
{
    return mlsae_strbuf_put(b, s, strlen(s));
}

void mlsae_strbuf_clear(mlsae_strbuf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void mlsae_strbuf_free(mlsae_strbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
