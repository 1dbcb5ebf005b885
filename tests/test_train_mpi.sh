#!/bin/sh
# Data-parallel training over MPI (doc/scaling.md): `mpirun -np 2 mlsae
# train` with batch B trains the SAE of one process with batch 2B.
#
# The activations fixture (6 micro-batches of 2 sequences, tests/gen/gen_sae.py
# case "basic": geometric-median bias, AuxK with dead latents, accumulation 2)
# is split into 12 batches of 1 sequence (tests/dp_helper split), which two
# ranks take in turns: global micro-batch b is the same 2 sequences.
#
# Tolerance: the weights, Adam moments and last_nonzero after the run equal
# the one-process run within |a - b| <= 1e-6 + 1e-5 |b| (last_nonzero
# exactly): the only difference is the order of float additions (per-rank
# partial sums of the gradients and batch statistics, then their sum), a few
# float32 roundings (~6e-8 relative each) per Adam step, 3 steps here, and
# the float64 oracle itself is met within 2e-5 (test_sae_compare_run). The
# logged losses agree within 1e-6 relative (float64 sums of float32 terms).
#
# Also: resuming with the same N continues bit for bit at a step boundary
# and within the same tolerance after an interrupt mid-accumulation (the
# saved gradients are the ranks' sum; see doc/scaling.md); SIGINT on one
# rank stops and checkpoints every rank; resuming with another N is
# refused; a rank that fails or dies ends the run with a non-zero status
# naming it, and nothing is written (or the last checkpoint stays intact);
# on a tiny model through the transformer, and `mlsae test` over 2 ranks
# writes the one-process CSV.
#
# Skipped when MPI was not built or mpirun is missing.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
FIX="$MLSAE_TEST_FIXTURES/sae"
DIR="$(dirname "$0")"
DP="$DIR/dp_helper"
[ -x "$DP" ] || DP="./tests/dp_helper"
CMP="$DIR/test_sae_compare_run"
[ -x "$CMP" ] || CMP="./tests/test_sae_compare_run"

. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
if ! mpi_launcher; then
    echo "SKIP: $MPI_SKIP"
    exit 77
fi
MR="$MR -np 2"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-mpi-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
RTOL=1e-5
ATOL=1e-6

# same weights and optimizer state as the one-process run (model.safetensors
# holds the weights and last_nonzero; training_state.safetensors the Adam
# moments, the pending gradients and the counters)
same() { # A B what [rtol atol]
    for f in model training_state; do
        "$DP" compare "$1/checkpoints/last/$f.safetensors" "$2/checkpoints/last/$f.safetensors" \
            "${4:-$RTOL}" "${5:-$ATOL}" >"$TMP/cmp" 2>&1 || { cat "$TMP/cmp"; die "$3: $f differs"; }
    done
}
# the logged losses of every row agree within 1e-6 relative
same_losses() { # A B what
    for key in loss/total loss/mse loss/auxk; do
        for r in "$1" "$2"; do
            sed -n "s|.*\"$key\":\\([^,}]*\\).*|\\1|p" "$r/metrics.jsonl" >"$TMP/$(basename "$r").$$"
        done
        paste "$TMP/$(basename "$1").$$" "$TMP/$(basename "$2").$$" | awk -v what="$3 $key" '
            { n++; d = $1 - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2
              if (d > 1e-6 * m + 1e-12) { print "FAIL: " what " row " n ": " $1 " vs " $2; bad = 1 } }
            END { if (n < 1) { print "FAIL: " what ": no rows"; bad = 1 } exit bad }' || fail=1
    done
}

"$DP" split "$FIX/cli/activations.safetensors" "$TMP/split.safetensors" 2 || die "split"
OPTS="--trainer.accumulate_grad_batches 2 --log_every_n_steps 1 --device cpu --threads 1"

# 1. from the oracle's initial SAE: one process at batch 2 = two ranks at batch 1
"$MLSAE_BIN" train --activations "$FIX/cli/activations.safetensors" --init "$FIX/cli/init" \
    --out "$TMP/one" $OPTS >"$TMP/out1" 2>"$TMP/err1" || { cat "$TMP/err1"; die "one process"; }
