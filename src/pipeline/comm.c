#include "config.h"
#include "pipeline/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the gather of one process */
static int gather_copy(const void *mine, size_t bytes, unsigned char **all, uint64_t *sizes,
                       mlsae_error *err)
{
    *all = NULL;
    sizes[0] = bytes;
    if (bytes == 0) return 0;
    if (!(*all = malloc(bytes))) return mlsae_fail(err, "out of memory for %zu bytes", bytes);
    memcpy(*all, mine, bytes);
    return 0;
}

#ifdef MLSAE_HAVE_MPI
#include <mpi.h>

static int g_init, g_rank, g_size = 1, g_local_rank, g_local_size = 1;
static char g_desc[256];
static mlsae_comm_stats g_stats;

static void account(double t0, size_t bytes)
{
    g_stats.calls++;
    g_stats.bytes += bytes;
    g_stats.seconds += MPI_Wtime() - t0;
}

void mlsae_comm_get_stats(mlsae_comm_stats *out) { *out = g_stats; }

static int launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static int mpi_fail(int rc, const char *what, mlsae_error *err)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return mlsae_fail(err, "mpi rank %d of %d: %s: %s", g_rank, g_size, what, text);
}

int mlsae_comm_init(mlsae_error *err)
{
    if (g_init || !launched()) return 0;
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mlsae_fail(err, "MPI_Init_thread failed (code %d)", rc);
    g_init = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "node-local communicator", err);
    MPI_Comm_rank(node, &g_local_rank);
    MPI_Comm_size(node, &g_local_size);
    MPI_Comm_free(&node);
    return 0;
}

void mlsae_comm_finalize(void)
{
    if (!g_init) return;
    MPI_Finalize();
    g_init = 0;
}

void mlsae_comm_abort(int code)
{
    if (g_init && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int mlsae_comm_rank(void) { return g_rank; }
int mlsae_comm_size(void) { return g_size; }
int mlsae_comm_local_rank(void) { return g_local_rank; }
int mlsae_comm_local_size(void) { return g_local_size; }

const char *mlsae_comm_describe(void)
{
    if (!g_desc[0]) {
        char lib[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        MPI_Get_library_version(lib, &len);
        lib[strcspn(lib, ",\n")] = '\0';
        snprintf(g_desc, sizeof g_desc, "mpi (%.200s)", lib);
    }
    return g_desc;
}

/* MPI counts are int: large arrays go in chunks. */
#define CHUNK ((size_t)1 << 30)

static int allreduce(void *v, size_t n, size_t elem, MPI_Datatype type, MPI_Op op,
                     const char *what, mlsae_error *err)
{
    if (!g_init || g_size == 1) return 0;
    double t0 = MPI_Wtime();
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t c = n - off < CHUNK ? n - off : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)v + off * elem, (int)c, type, op,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, what, err);
    }
    account(t0, n * elem);
    return 0;
}

int mlsae_comm_sum_f64(double *v, size_t n, mlsae_error *err)
{
    return allreduce(v, n, sizeof *v, MPI_DOUBLE, MPI_SUM, "allreduce sum (f64)", err);
}

int mlsae_comm_sum_f32(float *v, size_t n, mlsae_error *err)
{
    return allreduce(v, n, sizeof *v, MPI_FLOAT, MPI_SUM, "allreduce sum (f32)", err);
}

int mlsae_comm_sum_i64(int64_t *v, size_t n, mlsae_error *err)
{
    return allreduce(v, n, sizeof *v, MPI_INT64_T, MPI_SUM, "allreduce sum (i64)", err);
}

int mlsae_comm_max_i64(int64_t *v, size_t n, mlsae_error *err)
{
    return allreduce(v, n, sizeof *v, MPI_INT64_T, MPI_MAX, "allreduce max (i64)", err);
}

int mlsae_comm_reduce_sum_f64(double *v, size_t n, int root, mlsae_error *err)
{
    if (!g_init || g_size == 1) return 0;
    double t0 = MPI_Wtime();
    for (size_t off = 0; off < n; off += CHUNK) {
        int c = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = g_rank == root
                     ? MPI_Reduce(MPI_IN_PLACE, v + off, c, MPI_DOUBLE, MPI_SUM, root,
                                  MPI_COMM_WORLD)
                     : MPI_Reduce(v + off, NULL, c, MPI_DOUBLE, MPI_SUM, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "reduce sum (f64)", err);
    }
    account(t0, n * sizeof *v);
    return 0;
}

int mlsae_comm_min_i32(int32_t *v, size_t n, mlsae_error *err)
{
    return allreduce(v, n, sizeof *v, MPI_INT32_T, MPI_MIN, "allreduce min (i32)", err);
}

int mlsae_comm_max_i32(int32_t *v, size_t n, mlsae_error *err)
{
    return allreduce(v, n, sizeof *v, MPI_INT32_T, MPI_MAX, "allreduce max (i32)", err);
}

