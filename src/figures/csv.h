/* The CSV behind every figure, and reading the analyses' CSVs.
 *
 * Writing: core/csv_write.h (mlsae_csv): rows built in memory and saved
 * atomically, so a failed write never leaves a partial file.
 *
 * Reading: RFC 4180 (quoted cells may hold commas, quotes and line breaks),
 * a header row, every row with the header's number of cells. */
#ifndef MLSAE_FIGURES_CSV_H
#define MLSAE_FIGURES_CSV_H

#include <stddef.h>
#include "core/csv_write.h"
#include "core/status.h"

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
