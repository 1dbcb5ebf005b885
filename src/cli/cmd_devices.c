/* mlsae devices: the compute backends this build can use, and every OpenCL
 * platform and device the plugin sees (the numbers --device opencl:N takes).
 * The OpenCL details come from the plugin itself (dlopen + its listing
 * symbol), so this program never links against OpenCL. */
#include "config.h"
#include "cli/commands.h"
#include "backend/backend.h"
#include "../backends/opencl/ocl_plugin.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef MLSAE_PLUGIN_DIR
#define MLSAE_PLUGIN_DIR "/usr/local/lib/mlsae/plugins"
#endif

static void usage(void)
{
    printf("Usage: mlsae devices [--probe] [--verbose]\n"
           "\n"
           "List the compute backends: the built-in CPU backend and the OpenCL plugin,\n"
           "with every OpenCL platform and device it finds (type, global memory, compute\n"
           "units, maximum work-group size, fp64 support). Device numbers count devices\n"
           "across all platforms in platform order; use them as --device opencl:N.\n"
           "--device auto picks the first OpenCL GPU, or the CPU when there is none.\n"
           "\n"
           "Options:\n"
           "  --probe        also open every OpenCL device: build the kernels and check a\n"
           "                 small matrix product against the CPU backend\n"
           "  -v, --verbose  with --probe, print full OpenCL build logs on failure\n"
           "  -h, --help     show this help\n"
           "\n"
           "Environment:\n"
           "  MLSAE_PLUGIN_PATH            directory holding mlsae-opencl.so, or the file\n"
           "                               itself (default: %s)\n"
           "  MLSAE_OPENCL_BUILD_OPTIONS   extra OpenCL compiler options for the kernels\n"
           "  MLSAE_OPENCL_NO_FP64         if set (not 0), reduce in compensated float even\n"
           "                               when the device has cl_khr_fp64\n"
           "  OCL_ICD_VENDORS              where the ICD loader looks for drivers\n"
           "\n"
           "Exit status: 0; 1 when --probe finds a device that does not work.\n",
           MLSAE_PLUGIN_DIR);
}

typedef struct {
    int first_gpu;
    int n_devices;
} listing;

static void print_line(void *ctx, int depth, const char *line)
{
    listing *l = ctx;
    printf("  %s%s\n", depth ? "  " : "", line);
    if (depth == 1) {
        if (l->first_gpu < 0 && strstr(line, "(GPU,")) l->first_gpu = l->n_devices;
        l->n_devices++;
    }
}

/* Open opencl:N and compare a small product with the CPU backend. */
static int probe(int index, mlsae_backend *cpu, int verbose)
{
    char dev[32];
    snprintf(dev, sizeof dev, "opencl:%d", index);
    mlsae_backend_params p = {0};
    p.verbose = verbose;
    mlsae_backend *be;
    mlsae_error err;
    if (mlsae_backend_open(dev, &p, &be, &err) != 0) {
        printf("  probe %s: FAILED: %s\n", dev, err.msg);
        return -1;
    }
    enum { M = 37, N = 29, K = 45 };
    float a[M * K], b[K * N], c[2][M * N];
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < K * N; i++) b[i] = (float)((i * 104729) % 97) / 48.0f - 1.0f;
    mlsae_backend *bes[2] = {be, cpu};
    int rc = 0;
    for (int w = 0; w < 2 && rc == 0; w++) {
        mlsae_backend *x = bes[w];
        mlsae_buffer *A = mlsae_alloc_f32(x, M * K), *B = mlsae_alloc_f32(x, K * N),
                     *C = mlsae_alloc_f32(x, M * N);
        if (!A || !B || !C || x->ops->core.write(x, A, 0, a, sizeof a) ||
            x->ops->core.write(x, B, 0, b, sizeof b) ||
            x->ops->core.sgemm(x, 0, 0, M, N, K, 1.0f, mlsae_at(A, 0), K, mlsae_at(B, 0), N, 0.0f,
                               mlsae_at(C, 0), N) ||
            x->ops->core.read(x, C, 0, c[w], sizeof c[w])) {
            printf("  probe %s: FAILED: %s\n", dev, mlsae_backend_error(x));
            rc = -1;
        }
        if (A) x->ops->core.free(x, A);
        if (B) x->ops->core.free(x, B);
        if (C) x->ops->core.free(x, C);
    }
    if (rc == 0) {
        double worst = 0, scale = 1e-30;
        for (int i = 0; i < M * N; i++) {
            if (fabs(c[1][i]) > scale) scale = fabs(c[1][i]);
            if (fabs(c[0][i] - c[1][i]) > worst) worst = fabs(c[0][i] - c[1][i]);
        }
        /* float GEMM with K = 45 in another order: ~1e-7 of the scale */
        int ok = worst / scale < 1e-4;
        printf("  probe %s: %s (kernels built; sgemm %dx%dx%d max relative difference to cpu "
               "%.2g)\n", dev, ok ? "ok" : "FAILED", M, N, K, worst / scale);
        if (!ok) rc = -1;
    }
    mlsae_backend_close(be);
    return rc;
}

int cmd_devices(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    int do_probe = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--probe") == 0) do_probe = 1;
        else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) verbose = 1;
        else return cli_error("devices", "unknown option '%s' (see mlsae devices --help)", argv[i]);
    }

    mlsae_backend *cpu;
    mlsae_error err;
    if (mlsae_backend_cpu_new(NULL, &cpu, &err) != 0) return cli_error("devices", "%s", err.msg);
    printf("cpu      available: %s\n", cpu->ops->describe(cpu));

    char path[4096];
    mlsae_backend_plugin_path("opencl", path, sizeof path);
    listing l = {-1, 0};
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    int failures = 0;
    if (!h) {
        const char *why = dlerror();
        printf("opencl   not available: cannot load %s (%s); build with OpenCL headers "
               "or set MLSAE_PLUGIN_PATH\n", path, why ? why : "unknown error");
    } else {
        mlsae_plugin_list_devices_fn list =
            (mlsae_plugin_list_devices_fn)(uintptr_t)dlsym(h, MLSAE_PLUGIN_LIST_DEVICES);
        if (!list) {
            printf("opencl   not available: %s has no %s (a plugin from another version?)\n",
                   path, MLSAE_PLUGIN_LIST_DEVICES);
        } else {
            printf("opencl   plugin %s\n", path);
            if (list(MLSAE_BACKEND_API_VERSION, print_line, &l, &err) < 0)
                printf("    listing failed: %s\n", err.msg);
            if (do_probe)
                for (int i = 0; i < l.n_devices; i++) failures += probe(i, cpu, verbose) != 0;
        }
    }
    if (l.first_gpu >= 0) printf("auto     -> opencl:%d (the first OpenCL GPU)\n", l.first_gpu);
    else printf("auto     -> cpu (no OpenCL GPU)\n");
    mlsae_backend_close(cpu);
    return failures ? 1 : 0;
}
