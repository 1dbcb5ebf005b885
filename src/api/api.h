/* What the public API's wrappers share (src/api/, behind include/mlsae.h):
 * the handle structs and the per-thread last error. Everything here is
 * hidden; only the MLSAE_API functions of include/mlsae.h are exported. */
#ifndef MLSAE_API_API_H
#define MLSAE_API_API_H

#include "mlsae.h"

#include "backend/backend.h"
#include "core/status.h"
#include "model/neox.h"
#include "sae/mlsae.h"
#include "tokenizer/tokenizer.h"

struct mlsae_device {
    mlsae_backend *be;
};

struct mlsae_transformer {
    mlsae_neox *neox;
};

struct mlsae_autoencoder {
    mlsae_sae *sae;
    mlsae_buffer *x;  /* staging for the caller's activations, on the SAE's backend */
    size_t x_floats;  /* its capacity */
};

struct mlsae_vocab {
    mlsae_tokenizer *tok;
};

/* Store a message as the calling thread's last error; return status. */
mlsae_status api_fail(mlsae_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* MLSAE_ERR_FAILED with a module's message. */
mlsae_status api_failed(const mlsae_error *err);

/* MLSAE_ERR_INVALID naming the argument `what` of function `fn` when p is NULL. */
#define API_REQUIRE(p, fn, what)                                                           \
    do {                                                                                   \
        if (!(p)) return api_fail(MLSAE_ERR_INVALID, "%s: %s is NULL", (fn), (what));     \
    } while (0)

/* A function's handle result `out`: MLSAE_ERR_INVALID when NULL, else set to
 * NULL until the handle is made. */
#define API_REQUIRE_OUT(out, fn)                                                           \
    do {                                                                                   \
        API_REQUIRE(out, fn, "out");                                                       \
        *(out) = NULL;                                                                     \
    } while (0)

/* MLSAE_ERR_INVALID "FN: WHAT V is negative" when the int v is negative. */
#define API_REQUIRE_NONNEG(v, fn, what)                                                    \
    do {                                                                                   \
        if ((v) < 0)                                                                       \
            return api_fail(MLSAE_ERR_INVALID, "%s: %s %d is negative", (fn), (what), (v)); \
    } while (0)

/* A zeroed handle of size bytes, or NULL with "FN: out of memory" as the
 * last error. */
void *api_new(size_t size, const char *fn);

/* Check the arguments of a function taking activations x [n_layers,
 * rows_per_layer, n_inputs]. */
mlsae_status api_check_rows(const mlsae_autoencoder *ae, const char *fn, const float *x,
                            int n_layers, int64_t rows_per_layer);
/* Copy rows [first_row, first_row + rows) of every layer of x [n_layers,
 * n_rows, n_inputs] to ae->x as [n_layers, rows, n_inputs], growing it as
 * needed. */
mlsae_status api_autoencoder_stage(mlsae_autoencoder *ae, const float *x, int n_layers,
                                   int64_t n_rows, int64_t first_row, int rows);

#endif
