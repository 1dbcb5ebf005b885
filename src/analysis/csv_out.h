/* Writing the analyses' CSV files as pandas' DataFrame.to_csv writes them:
 * a header line, comma-separated cells, reals in the shortest form that
 * reads back exactly (Python's repr, core/metrics_log.h), NaN as an empty
 * cell, strings quoted only when they hold a comma, a quote or a line break
 * (quotes doubled). Written atomically (core/atomic_file.h): nothing is
 * left under the final name unless mlsae_csvw_commit succeeds. */
#ifndef MLSAE_ANALYSIS_CSV_OUT_H
#define MLSAE_ANALYSIS_CSV_OUT_H

#include <stdint.h>
#include "core/atomic_file.h"
#include "core/status.h"

typedef struct mlsae_csv_writer {
    mlsae_atomic_file af;
    int col;      /* cells written in the current line */
    int open;
} mlsae_csv_writer;

/* Open path and write the header (n column names). */
int mlsae_csvw_open(mlsae_csv_writer *c, const char *path, const char *const *columns, int n,
                   mlsae_error *err);
void mlsae_csvw_real(mlsae_csv_writer *c, double v);
void mlsae_csvw_int(mlsae_csv_writer *c, int64_t v);
void mlsae_csvw_str(mlsae_csv_writer *c, const char *s);
void mlsae_csvw_end_row(mlsae_csv_writer *c);
int mlsae_csvw_commit(mlsae_csv_writer *c, mlsae_error *err);
void mlsae_csvw_abort(mlsae_csv_writer *c);

#endif
