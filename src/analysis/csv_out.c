#include "config.h"
#include "analysis/csv_out.h"

#include <string.h>

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
    mlsae_csv_real(&c->row, v);
}

void mlsae_csvw_int(mlsae_csv_writer *c, int64_t v)
{
    mlsae_csv_int(&c->row, (long long)v);
}

void mlsae_csvw_str(mlsae_csv_writer *c, const char *s)
{
    mlsae_csv_text(&c->row, s);
}

void mlsae_csvw_end_row(mlsae_csv_writer *c)
{
    mlsae_csv_end_row(&c->row);
    mlsae_csv_flush(&c->row, c->af.fp); /* a failure is reported by commit */
}

void mlsae_csvw_model(mlsae_csv_writer *c, const mlsae_analysis_model *m)
{
    mlsae_csvw_str(c, m->model_name);
    mlsae_csvw_int(c, m->n_layers);
    mlsae_csvw_int(c, m->n_latents);
    mlsae_csvw_int(c, m->expansion_factor);
    mlsae_csvw_int(c, m->k);
}

void mlsae_csvw_summary(mlsae_csv_writer *c, const mlsae_summary *s)
{
    mlsae_csvw_real(c, s->mean);
    mlsae_csvw_real(c, s->var);
    mlsae_csvw_real(c, s->std);
    mlsae_csvw_real(c, s->sem);
}

int mlsae_csvw_commit(mlsae_csv_writer *c, mlsae_error *err)
{
    int oom = c->row.out.oom;
    mlsae_csv_free(&c->row);
    if (oom) {
        mlsae_fail(err, "%s: out of memory", c->af.final_path);
        mlsae_csvw_abort(c);
        return -1;
    }
    c->open = 0;
    return mlsae_atomic_commit(&c->af, err);
}

void mlsae_csvw_abort(mlsae_csv_writer *c)
{
    mlsae_csv_free(&c->row);
    if (c->open) mlsae_atomic_abort(&c->af);
    c->open = 0;
}
