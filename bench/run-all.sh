#!/bin/sh
# Run every benchmark script in bench/ (bench_*.sh) in turn. Each one needs
# Python with torch/transformers/tokenizers for its comparison column and
# says so when they are missing.
here=$(cd "$(dirname "$0")" && pwd)
status=0
for script in "$here"/bench_*.sh; do
    [ -e "$script" ] || continue
    echo "=== $(basename "$script")"
    sh "$script" || status=1
done
exit $status
