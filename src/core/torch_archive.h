/* Reading the tensors of a torch.save archive (pytorch_model.bin, params.pt)
 * without running any of it.
 *
 * Format (torch >= 1.6, torch/serialization.py): a zip holding, under one
 * top-level folder <archive>/,
 *   data.pkl      the pickled object; tensors refer to storages by key
 *   data/<key>    each storage's raw bytes (little-endian), stored uncompressed
 *   byteorder     "little" (absent in older files: little)
 *   version, .format_version, .storage_alignment, .data/serialization_id
 * The pickle is read by the weights-only unpickler (torch_pickle.h): only a
 * plain state dict of contiguous tensors is accepted. Each storage named by
 * a tensor must be a stored (uncompressed) entry whose size is exactly
 * numel * element size (checked, overflow-checked); it is read once into
 * memory and shared by every tensor that views it. Memory use is bounded by
 * the archive's size. The legacy format (torch < 1.6, a bare pickle stream)
 * and big-endian archives are refused with a message saying so.
 *
 * Tensors are presented as mlsae_st_tensor (safetensors.h) so the weights
 * loaders treat both formats alike; mlsae_st_open() opens these archives
 * itself (pytorch_model.bin, pytorch_model.bin.index.json). */
#ifndef MLSAE_CORE_TORCH_ARCHIVE_H
#define MLSAE_CORE_TORCH_ARCHIVE_H

#include <stddef.h>
#include "core/safetensors.h"
#include "core/status.h"

typedef struct mlsae_torch_archive mlsae_torch_archive;

/* True when the file starts like a zip or a legacy torch.save pickle (the
 * formats mlsae_torch_open recognises, to give a message about). */
int mlsae_torch_sniff(const char *path);

/* Every error is one line naming `path` and what was refused. */
int mlsae_torch_open(const char *path, mlsae_torch_archive **out, mlsae_error *err);
void mlsae_torch_close(mlsae_torch_archive *a);

/* Tensors in pickle order; data, names and file stay valid until close. */
size_t mlsae_torch_count(const mlsae_torch_archive *a);
const mlsae_st_tensor *mlsae_torch_at(const mlsae_torch_archive *a, size_t i);

#endif
