/* SAE ops of the CPU backend (to be filled in: see backend_sae.h). */
#include "config.h"
#include "cpu_internal.h"

const mlsae_sae_ops mlsae_cpu_sae_ops = {0};
