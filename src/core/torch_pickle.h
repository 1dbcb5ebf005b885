/* The weights-only unpickler for the data.pkl of a torch.save archive.
 *
 * It reads the pickle of a plain state dict (what `torch.save(module.state_dict())`
 * writes: pickle protocol 2, or 4 with FRAME/MEMOIZE/STACK_GLOBAL) and returns
 * the tensor records it describes. It executes nothing: it is a small stack
 * machine over inert values (None, bool, int, str, tuple, dict, a name from
 * the allow-list, a storage reference, a tensor record).
 *
 * Accepted opcodes: PROTO FRAME STOP MARK EMPTY_DICT EMPTY_TUPLE TUPLE TUPLE1
 * TUPLE2 TUPLE3 BININT BININT1 BININT2 LONG1 BINUNICODE SHORT_BINUNICODE
 * BINUNICODE8 NONE NEWTRUE NEWFALSE BINPUT LONG_BINPUT BINGET LONG_BINGET
 * MEMOIZE GLOBAL STACK_GLOBAL REDUCE BUILD SETITEM SETITEMS BINPERSID.
 * Accepted globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2
 * and the typed storages torch.{Float,Half,BFloat16,Double,Long,Int,Short,
 * Char,Byte,Bool}Storage (dtype tags only).
 * REDUCE is accepted for exactly two callables: OrderedDict() with no
 * arguments (an empty dict) and _rebuild_tensor_v2(storage, storage_offset,
 * size, stride, requires_grad, backward_hooks[, metadata]) with an empty
 * backward_hooks and metadata None or absent (torch/_utils.py). BUILD is
 * accepted only to set a dict's state (the state dict's `_metadata`), which is
 * discarded. BINPERSID takes the tuple torch writes for a storage
 * ('storage', <storage type>, key, location, numel) (torch/serialization.py,
 * persistent_id). Anything else — another opcode, another global, REDUCE or
 * BUILD of anything else — is refused with a one-line message naming the
 * opcode or name and its byte position.
 *
 * The result must be a dict of str -> tensor. Every tensor is checked here:
 * at most MLSAE_ST_MAX_DIMS dims, non-negative sizes, strides and offset,
 * contiguous (row-major strides, dims of size 1 excepted: torch's
 * is_contiguous), and storage_offset + numel <= the storage's numel, all
 * with overflow checks. The caller checks each storage record's byte size.
 */
#ifndef MLSAE_CORE_TORCH_PICKLE_H
#define MLSAE_CORE_TORCH_PICKLE_H

#include <stddef.h>
#include <stdint.h>
#include "core/safetensors.h"
#include "core/status.h"

/* Longest storage key accepted (torch writes decimal indices). */
#define MLSAE_TORCH_KEY_MAX 64

typedef struct mlsae_torch_record {
    char *name;                           /* state-dict key */
    char storage_key[MLSAE_TORCH_KEY_MAX + 1]; /* record data/<key> in the archive */
    mlsae_dtype dtype;
    int64_t storage_numel;                /* elements in the whole storage */
    int64_t storage_offset;               /* first element of the view */
    int ndim;
    int64_t shape[MLSAE_ST_MAX_DIMS];
    int64_t numel;
} mlsae_torch_record;

/* Parse `len` bytes of pickle. `what` names the source in messages (e.g.
 * "model.bin: data.pkl"). *out: malloc'd records in pickle order. */
int mlsae_torch_unpickle(const unsigned char *buf, size_t len, const char *what,
                         mlsae_torch_record **out, size_t *n_out, mlsae_error *err);
void mlsae_torch_records_free(mlsae_torch_record *r, size_t n);

#endif
