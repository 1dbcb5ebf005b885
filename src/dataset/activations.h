/* Saved residual-stream activations to train on (`mlsae train
 * --activations FILE`): a safetensors file with one tensor 'inputs', F32
 * [n_batches, n_layers, batch, pos, d_model]. Entry b is micro-batch b:
 * n_layers * batch * pos rows of d_model floats, layer-major, the layout the
 * transformer hands the SAE (pipeline/session.h). The file is mapped, not
 * read into memory. */
#ifndef MLSAE_DATASET_ACTIVATIONS_H
#define MLSAE_DATASET_ACTIVATIONS_H

#include <stddef.h>
#include <stdint.h>
#include "core/safetensors.h"
#include "core/status.h"

typedef struct mlsae_activations {
    mlsae_safetensors *st;
    const float *data;    /* [n_batches, n_layers, batch, pos, d_model] */
    int64_t n_batches;
    int n_layers, batch, pos, d_model;
    size_t per_batch;     /* floats per micro-batch */
} mlsae_activations;

/* Open and check path (one tensor 'inputs' of the shape above, every
 * dimension >= 1, d_model >= 2, a micro-batch small enough to index with
 * int). Errors name the file and what is wrong. */
int mlsae_activations_open(const char *path, mlsae_activations *a, mlsae_error *err);
void mlsae_activations_close(mlsae_activations *a);

/* Micro-batch b (0 <= b < n_batches). */
static inline const float *mlsae_activations_batch(const mlsae_activations *a, int64_t b)
{
    return a->data + (size_t)b * a->per_batch;
}

#endif
