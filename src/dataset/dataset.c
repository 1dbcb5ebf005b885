/* Dataset reading: file resolution and documents from JSONL / text files. */
#include "config.h"
#include "dataset/dataset.h"
#include "core/input_file.h"

#include <dirent.h>
#include <glob.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "dataset/line_reader.h"

enum file_kind { KIND_UNKNOWN, KIND_JSONL, KIND_TXT };

struct mlsae_dataset {
    char **files;
    size_t n_files, cap_files;
    size_t next_file;            /* index of the file to open next */
    mlsae_line_reader *lines;    /* current JSONL file, if any */
    const char *cur_file;
    json_t *cur_json;            /* owner of the last returned text */
    char *cur_txt;               /* or: the last .txt document */
    uint64_t position, text_bytes;
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static enum file_kind kind_of(const char *path)
{
    if (ends_with(path, ".txt")) return KIND_TXT;
    if (ends_with(path, ".jsonl") || ends_with(path, ".json") || ends_with(path, ".jsonl.zst") ||
        ends_with(path, ".json.zst") || ends_with(path, ".zst"))
        return KIND_JSONL;
    return KIND_UNKNOWN;
}

/* Shards are regular files: a FIFO would block the reader (stat does not). */
static int add_file(mlsae_dataset *ds, const char *path, mlsae_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return mlsae_fail_errno(err, "%s: cannot read dataset", path);
    if (!S_ISREG(sb.st_mode))
        return mlsae_fail(err, "%s: not a regular file (%s)", path, mlsae_file_type_name(sb.st_mode));
    if (ds->n_files == ds->cap_files) {
        size_t cap = ds->cap_files ? ds->cap_files * 2 : 8;
        char **f = realloc(ds->files, cap * sizeof *f);
        if (!f) return mlsae_fail(err, "out of memory");
        ds->files = f;
        ds->cap_files = cap;
    }
    if (!(ds->files[ds->n_files] = strdup(path))) return mlsae_fail(err, "out of memory");
    ds->n_files++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_directory(mlsae_dataset *ds, const char *dir, mlsae_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return mlsae_fail_errno(err, "%s: cannot open directory", dir);
    size_t first = ds->n_files;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || kind_of(e->d_name) == KIND_UNKNOWN) continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            rc = mlsae_fail(err, "out of memory");
            break;
        }
        snprintf(p, n, "%s/%s", dir, e->d_name);
        struct stat st;
        /* subdirectories are not searched; any other entry named like a
         * shard must be one */
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) rc = add_file(ds, p, err);
        free(p);
    }
    closedir(d);
    if (rc) return rc;
    if (ds->n_files == first)
        return mlsae_fail(err, "%s: no dataset files (.jsonl, .jsonl.zst, .txt) in this directory", dir);
    qsort(ds->files + first, ds->n_files - first, sizeof *ds->files, cmp_str);
    return 0;
}

static int add_source(mlsae_dataset *ds, const char *src, mlsae_error *err)
{
    struct stat st;
    if (stat(src, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return add_directory(ds, src, err);
        if (kind_of(src) == KIND_UNKNOWN)
            return mlsae_fail(err, "%s: unknown dataset file type (expected .jsonl, .jsonl.zst, "
                                   ".json, .zst or .txt)", src);
        return add_file(ds, src, err);
    }
    if (!strpbrk(src, "*?[")) return mlsae_fail_errno(err, "%s: cannot read dataset", src);
    glob_t g;
    int r = glob(src, 0, NULL, &g);
    if (r == GLOB_NOMATCH) return mlsae_fail(err, "%s: no file matches this pattern", src);
    if (r != 0) return mlsae_fail(err, "%s: cannot expand this pattern", src);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i];
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rc = add_directory(ds, p, err);
        else if (kind_of(p) != KIND_UNKNOWN)
            rc = add_file(ds, p, err);
    }
    globfree(&g);
    return rc;
}

