/* Transformer ops of the CPU backend (to be filled in: see backend_nn.h). */
#include "config.h"
#include "cpu_internal.h"

const mlsae_nn_ops mlsae_cpu_nn_ops = {0};
