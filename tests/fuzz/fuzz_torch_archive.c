/* torch.save archive reader (zip + the weights-only unpickler): any file
 * either opens with every tensor inside its storage (each is read back,
 * converting floats) or fails cleanly; nothing in it is executed. */
#include "config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_tensor_file("x.pt", data, size);
}
