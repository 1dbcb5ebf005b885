/* Encoding many texts on a pool of pthreads (the tokenizer is thread-safe). */
#include "config.h"
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct batch_job {
    const mlsae_tokenizer *tok;
    const char *const *texts;
    const size_t *lens;
    mlsae_ids *outs;
    size_t n;
    atomic_size_t next;
    atomic_int failed;
    mlsae_error err; /* written by the first thread that fails */
} batch_job;

static void *encode_worker(void *arg)
{
    batch_job *job = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&job->next, 1);
        if (i >= job->n || atomic_load(&job->failed)) break;
        mlsae_error e;
        if (mlsae_tokenizer_encode(job->tok, job->texts[i], job->lens[i], &job->outs[i], &e) != 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&job->failed, &expected, 1)) job->err = e;
            break;
        }
    }
    return NULL;
}

int mlsae_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int mlsae_tokenizer_encode_batch(const mlsae_tokenizer *tok, size_t n, const char *const *texts,
                                 const size_t *lens, mlsae_ids *outs, int n_threads,
                                 mlsae_error *err)
{
    if (n_threads <= 0) n_threads = mlsae_default_threads();
    if ((size_t)n_threads > n) n_threads = (int)n;
    batch_job job = {.tok = tok, .texts = texts, .lens = lens, .outs = outs, .n = n};
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    if (n_threads <= 1) {
        encode_worker(&job);
    } else {
        pthread_t *threads = malloc((size_t)n_threads * sizeof *threads);
        int started = 0;
        if (threads)
            for (; started < n_threads - 1; started++)
                if (pthread_create(&threads[started], NULL, encode_worker, &job) != 0) break;
        encode_worker(&job); /* the calling thread works too */
        for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
        free(threads);
    }
    if (atomic_load(&job.failed)) {
        if (err) *err = job.err;
        return -1;
    }
    return 0;
}
