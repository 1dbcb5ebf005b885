/* Building the kernel program for the chosen device: tile sizes from the
 * device's limits, fp64 only when cl_khr_fp64 is there, one build per
 * backend (OpenCL drivers such as PoCL cache the compiled binary). */
#include "config.h"
#include "ocl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* All of kernels/ *.cl, generated into ocl_kernels_src.c at build time. */
extern const char ocl_kernel_source[];

static const char *const kernel_names[OCLK_COUNT] = {
#define OCL_NAME(name) #name,
    OCL_KERNELS(OCL_NAME) OCL_KERNELS_FP64(OCL_NAME)
#undef OCL_NAME
};

/* Largest tile whose work-group and local memory fit the device. */
static void choose_tile(ocl_backend *ob)
{
    static const ocl_gemm_tile tiles[] = {
        {64, 64, 16, 4, 4}, /* 256 items, 8 KiB local */
        {32, 32, 16, 4, 4}, /* 64 items */
        {16, 16, 16, 2, 2}, /* 64 items */
        {8, 8, 8, 2, 2},    /* 16 items */
        {4, 4, 4, 1, 1},    /* 16 items */
    };
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        const ocl_gemm_tile *t = &tiles[i];
        size_t items = (size_t)(t->tsm / t->wptm) * (t->tsn / t->wptn);
        size_t local = 4u * t->tsk * (t->tsm + t->tsn);
        if (items <= ob->max_wg && local + 1024 <= ob->local_mem) {
            ob->tile = *t;
            return;
        }
    }
    ob->tile = tiles[sizeof tiles / sizeof tiles[0] - 1];
}

static size_t pow2_floor(size_t v)
{
    size_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

/* The first lines of a build log, joined with " | ", for a one-line error. */
static void log_head(const char *log, char *out, size_t n, int max_lines)
{
    size_t o = 0;
    int lines = 0;
    out[0] = '\0';
    for (const char *p = log; *p && lines < max_lines && o + 4 < n;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0) {
            if (lines++ > 0 && o + 3 < n) o += (size_t)snprintf(out + o, n - o, " | ");
            size_t room = n - o - 1;
            size_t take = len < room ? len : room;
            memcpy(out + o, p, take);
            o += take;
            out[o] = '\0';
        }
        if (!e) break;
        p = e + 1;
    }
}

static char *build_log(ocl_backend *ob)
{
    size_t sz = 0;
    clGetProgramBuildInfo(ob->program, ob->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &sz);
    char *log = malloc(sz + 1);
    if (!log) return NULL;
    log[0] = '\0';
    if (sz) clGetProgramBuildInfo(ob->program, ob->device, CL_PROGRAM_BUILD_LOG, sz, log, NULL);
    log[sz] = '\0';
    return log;
}

int ocl_build_program(ocl_backend *ob, mlsae_error *err)
{
    choose_tile(ob);
    const char *extra = getenv("MLSAE_OPENCL_BUILD_OPTIONS");
    char options[1024];
    snprintf(options, sizeof options,
             "-DTSM=%d -DTSN=%d -DTSK=%d -DWPTM=%d -DWPTN=%d -DOCL_BAD_SPARSE_GATHER=%d "
             "-DOCL_BAD_SPARSE_DOT=%d -DOCL_BAD_GATHER_COLUMNS=%d -DOCL_BAD_UPDATE_DEAD=%d %s %s %s",
             ob->tile.tsm, ob->tile.tsn, ob->tile.tsk, ob->tile.wptm, ob->tile.wptn,
             OCL_BAD_SPARSE_GATHER, OCL_BAD_SPARSE_DOT, OCL_BAD_GATHER_COLUMNS,
             OCL_BAD_UPDATE_DEAD, ob->fp64 ? "-DMLSAE_FP64" : "", ob->fp16 ? "-DMLSAE_FP16" : "",
             extra ? extra : "");

    const char *src = ocl_kernel_source;
    cl_int rc;
    ob->program = clCreateProgramWithSource(ob->ctx, 1, &src, NULL, &rc);
    if (rc != CL_SUCCESS)
        return mlsae_fail(err, "clCreateProgramWithSource failed (%s)", ocl_strerror(rc));
    rc = clBuildProgram(ob->program, 1, &ob->device, options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        char *log = build_log(ob);
        char head[600];
        log_head(log ? log : "", head, sizeof head, 3);
        if (ob->verbose && log)
            fprintf(stderr, "mlsae: OpenCL build log (options: %s):\n%s\n", options, log);
        free(log);
        return mlsae_fail(err, "kernel build failed (%s): %s%s", ocl_strerror(rc),
                          head[0] ? head : "(empty build log)",
                          ob->verbose ? "" : " (use --verbose for the full log)");
    }
    if (ob->verbose) {
        char *log = build_log(ob);
        if (log && log[strspn(log, " \n\r\t")])
            fprintf(stderr, "mlsae: OpenCL build log:\n%s\n", log);
        free(log);
    }
    for (int i = 0; i < OCLK_COUNT; i++) {
        if (i == OCLK_sum_stats_f64 && !ob->fp64) continue;
        ob->kernel[i] = clCreateKernel(ob->program, kernel_names[i], &rc);
        if (rc != CL_SUCCESS)
            return mlsae_fail(err, "clCreateKernel(%s) failed (%s)", kernel_names[i],
                              ocl_strerror(rc));
        size_t wg = 0;
        clGetKernelWorkGroupInfo(ob->kernel[i], ob->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof wg, &wg, NULL);
        if (wg == 0 || wg > ob->max_wg) wg = ob->max_wg;
        /* reductions use power-of-two groups of at most 256 items */
        ob->kernel_wg[i] = pow2_floor(wg < 256 ? wg : 256);
    }
    size_t tile_items = (size_t)(ob->tile.tsm / ob->tile.wptm) * (ob->tile.tsn / ob->tile.wptn);
    size_t tiled_wg = 0;
    clGetKernelWorkGroupInfo(ob->kernel[OCLK_sgemm_tiled], ob->device, CL_KERNEL_WORK_GROUP_SIZE,
                             sizeof tiled_wg, &tiled_wg, NULL);
    ob->gemm_tiled = tiled_wg >= tile_items;
    ob->att_bq = (int)(ob->kernel_wg[OCLK_attention] < 64 ? ob->kernel_wg[OCLK_attention] : 64);
    return 0;
}
