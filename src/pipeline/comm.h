/* The communicator of a data-parallel run (doc/scaling.md): the only module
 * that calls MPI. Built without MPI (configure --with-mpi=no), or started
 * without a launcher (mpirun, srun), it is one process of rank 0 in a world
 * of size 1 and every collective is the identity.
 *
 * MPI is initialised only when a launcher started the process (its
 * environment names a rank: OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK), so
 * a plain `mlsae train` never needs an MPI runtime. Collectives are called
 * by every rank in the same order (the training loop's order); errors are
 * returned, not raised (MPI_ERRORS_RETURN). A rank that dies is noticed by
 * the launcher, which ends the others and names it (Open MPI: "process rank
 * R ... exited on signal S").
 *
 * Threads: MPI_THREAD_FUNNELED. Only the thread that called
 * mlsae_comm_init calls the collectives. */
#ifndef MLSAE_PIPELINE_COMM_H
#define MLSAE_PIPELINE_COMM_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

/* Join the launcher's world if there is one (idempotent). */
int mlsae_comm_init(mlsae_error *err);
/* Leave it (MPI_Finalize when initialised); safe without init. */
void mlsae_comm_finalize(void);
/* End every rank at once with this exit status (MPI_Abort); exit(code)
 * when there is no world of several ranks. Never returns. */
void mlsae_comm_abort(int code) __attribute__((noreturn));

int mlsae_comm_rank(void);       /* 0 .. size-1 */
int mlsae_comm_size(void);       /* ranks in the world, 1 without MPI */
int mlsae_comm_local_rank(void); /* rank among the ranks of this node */
int mlsae_comm_local_size(void); /* ranks on this node */
/* "mpi (Open MPI v4.1.4)" or "mpi: not built", for `mlsae version`. */
const char *mlsae_comm_describe(void);

/* In-place sums over the ranks, element by element (MPI_Allreduce with
 * MPI_SUM: the order of the additions is MPI's, so a sum of floats equals
 * the one-process sum within float rounding, not bit for bit). */
int mlsae_comm_sum_f64(double *v, size_t n, mlsae_error *err);
int mlsae_comm_sum_f32(float *v, size_t n, mlsae_error *err);
/* In-place sums of int64 arrays over the ranks (exact). */
int mlsae_comm_sum_i64(int64_t *v, size_t n, mlsae_error *err);
/* The sum over the ranks into root's v alone (MPI_Reduce; the other ranks'
 * v is left as it was): half an allreduce's traffic when one rank writes. */
int mlsae_comm_reduce_sum_f64(double *v, size_t n, int root, mlsae_error *err);
/* In-place min / max over the ranks of int32 / int64 arrays. */
int mlsae_comm_min_i32(int32_t *v, size_t n, mlsae_error *err);
int mlsae_comm_max_i32(int32_t *v, size_t n, mlsae_error *err);
int mlsae_comm_max_i64(int64_t *v, size_t n, mlsae_error *err);
/* *flag becomes 1 on every rank when it is non-zero on any rank. */
int mlsae_comm_or(int *flag, mlsae_error *err);
/* root's bytes to every rank. */
int mlsae_comm_bcast(void *buf, size_t bytes, int root, mlsae_error *err);
int mlsae_comm_barrier(mlsae_error *err);
/* Every rank's `bytes` bytes at `mine` (each rank its own length) to root,
 * concatenated in rank order (MPI_Gather of the lengths, then MPI_Gatherv).
 * On root *all is a new buffer (free it; NULL when the total is 0) and
 * sizes[r] (mlsae_comm_size() entries) is rank r's length; on the other
 * ranks *all is NULL and sizes is not used (may be NULL). The total must
 * stay below 2 GiB (MPI's int displacements): larger data goes in rounds.
 * One process: *all is a copy of mine, sizes[0] = bytes. */
int mlsae_comm_gather_bytes(const void *mine, size_t bytes, int root, unsigned char **all,
                            uint64_t *sizes, mlsae_error *err);

/* What this rank's collectives cost so far: calls, bytes of its buffers
 * (an allreduce of n bytes moves about 2 n (N-1)/N per rank over the
 * network, doc/scaling.md) and wall seconds inside MPI, which include
 * waiting for the slowest rank. Zero without MPI. */
typedef struct mlsae_comm_stats {
    uint64_t calls, bytes;
    double seconds;
} mlsae_comm_stats;
void mlsae_comm_get_stats(mlsae_comm_stats *out);

#endif
