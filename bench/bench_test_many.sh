#!/bin/sh
# `mlsae test` of three SAEs of one model: tested separately (three runs)
# against one pass (--checkpoint x3), alternating, in the same run, on the
# tests' fixture model (tests/make_model: d_model 32, 2 layers, the
# Pythia vocabulary) and the bundled corpus. Prints tokens/s (test tokens
# over wall-clock seconds of the whole command, model loading included) for
# both and the ratio, the peak resident memory of each (GNU time, when
# installed), and checks that the rows are the same. Run from the
# build directory after `make` and `make tests/make_model`:
#     sh bench/bench_test_many.sh [max_tokens [repeats]]
set -eu
BIN=${MLSAE_BIN:-./mlsae}
MAKE_MODEL=${MAKE_MODEL:-./tests/make_model}
TOKENS=${1:-1024}
REPEATS=${2:-2}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-bench-many-XXXXXX")
trap 'rm -rf "$DIR"' EXIT
export MLSAE_DATA_DIR=${MLSAE_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}
THREADS=${THREADS:-2}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
"$MAKE_MODEL" "$DIR/model" 32 2 2 64 50304 7 > /dev/null
zstd -dc "$MLSAE_DATA_DIR/tinyshakespeare.jsonl.zst" | head -n 20 > "$DIR/data.jsonl"
train="--model $DIR/model --data $DIR/data.jsonl --max_length 64 --batch_size 2 --max_tokens 256
       --limit_val_batches 0 --checkpoint_every_n_steps 0 --threads $THREADS"
set -- "4 8 16" "8 16 32" "2 4 8"
for s in "$@"; do
    set -- $s
    "$BIN" train $train --expansion_factor "$1" --k "$2" --auxk "$3" --out "$DIR/x$1" > "$DIR/x$1.out" 2>&1
done
A=$(sed -n 's/^sae: *//p' "$DIR/x4.out"); B=$(sed -n 's/^sae: *//p' "$DIR/x8.out"); C=$(sed -n 's/^sae: *//p' "$DIR/x2.out")
common="--model $DIR/model --data $DIR/data.jsonl --max_length 64 --batch_size 2 --max_tokens $TOKENS --threads $THREADS"
now() { date +%s.%N; }
# peak resident set size of a command, in KiB, into the file $1 (0 without GNU time)
rss() {
    out=$1; shift
    if [ -x /usr/bin/time ]; then /usr/bin/time -f %M -o "$out" "$@"; else echo 0 > "$out"; "$@"; fi
}
sep=0; one=0; rss_sep=0
for r in $(seq "$REPEATS"); do
    mkdir -p "$DIR/one$r"
    t0=$(now)
    for c in "$A" "$B" "$C"; do
        rss "$DIR/rss" "$BIN" test --checkpoint "$c" $common --csv "$DIR/sep$r-$(basename "$c").csv" \
            > /dev/null 2>&1
        [ "$(cat "$DIR/rss")" -gt "$rss_sep" ] && rss_sep=$(cat "$DIR/rss")
    done
    t1=$(now)
    rss "$DIR/rss_one" "$BIN" test --checkpoint "$A" --checkpoint "$B" --checkpoint "$C" $common \
        --csv "$DIR/one$r" > "$DIR/one$r.out" 2>&1
    t2=$(now)
    for c in "$A" "$B" "$C"; do
        cmp -s "$DIR/sep$r-$(basename "$c").csv" "$DIR/one$r/test_$(basename "$c").csv" ||
            { echo "rows differ for $c"; exit 1; }
    done
    sep=$(echo "$sep + $t1 - $t0" | bc -l); one=$(echo "$one + $t2 - $t1" | bc -l)
    printf 'repeat %d: separately %.2f s, one pass %.2f s (%s)\n' "$r" "$(echo "$t1 - $t0" | bc -l)" \
        "$(echo "$t2 - $t1" | bc -l)" "$(grep '^tokens/s' "$DIR/one$r.out")"
done
tok=$(sed -n 's/^tested .* (\([0-9]*\) tokens).*/\1/p' "$DIR/one1.out")
printf '3 SAEs (x4 k8, x8 k16, x2 k4), %s test tokens each, %d repeats, %s threads:\n' "$tok" "$REPEATS" "$THREADS"
printf '  separately: %.1f tokens/s (3 runs, data tokens over wall time of all three)\n' "$(echo "$REPEATS * $tok / $sep" | bc -l)"
printf '  one pass:   %.1f tokens/s\n' "$(echo "$REPEATS * $tok / $one" | bc -l)"
printf '  ratio one pass / separately: %.2fx (rows identical)\n' "$(echo "$sep / $one" | bc -l)"
printf '  peak resident memory: %s KiB one pass (3 SAEs), %s KiB the largest separate run\n' \
    "$(cat "$DIR/rss_one")" "$rss_sep"
