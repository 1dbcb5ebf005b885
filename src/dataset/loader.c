/* Background batch loader (see loader.h). */
#include "config.h"
#include "dataset/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    int32_t *ids;
    size_t rows;
    mlsae_data_position after; /* position once this batch is consumed */
} slot;

struct mlsae_loader {
    mlsae_seq_builder *builder;
    size_t max_length, batch_size;
    slot *slots;
    size_t n_slots;
    pthread_mutex_t lock;
    pthread_cond_t filled, freed;
    size_t head, count;   /* ring of filled slots, the consumer's included */
    int holding;          /* the consumer holds the slot at head */
    int finished, failed; /* set by the thread */
    mlsae_error thread_err;
    atomic_int stop;
    pthread_t thread;
    int started;
    mlsae_data_position position;
};

static void *produce(void *arg)
{
    mlsae_loader *ld = arg;
    for (;;) {
        pthread_mutex_lock(&ld->lock);
        while (!atomic_load(&ld->stop) && ld->count >= ld->n_slots)
            pthread_cond_wait(&ld->freed, &ld->lock);
        size_t idx = (ld->head + ld->count) % ld->n_slots;
        pthread_mutex_unlock(&ld->lock);
        if (atomic_load(&ld->stop)) break;

        slot *s = &ld->slots[idx]; /* free: nobody else touches it now */
        mlsae_error err;
        int r = mlsae_seq_builder_next_batch(ld->builder, s->ids, &s->rows, &err);
        if (r == 1) mlsae_seq_builder_position(ld->builder, &s->after);

        pthread_mutex_lock(&ld->lock);
        if (r == 1) ld->count++;
        if (r == 0) ld->finished = 1;
        if (r < 0) {
            ld->failed = 1;
            ld->thread_err = err;
        }
        pthread_cond_signal(&ld->filled);
        pthread_mutex_unlock(&ld->lock);
        if (r != 1) break;
    }
    return NULL;
}

int mlsae_loader_open(const mlsae_loader_config *cfg, mlsae_loader **out, mlsae_error *err)
{
    *out = NULL;
    mlsae_dataset *ds;
    if (mlsae_dataset_open(cfg->sources, cfg->n_sources, &ds, err) != 0) return -1;
    mlsae_loader *ld = calloc(1, sizeof *ld);
    if (!ld) {
        mlsae_dataset_close(ds);
        return mlsae_fail(err, "out of memory");
    }
    pthread_mutex_init(&ld->lock, NULL);
    pthread_cond_init(&ld->filled, NULL);
    pthread_cond_init(&ld->freed, NULL);
    atomic_init(&ld->stop, 0);
    if (mlsae_seq_builder_open(ds, cfg->tok, &cfg->seq, cfg->start, &ld->builder, err) != 0) {
        mlsae_loader_close(ld);
        return -1;
    }
    mlsae_seq_builder_set_cancel(ld->builder, &ld->stop);
    mlsae_seq_builder_position(ld->builder, &ld->position);
    ld->max_length = cfg->seq.max_length;
    ld->batch_size = cfg->seq.batch_size;
    ld->n_slots = (cfg->queue_depth ? cfg->queue_depth : 4) + 1; /* +1: the consumer's */
    ld->slots = calloc(ld->n_slots, sizeof *ld->slots);
    if (!ld->slots || ld->batch_size > SIZE_MAX / sizeof(int32_t) / ld->max_length) {
        mlsae_loader_close(ld);
        return mlsae_fail(err, "out of memory for the batch queue");
    }
    for (size_t i = 0; i < ld->n_slots; i++) {
        ld->slots[i].ids = malloc(ld->batch_size * ld->max_length * sizeof(int32_t));
        if (!ld->slots[i].ids) {
            mlsae_loader_close(ld);
            return mlsae_fail(err, "out of memory for the batch queue");
        }
    }
    if (pthread_create(&ld->thread, NULL, produce, ld) != 0) {
        mlsae_loader_close(ld);
        return mlsae_fail(err, "cannot start the data loader thread");
    }
    ld->started = 1;
    *out = ld;
    return 0;
}

int mlsae_loader_next(mlsae_loader *ld, mlsae_batch *batch, mlsae_error *err)
{
    pthread_mutex_lock(&ld->lock);
    if (ld->holding) { /* give back the batch returned last time */
        ld->holding = 0;
        ld->head = (ld->head + 1) % ld->n_slots;
        ld->count--;
        pthread_cond_signal(&ld->freed);
    }
    while (ld->count == 0 && !ld->finished && !ld->failed) pthread_cond_wait(&ld->filled, &ld->lock);
    int r;
    if (ld->count > 0) {
        slot *s = &ld->slots[ld->head];
        ld->holding = 1;
        batch->ids = s->ids;
        batch->rows = s->rows;
        batch->max_length = ld->max_length;
        ld->position = s->after;
        r = 1;
    } else if (ld->failed) {
        if (err) *err = ld->thread_err;
        r = -1;
    } else {
        r = 0;
    }
    pthread_mutex_unlock(&ld->lock);
    return r;
}

void mlsae_loader_position(const mlsae_loader *ld, mlsae_data_position *pos)
{
    *pos = ld->position;
}

uint64_t mlsae_loader_tokens_seen(const mlsae_loader *ld)
{
    return ld->position.tokens;
}

void mlsae_loader_close(mlsae_loader *ld)
{
    if (!ld) return;
    if (ld->started) {
        pthread_mutex_lock(&ld->lock);
        atomic_store(&ld->stop, 1);
        pthread_cond_broadcast(&ld->freed);
        pthread_mutex_unlock(&ld->lock);
        pthread_join(ld->thread, NULL);
    }
    mlsae_seq_builder_close(ld->builder);
    for (size_t i = 0; ld->slots && i < ld->n_slots; i++) free(ld->slots[i].ids);
    free(ld->slots);
    pthread_cond_destroy(&ld->filled);
    pthread_cond_destroy(&ld->freed);
    pthread_mutex_destroy(&ld->lock);
    free(ld);
}
