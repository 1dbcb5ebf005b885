/* Shared between the files of src/model (not a public header). */
#ifndef MLSAE_MODEL_NEOX_INTERNAL_H
#define MLSAE_MODEL_NEOX_INTERNAL_H

#include "model/neox.h"

#define NEOX_ABSENT ((size_t)-1)

/* Element offsets of one layer's tensors in the weight buffer. */
typedef struct neox_layer {
    size_t ln1_w, ln1_b, ln2_w, ln2_b;
    size_t qkv_w, qkv_b;     /* [3 d, d], [3 d] (bias NEOX_ABSENT without attention_bias) */
    size_t dense_w, dense_b; /* [d, d], [d] */
    size_t fc1_w, fc1_b;     /* dense_h_to_4h [d_ff, d], [d_ff] */
    size_t fc2_w, fc2_b;     /* dense_4h_to_h [d, d_ff], [d] */
    /* the packed 16-bit copies' offsets in w_lp (mixed precision only) */
    size_t qkv_lp, dense_lp, fc1_lp, fc2_lp;
} neox_layer;

/* Scratch for one chunk of rows (whole sequences). */
typedef struct neox_workspace {
    mlsae_buffer *buf;
    size_t rows;             /* capacity in rows */
    size_t x, t, a, qkv, ff; /* [rows, d], [rows, d], [rows, d], [rows, 3d], [rows, d_ff] */
    size_t ids, targets, loss; /* int32 [rows], int32 [rows], float [rows] */
    size_t logits;           /* [NEOX_LOGIT_ROWS, vocab] for losses without a logits output */
} neox_workspace;

#define NEOX_LOGIT_ROWS 256
#define NEOX_CHUNK_ROWS 2048

struct mlsae_neox {
    mlsae_neox_config cfg;
    mlsae_backend *be;
    mlsae_buffer *w;       /* every weight, F32 */
    size_t embed_in;       /* [vocab, d] */
    size_t final_ln_w, final_ln_b;
    size_t lm_head;        /* [vocab, d]; NEOX_ABSENT when not loaded */
    neox_layer *layers;
    neox_workspace ws;
    int chunk_rows;        /* rows per chunk of whole sequences (NEOX_CHUNK_ROWS) */
    /* Mixed precision (neox_lowp.c): lowp_fmt 0 = float32, else
     * MLSAE_LOWP_*; w_lp the linear weights rounded and packed; lp_scratch
     * the rounded inputs of a backend that composes the product. */
    int lowp_fmt;
    mlsae_buffer *w_lp, *lp_scratch;
    size_t lm_head_lp, lp_scratch_n;
};

/* y [rows, out] = x [rows, in] @ W^T + b for the weight at offset w of the
 * buffer (its packed copy at w_lp under mixed precision), bias b or
 * NEOX_ABSENT. Returns the backend's status (message in its last error). */
int neox_linear(mlsae_neox *m, mlsae_ref x, size_t w, size_t w_lp, size_t b, int rows, int in,
                int out, mlsae_ref y);
void neox_lowp_free(mlsae_neox *m);

#endif
