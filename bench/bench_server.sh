#!/bin/sh
# `mlsae serve` benchmark (not a test): the page's requests for 32-token
# prompts on a pythia-70m-deduped-shaped random model with an x64 k32 SAE,
# and a wrk load test when wrk is installed. Needs python3 with numpy and
# safetensors, a built ./mlsae and tests/make_model (make check builds it).
#   sh bench/bench_server.sh [path/to/mlsae] [threads]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../mlsae}
threads=${2:-2}
make_model=${MAKE_MODEL:-$here/../tests/make_model}
[ -x "$make_model" ] || { echo "bench_server: build tests/make_model first (make check or make tests/make_model)"; exit 1; }
exec python3 "$here/bench_server.py" --mlsae "$bin" --make-model "$make_model" --threads "$threads"
