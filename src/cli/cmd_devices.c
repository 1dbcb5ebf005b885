/* mlsae devices: the compute backends the registry finds (the built-in CPU
 * backend and every plugin), each plugin's devices (the numbers --device
 * NAME:N takes), plugin files that were refused, and where auto goes. The
 * device details come from the plugins, so this program never links
 * against a device API. */
#include "config.h"
#include "cli/commands.h"
#include "backend/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MLSAE_PLUGIN_DIR
#define MLSAE_PLUGIN_DIR "/usr/local/lib/mlsae/plugins"
#endif

static void usage(void)
{
    printf("Usage: mlsae devices [--probe] [--verbose]\n"
           "\n"
           "List the compute backends: the built-in CPU backend and every backend plugin\n"
           "(mlsae-NAME.so) found in $MLSAE_PLUGIN_PATH, the plugin directory and the\n"
           "program's directory, with the devices each finds (for OpenCL: every platform\n"
           "and device, type, global memory, compute units, maximum work-group size, fp64\n"
           "support). Device numbers count a plugin's devices (for OpenCL across all\n"
           "platforms in platform order); use them as --device NAME:N, e.g. opencl:N.\n"
           "--device auto picks the best device (a GPU first), or the CPU when there is none.\n"
           "\n"
           "Options:\n"
           "  --probe        also open every plugin device: build the kernels and check a\n"
           "                 small matrix product against the CPU backend\n"
           "  -v, --verbose  with --probe, print full kernel build logs on failure\n"
           "  -h, --help     show this help\n"
           "\n"
           "Environment:\n"
           "  MLSAE_PLUGIN_PATH            ':'-separated directories holding mlsae-NAME.so\n"
           "                               plugins, or plugin files (searched before %s)\n"
           "  MLSAE_OPENCL_BUILD_OPTIONS   extra OpenCL compiler options for the kernels\n"
           "  MLSAE_OPENCL_NO_FP64         if set (not 0), reduce in compensated float even\n"
           "                               when the device has cl_khr_fp64\n"
           "  OCL_ICD_VENDORS              where the ICD loader looks for drivers\n"
           "\n"
           "Exit status: 0; 1 when --probe finds a device that does not work.\n",
           MLSAE_PLUGIN_DIR);
}

static void print_line(void *ctx, int depth, const char *line)
{
    (void)ctx;
    printf("  %s%s\n", depth ? "  " : "", line);
}

static void print_problem(void *ctx, const char *line)
{
    (void)ctx;
    printf("refused  %s\n", line);
}

/* Open NAME:N and compare a small product with the CPU backend. */
static int probe(const char *name, int index, mlsae_backend *cpu, int verbose)
{
    char dev[64];
    snprintf(dev, sizeof dev, "%s:%d", name, index);
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

    int failures = 0;
    for (int i = 0; i < mlsae_registry_count(); i++) {
        const mlsae_registry_entry *e = mlsae_registry_get(i);
        printf("%-8s plugin %s\n", e->name, e->path);
        if (e->plugin->list_devices) {
            if (e->plugin->list_devices(print_line, NULL, &err) < 0)
                printf("    listing failed: %s\n", err.msg);
        }
        int n = e->plugin->device_count(&err);
        for (int d = 0; d < n; d++) {
            char line[700];
            if (!e->plugin->list_devices && e->plugin->device_info(d, line, sizeof line) >= 0)
                printf("    %s:%d  %s\n", e->name, d, line);
            if (do_probe) failures += probe(e->name, d, cpu, verbose) != 0;
        }
    }
    /* the plugins this source tree builds that were not found */
    char known[256], search[8192];
    snprintf(known, sizeof known, "%s", mlsae_registry_known_plugins());
    mlsae_registry_search_path(search, sizeof search);
    for (char *save = NULL, *name = strtok_r(known, ",", &save); name;
         name = strtok_r(NULL, ",", &save))
        if (!mlsae_registry_find(name))
            printf("%-8s not available: no mlsae-%s.so in %s (build it, or set "
                   "MLSAE_PLUGIN_PATH)\n", name, name, search);
    mlsae_registry_problems(print_problem, NULL);
    char pick[64];
    mlsae_registry_auto(pick, sizeof pick);
    if (strcmp(pick, "cpu") == 0) printf("auto     -> cpu (no GPU or accelerator)\n");
    else printf("auto     -> %s (the best-scoring device)\n", pick);
    mlsae_backend_close(cpu);
    return failures ? 1 : 0;
}
