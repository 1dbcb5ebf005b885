#include "config.h"
#include "dataset/activations.h"

#include <limits.h>
#include <string.h>

int mlsae_activations_open(const char *path, mlsae_activations *a, mlsae_error *err)
{
    memset(a, 0, sizeof *a);
    if (mlsae_st_open(path, &a->st, err)) return -1;
    const mlsae_st_tensor *t = mlsae_st_find(a->st, "inputs");
    int rc = 0;
    if (!t)
        rc = mlsae_fail(err, "%s: has no tensor 'inputs'", path);
    else if (t->dtype != MLSAE_DT_F32)
        rc = mlsae_fail(err, "%s: tensor 'inputs' is %s, expected F32", path,
                        mlsae_dtype_name(t->dtype));
    else if (t->ndim != 5)
        rc = mlsae_fail(err, "%s: tensor 'inputs' has %d dimensions, expected 5 [n_batches, "
                        "n_layers, batch, pos, d_model]", path, t->ndim);
    else if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[2] < 1 || t->shape[3] < 1 ||
             t->shape[4] < 2)
        rc = mlsae_fail(err, "%s: tensor 'inputs' has an empty dimension (or d_model < 2)", path);
    else if (t->shape[1] > INT_MAX || t->shape[2] > INT_MAX || t->shape[3] > INT_MAX ||
             t->shape[4] > INT_MAX / 4 ||
             t->shape[1] * t->shape[2] > INT_MAX / 4 / t->shape[3])
        rc = mlsae_fail(err, "%s: tensor 'inputs' micro-batches are too large", path);
    if (rc) {
        mlsae_activations_close(a);
        return -1;
    }
    a->data = (const float *)t->data;
    a->n_batches = t->shape[0];
    a->n_layers = (int)t->shape[1];
    a->batch = (int)t->shape[2];
    a->pos = (int)t->shape[3];
    a->d_model = (int)t->shape[4];
    a->per_batch = (size_t)a->n_layers * (size_t)a->batch * (size_t)a->pos * (size_t)a->d_model;
    return 0;
}

void mlsae_activations_close(mlsae_activations *a)
{
    if (a->st) mlsae_st_close(a->st);
    memset(a, 0, sizeof *a);
}
