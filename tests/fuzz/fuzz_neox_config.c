/* GPT-NeoX config.json parser: accepted configurations are consistent. */
#include "config.h"
#include "fuzz_util.h"
#include "model/neox_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mlsae_neox_config c;
    mlsae_error err;
    if (mlsae_neox_config_parse(text, "config.json", &c, &err) == 0) {
        if (c.hidden_size < 1 || c.n_heads < 1 || c.hidden_size % c.n_heads || c.n_layers < 1 ||
            c.head_dim * c.n_heads != c.hidden_size || c.rot_dims < 0 || c.rot_dims > c.head_dim ||
            c.rot_dims % 2 || !(c.layer_norm_eps > 0))
            abort();
    }
    free(text);
    return 0;
}
