/* Sharded safetensors: the input is model.safetensors.index.json, then (after
 * "\n--8<--\n" separators) the shards a.safetensors and b.safetensors. */
#include "config.h"
#include "fuzz_util.h"
#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n0, n1, n2;
    const uint8_t *p0 = fuzz_part(data, size, 0, &n0), *p1 = fuzz_part(data, size, 1, &n1),
                  *p2 = fuzz_part(data, size, 2, &n2);
    const char *index = fuzz_write("model.safetensors.index.json", p0, n0);
    fuzz_write("a.safetensors", p1, n1);
    fuzz_write("b.safetensors", p2, n2);
    mlsae_safetensors *st;
    mlsae_error err;
    if (mlsae_st_open(index, &st, &err) == 0) {
        for (size_t i = 0; i < mlsae_st_count(st); i++) mlsae_st_find(st, mlsae_st_at(st, i)->name);
        mlsae_st_close(st);
    }
    return 0;
}
