#!/bin/sh
# One full MLSAE training step (forward + sparse backward + decoder hooks +
# Adam) at d 512, expansion 64 (n_latents 32768), k 32, auxk 256, rows 12288
# (2048 tokens x 6 layers), 2 threads: mlsae (C, CPU backend) beside the
# machine's OpenBLAS sgemm for the encoder shape (measured in the same run,
# alternating with the steps) and PyTorch on the CPU doing the same step the
# standard way. Run from the build directory after `make`:
#     sh bench/bench_sae.sh [steps]
set -eu
STEPS=${1:-3}
THREADS=${THREADS:-2}
HERE=$(dirname "$0")
BIN=${BENCH_SAE_BIN:-./bench/bench_sae}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "--- mlsae (no dead latents: a fresh SAE)"
C0=$("$BIN" 512 32768 32 256 12288 "$STEPS" 0)
echo "$C0"
echo "--- mlsae (10% of latents dead: AuxK over 3277 latents)"
C1=$("$BIN" 512 32768 32 256 12288 "$STEPS" 0.1)
echo "$C1"
echo "--- PyTorch $THREADS threads"
P=$(python3 "$HERE/bench_sae.py" 512 32768 32 256 12288 "$STEPS" "$THREADS")
echo "$P"
python3 - "$C0" "$C1" "$P" <<'EOF'
import json, sys
c0, c1, p = (json.loads(a) for a in sys.argv[1:])
print("--- summary")
for name, c in (("fresh", c0), ("10% dead", c1)):
    print(f"mlsae {name:8s}: {c['step_s']:.3f} s/step, {c['rows_per_s']:.0f} rows/s, "
          f"{c['tokens_per_s']:.0f} tokens/s; sgemm alone {c['sgemm_s']:.3f} s "
          f"({c['sgemm_gflops']:.0f} GFLOP/s) -> {100 * c['roofline_fraction']:.0f}% of roofline "
          f"(by CPU time {100 * c['roofline_fraction_cpu']:.0f}%); "
          f"{p['step_s'] / c['step_s']:.1f}x PyTorch; peak RSS {c['peak_rss_mb']:.0f} MB")
print(f"PyTorch        : {p['step_s']:.3f} s/step, {p['rows_per_s']:.0f} rows/s, "
      f"peak RSS {p['peak_rss_mb']:.0f} MB")
EOF
