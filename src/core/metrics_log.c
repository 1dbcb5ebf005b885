#include "config.h"
#include "core/metrics_log.h"
#include "core/atomic_file.h"
#include "core/csv_write.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

struct mlsae_metrics_log {
    FILE *fp;
    char *path;
    mlsae_metrics_format format;
    char **columns; /* CSV header, in order */
    size_t n_columns;
    int have_header; /* CSV: the header line is in the file */
};

/* Python's repr (and numpy's float32 repr with is_float): the fewest
 * significant digits that read back as v, written in fixed notation when the
 * decimal exponent is in [-4, 16), else as d.ddde+XX; a whole number in fixed
 * notation ends in ".0". */
static void format_shortest(double v, int is_float, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "inf" : "-inf");
        return;
    }
    const int max_prec = is_float ? 9 : 17;
    int prec = 1;
    for (; prec < max_prec; prec++) {
        snprintf(buf, n, "%.*e", prec - 1, v);
        if (is_float ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
    }
    snprintf(buf, n, "%.*e", prec - 1, v);
    const char *e = strchr(buf, 'e');
    int exp10 = e && v != 0 ? atoi(e + 1) : 0;
    if (exp10 < -4 || exp10 >= 16) return; /* already d.ddde+XX, as repr */
    int decimals = prec - 1 - exp10;
    snprintf(buf, n, "%.*f", decimals > 0 ? decimals : 0, v);
    if (!strchr(buf, '.')) {
        size_t len = strlen(buf);
        if (len + 3 <= n) memcpy(buf + len, ".0", 3);
    }
}

void mlsae_format_double_shortest(double v, char *buf, size_t n)
{
    format_shortest(v, 0, buf, n);
}

void mlsae_format_float_shortest(float v, char *buf, size_t n)
{
    format_shortest((double)v, 1, buf, n);
}

int mlsae_metrics_row_set(json_t *row, const char *key, double value)
{
    json_t *v = isfinite(value) ? json_real(value) : json_null();
    if (!v) return -1;
    return json_object_set_new(row, key, v) == 0 ? 0 : -1;
}

/* ---- CSV cells ---------------------------------------------------------- */

/* Split one CSV line (no line breaks) into malloc'd fields. */
static int csv_split(const char *line, char ***fields_out, size_t *n_out)
{
    size_t cap = 8, n = 0;
    char **fields = malloc(cap * sizeof *fields);
    size_t len = strlen(line);
    char *cell = malloc(len + 1);
    if (!fields || !cell) goto oom;
    const char *p = line;
    for (;;) {
        size_t k = 0;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    cell[k++] = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    cell[k++] = *p++;
                }
            }
            while (*p && *p != ',') cell[k++] = *p++; /* tolerate text after the quote */
        } else {
            while (*p && *p != ',') cell[k++] = *p++;
        }
        cell[k] = '\0';
        if (n == cap) {
            char **grown = realloc(fields, 2 * cap * sizeof *fields);
            if (!grown) goto oom;
            fields = grown;
            cap *= 2;
        }
        if (!(fields[n] = strdup(cell))) goto oom;
        n++;
        if (*p != ',') break;
        p++;
    }
    free(cell);
    *fields_out = fields;
    *n_out = n;
    return 0;
oom:
    if (fields)
        for (size_t i = 0; i < n; i++) free(fields[i]);
    free(fields);
    free(cell);
    return -1;
}

static void free_fields(char **fields, size_t n)
{
    if (!fields) return;
    for (size_t i = 0; i < n; i++) free(fields[i]);
    free(fields);
}

static int check_no_line_break(const char *s, const char *what, const char *path, mlsae_error *err)
{
    if (strpbrk(s, "\r\n"))
        return mlsae_fail(err, "%s: %s '%.40s' contains a line break", path, what, s);
    return 0;
}

/* A row value as a CSV cell (core/csv_write.h): null, and nested values
 * that a flat CSV cannot hold, as an empty cell. */
static void csv_value(mlsae_csv *c, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER: mlsae_csv_int(c, (long long)json_integer_value(v)); break;
    case JSON_REAL: mlsae_csv_real(c, json_real_value(v)); break;
    case JSON_STRING: mlsae_csv_text(c, json_string_value(v)); break;
    case JSON_TRUE:
    case JSON_FALSE: mlsae_csv_bool(c, json_is_true(v)); break;
    default: mlsae_csv_text(c, ""); break;
    }
}

/* Write the line built in c to fp and free c. */
static int put_line(const mlsae_metrics_log *log, mlsae_csv *c, FILE *fp, mlsae_error *err)
{
    mlsae_csv_end_row(c);
    int oom = c->out.oom, rc = mlsae_csv_flush(c, fp);
    mlsae_csv_free(c);
    if (oom) return mlsae_fail(err, "%s: out of memory", log->path);
    if (rc) return mlsae_fail_errno(err, "%s: write failed", log->path);
    return 0;
}

