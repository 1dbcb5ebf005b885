/* The CSV behind every figure, and reading the analyses' CSVs.
 *
 * Writing: rows are built in memory and saved atomically (core/atomic_file.h),
 * so a failed write never leaves a partial file. Cells are written as pandas'
 * to_csv writes them: reals in the shortest form that reads back exactly
 * ("0.1", "2.0"), NaN as an empty cell, booleans as True/False, text quoted
 * only when it holds a comma, a quote or a line break (RFC 4180).
 *
 * Reading: RFC 4180 (quoted cells may hold commas, quotes and line breaks),
 * a header row, every row with the header's number of cells. */
#ifndef MLSAE_FIGURES_CSV_H
#define MLSAE_FIGURES_CSV_H

#include <stddef.h>
#include "core/status.h"

typedef struct mlsae_csv {
    char *buf;
    size_t len, cap;
    int col;  /* cells in the current row so far */
    int oom;  /* an allocation failed: save reports it */
} mlsae_csv;

void mlsae_csv_init(mlsae_csv *c);
void mlsae_csv_free(mlsae_csv *c);
void mlsae_csv_text(mlsae_csv *c, const char *s);
void mlsae_csv_real(mlsae_csv *c, double v);   /* NaN/inf: empty cell */
/* A float32 value in the shortest form that reads back as the same float
 * (numpy's float32 repr: 0.052083332), as pandas writes float32 columns. */
void mlsae_csv_real_f32(mlsae_csv *c, float v);
void mlsae_csv_int(mlsae_csv *c, long long v);
void mlsae_csv_bool(mlsae_csv *c, int v);
void mlsae_csv_end_row(mlsae_csv *c);
/* Write the rows to path atomically. */
int mlsae_csv_save(const mlsae_csv *c, const char *path, mlsae_error *err);

typedef struct mlsae_csv_table {
    int n_cols, n_rows;
    char **header;  /* [n_cols] */
    char **cells;   /* [n_rows * n_cols], row-major */
    char *path;     /* for messages */
} mlsae_csv_table;

int mlsae_csv_read(const char *path, mlsae_csv_table *t, mlsae_error *err);
void mlsae_csv_table_free(mlsae_csv_table *t);
/* Column index of name, or -1. */
int mlsae_csv_col(const mlsae_csv_table *t, const char *name);
/* Like mlsae_csv_col, failing with "FILE: no column NAME" when absent. */
int mlsae_csv_need_col(const mlsae_csv_table *t, const char *name, mlsae_error *err);
const char *mlsae_csv_cell(const mlsae_csv_table *t, int row, int col);
/* The cell as a number: an empty cell is NaN; anything else that is not a
 * number fails with "FILE: row R, column NAME: not a number". */
int mlsae_csv_real_at(const mlsae_csv_table *t, int row, int col, double *v, mlsae_error *err);

#endif
