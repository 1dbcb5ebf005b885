#!/bin/sh
# Transformer forward benchmark (SPEC §10): hidden-state extraction with a
# pythia-70m-deduped-shaped random model, ours vs HF transformers on PyTorch
# (CPU, float32), same machine, same run, 2 threads each, peak RSS of both.
# Needs python3 with torch + transformers, and a built ./mlsae.
#   sh bench/bench_forward.sh [path/to/mlsae] [threads]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../mlsae}
threads=${2:-2}
OMP_NUM_THREADS=$threads
export OMP_NUM_THREADS
exec python3 "$here/bench_forward.py" --mlsae "$bin" --threads "$threads" --seq 2048 --repeat 3 --rounds 3