static int put_header(const mlsae_metrics_log *log, FILE *fp, mlsae_error *err)
{
    mlsae_csv c;
    mlsae_csv_init(&c);
    for (size_t i = 0; i < log->n_columns; i++) mlsae_csv_text(&c, log->columns[i]);
    return put_line(log, &c, fp, err);
}

/* ---- existing files ------------------------------------------------------ */

/* Numeric value of a cell/field for the resume filter; NAN when absent. */
static double number_of_text(const char *s)
{
    if (!s || !*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end == '\0' ? v : NAN;
}

/* Keep the rows of an existing file that survive a resume; rewrite it when
 * anything is dropped. For CSV, also load the header. */
static int load_existing(mlsae_metrics_log *log, const mlsae_metrics_log_options *opt,
                         mlsae_error *err)
{
    char *data = NULL;
    size_t size = 0;
    if (mlsae_read_file(log->path, &data, &size, err) != 0) return -1;
    if (strlen(data) != size) {
        free(data);
        return mlsae_fail(err, "%s: contains a NUL byte; not a metrics log", log->path);
    }
    char *out = malloc(size + 1);
    if (!out) {
        free(data);
        return mlsae_fail(err, "%s: out of memory", log->path);
    }
    size_t out_len = 0, line_no = 0;
    long resume_col = -1;
    int changed = 0, rc = 0;
    char *line = data;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (!nl) { /* a partial last line: the row being written at a crash */
            changed = 1;
            break;
        }
        *nl = '\0';
        line_no++;
        size_t len = (size_t)(nl - line);
        if (len && line[len - 1] == '\r') line[len - 1] = '\0';
        int keep = 1;
        if (log->format == MLSAE_METRICS_CSV) {
            char **fields;
            size_t nf;
            if (csv_split(line, &fields, &nf) != 0) {
                rc = mlsae_fail(err, "%s: out of memory", log->path);
                break;
            }
            if (line_no == 1) {
                log->columns = fields;
                log->n_columns = nf;
                log->have_header = 1;
                if (opt->resume_key)
                    for (size_t i = 0; i < nf; i++)
                        if (strcmp(fields[i], opt->resume_key) == 0) resume_col = (long)i;
            } else {
                if (nf != log->n_columns) {
                    free_fields(fields, nf);
                    rc = mlsae_fail(err, "%s:%zu: %zu cells, but the header has %zu columns",
                                    log->path, line_no, nf, log->n_columns);
                    break;
                }
                if (resume_col >= 0 && number_of_text(fields[resume_col]) > opt->resume_max)
                    keep = 0;
                free_fields(fields, nf);
            }
        } else if (line[0]) {
            json_error_t jerr;
            json_t *row = json_loads(line, 0, &jerr);
            if (!row || !json_is_object(row)) {
                json_decref(row);
                rc = mlsae_fail(err, "%s:%zu: not a JSON object%s%s", log->path, line_no,
                                row ? "" : ": ", row ? "" : jerr.text);
                break;
            }
            if (opt->resume_key) {
                json_t *v = json_object_get(row, opt->resume_key);
                if (v && json_is_number(v) && json_number_value(v) > opt->resume_max) keep = 0;
            }
            json_decref(row);
        }
        if (keep) {
            size_t l = strlen(line);
            memcpy(out + out_len, line, l);
            out_len += l;
            out[out_len++] = '\n';
        } else {
            changed = 1;
        }
        line = nl + 1;
    }
    if (rc == 0 && changed) rc = mlsae_write_file_atomic(log->path, out, out_len, err);
    free(out);
    free(data);
    return rc;
}

/* ---- public -------------------------------------------------------------- */

int mlsae_metrics_log_open(mlsae_metrics_log **out, const char *path,
                           const mlsae_metrics_log_options *opt_in, mlsae_error *err)
{
    mlsae_metrics_log_options opt = {0};
    if (opt_in) opt = *opt_in;
    *out = NULL;
    mlsae_metrics_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return mlsae_fail(err, "%s: out of memory", path);
    }
    log->format = opt.format;
    if (log->format == MLSAE_METRICS_AUTO) {
        size_t n = strlen(path);
        log->format = n >= 4 && strcmp(path + n - 4, ".csv") == 0 ? MLSAE_METRICS_CSV
                                                                   : MLSAE_METRICS_JSONL;
    }
    struct stat sb;
    if (opt.append && stat(path, &sb) == 0 && sb.st_size > 0) {
        if (load_existing(log, &opt, err) != 0) {
            mlsae_metrics_log_close(log, NULL);
            return -1;
        }
    }
    log->fp = fopen(path, opt.append ? "a" : "w");
    if (!log->fp) {
        mlsae_fail_errno(err, "%s: cannot open the metrics log", path);
        mlsae_metrics_log_close(log, NULL);
        return -1;
    }
    *out = log;
    return 0;
}

