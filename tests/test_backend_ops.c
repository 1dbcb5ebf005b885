/* Parity of every backend plugin with the reference, op by op and on two short
 * op sequences (a transformer layer, an SAE training step).
 *
 * The reference for every op is the CPU backend. Where the CPU backend does
 * not implement an op yet (NULL in its table), the naive implementation in
 * backend_ops_ref.c is the reference; where it does, the naive one is also
 * compared with it. The summary at the end says which reference each op used.
 *
 * Inputs are random, on several shapes including sizes that are not
 * multiples of any work-group or tile size, k = 1 and d = 1. Every buffer is
 * addressed at a non-zero element offset and carries guard elements on both
 * sides that must come back untouched.
 *
 * Tolerances (relative to the largest |reference| of the output):
 *   TOL_ELEM 1e-5: elementwise ops and short fixed sums (float rounding of a
 *                  few operations, plus erf/exp/cos differences of a few ulp);
 *   TOL_RED  1e-4: GEMM with K up to 1024, row reductions up to 50304 entries,
 *                  attention and the op sequences (float accumulation in a
 *                  different order than the reference).
 * Integer outputs (TopK indices, dead-latent counters) must match exactly.
 *
 * It runs on every device of every registered backend plugin (registry.h),
 * or only on $MLSAE_TEST_DEVICE (NAME:N). SKIP (77) when there is none. */
#include "config.h"
#include "backend/registry.h"
#include "backend/backend.h"
#include "backend/lowp.h"
#include "backend/backend_ops.h"
#include "core/fp16.h"
#include "backend_ops_ref.h"
#include "opencl_testutil.h"
#include "testutil.h"

/* the CPU backend's switch for its AVX512_BF16 kernel (cpu_internal.h) */
void cpu_lowp_bf16_set(int enabled);
/* and the cache size its blocked sparse_backward plans for */
void cpu_llc_bytes_set(mlsae_backend *be, size_t bytes);

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_ELEM 1e-5
#define TOL_RED 1e-4

typedef struct impl {
    const char *name;
    mlsae_backend *be;
    const mlsae_backend_ops *ops;
} impl;

static impl DUT = {"device", NULL, NULL}, CPU = {"cpu", NULL, NULL}, NAIVE = {"naive", NULL, NULL};
static mlsae_backend_ops naive_table;
static tu_rng rng = {12345};

/* ---- per-op record of the reference used and the worst errors ---------- */
typedef struct {
    const char *op, *ref;
    double err, tol, cross;
    int cases;
} op_record;
static op_record records[64];
static int n_records;

static op_record *record(const char *op, int cpu_has, double tol)
{
    for (int i = 0; i < n_records; i++)
        if (strcmp(records[i].op, op) == 0) return &records[i];
    op_record *r = &records[n_records++];
    *r = (op_record){op, cpu_has ? "cpu" : "naive", 0, tol, cpu_has ? 0 : -1, 0};
    return r;
}

/* The implementations to run: the device under test, then the reference, then (when the
 * reference is the CPU backend) the naive one as a cross-check. */
static int impls(int cpu_has, impl **list)
{
    list[0] = &DUT;
    list[1] = cpu_has ? &CPU : &NAIVE;
    list[2] = cpu_has ? &NAIVE : NULL;
    return cpu_has ? 3 : 2;
}

/* ---- buffers with guards ---------------------------------------------- */
#define PAD 3
#define GUARD 5
static const float guard_value = -777.25f;
typedef struct {
    impl *owner;
    mlsae_buffer *buf;
    size_t n;
} pooled;
static pooled pool[512];
static int pool_n;

