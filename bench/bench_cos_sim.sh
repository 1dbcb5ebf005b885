#!/bin/sh
# dists-cos-sim: mlsae's blocked histogram of all latent pairs at d 512 and
# 8192 latents (beside the reference's method on PyTorch/numpy, same
# machine, same run) and at 32768 latents (x64 on pythia-70m: 5.4e8 pairs;
# the reference's method would need tens of GB there, so it is not run).
# Run from the build directory after `make`:  sh bench/bench_cos_sim.sh
set -eu
THREADS=${THREADS:-2}
HERE=$(dirname "$0")
BIN=${BENCH_COS_SIM_BIN:-./bench/bench_cos_sim}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "--- mlsae, 8192 latents"
"$BIN" 512 8192
if python3 -c "import torch, numpy" 2>/dev/null; then
    echo "--- the reference's method (PyTorch $THREADS threads + numpy), 8192 latents"
    python3 "$HERE/bench_cos_sim.py" 512 8192 "$THREADS"
else
    echo "--- PyTorch/numpy not installed: no comparison"
fi
echo "--- mlsae, 32768 latents"
"$BIN" 512 32768
