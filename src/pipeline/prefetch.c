#include "config.h"
#include "pipeline/prefetch.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"

/* One batch's outcome, written by the producer, read by the caller. */
typedef struct result {
    int got; /* 1, 0 (end of data), -1 (error in err) */
    int rows;
    int n_batches, rows_before, rows_all;
    mlsae_data_position position;
    mlsae_error err;
} result;

struct mlsae_prefetch {
    mlsae_session *s;
    mlsae_loader *loader;
    int seq;
    int rank, ranks; /* this rank's batch of each group of `ranks` */
    float *buf[2];   /* host [n_layers, batch, seq, d_model] each */
    int32_t *ids[2]; /* the token ids of buf[i]'s batch [batch, seq] */
    int job_slot;    /* the buffer the next (or current) batch goes to */

    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    /* under lock */
    int requested;   /* a batch is asked for and not yet begun */
    int busy;        /* the producer is computing one */
    int ready;       /* `done` holds a finished batch not yet handed out */
    int finished;    /* the data ended or failed: no more batches */
    int quit;
    result done;
    mlsae_prefetch_times times;
};

/* Pull one group of batches and compute this rank's into buf[slot]. */
static void produce_one(mlsae_prefetch *pf, int slot, result *r, mlsae_prefetch_times *t)
{
    for (int j = 0; j < pf->ranks; j++) {
        mlsae_batch b;
        double c0 = mlsae_monotonic_seconds(NULL);
        int got = mlsae_loader_next(pf->loader, &b, &r->err);
        double c1 = mlsae_monotonic_seconds(NULL);
        t->data_s += c1 - c0;
        if (got < 0) {
            r->got = -1;
            return;
        }
        if (got == 0) break;
        r->n_batches++;
        r->rows_all += (int)b.rows;
        if (j < pf->rank) r->rows_before += (int)b.rows;
        if (j != pf->rank) continue;
        r->rows = (int)b.rows;
        memcpy(pf->ids[slot], b.ids, b.rows * (size_t)pf->seq * sizeof *b.ids);
        if (mlsae_session_activations_host(pf->s, b.ids, (int)b.rows, pf->seq, pf->buf[slot],
                                           &r->err)) {
            r->got = -1;
            return;
        }
        t->forward_s += mlsae_monotonic_seconds(NULL) - c1;
    }
    mlsae_loader_position(pf->loader, &r->position);
    r->got = r->n_batches > 0;
}

static void *producer(void *arg)
{
    mlsae_prefetch *pf = arg;
    pthread_mutex_lock(&pf->lock);
    for (;;) {
        while (!pf->requested && !pf->quit) pthread_cond_wait(&pf->changed, &pf->lock);
        if (pf->quit) break;
        pf->requested = 0;
        pf->busy = 1;
        int slot = pf->job_slot;
        mlsae_prefetch_times t = pf->times;
        pthread_mutex_unlock(&pf->lock);

        result r;
        memset(&r, 0, sizeof r);
        produce_one(pf, slot, &r, &t);

        pthread_mutex_lock(&pf->lock);
        pf->done = r;
        pf->times = t;
        pf->busy = 0;
        pf->ready = 1;
        if (r.got <= 0) pf->finished = 1;
        pthread_cond_broadcast(&pf->changed);
    }
    pthread_mutex_unlock(&pf->lock);
    return NULL;
}

int mlsae_prefetch_open(mlsae_session *s, mlsae_loader *loader, int batch, int seq,
                        mlsae_prefetch **out, mlsae_error *err)
{
    return mlsae_prefetch_open_strided(s, loader, batch, seq, 0, 1, out, err);
}

int mlsae_prefetch_open_strided(mlsae_session *s, mlsae_loader *loader, int batch, int seq,
                                int rank, int ranks, mlsae_prefetch **out, mlsae_error *err)
{
    *out = NULL;
    if (ranks < 1 || rank < 0 || rank >= ranks)
        return mlsae_fail(err, "prefetch: rank %d of %d", rank, ranks);
    mlsae_prefetch *pf = calloc(1, sizeof *pf);
    if (!pf) return mlsae_fail(err, "out of memory");
    pf->rank = rank;
    pf->ranks = ranks;
    pf->s = s;
    pf->loader = loader;
    pf->seq = seq;
    size_t n = (size_t)s->n_layers * batch * seq * s->d_model;
    pthread_mutex_init(&pf->lock, NULL);
    pthread_cond_init(&pf->changed, NULL);
    for (int i = 0; i < 2; i++) {
        pf->buf[i] = malloc(n * sizeof(float));
        pf->ids[i] = malloc((size_t)batch * seq * sizeof(int32_t));
        if (!pf->buf[i] || !pf->ids[i]) {
            mlsae_prefetch_close(pf);
            return mlsae_fail(err, "cannot allocate 2 x %zu floats of activations", n);
        }
    }
    /* SIGINT and SIGTERM are for the main thread, which polls for them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&pf->thread, NULL, producer, pf);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        mlsae_prefetch_close(pf);
        return mlsae_fail(err, "cannot start the transformer thread");
    }
    pf->started = 1;
    *out = pf;
    return 0;
}

/* Under lock: ask for the next batch into buf[slot]. */
static void request(mlsae_prefetch *pf, int slot)
{
    pf->job_slot = slot;
    pf->requested = 1;
    pthread_cond_broadcast(&pf->changed);
}

int mlsae_prefetch_next(mlsae_prefetch *pf, mlsae_prefetched *out, mlsae_error *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&pf->lock);
    if (!pf->ready && !pf->busy && !pf->requested && !pf->finished) request(pf, pf->job_slot);
    while (!pf->ready && (pf->busy || pf->requested)) pthread_cond_wait(&pf->changed, &pf->lock);
    if (!pf->ready) { /* asked again after the end */
        pthread_mutex_unlock(&pf->lock);
        return 0;
    }
    result *r = &pf->done;
    pf->ready = 0;
    int got = r->got;
    out->position = r->position;
    if (got < 0 && err) *err = r->err;
    if (got > 0) {
        int slot = pf->job_slot;
        out->n_batches = r->n_batches;
        out->rows_before = r->rows_before;
        out->rows_all = r->rows_all;
        out->rows = r->rows;
        if (r->rows > 0) {
            out->x = pf->buf[slot];
            out->ids = pf->ids[slot];
        }
        request(pf, slot ^ 1); /* the next batch, into the other buffer */
    }
    pthread_mutex_unlock(&pf->lock);
    return got;
}

void mlsae_prefetch_idle(mlsae_prefetch *pf)
{
    pthread_mutex_lock(&pf->lock);
    while (pf->busy || pf->requested) pthread_cond_wait(&pf->changed, &pf->lock);
    pthread_mutex_unlock(&pf->lock);
}

void mlsae_prefetch_get_times(mlsae_prefetch *pf, mlsae_prefetch_times *t)
{
    mlsae_prefetch_idle(pf);
    pthread_mutex_lock(&pf->lock);
    *t = pf->times;
    pthread_mutex_unlock(&pf->lock);
}

void mlsae_prefetch_close(mlsae_prefetch *pf)
{
    if (!pf) return;
    if (pf->started) {
        pthread_mutex_lock(&pf->lock);
        pf->quit = 1;
        pthread_cond_broadcast(&pf->changed);
        pthread_mutex_unlock(&pf->lock);
        pthread_join(pf->thread, NULL);
    }
    pthread_mutex_destroy(&pf->lock);
    pthread_cond_destroy(&pf->changed);
    free(pf->buf[0]);
    free(pf->buf[1]);
    free(pf->ids[0]);
    free(pf->ids[1]);
    free(pf);
}
