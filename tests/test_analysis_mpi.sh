#!/bin/sh
# The streaming analyses over MPI (doc/scaling.md): `mpirun -np N mlsae
# dists|examples|variances|resid-cos-sim` writes the files of one process.
#
# Fixture: the analysis model and SAE (tests/fixtures/analysis), batches of
# 1 sequence of 16 tokens and a budget of 300 tokens: 19 batches, the last
# cut at 12 tokens, so the last group of 2 (and of 3) ranks is incomplete;
# a step row every 2 batches.
#
# Identical, byte for byte: the examples database (the heaps merge exactly:
# a strict order over the stream's positions; this fixture has equal acts
# at the heaps' boundaries, so a tie broken otherwise than by stream
# position changes the database), the variances and resid-cos-sim files
# (rank 0 combines every batch's partial results in batch order, as one
# process; the layer means are exact sums), every integer (counts, steps,
# tokens, batch numbers), the dists counts tensor; and the same set of
# files, written by rank 0 alone.
# Within a tolerance: the dists totals, sums of doubles which the ranks add
# in another order (each rank its own batches, then the ranks' sums), and
# everything computed from them. |a - b| <= 1e-12 (|b| + 1): sums of at
# most a few thousand terms of the same sign or of O(1) size differ by a
# few units of 1e-16 relative per term (observed <= 1e-14). The dists
# totals tensor is float32 rounded from those doubles: at most one float32
# ulp apart (rtol 1.2e-7).
#
# Also: a rank that fails ends the run with a non-zero status, one line
# naming it, and no output.
#
# Skipped when MPI was not built or mpirun is missing.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
FX="$MLSAE_TEST_FIXTURES/analysis"
DIR="$(dirname "$0")"
DP="$DIR/dp_helper"
[ -x "$DP" ] || DP="./tests/dp_helper"

. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
if ! mpi_launcher; then
    echo "SKIP: $MPI_SKIP"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-analysis-mpi-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

# same_csv A B: the same header and cells; cells that are integers in both
# files exactly, other numbers within 1e-12 (|b| + 1), the rest as text
same_csv() {
    awk -F, -v a="$1" -v b="$2" '
        function isint(s) { return s ~ /^-?[0-9]+$/ }
        function isnum(s) { return s ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ }
        NR == FNR { line[FNR] = $0; n = FNR; next }
        {
            m = FNR
            if (!(FNR in line)) { print "FAIL: " b " has more rows than " a; bad = 1; next }
            k = split(line[FNR], x, ",")
            if (k != NF) { print "FAIL: " b " row " FNR ": " NF " cells, " k " in " a; bad = 1; next }
            for (i = 1; i <= NF; i++) {
                if (x[i] == $i) continue
                if (isint(x[i]) && isint($i)) ok = 0
                else if (isnum(x[i]) && isnum($i)) {
                    d = x[i] - $i; d = d < 0 ? -d : d; s = $i < 0 ? -$i : $i
                    ok = d <= 1e-12 * (s + 1)
                    if (d / (s + 1e-300) > worst) worst = d / (s + 1e-300)
                } else ok = 0
                if (!ok) { print "FAIL: " b " row " FNR " cell " i ": " $i ", one process " x[i]; bad = 1 }
            }
        }
        END {
            if (m != n) { print "FAIL: " b ": " m " rows, one process " n; bad = 1 }
            if (n < 2) { print "FAIL: " a ": no rows"; bad = 1 }
            printf "  %s: %d rows, largest relative difference %.3g\n", b, n, worst
            exit bad
        }' "$1" "$2"
}

cp -r "$FX/sae" "$TMP/x-tfm"
COMMON="--model_name $FX/model --data.path $FX/data.jsonl --max_length 16 --batch_size 1
    --max_tokens 300 --log_every_n_steps 2 --threads 1 --device cpu"
EX="--n_examples 3 --n_tokens 2"

run_all() { # OUT_DIR LAUNCHER...
    out=$1; shift
    "$@" "$MLSAE_BIN" dists --checkpoint "$TMP/x-tfm" $COMMON --out "$out" >"$out.dists" 2>"$out.err" &&
    "$@" "$MLSAE_BIN" examples --checkpoint "$TMP/x-tfm" $COMMON $EX --out "$out" >"$out.examples" 2>>"$out.err" &&
    "$@" "$MLSAE_BIN" variances --checkpoint "$TMP/x-tfm" $COMMON --out "$out" >"$out.variances" 2>>"$out.err" &&
    "$@" "$MLSAE_BIN" resid-cos-sim $COMMON --out "$out" >"$out.resid" 2>>"$out.err" ||
    { cat "$out.err"; die "$* analyses"; return 1; }
}

run_all "$TMP/one" || exit 1
grep -q "^dists: 19 batches, 300 tokens per layer" "$TMP/one.dists" || die "one process: $(cat "$TMP/one.dists")"
for np in 2 3; do
    two="$TMP/np$np"
    run_all "$two" $MR -np $np || continue
    echo "$np ranks:"
    [ "$(ls "$TMP/one")" = "$(ls "$two")" ] || die "$np ranks wrote $(ls "$two" | tr '\n' ' '), one process $(ls "$TMP/one" | tr '\n' ' ')"
    for w in dists examples variances; do
        [ "$(grep -c "^$w: 19 batches, 300 tokens per layer" "$two.$w")" -eq 1 ] ||
            die "$np ranks: rank 0 alone should report the 19 batches of $w: $(cat "$two.$w")"
    done
    [ "$(grep -c '^resid-cos-sim: ' "$two.resid")" -eq 1 ] || die "$np ranks: resid report $(cat "$two.resid")"
    cmp "$TMP/one/x-examples.db" "$two/x-examples.db" || die "$np ranks: the examples database differs"
    "$DP" compare "$two/x-dists.safetensors" "$TMP/one/x-dists.safetensors" 1.2e-7 0 >"$TMP/cmp" 2>&1 ||
        { cat "$TMP/cmp"; die "$np ranks: dists tensors"; }
    grep -Eq '^ +counts +max \|a-b\| 0$' "$TMP/cmp" || { cat "$TMP/cmp"; die "$np ranks: dists counts differ"; }
    for f in x-dists.csv dists_layer_std_step_x-tfm.csv; do
        same_csv "$TMP/one/$f" "$two/$f" || die "$np ranks: $f"
    done
    for f in variances_x-tfm.csv resid_l2_norm_model.csv resid_cos_sim_model.csv; do
        cmp "$TMP/one/$f" "$two/$f" || die "$np ranks: $f differs from one process's"
    done
done
[ "$(wc -l <"$TMP/one/dists_layer_std_step_x-tfm.csv")" -eq 11 ] || die "expected 10 step rows (batches 0, 2, ..., 18)"

# a rank that fails (rank 1 reads a missing file): non-zero, one line naming
# it, nothing written
$MR -np 2 sh -c 'f=$1; shift; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && f=/nonexistent.jsonl
                 exec "$@" --data.path "$f"' sh "$FX/data.jsonl" \
    "$MLSAE_BIN" dists --checkpoint "$TMP/x-tfm" $COMMON --out "$TMP/bad" >/dev/null 2>"$TMP/err" &&
    die "a failing rank should fail the run"
grep -q "^mlsae dists: rank 1 of 2: .*nonexistent.jsonl" "$TMP/err" || die "failing rank: $(head -5 "$TMP/err")"
[ -z "$(ls -A "$TMP/bad" 2>/dev/null)" ] || die "a failed run wrote $(ls "$TMP/bad")"

[ $fail -eq 0 ] && echo "test_analysis_mpi: PASS"
exit $fail
