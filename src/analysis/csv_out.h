/* Writing the analyses' CSV files a row at a time: the cells of
 * core/csv_write.h (pandas' DataFrame.to_csv: reals as Python's repr, NaN as
 * an empty cell, text quoted only when it must be), each finished row
 * streamed to the file. Written atomically (core/atomic_file.h): nothing is
 * left under the final name unless mlsae_csvw_commit succeeds. */
#ifndef MLSAE_ANALYSIS_CSV_OUT_H
#define MLSAE_ANALYSIS_CSV_OUT_H

#include <stdint.h>
#include "analysis/analysis.h"
#include "core/atomic_file.h"
#include "core/csv_write.h"
#include "core/status.h"

typedef struct mlsae_csv_writer {
    mlsae_atomic_file af;
    mlsae_csv row; /* the cells of the current line */
    int open;
} mlsae_csv_writer;

/* Open path and write the header (n column names). */
int mlsae_csvw_open(mlsae_csv_writer *c, const char *path, const char *const *columns, int n,
                   mlsae_error *err);
void mlsae_csvw_real(mlsae_csv_writer *c, double v);
void mlsae_csvw_int(mlsae_csv_writer *c, int64_t v);
void mlsae_csvw_str(mlsae_csv_writer *c, const char *s);
void mlsae_csvw_end_row(mlsae_csv_writer *c);
/* The reference's model columns: model_name, n_layers, n_latents,
 * expansion_factor, k. */
void mlsae_csvw_model(mlsae_csv_writer *c, const mlsae_analysis_model *m);
/* A summary's columns: mean, var, std, sem. */
void mlsae_csvw_summary(mlsae_csv_writer *c, const mlsae_summary *s);
/* Fails (and removes the temporary file) on a write error or when a row
 * could not be built for want of memory. */
int mlsae_csvw_commit(mlsae_csv_writer *c, mlsae_error *err);
void mlsae_csvw_abort(mlsae_csv_writer *c);

#endif
