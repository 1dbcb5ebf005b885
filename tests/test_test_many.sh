#!/bin/sh
# `mlsae test` with several --checkpoint options: SAEs of one model tested in
# ONE pass (one transformer forward and one true path per batch) write, each,
# the CSV it gets tested alone, byte for byte; in either order; with the
# special-token masking on and off (true path per layer / shared), with a
# tuned lens (exact inverse), with two backends when an OpenCL device is
# there, over 2 MPI ranks when built with MPI, and for -tfm checkpoints
# holding their transformer. Checkpoints of different models or runs are
# refused in one line naming both and the field; so are --csv FILE with
# several checkpoints and two checkpoints writing the same CSV.
set -u
bin=${MLSAE_BIN:-./mlsae}
make_model=${MAKE_MODEL:-./tests/make_model}
fix=${MLSAE_TEST_FIXTURES:-tests/fixtures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-many-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"

"$make_model" "$tmp/model" 32 2 2 64 50304 7 > /dev/null || { echo "cannot make the model"; exit 1; }
data="$tmp/train.jsonl"
zstd -dc "$MLSAE_TEST_SRCDIR/../data/tinyshakespeare.jsonl.zst" | head -n 3 > "$data"
train="--model $tmp/model --data $data --max_length 64 --batch_size 2 --accumulate 2
       --max_tokens 512 --log_every_n_steps 1 --limit_val_batches 0
       --checkpoint_every_n_steps 0 --threads 2"
# two SAEs of the model: other sizes, AuxK and dead_tokens_threshold (each
# checkpoint's own is the one its metrics use)
"$bin" train $train --expansion_factor 4 --k 8 --auxk 16 --dead_tokens_threshold 1000 \
    --out "$tmp/a" > "$tmp/a.out" 2> "$tmp/a.err" || { cat "$tmp/a.err"; exit 1; }
"$bin" train $train --expansion_factor 2 --k 4 --auxk 8 --dead_tokens_threshold 300 \
    --out "$tmp/b" > "$tmp/b.out" 2> "$tmp/b.err" || { cat "$tmp/b.err"; exit 1; }
A=$(sed -n 's/^sae: *//p' "$tmp/a.out")
B=$(sed -n 's/^sae: *//p' "$tmp/b.out")
an=$(basename "$A")
bn=$(basename "$B")
common="--model $tmp/model --data $data --max_length 64 --batch_size 2 --max_tokens 384 --threads 2"

# same NAME [OPTIONS...]: A alone, B alone, then A+B and B+A in one pass
same() {
    name=$1; shift
    mkdir -p "$tmp/$name/ab" "$tmp/$name/ba"
    "$bin" test --checkpoint "$A" $common --csv "$tmp/$name/a.csv" "$@" > /dev/null 2> "$tmp/e" &&
    "$bin" test --checkpoint "$B" $common --csv "$tmp/$name/b.csv" "$@" > /dev/null 2> "$tmp/e" &&
    "$bin" test --checkpoint "$A" --checkpoint "$B" $common --csv "$tmp/$name/ab" "$@" \
        > "$tmp/$name/ab.out" 2> "$tmp/e" &&
    "$bin" test --checkpoint="$B" $common --checkpoint "$A" --csv "$tmp/$name/ba" "$@" \
        > /dev/null 2> "$tmp/e" || { echo "FAIL: $name: a run failed:"; cat "$tmp/e"; fail=1; return; }
    for o in ab ba; do
        check "$name: $o: A's row as alone" cmp "$tmp/$name/a.csv" "$tmp/$name/$o/test_$an.csv"
        check "$name: $o: B's row as alone" cmp "$tmp/$name/b.csv" "$tmp/$name/$o/test_$bn.csv"
    done
}
same masked
check "one pass: 3 batches for both" grep -q "^tested 2 checkpoints in one pass on 3 batches (384 tokens)" "$tmp/masked/ab.out"
check "one pass: tokens/s reported" grep -q "^tokens/s: [0-9]" "$tmp/masked/ab.out"
check "the two SAEs' rows differ" sh -c "! cmp -s '$tmp/masked/a.csv' '$tmp/masked/b.csv'"
same shared --skip_special_tokens false
same lens --tuned_lens true --lens "$fix/lens/par_r25" --lens-inverse exact
if "$bin" devices 2> /dev/null | grep -q '^ *opencl:0'; then
    same opencl --device opencl
else
    echo "skip: no OpenCL device for two backends"
fi

# over 2 MPI ranks (the stream's rank-strided batches): each row as the
# 2-rank run writes it alone
if mpi_launcher; then
    mr="$MR -np 2 $bin test $common --threads 1"
    mkdir -p "$tmp/mpi"
    $mr --checkpoint "$A" --csv "$tmp/mpi/a.csv" > /dev/null 2> "$tmp/e" &&
    $mr --checkpoint "$B" --csv "$tmp/mpi/b.csv" > /dev/null 2> "$tmp/e" &&
    $mr --checkpoint "$A" --checkpoint "$B" --csv "$tmp/mpi" > /dev/null 2> "$tmp/e" ||
        { echo "FAIL: 2 ranks:"; cat "$tmp/e"; fail=1; }
    check "2 ranks: A's row as alone" cmp "$tmp/mpi/a.csv" "$tmp/mpi/test_$an.csv"
    check "2 ranks: B's row as alone" cmp "$tmp/mpi/b.csv" "$tmp/mpi/test_$bn.csv"
else
    echo "skip: 2 ranks: $MPI_SKIP"
fi

# -tfm checkpoints with their transformer's weights: two copies in one pass
"$make_model" "$tmp/m6" 6 1 2 8 50304 3 > /dev/null || { echo "cannot make the d=6 model"; exit 1; }
cp -r "$fix/sae/ckpt_ref_tfm" "$tmp/t1"
sed -i "s|\"EleutherAI/pythia-70m-deduped\"|\"$tmp/m6\"|" "$tmp/t1/config.json"
cp -r "$tmp/t1" "$tmp/t2"
tfm="--data $data --max_tokens 256 --threads 2"
mkdir "$tmp/tt"
"$bin" test --checkpoint "$tmp/t1" $tfm --csv "$tmp/t1.csv" > /dev/null 2> "$tmp/e" &&
"$bin" test --checkpoint "$tmp/t1" --checkpoint "$tmp/t2" $tfm --csv "$tmp/tt" > /dev/null 2> "$tmp/e" ||
    { echo "FAIL: -tfm runs:"; cat "$tmp/e"; fail=1; }
check "-tfm: one pass = alone (1)" cmp "$tmp/t1.csv" "$tmp/tt/test_t1.csv"
check "-tfm: one pass = alone (2)" cmp "$tmp/t1.csv" "$tmp/tt/test_t2.csv"

# refusals, before anything runs or is written
mkdir "$tmp/r"
cp -r "$tmp/t1" "$tmp/t3"
sed -i 's|"max_length": 64|"max_length": 32|' "$tmp/t3/config.json"
"$bin" test --checkpoint "$tmp/t1" --checkpoint "$tmp/t3" $tfm --csv "$tmp/r" > /dev/null 2> "$tmp/e1"
one_line_error "another max_length" $? "$tmp/e1" "t1" "t3" "data.max_length is 64 vs 32"
cp -r "$tmp/t1" "$tmp/t4"
sed -i 's|"layers": null|"layers": [0]|' "$tmp/t4/config.json"
"$bin" test --checkpoint "$tmp/t1" --checkpoint "$tmp/t4" $tfm --csv "$tmp/r" > /dev/null 2> "$tmp/e2"
one_line_error "other layers" $? "$tmp/e2" "t1" "t4" "layers is null vs \[0\]"
# other transformer weights: one byte of the first transformer.model.* changed
cp -r "$tmp/t1" "$tmp/t5"
st="$tmp/t5/model.safetensors"
hlen=$(od -An -tu8 -N8 "$st" | tr -d ' ')
start=$(head -c $((8 + hlen)) "$st" | tail -c "$hlen" |
        grep -o '"transformer\.model\.[^"]*":{[^}]*}' | head -n 1 |
        sed 's/.*"data_offsets":\[\([0-9]*\),.*/\1/')
printf '\177' | dd of="$st" bs=1 seek=$((8 + hlen + start + 3)) conv=notrunc 2> /dev/null
"$bin" test --checkpoint "$tmp/t1" --checkpoint "$tmp/t5" $tfm --csv "$tmp/r" > /dev/null 2> "$tmp/e3"
one_line_error "other transformer weights" $? "$tmp/e3" "t1" "t5" "tensor transformer\.model\."
"$bin" test --checkpoint "$A" --checkpoint "$B" $common --csv "$tmp/r/x.csv" > /dev/null 2> "$tmp/e4"
one_line_error "--csv FILE with several checkpoints" $? "$tmp/e4" "x.csv" "directory"
"$bin" test --checkpoint "$A" --checkpoint "$A" $common --csv "$tmp/r" > /dev/null 2> "$tmp/e5"
one_line_error "one CSV written twice" $? "$tmp/e5" "test_$an.csv"
check "nothing written by the refused runs" [ -z "$(ls "$tmp/r")" ]
for e in e1 e2 e3 e4 e5; do
    grep -q "^test " "$tmp/$e" && { echo "FAIL: $e: ran before refusing"; fail=1; }
done

[ $fail -eq 0 ] && echo "test_test_many: PASS"
exit $fail