int mlsae_dataset_open(const char *const *sources, size_t n_sources, mlsae_dataset **out,
                       mlsae_error *err)
{
    *out = NULL;
    if (n_sources == 0) return mlsae_fail(err, "no dataset given");
    mlsae_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return mlsae_fail(err, "out of memory");
    for (size_t i = 0; i < n_sources; i++) {
        if (add_source(ds, sources[i], err) != 0) {
            mlsae_dataset_close(ds);
            return -1;
        }
    }
    if (ds->n_files == 0) {
        mlsae_dataset_close(ds);
        return mlsae_fail(err, "%s: no dataset files found", sources[0]);
    }
    *out = ds;
    return 0;
}

static void release_current(mlsae_dataset *ds)
{
    json_decref(ds->cur_json);
    ds->cur_json = NULL;
    free(ds->cur_txt);
    ds->cur_txt = NULL;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

/* The next document of the current JSONL file: 1, 0 at its end, -1. */
static int next_jsonl(mlsae_dataset *ds, mlsae_doc *doc, mlsae_error *err)
{
    const char *line;
    size_t len;
    int r;
    while ((r = mlsae_line_reader_next(ds->lines, &line, &len, err)) == 1) {
        if (is_blank(line, len)) continue;
        uint64_t ln = mlsae_line_reader_line(ds->lines);
        json_error_t je;
        json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL, &je);
        if (!obj)
            return mlsae_fail(err, "%s:%llu:%d: malformed JSON: %s", ds->cur_file,
                              (unsigned long long)ln, je.column, je.text);
        json_t *text = json_is_object(obj) ? json_object_get(obj, "text") : NULL;
        if (!json_is_string(text)) {
            json_decref(obj);
            return mlsae_fail(err, "%s:%llu: field 'text': %s", ds->cur_file,
                              (unsigned long long)ln,
                              !text ? "missing (each line must be an object with a \"text\" string)"
                                    : "not a string");
        }
        ds->cur_json = obj;
        doc->text = json_string_value(text);
        doc->len = json_string_length(text);
        doc->line = ln;
        return 1;
    }
    return r;
}

int mlsae_dataset_next(mlsae_dataset *ds, mlsae_doc *doc, mlsae_error *err)
{
    release_current(ds);
    for (;;) {
        if (ds->lines) {
            int r = next_jsonl(ds, doc, err);
            if (r < 0) return -1;
            if (r == 1) break;
            mlsae_line_reader_close(ds->lines);
            ds->lines = NULL;
        }
        if (ds->next_file >= ds->n_files) return 0;
        const char *path = ds->files[ds->next_file++];
        ds->cur_file = path;
        if (kind_of(path) == KIND_TXT) {
            size_t n;
            if (mlsae_read_file(path, &ds->cur_txt, &n, err) != 0) return -1;
            doc->text = ds->cur_txt;
            doc->len = n;
            doc->line = 0;
            break;
        }
        if (mlsae_line_reader_open(path, &ds->lines, err) != 0) return -1;
    }
    doc->file = ds->cur_file;
    doc->index = ds->position++;
    ds->text_bytes += doc->len;
    return 1;
}

int mlsae_dataset_skip(mlsae_dataset *ds, uint64_t n, mlsae_error *err)
{
    mlsae_doc doc;
    for (uint64_t i = 0; i < n; i++) {
        int r = mlsae_dataset_next(ds, &doc, err);
        if (r < 0) return -1;
        if (r == 0)
            return mlsae_fail(err, "the dataset ends after %llu documents (asked to skip %llu)",
                              (unsigned long long)ds->position, (unsigned long long)n);
    }
    release_current(ds);
    return 0;
}

uint64_t mlsae_dataset_position(const mlsae_dataset *ds)
{
    return ds->position;
}

uint64_t mlsae_dataset_text_bytes(const mlsae_dataset *ds)
{
    return ds->text_bytes;
}

size_t mlsae_dataset_n_files(const mlsae_dataset *ds)
{
    return ds->n_files;
}

const char *mlsae_dataset_file(const mlsae_dataset *ds, size_t i)
{
    return i < ds->n_files ? ds->files[i] : NULL;
}

void mlsae_dataset_close(mlsae_dataset *ds)
{
    if (!ds) return;
    release_current(ds);
    mlsae_line_reader_close(ds->lines);
    for (size_t i = 0; i < ds->n_files; i++) free(ds->files[i]);
    free(ds->files);
    free(ds);
}
