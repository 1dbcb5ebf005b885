/* Helpers for the libFuzzer targets (tests/fuzz/README.md): inputs written
 * to files in one private temporary directory, since the readers under test
 * take paths; splitting an input into parts. */
#ifndef MLSAE_FUZZ_UTIL_H
#define MLSAE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory of this process, created on first use, removed at exit. */
static char fuzz_dir_path[256];

static void fuzz_dir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd)) { /* best effort */ }
}

static const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/mlsae-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Write data to <fuzz_dir>/<name>; returns the path (static buffer per slot). */
static const char *fuzz_write(const char *name, const void *data, size_t n)
{
    static char paths[4][512];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 512, "%s/%s", fuzz_dir(), name);
    FILE *fp = fopen(p, "wb");
    if (!fp) abort();
    if (n && fwrite(data, 1, n, fp) != n) abort();
    fclose(fp);
    return p;
}

/* The k-th part of data split at "\n--8<--\n" (k from 0); *n its length.
 * Missing parts are empty. */
static inline const uint8_t *fuzz_part(const uint8_t *data, size_t size, int k, size_t *n)
{
    static const char sep[] = "\n--8<--\n";
    const size_t sl = sizeof sep - 1;
    const uint8_t *start = data, *end = data + size;
    for (int i = 0;; i++) {
        const uint8_t *next = NULL;
        for (const uint8_t *p = start; p + sl <= end; p++)
            if (memcmp(p, sep, sl) == 0) {
                next = p;
                break;
            }
        if (i == k) {
            *n = (size_t)((next ? next : end) - start);
            return start;
        }
        if (!next) {
            *n = 0;
            return end;
        }
        start = next + sl;
    }
}

/* Write the input as <fuzz_dir>/name and open it with the tensor reader
 * (core/safetensors.h: safetensors, or a torch.save archive by its zip
 * signature): either it opens with every tensor inside its data (each byte
 * touched, each tensor read back converting floats and integers) or it fails
 * cleanly. */
static inline int fuzz_tensor_file(const char *name, const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(name, data, size);
    mlsae_safetensors *st;
    mlsae_error err;
    if (mlsae_st_open(p, &st, &err)) return 0;
    for (size_t i = 0; i < mlsae_st_count(st); i++) {
        const mlsae_st_tensor *t = mlsae_st_at(st, i);
        if (t->nbytes > ((size_t)1 << 24)) continue;
        volatile unsigned char sum = 0;
        for (size_t b = 0; b < t->nbytes; b++) sum ^= ((const unsigned char *)t->data)[b];
        (void)sum; /* the reads are the point: every byte of the mapping is touched */
        float *f = malloc((size_t)t->numel * sizeof *f + 1);
        int64_t *q = malloc((size_t)t->numel * sizeof *q + 1);
        if (f) mlsae_st_read_f32(st, t->name, t->ndim, t->shape, f, &err);
        if (q) mlsae_st_read_i64(st, t->name, t->ndim, t->shape, q, &err);
        free(f);
        free(q);
    }
    mlsae_st_metadata(st, "format");
    mlsae_st_close(st);
    return 0;
}

#endif
