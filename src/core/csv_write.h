/* Writing CSV as pandas' DataFrame.to_csv writes it: comma-separated cells,
 * '\n' line ends, reals in the shortest form that reads back exactly
 * (Python's repr: "0.1", "2.0"; core/metrics_log.h), NaN and infinities as
 * an empty cell, booleans as True/False, text quoted only when it holds a
 * comma, a quote or a line break (quotes doubled, RFC 4180).
 *
 * Cells are built in memory (core/strbuf.h). Either the whole table is
 * kept and saved at once (mlsae_csv_save, atomically), or each finished
 * row is handed on with mlsae_csv_flush (a streaming writer, e.g.
 * analysis/csv_out.h). */
#ifndef MLSAE_CORE_CSV_WRITE_H
#define MLSAE_CORE_CSV_WRITE_H

#include <stdio.h>
#include "core/status.h"
#include "core/strbuf.h"

typedef struct mlsae_csv {
    mlsae_strbuf out;
    int col; /* cells in the current row so far */
} mlsae_csv;

void mlsae_csv_init(mlsae_csv *c);
void mlsae_csv_free(mlsae_csv *c);
void mlsae_csv_text(mlsae_csv *c, const char *s);
void mlsae_csv_real(mlsae_csv *c, double v); /* NaN/inf: empty cell */
/* A float32 value in the shortest form that reads back as the same float
 * (numpy's float32 repr: 0.052083332), as pandas writes float32 columns. */
void mlsae_csv_real_f32(mlsae_csv *c, float v);
void mlsae_csv_int(mlsae_csv *c, long long v);
void mlsae_csv_bool(mlsae_csv *c, int v);
void mlsae_csv_end_row(mlsae_csv *c);
/* Write what is built to path atomically; "PATH: out of memory" when an
 * allocation failed on the way. */
int mlsae_csv_save(const mlsae_csv *c, const char *path, mlsae_error *err);
/* Write what is built so far to fp and empty the buffer. -1 when an
 * allocation failed on the way (nothing more is written) or fp reports an
 * error; the caller names the file. */
int mlsae_csv_flush(mlsae_csv *c, FILE *fp);

#endif
