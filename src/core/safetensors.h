/* safetensors files: read (mmap, single file or sharded index) and write.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *    "__metadata__": {"key": "value"}}
 * then the data; offsets are relative to the first byte after the header.
 * Every tensor's byte range is checked against its dtype and shape, against
 * the file size, and against every other tensor's range (no overlap).
 */
#ifndef MLSAE_CORE_SAFETENSORS_H
#define MLSAE_CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

#define MLSAE_ST_MAX_DIMS 8

typedef enum mlsae_dtype {
    MLSAE_DT_F32,
    MLSAE_DT_F16,
    MLSAE_DT_BF16,
    MLSAE_DT_F64,
    MLSAE_DT_I64,
    MLSAE_DT_I32,
    MLSAE_DT_I16,
    MLSAE_DT_I8,
    MLSAE_DT_U8,
    MLSAE_DT_BOOL,
} mlsae_dtype;

const char *mlsae_dtype_name(mlsae_dtype dt);
size_t mlsae_dtype_size(mlsae_dtype dt);

typedef struct mlsae_st_tensor {
    const char *name;
    mlsae_dtype dtype;
    int ndim;
    int64_t shape[MLSAE_ST_MAX_DIMS];
    int64_t numel;
    const void *data;   /* inside the mmapped file; little-endian */
    size_t nbytes;
    const char *file;   /* the file it came from (for messages) */
} mlsae_st_tensor;

typedef struct mlsae_safetensors mlsae_safetensors;

/* Open a .safetensors file, a torch.save archive (torch_archive.h), a
 * *.index.json of either, or a directory holding the first of
 * model.safetensors, model.safetensors.index.json, pytorch_model.bin,
 * pytorch_model.bin.index.json. A file not named *.safetensors that starts
 * like a zip (or a legacy torch.save pickle) is read as a torch archive. */
int mlsae_st_open(const char *path, mlsae_safetensors **out, mlsae_error *err);
void mlsae_st_close(mlsae_safetensors *st);

size_t mlsae_st_count(const mlsae_safetensors *st);
const mlsae_st_tensor *mlsae_st_at(const mlsae_safetensors *st, size_t i);
/* NULL when absent. */
const mlsae_st_tensor *mlsae_st_find(const mlsae_safetensors *st, const char *name);
/* "__metadata__" value of the (first) file, or NULL. */
const char *mlsae_st_metadata(const mlsae_safetensors *st, const char *key);
const char *mlsae_st_path(const mlsae_safetensors *st);

/* Find `name`, check it has exactly `ndim` dims equal to `shape` (a shape
 * entry of -1 matches anything), and convert it to float32 into dst
 * (numel floats). F32, F16, BF16 and F64 are accepted. */
int mlsae_st_read_f32(const mlsae_safetensors *st, const char *name, int ndim,
                      const int64_t *shape, float *dst, mlsae_error *err);
/* Same for integer tensors (I64, I32) into int64. */
int mlsae_st_read_i64(const mlsae_safetensors *st, const char *name, int ndim,
                      const int64_t *shape, int64_t *dst, mlsae_error *err);
/* Find and check dtype + shape without converting; NULL with err on mismatch. */
const mlsae_st_tensor *mlsae_st_expect(const mlsae_safetensors *st, const char *name,
                                       int ndim, const int64_t *shape, mlsae_error *err);

/* ---- writing ------------------------------------------------------------ */

typedef struct mlsae_st_writer mlsae_st_writer;

mlsae_st_writer *mlsae_st_writer_new(void);
/* The data pointer is borrowed until save returns. Tensors are written in
 * the order added. Returns -1 on a duplicate name or a bad shape. */
int mlsae_st_writer_add(mlsae_st_writer *w, const char *name, mlsae_dtype dtype,
                        int ndim, const int64_t *shape, const void *data, mlsae_error *err);
int mlsae_st_writer_metadata(mlsae_st_writer *w, const char *key, const char *value,
                             mlsae_error *err);
/* Atomic: temp file + rename. */
int mlsae_st_writer_save(mlsae_st_writer *w, const char *path, mlsae_error *err);
void mlsae_st_writer_free(mlsae_st_writer *w);

#endif
