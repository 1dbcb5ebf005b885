#!/bin/sh
# OpenCL backend throughput vs the CPU backend (same run): GEMM for the SAE
# encoder shape [rows x 512] @ [512 x 8192] and a transformer linear
# 512 -> 2048, TopK (k = 32 of 8192 per row), sparse gather / dot / scatter.
# Usage: bench/bench_opencl.sh [rows [reps [device]]]   (from the build dir)
# Prints the device's rough peak: compute units x clock x native float
# vector width x 2 (one FMA per lane per cycle); CPU-device figures from
# PoCL count a compute unit as a hardware thread.
set -e
builddir=${BUILDDIR:-.}
bench="$builddir/bench/bench_opencl"
[ -x "$bench" ] || { echo "build first: make bench/bench_opencl" >&2; exit 1; }
export MLSAE_PLUGIN_PATH="${MLSAE_PLUGIN_PATH:-$builddir/backends/opencl/.libs}"
if command -v clinfo > /dev/null 2>&1; then # first device only
    clinfo 2> /dev/null | awk '
        /^ *Device Name/ && !name {sub(/^ *Device Name +/, ""); name=$0}
        /^ *Max compute units/ && !cu {cu=$NF}
        /^ *Max clock frequency/ && !mhz {mhz=$NF; sub(/MHz/, "", mhz)}
        /^ +float +[0-9]+ \/ [0-9]+/ && !vw {vw=$4}
        END { if (cu + 0 > 0 && mhz + 0 > 0 && vw + 0 > 0) printf "peak estimate for %s: %s CUs x %s MHz x %s lanes x 2 = %.0f GFLOP/s (rough)\n", name, cu, mhz, vw, cu*mhz*vw*2/1000 }'
fi
nproc_=$(nproc 2> /dev/null || echo "?")
echo "host: $nproc_ cores, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
exec "$bench" "${1:-2048}" "${2:-3}" "${3:-opencl}"