$MR "$MLSAE_BIN" train --activations "$TMP/split.safetensors" --init "$FIX/cli/init" \
    --out "$TMP/two" $OPTS >"$TMP/out2" 2>"$TMP/err2" || { cat "$TMP/err2"; die "two ranks"; }
same "$TMP/two" "$TMP/one" "init run"
same_losses "$TMP/two" "$TMP/one" "init run"
"$CMP" "$TMP/two" "$FIX/basic.safetensors" >"$TMP/cmp" 2>&1 || { cat "$TMP/cmp"; die "two ranks differ from the float64 oracle"; }
[ "$(grep -c '^sae:' "$TMP/out2")" -eq 1 ] || die "rank 0 alone should report (stdout: $(cat "$TMP/out2"))"
grep -q '"tokens":60' "$TMP/two/metrics.jsonl" || die "tokens should count both ranks' sequences"

# 2. a new SAE from the seed (every rank draws the same), the dead-latent
#    threshold derived from the global micro-batch's tokens
FRESH="--autoencoder.expansion_factor 4 --autoencoder.k 3 --autoencoder.auxk 4 \
    --autoencoder.dead_tokens_threshold 30 --seed 5"
"$MLSAE_BIN" train --activations "$FIX/cli/activations.safetensors" --out "$TMP/one_f" \
    $FRESH $OPTS >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "fresh one process"; }
$MR "$MLSAE_BIN" train --activations "$TMP/split.safetensors" --out "$TMP/two_f" \
    $FRESH $OPTS >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "fresh two ranks"; }
same "$TMP/two_f" "$TMP/one_f" "fresh run"
same_losses "$TMP/two_f" "$TMP/one_f" "fresh run"

# 3. resume at a step boundary: bit for bit
$MR "$MLSAE_BIN" train --activations "$TMP/split.safetensors" --init "$FIX/cli/init" \
    --out "$TMP/part" $OPTS --trainer.max_steps 1 >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "part"; }
$MR "$MLSAE_BIN" train --resume "$TMP/part/checkpoints/last" --trainer.max_steps 3 \
    >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "resume"; }
same "$TMP/part" "$TMP/two" "resumed at a step" 0 0

# 4. SIGINT on rank 1 after its 3rd micro-batch (mid-accumulation): every
#    rank stops there, rank 0 checkpoints the summed gradients; resuming
#    with 2 ranks ends at the uninterrupted run
$MR "$DP" interrupt 1 3 --activations "$TMP/split.safetensors" --init "$FIX/cli/init" \
    --out "$TMP/int" $OPTS >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; die "interrupt"; }
grep -q "stopped after 3 micro-batches" "$TMP/out" || die "interrupt: $(cat "$TMP/out")"
cp -r "$TMP/int" "$TMP/int_saved"
$MR "$MLSAE_BIN" train --resume "$TMP/int/checkpoints/last" >/dev/null 2>"$TMP/err" \
    || { cat "$TMP/err"; die "resume after interrupt"; }
same "$TMP/int" "$TMP/two" "resumed after SIGINT"

# 5. another number of ranks: refused, naming both
"$MLSAE_BIN" train --resume "$TMP/int_saved/checkpoints/last" >/dev/null 2>"$TMP/err" \
    && die "resuming a 2-rank checkpoint on 1 process should fail"
grep -q "trained by 2 processes.*this run has 1" "$TMP/err" || die "refusal: $(cat "$TMP/err")"

# 6. a rank that fails: one line naming it, non-zero exit, nothing written
$MR sh -c 'f=$1; shift; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && f=/nonexistent.safetensors
           exec "$@" --activations "$f"' sh "$TMP/split.safetensors" \
    "$MLSAE_BIN" train --out "$TMP/bad" --device cpu >/dev/null 2>"$TMP/err" \
    && die "a failing rank should fail the run"
grep -q "^mlsae train: rank 1 of 2: /nonexistent.safetensors" "$TMP/err" || die "failing rank: $(head -3 "$TMP/err")"
[ -e "$TMP/bad" ] && die "a failed run wrote its output directory"

