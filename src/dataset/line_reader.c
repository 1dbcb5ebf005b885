/* Line reader over plain or zstd-compressed files (see line_reader.h). */
#include "config.h"
#include "dataset/line_reader.h"
#include "core/input_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

struct mlsae_line_reader {
    char *path;
    FILE *fp;
    ZSTD_DCtx *dctx;       /* NULL for plain files */
    unsigned char *in;     /* compressed input buffer */
    ZSTD_inBuffer inb;
    size_t frame_left;     /* last ZSTD_decompressStream hint: 0 = at a frame end */
    int input_eof;
    char *buf;             /* text: [start, len) is not yet returned */
    size_t start, len, cap;
    size_t scan;           /* bytes from start already known to hold no '\n' */
    int done;
    uint64_t line_no, bytes;
};

static int open_reader(const char *path, int allow_stream, mlsae_line_reader **out,
                       mlsae_error *err)
{
    *out = NULL;
    mlsae_line_reader *r = calloc(1, sizeof *r);
    if (!r) return mlsae_fail(err, "%s: out of memory", path);
    r->path = strdup(path);
    r->cap = 1 << 16;
    r->buf = malloc(r->cap);
    size_t n = strlen(path);
    int zst = n >= 4 && strcmp(path + n - 4, ".zst") == 0;
    if (zst) {
        r->dctx = ZSTD_createDCtx();
        r->in = malloc(ZSTD_DStreamInSize());
        r->inb.src = r->in;
    }
    if (!r->path || !r->buf || (zst && (!r->dctx || !r->in))) {
        mlsae_line_reader_close(r);
        return mlsae_fail(err, "%s: out of memory", path);
    }
    r->fp = mlsae_fopen_input(path, allow_stream, err);
    if (!r->fp) {
        mlsae_line_reader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

int mlsae_line_reader_open(const char *path, mlsae_line_reader **out, mlsae_error *err)
{
    return open_reader(path, 0, out, err);
}

int mlsae_line_reader_open_stream(const char *path, mlsae_line_reader **out, mlsae_error *err)
{
    return open_reader(path, 1, out, err);
}

void mlsae_line_reader_close(mlsae_line_reader *r)
{
    if (!r) return;
    if (r->fp) fclose(r->fp);
    ZSTD_freeDCtx(r->dctx);
    free(r->in);
    free(r->buf);
    free(r->path);
    free(r);
}

uint64_t mlsae_line_reader_line(const mlsae_line_reader *r)
{
    return r->line_no;
}

uint64_t mlsae_line_reader_bytes(const mlsae_line_reader *r)
{
    return r->bytes;
}

/* Append up to `room` bytes of text at buf + len; *got = 0 means the end. */
static int fill(mlsae_line_reader *r, size_t room, size_t *got, mlsae_error *err)
{
    char *dst = r->buf + r->len;
    if (!r->dctx) {
        *got = fread(dst, 1, room, r->fp);
        if (*got == 0 && ferror(r->fp))
            return mlsae_fail_errno(err, "%s: read failed after line %llu", r->path,
                                    (unsigned long long)r->line_no);
        return 0;
    }
    ZSTD_outBuffer outb = {dst, room, 0};
    while (outb.pos == 0) {
        if (r->inb.pos == r->inb.size && !r->input_eof) {
            r->inb.size = fread(r->in, 1, ZSTD_DStreamInSize(), r->fp);
            r->inb.pos = 0;
            if (r->inb.size == 0) {
                if (ferror(r->fp))
                    return mlsae_fail_errno(err, "%s: read failed after line %llu", r->path,
                                            (unsigned long long)r->line_no);
                r->input_eof = 1;
            }
        }
        int exhausted = r->inb.pos == r->inb.size && r->input_eof;
        if (exhausted && r->frame_left == 0) break; /* clean end after a whole frame */
        size_t ret = ZSTD_decompressStream(r->dctx, &outb, &r->inb);
        if (ZSTD_isError(ret))
            return mlsae_fail(err, "%s: corrupt zstd data after line %llu: %s", r->path,
                              (unsigned long long)r->line_no, ZSTD_getErrorName(ret));
        r->frame_left = ret;
        if (exhausted && outb.pos == 0) break; /* nothing left to flush */
    }
    if (outb.pos == 0 && r->frame_left != 0)
        return mlsae_fail(err, "%s: truncated zstd stream: the file ends inside a frame (after line %llu)",
                          r->path, (unsigned long long)r->line_no);
    *got = outb.pos;
    return 0;
}

int mlsae_line_reader_next(mlsae_line_reader *r, const char **line, size_t *len, mlsae_error *err)
{
    for (;;) {
        char *base = r->buf + r->start;
        size_t have = r->len - r->start;
        char *nl = memchr(base + r->scan, '\n', have - r->scan);
        if (nl || (r->done && have > 0)) {
            size_t n = nl ? (size_t)(nl - base) : have;
            *line = base;
            *len = n;
            r->start += nl ? n + 1 : n;
            r->bytes += nl ? n + 1 : n;
            r->scan = 0;
            r->line_no++;
            return 1;
        }
        if (r->done) return 0;
        r->scan = have;
        /* Make room: move the partial line to the front, grow when full. */
        if (r->start > 0) {
            memmove(r->buf, base, have);
            r->start = 0;
            r->len = have;
        }
        if (r->len == r->cap) {
            if (r->cap > SIZE_MAX / 2) return mlsae_fail(err, "%s: line too long", r->path);
            char *nb = realloc(r->buf, r->cap * 2);
            if (!nb)
                return mlsae_fail(err, "%s: out of memory for line %llu", r->path,
                                  (unsigned long long)r->line_no + 1);
            r->buf = nb;
            r->cap *= 2;
        }
        size_t got = 0;
        if (fill(r, r->cap - r->len, &got, err) != 0) return -1;
        if (got == 0) r->done = 1;
        r->len += got;
    }
}
