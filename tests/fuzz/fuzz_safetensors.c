/* safetensors reader: any file either opens with every tensor inside the
 * data section (each is read back, converting floats) or fails cleanly. */
#include "config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_tensor_file("x.safetensors", data, size);
}
