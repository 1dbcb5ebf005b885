#include "config.h"
#include "train/train_dist.h"

#include "core/signals.h"
#include "pipeline/comm.h"
#include "sae/sae_reduce.h"

int mlsae_train_dist_attach(mlsae_sae *sae, int64_t resumed_ranks, int64_t batch_size,
                            const char *where, mlsae_error *err)
{
    const int size = mlsae_comm_size();
    if (resumed_ranks > 0 && resumed_ranks != size)
        return mlsae_fail(err, "%s: this checkpoint was trained by %lld process%s (a global "
                          "micro-batch of %lld x %lld sequences); this run has %d: resume it "
                          "with %lld (mpirun -np %lld) to keep the global batch and the data "
                          "position", where, (long long)resumed_ranks,
                          resumed_ranks == 1 ? "" : "es", (long long)resumed_ranks,
                          (long long)batch_size, size, (long long)resumed_ranks,
                          (long long)resumed_ranks);
    if (size == 1) return 0;
    mlsae_sae_reducer red = {mlsae_comm_sum_f64, mlsae_comm_sum_f32, mlsae_comm_min_i32};
    mlsae_sae_set_reducer(sae, &red);
    if (resumed_ranks > 0 && mlsae_comm_rank() != 0 && mlsae_sae_pending(sae) > 0)
        return mlsae_sae_zero_grads(sae, err);
    return 0;
}

int mlsae_train_dist_stop_requested(mlsae_error *err)
{
    int stop = mlsae_signals_stop_requested() != 0;
    if (mlsae_comm_or(&stop, err)) return -1;
    return stop;
}
