/* The tuned lens (Belrose et al. 2023; the tuned-lens package) as the
 * reference applies it before its SAE (mlsae/model/lightning.py,
 * forward_lens / inverse_lens / create_untransform_hidden; doc/lens.md).
 *
 * One affine translator per transformer layer, torch.nn.Linear(d, d):
 * weight W_i [d, d], bias b_i [d]. The lens of translator i is
 *     T_i(h) = h + W_i h + b_i                (tuned_lens TunedLens.transform_hidden)
 * and the reference's "inverse" is
 *     U_i(r) = diag((I + W_i)^-1) * (r - b_i) (only the diagonal: its einsum
 *                                              "n n, b p n -> b p n")
 * while the exact inverse is (I + W_i)^-1 (r - b_i).
 *
 * Translator i goes with the i-th SELECTED layer (position in `layers`,
 * not the layer's index), on that layer's OUTPUT, as in the reference
 * (tuned-lens trained translator i on block i's input: an off-by-one that the
 * published -lens SAEs were trained with).
 *
 * Files: a directory as TunedLens.save writes it, config.json
 * (d_model, num_hidden_layers, bias, lens_type "linear_tuned_lens") and
 * params.pt (a torch.save state dict "N.weight", "N.bias"; core/torch_archive.h)
 * or params.safetensors with the same tensors; or the tensors
 * "lens.layer_translators.N.*" of a -lens-tfm checkpoint. F32/F16/BF16.
 *
 * The weights live on a backend; all compute is backend linear/axpby ops. */
#ifndef MLSAE_LENS_TUNED_LENS_H
#define MLSAE_LENS_TUNED_LENS_H

#include "backend/backend.h"
#include "core/safetensors.h"
#include "core/status.h"

typedef enum mlsae_lens_inverse_mode {
    MLSAE_LENS_INVERSE_REFERENCE, /* the reference's diagonal-only inverse (default) */
    MLSAE_LENS_INVERSE_EXACT,     /* (I + W)^-1 (r - b) */
} mlsae_lens_inverse_mode;

typedef struct mlsae_tuned_lens mlsae_tuned_lens;

/* A TunedLens.save directory (config.json + params.pt or params.safetensors). */
int mlsae_lens_load_dir(const char *dir, mlsae_backend *be, mlsae_tuned_lens **out,
                        mlsae_error *err);

/* Translators "<prefix>0.weight", "<prefix>0.bias", ... from open weights
 * (-lens-tfm checkpoints: prefix "lens.layer_translators."), d x d each.
 * *out is NULL (and 0 returned) when there is no "<prefix>0.weight". */
int mlsae_lens_load_tensors(const mlsae_safetensors *st, const char *prefix, int d_model,
                            mlsae_backend *be, mlsae_tuned_lens **out, mlsae_error *err);

void mlsae_lens_free(mlsae_tuned_lens *lens);
int mlsae_lens_d_model(const mlsae_tuned_lens *lens);
int mlsae_lens_n_translators(const mlsae_tuned_lens *lens);
const char *mlsae_lens_source(const mlsae_tuned_lens *lens);

/* In place on x [n_sel, rows, d] (on the lens's backend): slice i through
 * translator i. n_sel must not exceed the number of translators. */
int mlsae_lens_forward(mlsae_tuned_lens *lens, mlsae_ref x, int n_sel, int rows,
                       mlsae_error *err);
int mlsae_lens_inverse(mlsae_tuned_lens *lens, mlsae_ref x, int n_sel, int rows,
                       mlsae_lens_inverse_mode mode, mlsae_error *err);

#endif
