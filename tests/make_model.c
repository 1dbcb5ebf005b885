/* Test helper: write a random-weight GPT-NeoX model in HF format.
 * Usage: make_model DIR D_MODEL N_LAYERS N_HEADS D_FF VOCAB [SEED] */
#include "config.h"
#include "model/neox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s DIR D_MODEL N_LAYERS N_HEADS D_FF VOCAB [SEED]\n", argv[0]);
        return 2;
    }
    mlsae_neox_config c;
    memset(&c, 0, sizeof c);
    c.hidden_size = atoi(argv[2]);
    c.n_layers = atoi(argv[3]);
    c.n_heads = atoi(argv[4]);
    c.intermediate_size = atoi(argv[5]);
    c.vocab_size = atoi(argv[6]);
    c.max_positions = 2048;
    c.rotary_pct = 0.25;
    c.rotary_base = 10000;
    c.layer_norm_eps = 1e-5;
    c.use_parallel_residual = 1;
    c.attention_bias = 1;
    c.bos_token_id = c.eos_token_id = 0;
    c.pad_token_id = -1;
    mlsae_error err;
    if (mlsae_neox_config_validate(&c, "make_model", &err) ||
        mlsae_neox_write_random(argv[1], &c, argc > 7 ? strtoull(argv[7], NULL, 10) : 1, MLSAE_DT_F32,
                                &err)) {
        fprintf(stderr, "make_model: %s\n", err.msg);
        return 1;
    }
    return 0;
}