int mlsae_comm_or(int *flag, mlsae_error *err)
{
    int32_t v = *flag != 0;
    if (mlsae_comm_max_i32(&v, 1, err)) return -1;
    *flag = v;
    return 0;
}

int mlsae_comm_bcast(void *buf, size_t bytes, int root, mlsae_error *err)
{
    if (!g_init || g_size == 1) return 0;
    double t0 = MPI_Wtime();
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t c = bytes - off < CHUNK ? bytes - off : CHUNK;
        int rc = MPI_Bcast((char *)buf + off, (int)c, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "broadcast", err);
    }
    account(t0, bytes);
    return 0;
}

int mlsae_comm_barrier(mlsae_error *err)
{
    if (!g_init || g_size == 1) return 0;
    double t0 = MPI_Wtime();
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    account(t0, 0);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "barrier", err);
}

int mlsae_comm_gather_bytes(const void *mine, size_t bytes, int root, unsigned char **all,
                            uint64_t *sizes, mlsae_error *err)
{
    *all = NULL;
    if (!g_init || g_size == 1) return gather_copy(mine, bytes, all, sizes, err);
    double t0 = MPI_Wtime();
    uint64_t len = bytes;
    int *counts = NULL, *displs = NULL, is_root = g_rank == root;
    int rc = MPI_Gather(&len, 1, MPI_UINT64_T, sizes, 1, MPI_UINT64_T, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "gather of lengths", err);
    /* every rank must know whether root can take it, or the Gatherv hangs */
    int32_t bad = 0;
    uint64_t total = 0;
    if (is_root) {
        for (int r = 0; r < g_size; r++) total += sizes[r];
        counts = malloc((size_t)g_size * sizeof *counts);
        displs = malloc((size_t)g_size * sizeof *displs);
        bad = total >= (uint64_t)1 << 31 ? 1 : !counts || !displs ? 2 : 0;
        if (!bad && total > 0 && !(*all = malloc(total))) bad = 2;
    }
    rc = MPI_Bcast(&bad, 1, MPI_INT32_T, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS || bad) {
        free(counts);
        free(displs);
        free(*all);
        *all = NULL;
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "gather", err);
        return bad == 1 ? mlsae_fail(err, "gather of %llu bytes: over MPI's 2 GiB limit",
                                     (unsigned long long)total)
                        : mlsae_fail(err, "rank %d: out of memory for a gather", root);
    }
    if (is_root) {
        uint64_t off = 0;
        for (int r = 0; r < g_size; r++) {
            counts[r] = (int)sizes[r];
            displs[r] = (int)off;
            off += sizes[r];
        }
    }
    rc = MPI_Gatherv(mine, (int)bytes, MPI_BYTE, *all, counts, displs, MPI_BYTE, root,
                     MPI_COMM_WORLD);
    free(counts);
    free(displs);
    if (rc != MPI_SUCCESS) {
        free(*all);
        *all = NULL;
        return mpi_fail(rc, "gatherv", err);
    }
    account(t0, bytes + sizeof len);
    return 0;
}

#else /* one process: rank 0 of 1, collectives are the identity */

int mlsae_comm_init(mlsae_error *err) { return 0; }
void mlsae_comm_finalize(void) {}
void mlsae_comm_abort(int code) { exit(code); }
int mlsae_comm_rank(void) { return 0; }
int mlsae_comm_size(void) { return 1; }
int mlsae_comm_local_rank(void) { return 0; }
int mlsae_comm_local_size(void) { return 1; }
const char *mlsae_comm_describe(void) { return "mpi: not built"; }
int mlsae_comm_sum_f64(double *v, size_t n, mlsae_error *err) { return 0; }
int mlsae_comm_sum_f32(float *v, size_t n, mlsae_error *err) { return 0; }
int mlsae_comm_sum_i64(int64_t *v, size_t n, mlsae_error *err) { return 0; }
int mlsae_comm_reduce_sum_f64(double *v, size_t n, int root, mlsae_error *err) { return 0; }
int mlsae_comm_min_i32(int32_t *v, size_t n, mlsae_error *err) { return 0; }
int mlsae_comm_max_i32(int32_t *v, size_t n, mlsae_error *err) { return 0; }
int mlsae_comm_max_i64(int64_t *v, size_t n, mlsae_error *err) { return 0; }
int mlsae_comm_or(int *flag, mlsae_error *err)
{
    *flag = *flag != 0;
    return 0;
}
int mlsae_comm_bcast(void *buf, size_t bytes, int root, mlsae_error *err) { return 0; }
int mlsae_comm_barrier(mlsae_error *err) { return 0; }
void mlsae_comm_get_stats(mlsae_comm_stats *out) { memset(out, 0, sizeof *out); }
int mlsae_comm_gather_bytes(const void *mine, size_t bytes, int root, unsigned char **all,
                            uint64_t *sizes, mlsae_error *err)
{
    return gather_copy(mine, bytes, all, sizes, err);
}

#endif
