/* Helper of tests/test_train_mpi.sh (data-parallel training):
 *   dp_helper split IN OUT N
 *       IN: activations 'inputs' [n_batches, n_layers, batch, pos, d]; OUT:
 *       the same sequences as [n_batches * N, n_layers, batch / N, pos, d],
 *       batch b's part j at b * N + j: the file batches that N ranks of
 *       batch_size batch / N take for global micro-batch b.
 *   dp_helper compare A.safetensors B.safetensors RTOL ATOL
 *       every tensor of A is in B with the same shape; floating point
 *       tensors within |a - b| <= ATOL + RTOL |b|, integer tensors exactly,
 *       U8 tensors (opaque bytes) not at all. Prints the largest
 *       difference of each tensor. Exit 0 when equal.
 *   dp_helper random OUT N_BATCHES N_LAYERS BATCH POS D SEED
 *       activations of standard normal deviates (layer l scaled by l + 1),
 *       for benchmarks (bench/bench_mpi.sh).
 *   dp_helper interrupt RANK N OPTIONS...
 *       the training loop with the options of `mlsae train` (under mpirun:
 *       one process of the data-parallel run); rank RANK raises SIGINT, as
 *       Ctrl-C would, after its N-th micro-batch (N = 0: never); rank 0
 *       prints "stopped (or trained) after M micro-batches in S s, S' s in
 *       MPI" (the training call's wall time; rank 0's time in collectives). */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/run_config.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "pipeline/comm.h"
#include "train/trainer.h"