/* CSV: add the row's keys that the header lacks, rewriting the file. */
static int extend_header(mlsae_metrics_log *log, const json_t *row, mlsae_error *err)
{
    const char *key;
    const json_t *value;
    size_t n_new = 0;
    json_object_foreach((json_t *)row, key, value) {
        int known = 0;
        for (size_t i = 0; i < log->n_columns && !known; i++)
            known = strcmp(log->columns[i], key) == 0;
        if (known) continue;
        if (check_no_line_break(key, "key", log->path, err) != 0) return -1;
        char **grown = realloc(log->columns, (log->n_columns + 1) * sizeof *grown);
        if (!grown) return mlsae_fail(err, "%s: out of memory", log->path);
        log->columns = grown;
        if (!(log->columns[log->n_columns] = strdup(key)))
            return mlsae_fail(err, "%s: out of memory", log->path);
        log->n_columns++;
        n_new++;
    }
    if (n_new == 0 || !log->have_header) return 0;

    /* Rewrite: the new header, then every old row padded with empty cells. */
    if (fflush(log->fp) != 0) return mlsae_fail_errno(err, "%s: write failed", log->path);
    char *data = NULL;
    size_t size = 0;
    if (mlsae_read_file(log->path, &data, &size, err) != 0) return -1;
    mlsae_atomic_file af;
    if (mlsae_atomic_open(&af, log->path, err) != 0) {
        free(data);
        return -1;
    }
    if (put_header(log, af.fp, err) != 0) {
        free(data);
        mlsae_atomic_abort(&af);
        return -1;
    }
    char *line = strchr(data, '\n');
    line = line ? line + 1 : data + size;
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        fwrite(line, 1, len, af.fp);
        for (size_t i = 0; i < n_new; i++) fputc(',', af.fp);
        fputc('\n', af.fp);
        line += len + (nl ? 1 : 0);
    }
    free(data);
    if (mlsae_atomic_commit(&af, err) != 0) return -1;
    fclose(log->fp);
    log->fp = fopen(log->path, "a");
    if (!log->fp) return mlsae_fail_errno(err, "%s: cannot reopen the metrics log", log->path);
    return 0;
}

static int write_csv_row(mlsae_metrics_log *log, const json_t *row, mlsae_error *err)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)row, key, value) {
        if (json_is_string(value) &&
            check_no_line_break(json_string_value(value), "value", log->path, err) != 0)
            return -1;
    }
    if (extend_header(log, row, err) != 0) return -1;
    if (!log->have_header) {
        if (put_header(log, log->fp, err) != 0) return -1;
        log->have_header = 1;
    }
    mlsae_csv c;
    mlsae_csv_init(&c);
    for (size_t i = 0; i < log->n_columns; i++) {
        const json_t *v = json_object_get(row, log->columns[i]);
        if (v) csv_value(&c, v);
        else mlsae_csv_text(&c, "");
    }
    return put_line(log, &c, log->fp, err);
}

int mlsae_metrics_log_write(mlsae_metrics_log *log, const json_t *row, mlsae_error *err)
{
    if (!json_is_object(row)) return mlsae_fail(err, "%s: a metrics row must be a JSON object", log->path);
    if (log->format == MLSAE_METRICS_CSV) {
        if (write_csv_row(log, row, err) != 0) return -1;
    } else {
        char *text = json_dumps(row, JSON_COMPACT);
        if (!text) return mlsae_fail(err, "%s: cannot encode the metrics row", log->path);
        fputs(text, log->fp);
        fputc('\n', log->fp);
        free(text);
    }
    if (fflush(log->fp) != 0 || ferror(log->fp))
        return mlsae_fail_errno(err, "%s: write failed", log->path);
    return 0;
}

int mlsae_metrics_log_sync(mlsae_metrics_log *log, mlsae_error *err)
{
    if (!log || !log->fp) return 0;
    if (fflush(log->fp) != 0 || ferror(log->fp) || fsync(fileno(log->fp)) != 0)
        return mlsae_fail_errno(err, "%s: write failed", log->path);
    return 0;
}

int mlsae_metrics_log_close(mlsae_metrics_log *log, mlsae_error *err)
{
    if (!log) return 0;
    int rc = 0;
    if (log->fp) {
        int bad = ferror(log->fp);
        if (fclose(log->fp) != 0 || bad) rc = mlsae_fail_errno(err, "%s: write failed", log->path);
    }
    free_fields(log->columns, log->n_columns);
    free(log->path);
    free(log);
    return rc;
}
