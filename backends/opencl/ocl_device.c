/* OpenCL device enumeration and selection: device numbers count every
 * device of every platform, in platform order (opencl:N); -1 asks for the
 * first GPU (what `--device auto` wants). */
#include "config.h"
#include "ocl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

static int no_platform(mlsae_error *err, cl_int rc)
{
    if (rc == CL_PLATFORM_NOT_FOUND_KHR || rc == CL_SUCCESS)
        return mlsae_fail(err, "no OpenCL platform: the ICD loader found no driver (install "
                          "one, e.g. pocl-opencl-icd or a GPU vendor's, and check "
                          "/etc/OpenCL/vendors or $OCL_ICD_VENDORS)");
    return mlsae_fail(err, "clGetPlatformIDs failed (%s)", ocl_strerror(rc));
}

int ocl_enumerate(ocl_device_ref **out, int *n, mlsae_error *err)
{
    *out = NULL;
    *n = 0;
    cl_uint np = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &np);
    if (rc != CL_SUCCESS || np == 0) return no_platform(err, rc);
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats) return mlsae_fail(err, "out of memory");
    rc = clGetPlatformIDs(np, plats, NULL);
    if (rc != CL_SUCCESS) {
        free(plats);
        return no_platform(err, rc);
    }
    ocl_device_ref *list = NULL;
    int count = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue; /* CL_DEVICE_NOT_FOUND: a platform without devices */
        cl_device_id *devs = calloc(nd, sizeof *devs);
        ocl_device_ref *grown = realloc(list, (count + nd) * sizeof *list);
        if (!devs || !grown) {
            free(devs);
            free(grown ? grown : list);
            free(plats);
            return mlsae_fail(err, "out of memory");
        }
        list = grown;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) == CL_SUCCESS)
            for (cl_uint d = 0; d < nd; d++) list[count++] = (ocl_device_ref){plats[p], devs[d]};
        free(devs);
    }
    free(plats);
    *out = list;
    *n = count;
    return 0;
}

int ocl_pick_device(int device_index, ocl_device_ref *out, mlsae_error *err)
{
    ocl_device_ref *list;
    int n;
    if (ocl_enumerate(&list, &n, err) != 0) return -1;
    int rc = 0;
    if (n == 0) {
        rc = mlsae_fail(err, "no OpenCL device: the platforms report none");
    } else if (device_index < 0) {
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            cl_device_type t = 0;
            clGetDeviceInfo(list[i].device, CL_DEVICE_TYPE, sizeof t, &t, NULL);
            if (t & CL_DEVICE_TYPE_GPU) found = i;
        }
        if (found < 0)
            rc = mlsae_fail(err, "no OpenCL GPU among %d device(s) (use opencl:N to pick a "
                            "non-GPU device; `mlsae devices` lists them)", n);
        else *out = list[found];
    } else if (device_index >= n) {
        rc = mlsae_fail(err, "no OpenCL device %d: there %s %d (numbered from 0; `mlsae "
                        "devices` lists them)", device_index, n == 1 ? "is" : "are", n);
    } else {
        *out = list[device_index];
    }
    free(list);
    return rc;
}

int ocl_device_has_extension(cl_device_id dev, const char *ext)
{
    size_t sz = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &sz) != CL_SUCCESS || sz == 0)
        return 0;
    char *s = malloc(sz + 1);
    if (!s) return 0;
    int found = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, sz, s, NULL) == CL_SUCCESS) {
        s[sz] = '\0';
        size_t len = strlen(ext);
        for (char *p = strstr(s, ext); p && !found; p = strstr(p + 1, ext))
            found = (p == s || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0');
    }
    free(s);
    return found;
}

int ocl_device_score(cl_device_id dev)
{
    cl_device_type t = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    if (t & CL_DEVICE_TYPE_GPU) return MLSAE_SCORE_GPU;
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return MLSAE_SCORE_ACCELERATOR;
    if (t & CL_DEVICE_TYPE_CPU) return MLSAE_SCORE_PLUGIN_CPU;
    return MLSAE_SCORE_NONE;
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

void ocl_device_summary(cl_device_id dev, char *out, size_t n)
{
    char name[256] = "?", version[128] = "?";
    cl_device_type type = 0;
    cl_ulong mem = 0, local = 0;
    cl_uint cus = 0;
    size_t wg = 0;
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_VERSION, sizeof version - 1, version, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    snprintf(out, n, "%s (%s, %s, %.2f GiB global, %u compute units, max work-group %zu, "
             "%llu KiB local, fp64 %s, fp16 %s)", name, type_name(type), version,
             (double)mem / (1024.0 * 1024 * 1024), cus, wg, (unsigned long long)local / 1024,
             ocl_device_has_extension(dev, "cl_khr_fp64") ? "yes" : "no",
             ocl_device_has_extension(dev, "cl_khr_fp16") ? "yes" : "no");
}
