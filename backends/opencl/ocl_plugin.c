/* The OpenCL backend plugin: entry point (MLSAE_PLUGIN_ENTRY), device
 * listing, backend life cycle. Loaded with dlopen() by the registry; only
 * this shared object links against libOpenCL. */
#include "config.h"
#include "ocl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ocl_strerror(cl_int code)
{
    switch (code) {
#define E(c) case c: return #c;
        E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE)
        E(CL_COMPILER_NOT_AVAILABLE) E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES)
        E(CL_OUT_OF_HOST_MEMORY) E(CL_BUILD_PROGRAM_FAILURE) E(CL_INVALID_VALUE)
        E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT) E(CL_INVALID_COMMAND_QUEUE)
        E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL)
        E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
        E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
        E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE) E(CL_INVALID_GLOBAL_WORK_SIZE)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_INVALID_PLATFORM) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_HOST_PTR)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

static const char *ocl_describe(mlsae_backend *be) { return ocl_of(be)->description; }

static void release_scratch(mlsae_buffer *b)
{
    if (b->mem) clReleaseMemObject(b->mem);
    b->mem = NULL;
    b->n_bytes = 0;
}

static void ocl_destroy(mlsae_backend *be)
{
    if (!be) return;
    ocl_backend *ob = ocl_of(be);
    if (ob->queue) clFinish(ob->queue);
    release_scratch(&ob->scratch_i);
    release_scratch(&ob->scratch_f);
    release_scratch(&ob->partials);
    release_scratch(&ob->scratch_lowp);
    for (int i = 0; i < OCLK_COUNT; i++)
        if (ob->kernel[i]) clReleaseKernel(ob->kernel[i]);
    if (ob->program) clReleaseProgram(ob->program);
    if (ob->queue) clReleaseCommandQueue(ob->queue);
    if (ob->bad) clReleaseMemObject(ob->bad);
    if (ob->ctx) clReleaseContext(ob->ctx);
    free(ob);
}

static mlsae_backend_ops ocl_ops = {
    .api_version = MLSAE_BACKEND_API_VERSION,
    .name = "opencl",
    .destroy = ocl_destroy,
    .describe = ocl_describe,
};

static int query_limits(ocl_backend *ob, mlsae_error *err)
{
    cl_int rc = clGetDeviceInfo(ob->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof ob->max_wg,
                                &ob->max_wg, NULL);
    rc |= clGetDeviceInfo(ob->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ob->local_mem,
                          &ob->local_mem, NULL);
    rc |= clGetDeviceInfo(ob->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ob->max_alloc,
                          &ob->max_alloc, NULL);
    rc |= clGetDeviceInfo(ob->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ob->global_mem,
                          &ob->global_mem, NULL);
    rc |= clGetDeviceInfo(ob->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof ob->compute_units,
                          &ob->compute_units, NULL);
    if (rc != CL_SUCCESS) return mlsae_fail(err, "cannot query the device's limits");
    if (ob->max_wg == 0) ob->max_wg = 1;
    ob->fp64 = ocl_device_has_extension(ob->device, "cl_khr_fp64");
    const char *no64 = getenv("MLSAE_OPENCL_NO_FP64");
    ob->use_fp64 = ob->fp64 && !(no64 && *no64 && strcmp(no64, "0") != 0);
    ob->fp16 = ocl_device_has_extension(ob->device, "cl_khr_fp16");
    const char *f16 = getenv("MLSAE_OPENCL_FP16");
    ob->lowp16_forced = !ob->fp16 && f16 && *f16 && strcmp(f16, "0") != 0;
    return 0;
}