static int split(const char *in, const char *out, int n)
{
    mlsae_error err;
    mlsae_safetensors *st;
    if (mlsae_st_open(in, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const mlsae_st_tensor *t = mlsae_st_find(st, "inputs");
    if (!t || t->ndim != 5 || n < 1 || t->shape[2] % n) {
        fprintf(stderr, "%s: no 'inputs' of 5 dims with a batch divisible by %d\n", in, n);
        mlsae_st_close(st);
        return 1;
    }
    float *x = malloc((size_t)t->numel * 4), *y = malloc((size_t)t->numel * 4);
    if (!x || !y || mlsae_st_read_f32(st, "inputs", 5, t->shape, x, &err)) {
        fprintf(stderr, "%s\n", x && y ? err.msg : "out of memory");
        return 1;
    }
    const int64_t nb = t->shape[0], nl = t->shape[1], b = t->shape[2];
    const size_t row = (size_t)(t->shape[3] * t->shape[4]), part = (size_t)(b / n) * row;
    size_t o = 0;
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < n; j++)
            for (int64_t l = 0; l < nl; l++) {
                memcpy(y + o, x + ((size_t)(i * nl + l) * b) * row + (size_t)j * part,
                       part * 4);
                o += part;
            }
    int64_t shape[5] = {nb * n, nl, b / n, t->shape[3], t->shape[4]};
    mlsae_st_writer *w = mlsae_st_writer_new();
    int rc = !w || mlsae_st_writer_add(w, "inputs", MLSAE_DT_F32, 5, shape, y, &err) ||
             mlsae_st_writer_save(w, out, &err);
    if (rc) fprintf(stderr, "%s\n", w ? err.msg : "out of memory");
    mlsae_st_writer_free(w);
    mlsae_st_close(st);
    free(x);
    free(y);
    return rc;
}

static int is_float(mlsae_dtype dt)
{
    return dt == MLSAE_DT_F32 || dt == MLSAE_DT_F16 || dt == MLSAE_DT_BF16 || dt == MLSAE_DT_F64;
}

static int compare(const char *a_path, const char *b_path, double rtol, double atol)
{
    mlsae_error err;
    mlsae_safetensors *a, *b;
    if (mlsae_st_open(a_path, &a, &err) || mlsae_st_open(b_path, &b, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int bad = 0, n = 0;
    for (size_t i = 0; i < mlsae_st_count(a); i++, n++) {
        const mlsae_st_tensor *ta = mlsae_st_at(a, i);
        const mlsae_st_tensor *tb = mlsae_st_find(b, ta->name);
        if (!tb || tb->ndim != ta->ndim || tb->numel != ta->numel) {
            fprintf(stderr, "%s: %s missing or of another shape in %s\n", a_path, ta->name, b_path);
            bad = 1;
            continue;
        }
        size_t m = (size_t)ta->numel;
        if (ta->dtype == MLSAE_DT_U8) { /* opaque bytes (the pipeline's state) */
            printf("  %-28s bytes, not compared\n", ta->name);
            continue;
        }
        if (is_float(ta->dtype)) {
            float *va = malloc(m * 4 + 4), *vb = malloc(m * 4 + 4);
            if (!va || !vb || mlsae_st_read_f32(a, ta->name, ta->ndim, ta->shape, va, &err) ||
                mlsae_st_read_f32(b, ta->name, ta->ndim, ta->shape, vb, &err)) {
                fprintf(stderr, "%s\n", va && vb ? err.msg : "out of memory");
                return 1;
            }
            double worst = 0;
            for (size_t j = 0; j < m; j++) {
                double d = fabs((double)va[j] - vb[j]);
                if (!(d <= worst)) worst = d; /* NaN sticks */
                if (!(d <= atol + rtol * fabs((double)vb[j]))) bad = 1;
            }
            printf("  %-28s max |a-b| %.3g\n", ta->name, worst);
            free(va);
            free(vb);
        } else {
            int64_t *va = malloc(m * 8 + 8), *vb = malloc(m * 8 + 8);
            if (!va || !vb || mlsae_st_read_i64(a, ta->name, ta->ndim, ta->shape, va, &err) ||
                mlsae_st_read_i64(b, ta->name, ta->ndim, ta->shape, vb, &err)) {
                fprintf(stderr, "%s\n", va && vb ? err.msg : "out of memory");
                return 1;
            }
            size_t diff = 0;
            for (size_t j = 0; j < m; j++) diff += va[j] != vb[j];
            printf("  %-28s %zu of %zu differ\n", ta->name, diff, m);
            if (diff) bad = 1;
            free(va);
            free(vb);
        }
    }
    mlsae_st_close(a);
    mlsae_st_close(b);
    if (n == 0) {
        fprintf(stderr, "%s: no tensors\n", a_path);
        return 1;
    }
    return bad;
}

static int random_acts(char **argv)
{
    int64_t shape[5];
    for (int i = 0; i < 5; i++) shape[i] = atoll(argv[1 + i]);
    size_t n = 1;
    for (int i = 0; i < 5; i++) {
        if (shape[i] < 1) {
            fprintf(stderr, "dp_helper random: dimension %d must be >= 1\n", i);
            return 1;
        }
        n *= (size_t)shape[i];
    }
    float *x = malloc(n * sizeof *x);
    if (!x) return fprintf(stderr, "out of memory\n"), 1;
    mlsae_rng r;
    mlsae_rng_seed(&r, (uint64_t)atoll(argv[6]));
    const size_t per_layer = n / (size_t)(shape[0] * shape[1]);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(mlsae_rng_normal(&r) * (double)(1 + (i / per_layer) % shape[1]));
    mlsae_error err;
    mlsae_st_writer *w = mlsae_st_writer_new();
    int rc = !w || mlsae_st_writer_add(w, "inputs", MLSAE_DT_F32, 5, shape, x, &err) ||
             mlsae_st_writer_save(w, argv[0], &err);
    if (rc) fprintf(stderr, "%s\n", w ? err.msg : "out of memory");
    mlsae_st_writer_free(w);
    free(x);
    return rc;
}

static int64_t stop_after;
static int stop_rank;

static void on_micro_batch(void *ctx, int64_t done)
{
    (void)ctx;
    if (done == stop_after && mlsae_comm_rank() == stop_rank) raise(SIGINT);
}

static int interrupt(int argc, char **argv)
{
    stop_rank = atoi(argv[0]);
    stop_after = atoll(argv[1]);
    mlsae_run_config *cfg = malloc(sizeof *cfg);
    mlsae_error err;
    if (!cfg || mlsae_comm_init(&err) ||
        mlsae_run_config_from_args(cfg, argc - 1, argv + 1, NULL, NULL, &err)) {
        fprintf(stderr, "dp_helper: %s\n", cfg ? err.msg : "out of memory");
        mlsae_comm_abort(1);
    }
    mlsae_train_io io = {.on_micro_batch = on_micro_batch};
    mlsae_train_summary sum;
    int rc = mlsae_train(cfg, &io, &sum, &err);
    free(cfg);
    if (rc) {
        fprintf(stderr, "dp_helper: rank %d: %s\n", mlsae_comm_rank(), err.msg);
        mlsae_comm_abort(1);
    }
    mlsae_comm_stats cs;
    mlsae_comm_get_stats(&cs);
    if (mlsae_comm_rank() == 0)
        printf("%s after %lld micro-batches in %.4f s, %.4f s in MPI\n",
               sum.interrupted ? "stopped" : "trained", (long long)sum.micro_batches,
               sum.seconds, cs.seconds);
    mlsae_comm_finalize();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "interrupt") == 0) return interrupt(argc - 2, argv + 2);
    if (argc == 9 && strcmp(argv[1], "random") == 0) return random_acts(argv + 2);
    if (argc == 5 && strcmp(argv[1], "split") == 0) return split(argv[2], argv[3], atoi(argv[4]));
    if (argc == 6 && strcmp(argv[1], "compare") == 0)
        return compare(argv[2], argv[3], atof(argv[4]), atof(argv[5]));
    fprintf(stderr, "usage: dp_helper split IN OUT N | compare A B RTOL ATOL |\n"
                    "       random OUT N_BATCHES N_LAYERS BATCH POS D SEED |\n"
                    "       interrupt RANK N OPTIONS...\n");
    return 2;
}
