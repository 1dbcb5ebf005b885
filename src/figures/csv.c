#include "config.h"
#include "figures/csv.h"
#include "core/atomic_file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading ------------------------------------------------------------ */

void mlsae_csv_table_free(mlsae_csv_table *t)
{
    if (t->header)
        for (int i = 0; i < t->n_cols; i++) free(t->header[i]);
    if (t->cells)
        for (size_t i = 0; i < (size_t)t->n_rows * (size_t)t->n_cols; i++) free(t->cells[i]);
    free(t->header);
    free(t->cells);
    free(t->path);
    memset(t, 0, sizeof *t);
}

/* One cell starting at *p; advances past its separator. *end_row is set
 * at a line break or the end of the data. NULL on a malformed quote. */
static char *next_cell(const char **p, const char *end, int *end_row, int *bad)
{
    const char *s = *p;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    int quoted = s < end && *s == '"';
    if (quoted) s++;
    *end_row = 0;
    for (;;) {
        if (s >= end) {
            if (quoted) *bad = 1;
            *end_row = 1;
            break;
        }
        char ch = *s;
        if (quoted && ch == '"') {
            if (s + 1 < end && s[1] == '"') {
                s += 2;
                ch = '"';
            } else {
                s++;
                quoted = 0;
                if (s < end && *s != ',' && *s != '\n' && *s != '\r') *bad = 1;
                continue;
            }
        } else if (!quoted && ch == ',') {
            s++;
            break;
        } else if (!quoted && (ch == '\n' || ch == '\r')) {
            if (ch == '\r' && s + 1 < end && s[1] == '\n') s++;
            s++;
            *end_row = 1;
            break;
        } else {
            s++;
        }
        if (n + 2 > cap) {
            char *b = realloc(out, cap *= 2);
            if (!b) {
                free(out);
                return NULL;
            }
            out = b;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    *p = s;
    return out;
}

int mlsae_csv_read(const char *path, mlsae_csv_table *t, mlsae_error *err)
{
    memset(t, 0, sizeof *t);
    char *data = NULL;
    size_t n = 0;
    if (mlsae_read_file(path, &data, &n, err) != 0) return -1;
    t->path = strdup(path);
    const char *p = data, *end = data + n;
    size_t cap = 0, used = 0;
    char **cells = NULL;
    int row = 0, rc = 0;
    while (p < end && rc == 0) {
        int end_row = 0, col = 0, bad = 0;
        if (*p == '\n' || *p == '\r') { /* blank line */
            p++;
            continue;
        }
        while (!end_row) {
            char *cell = next_cell(&p, end, &end_row, &bad);
            if (!cell) {
                rc = mlsae_fail(err, "%s: out of memory", path);
                break;
            }
            if (bad) {
                free(cell);
                rc = mlsae_fail(err, "%s: line %d: malformed quoted cell", path, row + 1);
                break;
            }
            if (used == cap) {
                cap = cap ? cap * 2 : 256;
                char **c2 = realloc(cells, cap * sizeof *c2);
                if (!c2) {
                    free(cell);
                    rc = mlsae_fail(err, "%s: out of memory", path);
                    break;
                }
                cells = c2;
            }
            cells[used++] = cell;
            col++;
        }
        if (rc) break;
        if (row == 0) {
            t->n_cols = col;
        } else if (col != t->n_cols) {
            rc = mlsae_fail(err, "%s: row %d has %d cells, the header %d", path, row, col,
                            t->n_cols);
        }
        row++;
    }
    free(data);
    if (rc == 0 && row == 0) rc = mlsae_fail(err, "%s: empty (no header row)", path);
    if (rc) {
        for (size_t i = 0; i < used; i++) free(cells[i]);
        free(cells);
        free(t->path);
        memset(t, 0, sizeof *t);
        return -1;
    }
    t->n_rows = row - 1;
    t->header = malloc((size_t)t->n_cols * sizeof *t->header);
    if (!t->header) {
        for (size_t i = 0; i < used; i++) free(cells[i]);
        free(cells);
        free(t->path);
        memset(t, 0, sizeof *t);
        return mlsae_fail(err, "%s: out of memory", path);
    }
    memcpy(t->header, cells, (size_t)t->n_cols * sizeof *cells);
    memmove(cells, cells + t->n_cols, (used - (size_t)t->n_cols) * sizeof *cells);
    t->cells = cells;
    return 0;
}

int mlsae_csv_col(const mlsae_csv_table *t, const char *name)
{
    for (int i = 0; i < t->n_cols; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

int mlsae_csv_need_col(const mlsae_csv_table *t, const char *name, mlsae_error *err)
{
    int c = mlsae_csv_col(t, name);
    if (c < 0) mlsae_fail(err, "%s: no column %s", t->path, name);
    return c;
}

const char *mlsae_csv_cell(const mlsae_csv_table *t, int row, int col)
{
    return t->cells[(size_t)row * (size_t)t->n_cols + (size_t)col];
}

int mlsae_csv_real_at(const mlsae_csv_table *t, int row, int col, double *v, mlsae_error *err)
{
    const char *s = mlsae_csv_cell(t, row, col);
    if (!*s) {
        *v = NAN;
        return 0;
    }
    char *e;
    *v = strtod(s, &e);
    if (e == s || *e)
        return mlsae_fail(err, "%s: row %d, column %s: not a number (%.40s)", t->path, row + 1,
                          t->header[col], s);
    return 0;
}