static int init_backend(const mlsae_backend_params *params, ocl_backend *ob, mlsae_error *err)
{
    ocl_device_ref pick;
    if (ocl_pick_device(params ? params->device_index : 0, &pick, err) != 0) return -1;
    ob->platform = pick.platform;
    ob->device = pick.device;
    ob->verbose = params ? params->verbose : 0;
    if (query_limits(ob, err) != 0) return -1;

    cl_int rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ob->platform, 0};
    ob->ctx = clCreateContext(props, 1, &ob->device, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) return mlsae_fail(err, "clCreateContext failed (%s)", ocl_strerror(rc));
    ob->queue = clCreateCommandQueue(ob->ctx, ob->device, 0, &rc); /* in order */
    if (rc != CL_SUCCESS)
        return mlsae_fail(err, "clCreateCommandQueue failed (%s)", ocl_strerror(rc));
    cl_int zero = 0;
    ob->bad = clCreateBuffer(ob->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof zero, &zero,
                             &rc);
    if (rc != CL_SUCCESS)
        return mlsae_fail(err, "clCreateBuffer (error flag) failed (%s)", ocl_strerror(rc));
    if (ocl_build_program(ob, err) != 0) return -1;
    ob->lowp16 = (ob->fp16 || ob->lowp16_forced) && ob->gemm_tiled;
    if (ocl_scratch(ob, &ob->partials, 4096) != 0) /* also the stand-in for absent refs */
        return mlsae_fail(err, "%s", ob->base.last_error.msg);

    char summary[400], pname[128] = "?";
    ocl_device_summary(ob->device, summary, sizeof summary);
    clGetPlatformInfo(ob->platform, CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
    snprintf(ob->description, sizeof ob->description, "opencl: %s on %s; gemm tile %dx%d%s%s%s",
             summary, pname, ob->tile.tsm, ob->tile.tsn, ob->gemm_tiled ? "" : " (simple kernel)",
             ob->use_fp64 ? "" : ", float-compensated reductions",
             !ob->lowp16         ? ""
             : ob->lowp16_forced ? ", mixed precision in 16-bit storage (vload_half)"
                                 : ", mixed precision in 16-bit storage (cl_khr_fp16)");
    return 0;
}

static int ocl_init(const mlsae_backend_params *params, mlsae_backend **out, mlsae_error *err)
{
    *out = NULL;
    ocl_ops.core = ocl_core_ops;
    ocl_lowp_fill_ops(&ocl_ops.core);
    ocl_ops.nn = ocl_nn_ops;
    ocl_ops.sae = ocl_sae_ops;
    ocl_backend *ob = calloc(1, sizeof *ob);
    if (!ob) return mlsae_fail(err, "out of memory");
    ob->base.ops = &ocl_ops;
    if (init_backend(params, ob, err) != 0) {
        ocl_destroy(&ob->base);
        return -1;
    }
    *out = &ob->base;
    return 0;
}

static int ocl_device_count(mlsae_error *why)
{
    ocl_device_ref *list;
    int n;
    if (ocl_enumerate(&list, &n, why) != 0) return -1;
    free(list);
    return n;
}

static int ocl_device_info(int i, char *line, size_t n)
{
    ocl_device_ref *list;
    int count;
    mlsae_error why;
    if (ocl_enumerate(&list, &count, &why) != 0) return -1;
    int score = -1;
    if (i >= 0 && i < count) {
        ocl_device_summary(list[i].device, line, n);
        score = ocl_device_score(list[i].device);
    }
    free(list);
    return score;
}

static int ocl_list_devices(void (*emit)(void *ctx, int depth, const char *line), void *ctx,
                            mlsae_error *err)
{
    ocl_device_ref *list;
    int n;
    mlsae_error why;
    (void)err;
    if (ocl_enumerate(&list, &n, &why) != 0) {
        emit(ctx, 0, why.msg);
        return 0;
    }
    if (n == 0) emit(ctx, 0, "no OpenCL device: the platforms report none");
    cl_platform_id last = NULL;
    for (int i = 0; i < n; i++) {
        char line[700];
        if (list[i].platform != last) {
            char name[256] = "?", version[256] = "?";
            clGetPlatformInfo(list[i].platform, CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
            clGetPlatformInfo(list[i].platform, CL_PLATFORM_VERSION, sizeof version - 1, version,
                              NULL);
            snprintf(line, sizeof line, "platform: %s (%s)", name, version);
            emit(ctx, 0, line);
            last = list[i].platform;
        }
        char summary[600];
        ocl_device_summary(list[i].device, summary, sizeof summary);
        snprintf(line, sizeof line, "opencl:%d  %s", i, summary);
        emit(ctx, 1, line);
    }
    free(list);
    return n;
}

static const mlsae_backend_plugin ocl_plugin = {
    .api_version = MLSAE_BACKEND_API_VERSION,
    .name = "opencl",
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .list_devices = ocl_list_devices,
    .init = ocl_init,
};

/* The plugin's one exported symbol (MLSAE_PLUGIN_ENTRY). */
__attribute__((visibility("default"))) const mlsae_backend_plugin *
mlsae_backend_plugin_register(void);
__attribute__((visibility("default"))) const mlsae_backend_plugin *
mlsae_backend_plugin_register(void)
{
    return &ocl_plugin;
}