static mlsae_ref up(impl *I, const void *host, size_t n)
{
    size_t total = PAD + n + GUARD;
    mlsae_buffer *b = I->ops->core.alloc(I->be, total * 4);
    if (!b || pool_n >= (int)(sizeof pool / sizeof pool[0])) {
        fprintf(stderr, "%s: cannot allocate %zu floats\n", I->name, total);
        exit(1);
    }
    float *init = malloc(total * 4);
    for (size_t i = 0; i < total; i++) init[i] = guard_value;
    if (host) memcpy(init + PAD, host, n * 4);
    else memset(init + PAD, 0, n * 4);
    if (I->ops->core.write(I->be, b, 0, init, total * 4) != 0) exit(1);
    free(init);
    pool[pool_n++] = (pooled){I, b, n};
    return mlsae_at(b, PAD);
}

static void down(impl *I, mlsae_ref r, void *host, size_t n)
{
    size_t total = 0;
    for (int i = 0; i < pool_n; i++)
        if (pool[i].buf == r.buf) total = PAD + pool[i].n + GUARD;
    float *all = malloc(total * 4);
    int rc = I->ops->core.read(I->be, r.buf, 0, all, total * 4);
    CHECKF(rc == 0, "%s read: %s", I->name, mlsae_backend_error(I->be));
    memcpy(host, all + r.off, n * 4);
    int guards_ok = 1;
    for (size_t i = 0; i < total; i++)
        if ((i < PAD || i >= total - GUARD) && memcmp(&all[i], &guard_value, 4) != 0) guards_ok = 0;
    CHECKF(guards_ok, "%s wrote outside its output", I->name);
    free(all);
}

static void release(void)
{
    for (int i = 0; i < pool_n; i++) pool[i].owner->ops->core.free(pool[i].owner->be, pool[i].buf);
    pool_n = 0;
}

#define RUN(I, call)                                                                       \
    do {                                                                                   \
        int _rc = (call);                                                                  \
        CHECKF(_rc == 0, "%s: %s failed: %s", (I)->name, #call, mlsae_backend_error((I)->be)); \
    } while (0)

/* ---- comparisons ----------------------------------------------------------- */
static double compare_floor(op_record *rec, const char *shape, int which, const float *a,
                            const float *ref, size_t n, double floor)
{
    double e = tu_max_rel_err(a, ref, n, floor);
    tu_checks++;
    if (!(e < rec->tol)) {
        tu_failures++;
        fprintf(stderr, "FAIL %s %s: %s vs %s max relative error %.3g >= %.3g\n", rec->op, shape,
                which == 2 ? "naive" : DUT.name, which == 2 ? "cpu" : rec->ref, e, rec->tol);
    }
    if (which == 2) {
        if (e > rec->cross) rec->cross = e;
    } else if (e > rec->err || isnan(e)) {
        rec->err = e;
    }
    return e;
}

static double compare(op_record *rec, const char *shape, int which, const float *a,
                      const float *ref, size_t n)
{
    return compare_floor(rec, shape, which, a, ref, n, 1e-30);
}

/* outputs of implementations 1.. against the reference (index 1) */
static void compare_all(op_record *rec, const char *shape, int n_impl, float **out, size_t n)
{
    compare(rec, shape, 0, out[0], out[1], n);
    if (n_impl == 3) compare(rec, shape, 2, out[2], out[1], n);
    rec->cases++;
}

static void compare_ints(op_record *rec, const char *shape, int n_impl, int32_t **out, size_t n)
{
    for (int w = 0; w < n_impl; w++) {
        if (w == 1) continue;
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += out[w][i] != out[1][i];
        tu_checks++;
        if (bad) {
            tu_failures++;
            fprintf(stderr, "FAIL %s %s: %s differs from %s in %zu of %zu integers\n", rec->op,
                    shape, w ? "naive" : DUT.name, rec->ref, bad, n);
        }
    }
    rec->cases++;
}

static float *rand_floats(size_t n, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = tu_uniform(&rng, lo, hi);
    return v;
}

static int32_t *rand_ints(size_t n, int lo, int hi_exclusive)
{
    int32_t *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        int r = lo + (int)(tu_uniform(&rng, 0, 1) * (hi_exclusive - lo));
        v[i] = r >= hi_exclusive ? hi_exclusive - 1 : r;
    }
    return v;
}

