/* torch.save archive reader (zip + the weights-only unpickler): any file
 * either opens with every tensor inside its storage (each is read back,
 * converting floats) or fails cleanly; nothing in it is executed. */
#include "config.h"
#include "fuzz_util.h"
#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write("x.pt", data, size);
    mlsae_safetensors *st;
    mlsae_error err;
    if (mlsae_st_open(p, &st, &err)) return 0;
    for (size_t i = 0; i < mlsae_st_count(st); i++) {
        const mlsae_st_tensor *t = mlsae_st_at(st, i);
        if (t->nbytes > ((size_t)1 << 24)) continue;
        volatile unsigned char sum = 0;
        for (size_t b = 0; b < t->nbytes; b++) sum ^= ((const unsigned char *)t->data)[b];
        float *f = malloc((size_t)t->numel * sizeof *f + 1);
        if (f) mlsae_st_read_f32(st, t->name, t->ndim, t->shape, f, &err);
        free(f);
    }
    mlsae_st_close(st);
    return 0;
}
