/* Disk-full fault injection, as an LD_PRELOAD library for tests.
 *
 * Every call that writes to a file (not to stdin/stdout/stderr) is a
 * "write point": fopen/fopen64 for writing, fwrite, fputs, fputc, putc,
 * fprintf, vfprintf, fflush, fclose, write, fsync,
 * fdatasync, mkdir, rename, renameat2. Points are numbered from 1 in call
 * order. With MLSAE_FAULT_AT=N, point N and every later one fail with
 * ENOSPC, as a disk that fills up at that moment (fclose still closes the
 * stream). With MLSAE_FAULT_COUNT=FILE the number of points reached is
 * written to FILE at exit, so a test can visit every point of a run. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_long points;
static long fault_at = -1;

__attribute__((constructor)) static void shim_init(void)
{
    const char *s = getenv("MLSAE_FAULT_AT");
    if (s && *s) fault_at = atol(s);
}

__attribute__((destructor)) static void shim_fini(void)
{
    const char *path = getenv("MLSAE_FAULT_COUNT");
    if (!path || !*path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)atomic_load(&points));
    ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (real_write(fd, buf, (size_t)n) < 0) { /* nothing to do */ }
    close(fd);
}

/* 1 when this point must fail (and errno is set). */
static int point(void)
{
    long n = atomic_fetch_add(&points, 1) + 1;
    if (fault_at > 0 && n >= fault_at) {
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

static int is_std(FILE *fp) { return fp == stdout || fp == stderr || fp == stdin; }

#define REAL(name, ret, args)                                                     \
    static ret(*real_##name) args;                                                 \
    if (!real_##name) real_##name = (ret(*) args)dlsym(RTLD_NEXT, #name)

static int writes(const char *mode) { return strpbrk(mode, "wa+") != NULL; }

FILE *fopen(const char *path, const char *mode)
{
    REAL(fopen, FILE *, (const char *, const char *));
    if (writes(mode) && point()) return NULL;
    return real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    REAL(fopen64, FILE *, (const char *, const char *));
    if (writes(mode) && point()) return NULL;
    return real_fopen64(path, mode);
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *fp)
{
    REAL(fwrite, size_t, (const void *, size_t, size_t, FILE *));
    if (!is_std(fp) && point()) return 0;
    return real_fwrite(p, size, n, fp);
}

int fputs(const char *s, FILE *fp)
{
    REAL(fputs, int, (const char *, FILE *));
    if (!is_std(fp) && point()) return EOF;
    return real_fputs(s, fp);
}

int fputc(int c, FILE *fp)
{
    REAL(fputc, int, (int, FILE *));
    if (!is_std(fp) && point()) return EOF;
    return real_fputc(c, fp);
}

int putc(int c, FILE *fp)
{
    REAL(putc, int, (int, FILE *));
    if (!is_std(fp) && point()) return EOF;
    return real_putc(c, fp);
}

int vfprintf(FILE *fp, const char *fmt, va_list ap)
{
    REAL(vfprintf, int, (FILE *, const char *, va_list));
    if (!is_std(fp) && point()) return -1;
    return real_vfprintf(fp, fmt, ap);
}

int fprintf(FILE *fp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(fp, fmt, ap);
    va_end(ap);
    return r;
}

int fflush(FILE *fp)
{
    REAL(fflush, int, (FILE *));
    if (fp && !is_std(fp) && point()) return EOF;
    return real_fflush(fp);
}

int fclose(FILE *fp)
{
    REAL(fclose, int, (FILE *));
    int fail = !is_std(fp) && point();
    int r = real_fclose(fp);
    if (fail) {
        errno = ENOSPC;
        return EOF;
    }
    return r;
}

ssize_t write(int fd, const void *p, size_t n)
{
    REAL(write, ssize_t, (int, const void *, size_t));
    if (fd > 2 && point()) return -1;
    return real_write(fd, p, n);
}

int fsync(int fd)
{
    REAL(fsync, int, (int));
    if (point()) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync, int, (int));
    if (point()) return -1;
    return real_fdatasync(fd);
}

int mkdir(const char *path, mode_t mode)
{
    REAL(mkdir, int, (const char *, mode_t));
    if (point()) return -1;
    return real_mkdir(path, mode);
}

int rename(const char *a, const char *b)
{
    REAL(rename, int, (const char *, const char *));
    if (point()) return -1;
    return real_rename(a, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned flags)
{
    REAL(renameat2, int, (int, const char *, int, const char *, unsigned));
    if (point()) return -1;
    return real_renameat2(da, a, db, b, flags);
}