static float **outputs(int n_impl, size_t n)
{
    float **o = malloc(3 * sizeof *o);
    for (int i = 0; i < 3; i++) o[i] = i < n_impl ? calloc(n ? n : 1, sizeof(float)) : NULL;
    return o;
}

static void free_outputs(float **o)
{
    for (int i = 0; i < 3; i++) free(o[i]);
    free(o);
}

#include "backend_ops_core.inc"
#include "backend_ops_nn.inc"
#include "backend_ops_sae.inc"
#include "backend_ops_seq.inc"

static void print_summary(void)
{
    printf("\n%-16s %-6s %6s %10s %10s %14s\n", "op", "ref", "cases", "max err", "tolerance",
           "naive vs cpu");
    for (int i = 0; i < n_records; i++) {
        op_record *r = &records[i];
        char cross[32] = "-";
        if (r->cross >= 0) snprintf(cross, sizeof cross, "%.3g", r->cross);
        printf("%-16s %-6s %6d %10.3g %10.3g %14s\n", r->op, r->ref, r->cases, r->err, r->tol,
               cross);
    }
}

/* Every op and both sequences on device `dev` against the CPU backend. */
static int run_device(const char *dev, const char *plugin)
{
    mlsae_error err;
    mlsae_backend_params params = {0};
    if (mlsae_backend_open(dev, &params, &DUT.be, &err) != 0) {
        fprintf(stderr, "FAIL: %s is listed but the backend does not open: %s\n", dev, err.msg);
        return -1;
    }
    DUT.name = dev;
    DUT.ops = DUT.be->ops;
    n_records = 0;
    printf("\n== %s: %s\n", dev, DUT.ops->describe(DUT.be));
    test_core();
    test_nn();
    test_sae();
    test_sequences();
    if (strcmp(plugin, "opencl") == 0) test_no_fp64();
    test_lowp(); /* last: its random draws leave the other ops' inputs as they were */
    if (strcmp(plugin, "opencl") == 0) test_lowp16(dev);
    print_summary();
    mlsae_backend_close(DUT.be);
    DUT.be = NULL;
    return 0;
}

/* Every device of every registered backend plugin, or only the device
 * named by $MLSAE_TEST_DEVICE (NAME:N). */
int main(void)
{
    const char *env = getenv("MLSAE_PLUGIN_PATH");
    if (!env || !*env) tu_skip("MLSAE_PLUGIN_PATH is not set (run through make check)");
    mlsae_error err;
    if (mlsae_backend_cpu_new(NULL, &CPU.be, &err) != 0) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    CPU.ops = CPU.be->ops;
    naive_table = *CPU.ops;
    naive_table.nn = ref_nn_ops;
    naive_table.sae = ref_sae_ops;
    NAIVE.be = CPU.be;
    NAIVE.ops = &naive_table;

    const char *only = getenv("MLSAE_TEST_DEVICE");
    int tested = 0, failed_open = 0;
    for (int i = 0; i < mlsae_registry_count(); i++) {
        const mlsae_registry_entry *e = mlsae_registry_get(i);
        int n = e->plugin->device_count(&err);
        for (int d = 0; d < n; d++) {
            char dev[64];
            snprintf(dev, sizeof dev, "%s:%d", e->name, d);
            if (only && *only && strcmp(only, dev) != 0) continue;
            if (run_device(dev, e->name) != 0) failed_open++;
            else tested++;
        }
    }
    mlsae_backend_close(CPU.be);
    if (failed_open) return 1;
    if (tested == 0) {
        char search[8192];
        mlsae_registry_search_path(search, sizeof search);
        tu_skip("no device of a backend plugin to test (plugins searched in %s)", search);
    }
    return tu_finish("test_backend_ops");
}
