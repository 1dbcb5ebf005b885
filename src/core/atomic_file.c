#include "config.h"
#include "core/atomic_file.h"
#include "core/input_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mlsae_atomic_open(mlsae_atomic_file *af, const char *path, mlsae_error *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 64;
    af->tmp_path = malloc(n);
    af->final_path = strdup(path);
    if (!af->tmp_path || !af->final_path) {
        free(af->tmp_path);
        free(af->final_path);
        return mlsae_fail(err, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int rc = mlsae_fail_errno(err, "%s: cannot create", path);
        free(af->tmp_path);
        free(af->final_path);
        af->tmp_path = af->final_path = NULL;
        return rc;
    }
    return 0;
}

int mlsae_atomic_write(mlsae_atomic_file *af, const void *data, size_t n, mlsae_error *err)
{
    if (n && fwrite(data, 1, n, af->fp) != n)
        return mlsae_fail_errno(err, "%s: write failed", af->final_path);
    return 0;
}

static void release(mlsae_atomic_file *af)
{
    free(af->tmp_path);
    free(af->final_path);
    af->tmp_path = af->final_path = NULL;
    af->fp = NULL;
}

int mlsae_atomic_commit(mlsae_atomic_file *af, mlsae_error *err)
{
    int failed = 0;
    if (ferror(af->fp) || fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        failed = 1;
        mlsae_fail_errno(err, "%s: write failed", af->final_path);
    }
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        mlsae_fail_errno(err, "%s: write failed", af->final_path);
    }
    if (!failed && rename(af->tmp_path, af->final_path) != 0) {
        failed = 1;
        mlsae_fail_errno(err, "%s: cannot rename temporary file into place", af->final_path);
    }
    if (failed) unlink(af->tmp_path);
    release(af);
    return failed ? -1 : 0;
}

void mlsae_atomic_abort(mlsae_atomic_file *af)
{
    if (!af->fp) return;
    fclose(af->fp);
    unlink(af->tmp_path);
    release(af);
}

int mlsae_write_file_atomic(const char *path, const void *data, size_t n, mlsae_error *err)
{
    mlsae_atomic_file af;
    if (mlsae_atomic_open(&af, path, err)) return -1;
    if (mlsae_atomic_write(&af, data, n, err)) {
        mlsae_atomic_abort(&af);
        return -1;
    }
    return mlsae_atomic_commit(&af, err);
}

static int read_input(const char *path, int allow_stream, char **data, size_t *n,
                      mlsae_error *err)
{
    FILE *fp = mlsae_fopen_input(path, allow_stream, err);
    if (!fp) return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(fp);
        return mlsae_fail(err, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (len < cap) break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            fclose(fp);
            return mlsae_fail(err, "%s: out of memory", path);
        }
        buf = nb;
        cap *= 2;
    }
    if (ferror(fp)) {
        free(buf);
        fclose(fp);
        return mlsae_fail_errno(err, "%s: read failed", path);
    }
    fclose(fp);
    buf[len] = '\0';
    *data = buf;
    if (n) *n = len;
    return 0;
}

int mlsae_read_file(const char *path, char **data, size_t *n, mlsae_error *err)
{
    return read_input(path, 0, data, n, err);
}

int mlsae_read_file_or_stream(const char *path, char **data, size_t *n, mlsae_error *err)
{
    return read_input(path, 1, data, n, err);
}

int mlsae_mkdir_p(const char *path, mlsae_error *err)
{
    char *p = strdup(path);
    if (!p) return mlsae_fail(err, "%s: out of memory", path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int rc = mlsae_fail_errno(err, "%s: cannot create directory", p);
                free(p);
                return rc;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return mlsae_fail(err, "%s: not a directory", path);
    return 0;
}

int mlsae_check_output_file(const char *path, mlsae_error *err)
{
    if (!path || !*path) return mlsae_fail(err, "no output file given");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return mlsae_fail(err, "%s: is a directory, not a file to write", path);
    char *dir = strdup(path);
    if (!dir) return mlsae_fail(err, "out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int rc = 0;
    if (stat(dir, &sb) != 0)
        rc = mlsae_fail_errno(err, "%s: cannot write into %s", path, dir);
    else if (!S_ISDIR(sb.st_mode))
        rc = mlsae_fail(err, "%s: %s is not a directory", path, dir);
    else if (access(dir, W_OK) != 0)
        rc = mlsae_fail_errno(err, "%s: cannot write into %s", path, dir);
    free(dir);
    return rc;
}
