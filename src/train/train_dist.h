/* The training loop's part of a data-parallel run (doc/scaling.md): the
 * SAE's reducer over the ranks of pipeline/comm.h, the resume check, the
 * shared stop request. With one process every function is a no-op that
 * succeeds. */
#ifndef MLSAE_TRAIN_TRAIN_DIST_H
#define MLSAE_TRAIN_TRAIN_DIST_H

#include <stdint.h>
#include "core/status.h"
#include "sae/mlsae.h"

/* Attach the reducer to sae when there are several ranks. resumed_ranks:
 * the ranks that wrote the checkpoint being resumed (0: not a resume); a
 * different number is refused (the global micro-batch would change, and
 * with it every normaliser and the data position). After a resume the
 * checkpoint's accumulated gradients are already the sum over the ranks:
 * the ranks other than 0 zero theirs. `where` names the checkpoint. */
int mlsae_train_dist_attach(mlsae_sae *sae, int64_t resumed_ranks, int64_t batch_size,
                            const char *where, mlsae_error *err);

/* 1 on every rank when any rank received SIGINT/SIGTERM, else 0; -1 on a
 * communication error. */
int mlsae_train_dist_stop_requested(mlsae_error *err);

#endif
