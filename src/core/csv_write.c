#include "config.h"
#include "core/csv_write.h"

#include <math.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/metrics_log.h"

void mlsae_csv_init(mlsae_csv *c)
{
    memset(c, 0, sizeof *c);
}

void mlsae_csv_free(mlsae_csv *c)
{
    mlsae_strbuf_free(&c->out);
    memset(c, 0, sizeof *c);
}

/* Start a cell: the separator after the first of a row. */
static mlsae_strbuf *cell(mlsae_csv *c)
{
    if (c->col++ > 0) mlsae_strbuf_put(&c->out, ",", 1);
    return &c->out;
}

void mlsae_csv_text(mlsae_csv *c, const char *s)
{
    mlsae_strbuf *b = cell(c);
    if (!strpbrk(s, ",\"\r\n")) {
        mlsae_strbuf_puts(b, s);
        return;
    }
    mlsae_strbuf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') mlsae_strbuf_put(b, "\"", 1);
        mlsae_strbuf_put(b, p, 1);
    }
    mlsae_strbuf_put(b, "\"", 1);
}

/* A real cell: float32 values in float32's shortest form. */
static void real_cell(mlsae_csv *c, double v, int f32)
{
    mlsae_strbuf *b = cell(c);
    if (!isfinite(v)) return;
    char buf[64];
    if (f32) mlsae_format_float_shortest((float)v, buf, sizeof buf);
    else mlsae_format_double_shortest(v, buf, sizeof buf);
    mlsae_strbuf_puts(b, buf);
}

void mlsae_csv_real(mlsae_csv *c, double v)
{
    real_cell(c, v, 0);
}

void mlsae_csv_real_f32(mlsae_csv *c, float v)
{
    real_cell(c, v, 1);
}

void mlsae_csv_int(mlsae_csv *c, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    mlsae_strbuf_puts(cell(c), buf);
}

void mlsae_csv_bool(mlsae_csv *c, int v)
{
    mlsae_strbuf_puts(cell(c), v ? "True" : "False");
}

void mlsae_csv_end_row(mlsae_csv *c)
{
    mlsae_strbuf_put(&c->out, "\n", 1);
    c->col = 0;
}

int mlsae_csv_save(const mlsae_csv *c, const char *path, mlsae_error *err)
{
    if (c->out.oom) return mlsae_fail(err, "%s: out of memory", path);
    return mlsae_write_file_atomic(path, c->out.data ? c->out.data : "", c->out.len, err);
}

int mlsae_csv_flush(mlsae_csv *c, FILE *fp)
{
    if (c->out.oom) return -1;
    if (c->out.len && fwrite(c->out.data, 1, c->out.len, fp) != c->out.len) return -1;
    mlsae_strbuf_clear(&c->out);
    return 0;
}