# 7. a rank that dies (SIGKILL) while the others train: non-zero exit, the
#    launcher names it, the last checkpoint is intact
cp -r "$TMP/int_saved" "$TMP/kill"
$MR sh -c '[ "$OMPI_COMM_WORLD_RANK" = 1 ] && kill -9 $$; exec "$@"' sh \
    "$MLSAE_BIN" train --resume "$TMP/kill/checkpoints/last" >/dev/null 2>"$TMP/err" \
    && die "a killed rank should fail the run"
# mpirun reports it, in words that vary between runs ("process rank 1 ...
# exited on signal 9", or "1 process returned a non-zero exit code")
grep -Eq "rank 1|process returned|non-zero exit code|exited on signal" "$TMP/err" ||
    die "the launcher did not report the killed rank: $(cat "$TMP/err")"
for f in model training_state; do
    cmp -s "$TMP/kill/checkpoints/last/$f.safetensors" "$TMP/int_saved/checkpoints/last/$f.safetensors" \
        || die "the checkpoint changed after a rank died ($f)"
done

# 8. on a tiny random model and the bundled corpus (the transformer on each
#    rank's own batch): one process at batch 4 = two ranks at batch 2; the
#    two ranks also validate (rank 0 alone), which must not change training
MAKE_MODEL=${MAKE_MODEL:-./tests/make_model}
"$MAKE_MODEL" "$TMP/model" 32 2 2 64 50304 7 >/dev/null || die "cannot make the model"
zstd -dc "${MLSAE_TEST_SRCDIR:-$DIR}/../data/tinyshakespeare.jsonl.zst" | head -n 3 >"$TMP/train.jsonl"
MODEL="--model $TMP/model --data $TMP/train.jsonl --max_length 64 --expansion_factor 4 --k 8
    --auxk 16 --accumulate 3 --max_tokens 2048 --dead_tokens_threshold 1000
    --log_every_n_steps 1 --threads 1 --device cpu"
"$MLSAE_BIN" train $MODEL --batch_size 4 --limit_val_batches 0 --out "$TMP/one_m" \
    >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "model: one process"; }
$MR "$MLSAE_BIN" train $MODEL --batch_size 2 --val_check_interval 3 --limit_val_batches 1 \
    --out "$TMP/two_m" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "model: two ranks"; }
same "$TMP/two_m" "$TMP/one_m" "model run"
same_losses "$TMP/two_m" "$TMP/one_m" "model run"
grep -q '"val/loss/delta/layer_1"' "$TMP/two_m/metrics.jsonl" || die "model: no validation rows"

# 9. mlsae test over 2 ranks (each evaluates every other batch; the sums are
#    added): the CSV of one process, same header, every value within 1e-12
#    relative (double sums of the same 5 per-batch values in another order)
SAE=$(ls -d "$TMP/one_m"/mlsae-*)
TEST="--checkpoint $SAE --model $TMP/model --data $TMP/train.jsonl --max_length 64
    --batch_size 2 --max_tokens 640 --threads 1 --device cpu"
"$MLSAE_BIN" test $TEST --csv "$TMP/test1.csv" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "test: one process"; }
$MR "$MLSAE_BIN" test $TEST --csv "$TMP/test2.csv" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; die "test: two ranks"; }
grep -q "^tested on 5 batches" "$TMP/out" || die "test: rank 0 should report 5 batches: $(cat "$TMP/out")"
[ "$(head -1 "$TMP/test1.csv")" = "$(head -1 "$TMP/test2.csv")" ] || die "test: CSV headers differ"
paste -d, "$TMP/test1.csv" "$TMP/test2.csv" | awk -F, 'NR == 2 {
    h = NF / 2
    for (i = 1; i <= h; i++) { a = $i; b = $(i + h); d = a - b; if (d < 0) d = -d
        m = b < 0 ? -b : b; if (d > 1e-12 * m + 1e-300) { print "FAIL: test column " i ": " a " vs " b; bad = 1 } }
    n = h } END { if (n < 10) { print "FAIL: test CSV has " n " columns"; bad = 1 } exit bad }' || fail=1

[ $fail -eq 0 ] && echo "test_train_mpi: PASS"
exit $fail
