/* Encoding and decoding with a loaded tokenizer (pipeline in tokenizer.h). */
#include "config.h"
#include "tokenizer/tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"

/* Pieces longer than this are not cached (long pieces are rare and unique). */
#define CACHE_MAX_PIECE 64
/* A workspace's cache is emptied when it holds more entries than this. */
#define CACHE_MAX_ENTRIES 65536

static mlsae_tok_workspace *acquire_workspace(const mlsae_tokenizer *ctok)
{
    mlsae_tokenizer *tok = (mlsae_tokenizer *)ctok; /* the pool is the only mutable part */
    pthread_mutex_lock(&tok->pool_lock);
    mlsae_tok_workspace *w = tok->pool;
    if (w) tok->pool = w->next_free;
    pthread_mutex_unlock(&tok->pool_lock);
    if (w) return w;
    w = calloc(1, sizeof *w);
    if (w && mlsae_strmap_init(&w->cache, 1024) != 0) {
        free(w);
        w = NULL;
    }
    return w;
}

static void release_workspace(const mlsae_tokenizer *ctok, mlsae_tok_workspace *w)
{
    mlsae_tokenizer *tok = (mlsae_tokenizer *)ctok;
    pthread_mutex_lock(&tok->pool_lock);
    w->next_free = tok->pool;
    tok->pool = w;
    pthread_mutex_unlock(&tok->pool_lock);
}

typedef struct encode_ctx {
    const mlsae_tokenizer *tok;
    mlsae_tok_workspace *ws;
    mlsae_ids *out;
} encode_ctx;

/* BPE of one pre-tokenized piece, through the workspace's cache. */
static int encode_piece(void *vctx, const char *piece, size_t n)
{
    encode_ctx *c = vctx;
    mlsae_tok_workspace *ws = c->ws;
    uint64_t hit;
    if (n <= CACHE_MAX_PIECE && mlsae_strmap_get(&ws->cache, piece, n, &hit)) {
        size_t off = (size_t)(hit >> 24), count = (size_t)(hit & 0xFFFFFF);
        if (mlsae_ids_reserve(c->out, count) != 0) return -1;
        /* count 0: a piece none of whose bytes is in the vocabulary (no unk token) */
        if (count)
            memcpy(c->out->data + c->out->len, ws->cache_ids.data + off, count * sizeof(int32_t));
        c->out->len += count;
        return 0;
    }
    size_t before = c->out->len;
    if (mlsae_bpe_encode(&c->tok->bpe, &ws->bpe, (const unsigned char *)piece, n, c->out) != 0)
        return -1;
    if (n > CACHE_MAX_PIECE) return 0;
    if (ws->cache.count >= CACHE_MAX_ENTRIES) {
        mlsae_strmap_clear(&ws->cache);
        ws->cache_ids.len = 0;
    }
    size_t count = c->out->len - before;
    if (mlsae_ids_reserve(&ws->cache_ids, count) != 0) return -1;
    if (count)
        memcpy(ws->cache_ids.data + ws->cache_ids.len, c->out->data + before,
               count * sizeof(int32_t));
    uint64_t value = ((uint64_t)ws->cache_ids.len << 24) | count;
    ws->cache_ids.len += count;
    return mlsae_strmap_put(&ws->cache, piece, n, value);
}

static int encode_pretokenized(void *ctx, const char *s, size_t n)
{
    return mlsae_pretokenize(s, n, encode_piece, ctx);
}

static int emit_added(void *vctx, int32_t id)
{
    encode_ctx *c = vctx;
    return mlsae_ids_push(c->out, id);
}

/* NFC of s[0..n) into *out (malloc'd), or 0 with *out NULL when the text is
 * unchanged. NFC never changes ASCII and never combines across an ASCII
 * character (ASCII characters are starters that compose with nothing before
 * them), so only each non-ASCII run, with the ASCII character before it, is
 * given to utf8proc. */
static int nfc(const char *s, size_t n, char **out, size_t *out_n)
{
    *out = NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && u[i] < 0x80) i++;
    if (i == n) return 0;
    char *buf = NULL;
    size_t len = 0, cap = 0, done = 0;
    while (i < n) {
        size_t start = i > 0 ? i - 1 : 0; /* u[i-1] is ASCII: it may compose with u[i] */
        size_t end = i;
        while (end < n && u[end] >= 0x80) end++;
        utf8proc_uint8_t *norm = NULL;
        utf8proc_ssize_t m = utf8proc_map(u + start, (utf8proc_ssize_t)(end - start), &norm,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (m < 0) {
            free(buf);
            return -1;
        }
        size_t need = len + (start - done) + (size_t)m + (n - end);
        if (need > cap) {
            cap = need + need / 2 + 16;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(norm);
                free(buf);
                return -1;
            }
            buf = nb;
        }
        memcpy(buf + len, s + done, start - done);
        len += start - done;
        memcpy(buf + len, norm, (size_t)m);
        len += (size_t)m;
        free(norm);
        done = end;
        i = end;
        while (i < n && u[i] < 0x80) i++;
    }
    memcpy(buf + len, s + done, n - done);
    len += n - done;
    *out = buf;
    *out_n = len;
    return 0;
}

