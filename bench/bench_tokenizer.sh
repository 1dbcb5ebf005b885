#!/bin/sh
# Tokenizer throughput: mlsae (1 thread, all threads, JSONL reading) against
# HF tokenizers (Rust; one thread encode loop, and encode_batch on all
# threads), same corpora, same machine, same run.
# Usage: bench/bench_tokenizer.sh [SHARED_DATA_DIR]   (run from the build tree
# after `make`)
set -eu
DATA=${1:-${MLSAE_SHARED_DATA:-../shared/data}}
HERE=$(dirname "$0")
TOK="$DATA/gpt-neox-20b-tokenizer.json"
set -- "$DATA/wikitext2-test.jsonl.zst" "$DATA/tinyshakespeare.jsonl.zst" "$DATA/llmc-code.jsonl.zst"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
./bench/bench_tokenizer.bin "$TOK" "$@"
# HF encode loop on one thread: RAYON_NUM_THREADS only affects encode_batch,
# and encode() of one document is single-threaded.
python3 "$HERE/bench_tokenizer.py" "$TOK" "$@"
