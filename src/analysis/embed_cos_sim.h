/* The tokens whose embeddings point most like each latent's decoder column
 * (reference: figures/embed_cos_sim.py; SPEC §6): with W the decoder columns
 * and E the input (gpt_neox.embed_in) or output (embed_out) embedding rows,
 * each scaled to unit norm (mlsae/utils.py normalize, eps 1e-8), per latent
 * the n_embeds largest E_v . W_j over the vocabulary, descending. The
 * vocab x n_latents products run on the backend's GEMM in tiles, so memory
 * is the two matrices plus one tile. */
#ifndef MLSAE_ANALYSIS_EMBED_COS_SIM_H
#define MLSAE_ANALYSIS_EMBED_COS_SIM_H

#include <stdint.h>
#include "backend/backend.h"
#include "core/status.h"

/* Scale each row of x [rows, d] to unit L2 norm (norm floored at 1e-8). */
void mlsae_unit_rows(float *x, int rows, int d);

/* embed [vocab, d] and w [n, d] (rows unit norm, host); top_idx / top_val
 * [n, n_embeds]: per row of w, the n_embeds embedding rows of highest dot
 * product, descending (ties: lower token id first). */
int mlsae_embed_topk(mlsae_backend *be, const float *embed, int vocab, const float *w, int n,
                     int d, int n_embeds, int32_t *top_idx, float *top_val, mlsae_error *err);

#endif