/* A stretch of raw text between special added tokens. */
static int encode_segment(void *vctx, const char *s, size_t n)
{
    encode_ctx *c = vctx;
    char *norm = NULL;
    size_t norm_n = 0;
    if (c->tok->nfc && nfc(s, n, &norm, &norm_n) != 0) return -1;
    if (norm) {
        s = norm;
        n = norm_n;
    }
    int rc = mlsae_token_trie_split(&c->tok->norm_added, s, n, encode_pretokenized, emit_added, c);
    free(norm);
    return rc;
}

int mlsae_tokenizer_encode(const mlsae_tokenizer *tok, const char *text, size_t len,
                           mlsae_ids *out, mlsae_error *err)
{
    char *fixed = NULL;
    size_t fixed_n = 0;
    int r = mlsae_utf8_repair(text, len, &fixed, &fixed_n);
    if (r < 0) return mlsae_fail(err, "tokenizer: out of memory");
    if (r > 0) {
        text = fixed;
        len = fixed_n;
    }
    encode_ctx c = {tok, acquire_workspace(tok), out};
    int rc = -1;
    if (c.ws) {
        rc = mlsae_token_trie_split(&tok->raw_added, text, len, encode_segment, emit_added, &c);
        release_workspace(tok, c.ws);
    }
    free(fixed);
    if (rc != 0) return mlsae_fail(err, "tokenizer: out of memory while encoding %zu bytes", len);
    return 0;
}

int mlsae_tokenizer_decode(const mlsae_tokenizer *tok, const int32_t *ids, size_t n,
                           int skip_special, char **text, size_t *len, mlsae_error *err)
{
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= tok->vocab_size || tok->string_off[id] == SIZE_MAX)
            return mlsae_fail(err, "unknown token id %ld at position %zu (vocabulary: 0..%zu)",
                              (long)id, i, tok->vocab_size - 1);
        total += tok->bytes_off[id + 1] - tok->bytes_off[id];
    }
    unsigned char *raw = malloc(total + 1);
    if (!raw) return mlsae_fail(err, "decode: out of memory");
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (skip_special && tok->special[id]) continue;
        size_t k = tok->bytes_off[id + 1] - tok->bytes_off[id];
        memcpy(raw + w, tok->bytes + tok->bytes_off[id], k);
        w += k;
    }
    raw[w] = 0;
    char *fixed;
    size_t fixed_n;
    int r = mlsae_utf8_repair((const char *)raw, w, &fixed, &fixed_n);
    if (r < 0) {
        free(raw);
        return mlsae_fail(err, "decode: out of memory");
    }
    if (r > 0) {
        free(raw);
        *text = fixed;
        *len = fixed_n;
    } else {
        *text = (char *)raw;
        *len = w;
    }
    return 0;
}

const char *mlsae_tokenizer_id_to_token(const mlsae_tokenizer *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->vocab_size || tok->string_off[id] == SIZE_MAX) return NULL;
    return tok->strings + tok->string_off[id];
}

int32_t mlsae_tokenizer_token_to_id(const mlsae_tokenizer *tok, const char *token, size_t len)
{
    uint64_t id;
    return mlsae_strmap_get(&tok->ids_by_string, token, len, &id) ? (int32_t)id : -1;
}

const unsigned char *mlsae_tokenizer_token_bytes(const mlsae_tokenizer *tok, int32_t id,
                                                 size_t *len)
{
    if (!mlsae_tokenizer_id_to_token(tok, id)) return NULL;
    *len = tok->bytes_off[id + 1] - tok->bytes_off[id];
    return tok->bytes + tok->bytes_off[id];
}

int mlsae_tokenizer_is_special(const mlsae_tokenizer *tok, int32_t id)
{
    return mlsae_tokenizer_id_to_token(tok, id) != NULL && tok->special[id];
}

size_t mlsae_tokenizer_vocab_size(const mlsae_tokenizer *tok)
{
    return tok->vocab_size;
}

int32_t mlsae_tokenizer_eos_id(const mlsae_tokenizer *tok)
{
    return tok->eos_id;
}

int32_t mlsae_tokenizer_bos_id(const mlsae_tokenizer *tok)
{
    return tok->bos_id;
}

int32_t mlsae_tokenizer_pad_id(const mlsae_tokenizer *tok)
{
    return tok->pad_id;
}
