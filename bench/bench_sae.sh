#!/bin/sh
# One full MLSAE training step (forward + sparse backward + decoder hooks +
# Adam) at d 512, expansion 64 (n_latents 32768), k 32, auxk 256, rows 12288
# (2048 tokens x 6 layers; ROWS=... for fewer), 2 threads, under precision 32
# and bf16-mixed: mlsae (C, CPU backend) beside the machine's float32 sgemm
# and bf16 product (AVX512_BF16 where present) for the encoder shape, the two
# rooflines measured in the same run, alternating with the steps; both
# precisions once more in one process, their steps alternating, for the
# speed-up of bf16-mixed under one machine load; and PyTorch
# on the CPU doing the same step the standard way, in float32 and under
# torch.autocast("cpu", dtype=torch.bfloat16). Run from the build directory
# after `make`:
#     sh bench/bench_sae.sh [steps]
set -eu
STEPS=${1:-3}
THREADS=${THREADS:-2}
ROWS=${ROWS:-12288}
HERE=$(dirname "$0")
BIN=${BENCH_SAE_BIN:-./bench/bench_sae}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "--- mlsae, precision 32 (fresh SAE)"
C0=$("$BIN" 512 32768 32 256 "$ROWS" "$STEPS" 0 32)
echo "$C0"
echo "--- mlsae, precision bf16-mixed (fresh SAE)"
C1=$("$BIN" 512 32768 32 256 "$ROWS" "$STEPS" 0 bf16-mixed)
echo "$C1"
echo "--- mlsae, precision bf16-mixed, 10% of latents dead (AuxK over 3277 latents)"
C2=$("$BIN" 512 32768 32 256 "$ROWS" "$STEPS" 0.1 bf16-mixed)
echo "$C2"
echo "--- mlsae, precision 32 and bf16-mixed in one run (steps alternating with the products)"
C3=$("$BIN" 512 32768 32 256 "$ROWS" "$STEPS" 0 both)
echo "$C3"
echo "--- PyTorch $THREADS threads, float32"
P0=$(python3 "$HERE/bench_sae.py" 512 32768 32 256 "$ROWS" "$STEPS" "$THREADS" 32)
echo "$P0"
echo "--- PyTorch $THREADS threads, autocast bfloat16"
P1=$(python3 "$HERE/bench_sae.py" 512 32768 32 256 "$ROWS" "$STEPS" "$THREADS" bf16-mixed)
echo "$P1"
python3 - "$C0" "$C1" "$C2" "$P0" "$P1" "$C3" <<'PY'
import json, sys
c0, c1, c2, p0, p1, c3 = (json.loads(a) for a in sys.argv[1:])
print("--- summary (rows %d)" % c0["rows"])
for name, c, p in (("32", c0, p0), ("bf16-mixed", c1, p1), ("bf16 10% dead", c2, p1)):
    print(f"mlsae {name:13s}: {c['step_s']:.3f} s/step, {c['tokens_per_s']:.0f} tokens/s; "
          f"fp32 sgemm {c['sgemm_s']:.3f} s ({c['sgemm_gflops']:.0f} GFLOP/s, step at "
          f"{100 * c['roofline_fraction']:.0f}% of it), bf16 product {c['bf16_gemm_s']:.3f} s "
          f"({c['bf16_gflops']:.0f} GFLOP/s, step at {100 * c['bf16_roofline_fraction']:.0f}% "
          f"of it); {p['step_s'] / c['step_s']:.1f}x PyTorch {p['precision']}; "
          f"peak RSS {c['peak_rss_mb']:.0f} MB")
print(f"bf16-mixed step vs 32 step: {c0['step_s'] / c1['step_s']:.2f}x wall, "
      f"{c0['step_cpu_s'] / c1['step_cpu_s']:.2f}x CPU time; bf16 product vs fp32 sgemm "
      f"(same run): {c1['sgemm_s'] / c1['bf16_gemm_s']:.2f}x wall, "
      f"{c1['sgemm_cpu_s'] / c1['bf16_gemm_cpu_s']:.2f}x CPU time")
print("by CPU time (steadier on a shared machine): step at "
      f"{100 * c0['roofline_fraction_cpu']:.0f}% of the fp32 roofline under 32, at "
      f"{100 * c1['bf16_roofline_fraction_cpu']:.0f}% of the bf16 roofline under bf16-mixed")
print(f"same run (load {c3['load_avg']:.1f}): 32 step {c3['step32_s']:.3f} s, bf16-mixed step "
      f"{c3['step_s']:.3f} s: {c3['bf16_speedup']:.2f}x wall, {c3['bf16_speedup_cpu']:.2f}x CPU time; "
      f"32 step at {100 * c3['roofline_fraction32']:.0f}% of the fp32 roofline "
      f"({100 * c3['roofline_fraction32_cpu']:.0f}% by CPU time), bf16-mixed step at "
      f"{100 * c3['bf16_roofline_fraction']:.0f}% of the bf16 roofline "
      f"({100 * c3['bf16_roofline_fraction_cpu']:.0f}% by CPU time); "
      f"{p1['step_s'] / c3['step_s']:.1f}x PyTorch autocast")
for p in (p0, p1):
    print(f"PyTorch {p['precision']:10s}: {p['step_s']:.3f} s/step, {p['tokens_per_s']:.0f} "
          f"tokens/s, peak RSS {p['peak_rss_mb']:.0f} MB")
print(f"loss after the timed steps: mlsae 32 {c0['loss']:.5f}, bf16-mixed {c1['loss']:.5f}; "
      f"PyTorch 32 {p0['loss']:.5f}, autocast {p1['loss']:.5f}")
PY
