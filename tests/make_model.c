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
    mlsae_error err;
    if (mlsae_neox_config_pythia(&c, atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                                 atoi(argv[6]), &err) ||
        mlsae_neox_write_random(argv[1], &c, argc > 7 ? strtoull(argv[7], NULL, 10) : 1, MLSAE_DT_F32,
                                &err)) {
        fprintf(stderr, "make_model: %s\n", err.msg);
        return 1;
    }
    return 0;
}
