#include "config.h"
#include "analysis/csv_out.h"

#include <math.h>
#include <string.h>

#include "core/metrics_log.h"

static void sep(mlsae_csv_writer *c)
{
    if (c->col++ > 0) fputc(',', c->af.fp);
}

int mlsae_csvw_open(mlsae_csv_writer *c, const char *path, const char *const *columns, int n,
                   mlsae_error *err)
{
    memset(c, 0, sizeof *c);
    if (mlsae_atomic_open(&c->af, path, err)) return -1;
    c->open = 1;
    for (int i = 0; i < n; i++) mlsae_csvw_str(c, columns[i]);
    mlsae_csvw_end_row(c);
    return 0;
}

void mlsae_csvw_real(mlsae_csv_writer *c, double v)
{
    sep(c);
    if (!isfinite(v)) return; /* pandas writes NaN as an empty cell */
    char buf[40];
    mlsae_format_double_shortest(v, buf, sizeof buf);
    fputs(buf, c->af.fp);
}

void mlsae_csvw_int(mlsae_csv_writer *c, int64_t v)
{
    sep(c);
    fprintf(c->af.fp, "%lld", (long long)v);
}

void mlsae_csvw_str(mlsae_csv_writer *c, const char *s)
{
    sep(c);
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, c->af.fp);
        return;
    }
    fputc('"', c->af.fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', c->af.fp);
        fputc(*s, c->af.fp);
    }
    fputc('"', c->af.fp);
}

void mlsae_csvw_end_row(mlsae_csv_writer *c)
{
    fputc('\n', c->af.fp);
    c->col = 0;
}

int mlsae_csvw_commit(mlsae_csv_writer *c, mlsae_error *err)
{
    c->open = 0;
    return mlsae_atomic_commit(&c->af, err);
}

void mlsae_csvw_abort(mlsae_csv_writer *c)
{
    if (c->open) mlsae_atomic_abort(&c->af);
    c->open = 0;
}
