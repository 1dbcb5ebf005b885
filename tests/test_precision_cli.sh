#!/bin/sh
# `mlsae train --precision`: bf16-mixed and 16-mixed runs say how the
# products are computed, an interrupted + resumed bf16-mixed run gives the
# same bits as an uninterrupted one (the packed encoder is rebuilt from the
# float32 master weights), `mlsae test` runs under bf16-mixed, a precision we
# do not compute fails with one line; on an OpenCL device (when there is
# one) a 16-mixed run completes.
set -u
bin=${MLSAE_BIN:-./mlsae}
make_model=${MAKE_MODEL:-./tests/make_model}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-prec-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
not() { ! "$@"; }

"$make_model" "$tmp/model" 32 2 2 64 50304 7 || { echo "cannot make the model"; exit 1; }
data="$tmp/train.jsonl"
zstd -dc "$MLSAE_TEST_SRCDIR/../data/tinyshakespeare.jsonl.zst" | head -n 3 > "$data"
common="--model $tmp/model --data $data --max_length 64 --batch_size 2
        --expansion_factor 4 --k 8 --auxk 16 --accumulate 3 --max_tokens 2048
        --dead_tokens_threshold 1000 --log_every_n_steps 1 --val_check_interval 6
        --limit_val_batches 1 --checkpoint_every_n_steps 2 --threads 2"

"$bin" train $common --precision bf16-mixed --out "$tmp/a" > "$tmp/a.out" 2> "$tmp/a.err"
check "bf16-mixed run exits 0" [ $? -eq 0 ]
check "bf16-mixed run says how it computes" grep -q "precision bf16-mixed: .*bf16" "$tmp/a.out" "$tmp/a.err"
sae=$(sed -n 's/^sae: *//p' "$tmp/a.out")
check "bf16-mixed run wrote its SAE" [ -f "$sae/model.safetensors" ]

MLSAE_TEST_SIGINT_AFTER=5 "$bin" train $common --precision bf16-mixed --out "$tmp/b" \
    > "$tmp/b1.out" 2> "$tmp/b1.err"
check "interrupted bf16-mixed run exits 0" [ $? -eq 0 ]
"$bin" train --resume "$tmp/b/checkpoints/last" > "$tmp/b2.out" 2> "$tmp/b2.err"
check "resumed bf16-mixed run exits 0" [ $? -eq 0 ]
sae_b=$(sed -n 's/^sae: *//p' "$tmp/b2.out")
check "resumed bf16-mixed weights are bit-identical" cmp -s "$sae/model.safetensors" "$sae_b/model.safetensors"
check "resumed bf16-mixed metrics equal" cmp -s "$tmp/a/metrics.jsonl" "$tmp/b/metrics.jsonl"

"$bin" train $common --out "$tmp/c" > "$tmp/c.out" 2> "$tmp/c.err"
sae_c=$(sed -n 's/^sae: *//p' "$tmp/c.out")
check "a 32 run differs from the bf16-mixed one" not cmp -s "$sae/model.safetensors" "$sae_c/model.safetensors"
check "a 32 run says nothing about precision" not grep -q "^precision" "$tmp/c.out"

"$bin" test --checkpoint "$sae" $common --precision bf16-mixed --max_tokens 256 \
    --csv "$tmp/t.csv" > "$tmp/t.out" 2> "$tmp/t.err"
check "test under bf16-mixed exits 0" [ $? -eq 0 ]
check "test under bf16-mixed writes its row" [ "$(wc -l < "$tmp/t.csv")" -eq 2 ]

"$bin" train $common --precision 16-true --out "$tmp/d" > "$tmp/d.out" 2> "$tmp/d.err"
st=$?
check "16-true is refused" [ $st -ne 0 ]
check "16-true: one line naming the option" \
    [ "$(grep -c "precision '16-true' is not computed" "$tmp/d.err")" -eq 1 ]
check "16-true: no output directory" [ ! -e "$tmp/d/metrics.jsonl" ]

if "$bin" devices 2>/dev/null | grep -q "^ *opencl:0 "; then
    "$bin" train $common --precision 16-mixed --device opencl --out "$tmp/o" \
        > "$tmp/o.out" 2> "$tmp/o.err"
    check "16-mixed on OpenCL exits 0" [ $? -eq 0 ]
    check "16-mixed on OpenCL says how it computes" grep -q "precision 16-mixed: .*fp16" "$tmp/o.out" "$tmp/o.err"
else
    echo "skip: no OpenCL device"
fi
exit $fail
