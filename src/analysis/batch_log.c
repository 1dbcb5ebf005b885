#include "config.h"
#include "analysis/batch_log.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/comm.h"

void mlsae_batch_log_init(mlsae_batch_log *log, size_t width)
{
    memset(log, 0, sizeof *log);
    log->width = width;
}

void mlsae_batch_log_free(mlsae_batch_log *log)
{
    free(log->rec);
    memset(log, 0, sizeof *log);
}

int mlsae_batch_log_append(mlsae_batch_log *log, int64_t index, const double *values,
                           mlsae_error *err)
{
    const size_t w = log->width + 1;
    if (log->n == log->cap) {
        size_t cap = log->cap ? 2 * log->cap : 64;
        double *nr = realloc(log->rec, cap * w * sizeof *nr);
        if (!nr) return mlsae_fail(err, "out of memory for %zu batches' partial results", cap);
        log->rec = nr;
        log->cap = cap;
    }
    double *r = log->rec + log->n * w;
    r[0] = (double)index;
    memcpy(r + 1, values, log->width * sizeof *values);
    log->n++;
    return 0;
}

static int by_index(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int mlsae_batch_log_gather(mlsae_batch_log *log, mlsae_error *err)
{
    const size_t w = log->width + 1, bytes = w * sizeof *log->rec;
    const int ranks = mlsae_comm_size();
    if (ranks > 1) {
        unsigned char *all = NULL;
        uint64_t *sizes = malloc((size_t)ranks * sizeof *sizes);
        if (!sizes) return mlsae_fail(err, "out of memory");
        int rc = mlsae_comm_gather_bytes(log->rec, log->n * bytes, 0, &all, sizes, err);
        if (rc == 0 && mlsae_comm_rank() == 0) {
            uint64_t total = 0;
            for (int k = 0; k < ranks; k++) {
                if (sizes[k] % bytes) {
                    rc = mlsae_fail(err, "rank %d sent %llu bytes of batch results, not records of %zu",
                                    k, (unsigned long long)sizes[k], bytes);
                    break;
                }
                total += sizes[k];
            }
            if (rc == 0) {
                free(log->rec);
                log->rec = (double *)all;
                all = NULL;
                log->n = log->cap = (size_t)(total / bytes);
            }
        }
        free(all);
        free(sizes);
        if (rc || mlsae_comm_rank() != 0) return rc;
    }
    if (log->n) qsort(log->rec, log->n, bytes, by_index);
    for (size_t i = 1; i < log->n; i++)
        if (log->rec[i * w] == log->rec[(i - 1) * w])
            return mlsae_fail(err, "batch %.0f has two partial results", log->rec[i * w]);
    return 0;
}
