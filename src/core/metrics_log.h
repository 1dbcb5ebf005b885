/* Metrics logs: one row per call, appended to a JSON Lines or CSV file and
 * flushed at once, so a crash loses at most the row being written.
 *
 * A row is a jansson object whose values are numbers, strings, booleans or
 * null (missing / NaN). Keys keep their insertion order.
 *
 * JSON Lines: one compact object per line.
 * CSV: the header is the first row's keys, in order; later rows follow that
 * column order, leave missing keys empty, and a row with new keys extends the
 * header (the file is rewritten atomically with empty cells for the earlier
 * rows). Null (NaN) is written as an empty cell, as pandas' to_csv writes
 * NaN; reals in the shortest form that reads back exactly ("0.1", "2.0").
 * Strings must not contain line breaks.
 *
 * Resuming: open with append = 1 to keep the rows already there. A trailing
 * partial line (a crash mid-write) is dropped; with resume_key set, rows
 * whose resume_key value is greater than resume_max (logged after the
 * checkpoint being resumed from) are dropped too, so they are not repeated.
 */
#ifndef MLSAE_CORE_METRICS_LOG_H
#define MLSAE_CORE_METRICS_LOG_H

#include <jansson.h>
#include "core/status.h"

typedef enum mlsae_metrics_format {
    MLSAE_METRICS_AUTO = 0, /* ".csv" -> CSV, anything else -> JSON Lines */
    MLSAE_METRICS_JSONL,
    MLSAE_METRICS_CSV
} mlsae_metrics_format;

typedef struct mlsae_metrics_log_options {
    mlsae_metrics_format format;
    int append;             /* 0: start a new file; 1: keep existing rows */
    const char *resume_key; /* with append: drop rows with resume_key > resume_max */
    double resume_max;
} mlsae_metrics_log_options;

typedef struct mlsae_metrics_log mlsae_metrics_log;

/* opt may be NULL (AUTO, new file). */
int mlsae_metrics_log_open(mlsae_metrics_log **log, const char *path,
                           const mlsae_metrics_log_options *opt, mlsae_error *err);

/* Append one row (a JSON object) and flush. */
int mlsae_metrics_log_write(mlsae_metrics_log *log, const json_t *row, mlsae_error *err);

/* Close (log may be NULL); reports a failed final flush. */
/* Rows written so far on stable storage (fflush + fsync): call before
 * publishing a checkpoint that claims to cover them. */
int mlsae_metrics_log_sync(mlsae_metrics_log *log, mlsae_error *err);
int mlsae_metrics_log_close(mlsae_metrics_log *log, mlsae_error *err);

/* Set row[key] = value as a JSON real, or null when value is NaN or
 * infinite (JSON has no such numbers). Returns 0, or -1 when out of memory. */
int mlsae_metrics_row_set(json_t *row, const char *key, double value);

/* Shortest decimal text of a double that reads back exactly, with ".0" for
 * integral values (Python's repr); "nan"/"inf"/"-inf" for non-finite. */
void mlsae_format_double_shortest(double v, char *buf, size_t n);
/* The same for a float32 value, as numpy writes float32 (0.052083332). */
void mlsae_format_float_shortest(float v, char *buf, size_t n);

#endif
