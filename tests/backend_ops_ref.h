/* Naive host implementations of the transformer and SAE ops of the backend
 * interface, written straight from the definitions in backend_nn.h and
 * backend_sae.h (double accumulation, plain loops). They run on buffers of
 * the CPU backend (through host_ptr) and serve as the reference where the
 * CPU backend has no implementation yet, and as a check on it where it has. */
#ifndef MLSAE_TESTS_BACKEND_OPS_REF_H
#define MLSAE_TESTS_BACKEND_OPS_REF_H

#include "backend/backend.h"

extern const mlsae_nn_ops ref_nn_ops;
extern const mlsae_sae_ops ref_sae_ops;

#endif
