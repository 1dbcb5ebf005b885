#!/bin/sh
# The downstream metrics of `mlsae test` (loss delta, logit MSE, KL per
# layer) on the demo's model and test split: tokens/s with the true path
# computed once per batch and shared by every layer, beside the per-layer
# true path (the reference's way) on the same batches, alternating, in the
# same run; with skip_special_tokens on and off. Run from the build
# directory after `make`:
#     sh bench/bench_downstream.sh [batches [max_length [batch_size]]]
set -eu
BIN=${BENCH_DOWNSTREAM_BIN:-./bench/bench_downstream}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-bench-ds-XXXXXX")
trap 'rm -rf "$DIR"' EXIT
export OMP_NUM_THREADS=${THREADS:-2}
export MLSAE_DATA_DIR=${MLSAE_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
"$BIN" "$DIR/demo" "${1:-4}" "${2:-256}" "${3:-2}"
