/* Shared by the tests that need the OpenCL plugin and a device. Linking this
 * file also gives LeakSanitizer suppressions for the process-lifetime
 * allocations of PoCL and the OpenCL ICD loader (they are not ours). */
#ifndef MLSAE_OPENCL_TESTUTIL_H
#define MLSAE_OPENCL_TESTUTIL_H

/* SKIP (exit 77, with the reason) unless the plugin loads and lists at least
 * one device. The plugin stays loaded: the OpenCL loader keeps what it
 * allocated for the life of the process, and unloading it would hide that
 * from the suppressions. */
void tu_opencl_or_skip(void);

#endif
