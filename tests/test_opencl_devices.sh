#!/bin/sh
# `mlsae devices` and the OpenCL plugin's failure modes: the listing works
# (and says so) without the plugin or without any OpenCL driver, a kernel
# build failure is a one-line message quoting the build log, and neither
# the mlsae program nor libmlsae links against libOpenCL.
set -u
fail=0
bad() { echo "FAIL: $*"; fail=1; }
: "${MLSAE_BIN:?run through make check}"
bindir=$(dirname "$MLSAE_BIN")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Memory the OpenCL driver keeps for the life of the process is not ours.
printf 'leak:libpocl\nleak:libOpenCL\nleak:libLLVM\nleak:libclang\nleak:libhwloc\n' > "$tmp/lsan.supp"
LSAN_OPTIONS="suppressions=$tmp/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

# 1. --help is complete enough to name the options and the environment.
"$MLSAE_BIN" devices --help > "$tmp/help" || bad "devices --help failed"
for word in --probe --verbose MLSAE_PLUGIN_PATH opencl:N auto; do
    grep -q -- "$word" "$tmp/help" || bad "devices --help does not mention $word"
done
"$MLSAE_BIN" devices --bogus > /dev/null 2> "$tmp/err" && bad "an unknown option was accepted"
grep -q "unknown option" "$tmp/err" || bad "no message for an unknown option"

# 2. Without the plugin: the CPU is listed, OpenCL is "not available", exit 0.
MLSAE_PLUGIN_PATH="$tmp/none" "$MLSAE_BIN" devices > "$tmp/out" 2>&1 || bad "devices failed without the plugin"
grep -q "^cpu *available" "$tmp/out" || bad "cpu backend not listed"
grep -q "^opencl *not available" "$tmp/out" || bad "missing plugin not reported"
grep -q "^auto *-> cpu" "$tmp/out" || bad "auto should fall back to cpu"

# 3. Linkage: only the plugin needs libOpenCL.
needed() { # NEEDED entries of an ELF file
    if command -v readelf > /dev/null 2>&1; then readelf -d "$1" 2> /dev/null | grep NEEDED
    elif command -v objdump > /dev/null 2>&1; then objdump -p "$1" 2> /dev/null | grep NEEDED
    else ldd "$1" 2> /dev/null; fi
}
checked=0
for f in "$bindir/.libs/mlsae" "$bindir/.libs/lt-mlsae" "$bindir/.libs/libmlsae.so" "$bindir/mlsae"; do
    [ -f "$f" ] || continue
    head -c 4 "$f" | grep -q ELF || continue
    checked=$((checked + 1))
    if needed "$f" | grep -qi opencl; then bad "$f links against OpenCL"; fi
done
[ "$checked" -gt 0 ] || bad "found no mlsae binary or libmlsae.so to check"

plugin="$MLSAE_PLUGIN_PATH"
[ -d "$plugin" ] && plugin="$plugin/mlsae-opencl.so"
if [ ! -f "$plugin" ]; then
    [ "$fail" = 0 ] || exit 1
    echo "SKIP: the OpenCL plugin was not built (no $plugin); checks without it passed"
    exit 77
fi
needed "$plugin" | grep -qi opencl || bad "the plugin does not link against libOpenCL"

# 4. No OpenCL driver at all (an empty vendor directory): a message, exit 0.
mkdir "$tmp/vendors"
OCL_ICD_VENDORS="$tmp/vendors" "$MLSAE_BIN" devices > "$tmp/out" 2>&1 || bad "devices failed without a driver"
grep -q "no OpenCL platform" "$tmp/out" || bad "missing ICD not reported: $(cat "$tmp/out")"
OCL_ICD_VENDORS="$tmp/vendors" "$MLSAE_BIN" devices --probe > /dev/null 2>&1 || bad "--probe failed with no device to probe"

# 5. With the real drivers.
"$MLSAE_BIN" devices > "$tmp/out" 2>&1 || bad "devices failed"
cat "$tmp/out"
grep -q "^opencl *plugin" "$tmp/out" || bad "plugin not reported as loaded"
if ! grep -q "opencl:0 " "$tmp/out"; then
    [ "$fail" = 0 ] || exit 1
    echo "SKIP: no OpenCL device here; checks without one passed"
    exit 77
fi
grep "opencl:0 " "$tmp/out" | grep -q "compute units" || bad "device line lacks compute units"
grep "opencl:0 " "$tmp/out" | grep -q "fp64" || bad "device line lacks fp64 support"
"$MLSAE_BIN" devices --probe > "$tmp/out" 2>&1 || bad "probe failed: $(cat "$tmp/out")"
grep -q "probe opencl:0: ok" "$tmp/out" || bad "probe of opencl:0 not ok"

# 6. A kernel build failure: one line with the start of the build log, exit 1.
MLSAE_OPENCL_BUILD_OPTIONS=-DMLSAE_FORCE_BUILD_ERROR "$MLSAE_BIN" devices --probe > "$tmp/out" 2> /dev/null \
    && bad "a failed kernel build was not an error"
grep "probe opencl:0" "$tmp/out" | grep -q "kernel build failed.*MLSAE_FORCE_BUILD_ERROR" \
    || bad "build failure message lacks the build log: $(cat "$tmp/out")"
exit $fail
