#!/bin/sh
# Training sweeps (train/sweep.h): end-to-end `mlsae train` tokens/s of a
# 3 x 3 sweep (expansion_factor $EFS x k $KS) against the nine single runs
# it replaces, in the same invocation, on the same model and data. Overall
# tokens/s = 9 x tokens trained per SAE / wall seconds (process start, model
# and tokenizer loading, data, transformer, SAEs, validation, files: all
# of it). The sweep runs the transformer (and validation's) once per batch
# for all nine SAEs; the single runs nine times. The model is a random
# GPT-NeoX made by tests/make_model (make check builds it): d_model $D,
# $L layers, the Pythia vocabulary; the data the bundled Shakespeare.
# The best of $R repetitions of each is kept, the order alternating (the
# machine may be shared). VAL=0 measures training alone; PREC sets
# trainer.precision (32, bf16-mixed, 16-mixed).
set -eu
BIN=${MLSAE_BIN:-./mlsae}
MAKE_MODEL=${MAKE_MODEL:-./tests/make_model}
SRCDIR=${MLSAE_SRCDIR:-.}
D=${D:-128} L=${L:-4} H=${H:-4} FF=${FF:-512}
EFS=${EFS:-"2 4 8"} KS=${KS:-"8 16 32"}
POS=${POS:-128} B=${B:-4} TOKENS=${TOKENS:-8192} VAL=${VAL:-1} R=${R:-1}
THREADS=${THREADS:-0} PREC=${PREC:-32}
[ -x "$MAKE_MODEL" ] || { echo "bench_sweep: $MAKE_MODEL missing: make check (or make tests/make_model) first"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-bench-sweep-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$MAKE_MODEL" "$tmp/model" "$D" "$L" "$H" "$FF" 50304 1 > /dev/null
zstd -dc "$SRCDIR/data/tinyshakespeare.jsonl.zst" > "$tmp/data.jsonl"
common="--model $tmp/model --data $tmp/data.jsonl --max_length $POS --batch_size $B
        --max_tokens $TOKENS --accumulate 4 --limit_val_batches $VAL --log_every_n_steps 4
        --checkpoint_every_n_steps 1000 --threads $THREADS --device cpu --precision $PREC"
n_ef=$(echo $EFS | wc -w); n_k=$(echo $KS | wc -w); n=$((n_ef * n_k))
echo "bench_sweep: model d_model $D, $L layers, d_ff $FF; $n SAEs (expansion_factor $EFS x k $KS);" \
     "$TOKENS tokens each ($B x $POS per micro-batch), validation on $VAL batches; precision $PREC;" \
     "$(nproc) cores"

now() { date +%s.%N; }
best_sweep="" best_single=""
run_sweep() { # -> seconds
    rm -rf "$tmp/sweep"
    t0=$(now)
    "$BIN" train $common --autoencoder.expansion_factor $EFS --autoencoder.k $KS --out "$tmp/sweep" \
        > "$tmp/sweep.out" 2> "$tmp/sweep.err" || { cat "$tmp/sweep.err" >&2; exit 1; }
    awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }'
}
run_singles() { # -> seconds
    t0=$(now)
    for e in $EFS; do
        for k in $KS; do
            rm -rf "$tmp/one"
            "$BIN" train $common --autoencoder.expansion_factor "$e" --autoencoder.k "$k" \
                --out "$tmp/one" > "$tmp/one.out" 2> "$tmp/one.err" || { cat "$tmp/one.err" >&2; exit 1; }
        done
    done
    awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }'
}
keep_best() { awk -v d="$1" -v best="$2" 'BEGIN { if (best == "" || d < best) best = d; print best }'; }
for rep in $(seq "$R"); do
    # alternate the order: the machine's load drifts
    if [ $((rep % 2)) -eq 1 ]; then
        s=$(run_sweep) || exit 1
        m=$(run_singles) || exit 1
    else
        m=$(run_singles) || exit 1
        s=$(run_sweep) || exit 1
    fi
    best_sweep=$(keep_best "$s" "$best_sweep")
    best_single=$(keep_best "$m" "$best_single")
done
tokens=$(sed -n 's/^trained after .* optimizer steps, \([0-9]*\) tokens).*/\1/p' "$tmp/sweep.out")
grep '^member:' "$tmp/sweep.out" | sed 's|'"$tmp"'/||'
awk -v n="$n" -v tok="$tokens" -v s="$best_sweep" -v m="$best_single" 'BEGIN {
    printf "sweep of %d SAEs:    %8.2f s  %9.0f tokens/s overall (%d SAEs x %d tokens)\n", n, s, n * tok / s, n, tok
    printf "%d separate runs:    %8.2f s  %9.0f tokens/s overall\n", n, m, n * tok / m
    printf "ratio sweep / separate: %.2fx (target >= 1.5x)\n", m / s
}'
