/* Mean max cosine similarity of the decoder (reference: figures/mmcs.py;
 * SPEC §6). Per latent j, with W the decoder's columns scaled to unit norm
 * (mlsae/utils.py normalize: w / max(|w|, 1e-8)):
 *   mmcs[j] = max(0, max_{i < j} cos(W_i, W_j))
 * (the reference's triu(W^T W, 1).max(0), whose zeroed lower triangle clips
 * at 0; latent 0 gets 0). The n_latents^2 d products go through the
 * backend's GEMM in tiles of block x block, so memory stays at the decoder
 * plus one tile (block^2 floats) whatever n_latents is. */
#ifndef MLSAE_ANALYSIS_MMCS_H
#define MLSAE_ANALYSIS_MMCS_H

#include "backend/backend.h"
#include "core/status.h"

/* dec: host [n_inputs, n_latents] (the reference's decoder.weight). out:
 * [n_latents]. block: tile size (0: 1024). */
int mlsae_mmcs(mlsae_backend *be, const float *dec, int n_inputs, int n_latents, int block,
               double *out, mlsae_error *err);

#endif
