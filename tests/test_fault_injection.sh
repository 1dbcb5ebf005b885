#!/bin/sh
# Faults while writing (doc/security.md):
#  1. disk full (tests/fault_shim.c, LD_PRELOAD) at EVERY write point of
#     `mlsae train --activations` into a directory holding a checkpoint: the
#     run fails with one error line (or succeeds with a loadable result), the
#     previous checkpoint stays byte-identical, no staging file is left;
#  2. disk full at sampled write points of the training pipeline (checkpoint,
#     training state, run.yaml, metrics rows): a failed run leaves either no
#     checkpoint or one that --resume continues;
#  3. SIGKILL at random moments of a pipeline run, then --resume until done:
#     the final SAE is bit-identical to an uninterrupted run's;
#  4. disk full at sampled write points of `mlsae dists` over a previous
#     run's files: the file whose write failed is never removed.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
top=$(dirname "$MLSAE_BIN")
SHIM="$top/tests/.libs/libfaultshim.so"
[ -f "$SHIM" ] || { echo "no $SHIM"; exit 77; }
MAKE_MODEL=${MAKE_MODEL:-$top/tests/make_model}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-fault-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }
# the shim goes before a sanitizer runtime; tell ASan/TSan that is fine
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
export TSAN_OPTIONS="${TSAN_OPTIONS:-}:verify_interceptors=0"
# run with the shim: faulted N CMD... (the real binary, not the libtool wrapper)
REAL=$("$top/libtool" --mode=execute echo "$MLSAE_BIN" | awk '{print $NF}')
LIBDIR=$(dirname "$REAL")/../.libs
faulted() {
    at=$1; shift
    env LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" LD_PRELOAD="$SHIM" \
        MLSAE_FAULT_AT="$at" MLSAE_FAULT_COUNT="$TMP/count" "$REAL" "$@"
}
no_staging() { [ -z "$(find "$TMP" -name '*.tmp.*' 2>/dev/null)" ]; }

# ---- 1. every write point of train --activations ----
# The run's published results (checkpoints/last and the SAE directory) of a
# first run must survive any failing write of a second run into the same
# output directory byte for byte.
ACT="$MLSAE_TEST_FIXTURES/sae/cli/activations.safetensors"
A="--activations $ACT --trainer.accumulate_grad_batches 2 --autoencoder.expansion_factor 2
   --autoencoder.k 4 --autoencoder.auxk 8 --device cpu"
"$MLSAE_BIN" train $A --out "$TMP/ck" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "the first run failed"; }
published() { (cd "$1" && find checkpoints/last mlsae-* -type f | sort); }
rm -rf "$TMP/orig" && cp -r "$TMP/ck" "$TMP/orig"
faulted 0 train $A --out "$TMP/ck" --seed 5 >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "the run under the shim failed"; }
total=$(cat "$TMP/count")
rm -rf "$TMP/ck" && cp -r "$TMP/orig" "$TMP/ck"
[ "$total" -gt 10 ] || die "only $total write points counted"
n=1 failed=0 ok=0
while [ $n -le "$total" ]; do
    faulted $n train $A --out "$TMP/ck" --seed 5 >/dev/null 2>"$TMP/err"
    rc=$?
    if [ $rc -ge 128 ]; then
        die "point $n/$total: killed by signal $((rc - 128))"
    elif [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        [ "$(grep -c '^mlsae train: ' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; die "point $n: not one error line"; }
        # each published directory is the previous run's, byte for byte, or
        # (the write failed after it was replaced) this run's, whole: it loads
        for d in checkpoints/last $(cd "$TMP/orig" && ls -d mlsae-*); do
            same=1
            for f in $(cd "$TMP/orig/$d" && ls); do
                cmp -s "$TMP/orig/$d/$f" "$TMP/ck/$d/$f" || same=0
            done
            [ $same = 1 ] && continue
            "$MLSAE_BIN" train --activations "$ACT" --init "$TMP/ck/$d" --out "$TMP/load" \
                --device cpu >/dev/null 2>"$TMP/err2" ||
                { cat "$TMP/err2"; die "point $n: $d is neither the previous run's nor a whole new one"; }
            rm -rf "$TMP/load"
        done
    else
        ok=$((ok + 1))  # a failure the run survives (e.g. fsync of a directory): result must load
        "$MLSAE_BIN" train --activations "$ACT" --init "$TMP/ck/checkpoints/last" --out "$TMP/load" \
            --device cpu >/dev/null 2>"$TMP/err2" \
            || { cat "$TMP/err2"; die "point $n: exit 0 but the checkpoint does not load"; }
    fi
    rm -rf "$TMP/load" "$TMP/ck" && cp -r "$TMP/orig" "$TMP/ck"
    no_staging || { find "$TMP" -name '*.tmp.*'; die "point $n: staging left behind"; }
    find "$TMP" -name '*.tmp.*' -exec rm -rf {} + 2>/dev/null
    n=$((n + 1))
done
echo "  train --activations: $total write points: $failed failed cleanly, $ok survived"

# ---- 2. sampled write points of the pipeline ----
"$MAKE_MODEL" "$TMP/model" 32 2 2 64 50304 7 >/dev/null || { echo "cannot make the model"; exit 1; }
zstd -dc "$MLSAE_TEST_FIXTURES/../../data/tinyshakespeare.jsonl.zst" | head -n 3 >"$TMP/train.jsonl"
P="--model $TMP/model --data $TMP/train.jsonl --max_length 64 --batch_size 2 --expansion_factor 4
   --k 8 --auxk 16 --accumulate 2 --max_tokens 1024 --log_every_n_steps 1 --val_check_interval 2
   --limit_val_batches 1 --checkpoint_every_n_steps 1 --threads 2"
"$MLSAE_BIN" train $P --out "$TMP/full" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "pipeline run failed"; }
faulted 0 train $P --out "$TMP/count_run" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "pipeline under the shim failed"; }
total=$(cat "$TMP/count")
k=1
for frac in 5 29 53 77 97; do
    n=$((total * frac / 100 + 1))
    out="$TMP/p$k"; k=$((k + 1))
    faulted $n train $P --out "$out" >/dev/null 2>"$TMP/err"
    rc=$?
    [ $rc -lt 128 ] || die "pipeline point $n/$total: killed by signal $((rc - 128))"
    if [ $rc -ne 0 ] && [ -d "$out/checkpoints/last" ]; then
        "$MLSAE_BIN" train --resume "$out/checkpoints/last" >/dev/null 2>"$TMP/err2" \
            || { cat "$TMP/err2"; die "pipeline point $n: the checkpoint left does not resume"; }
        sae=$(ls -d "$out"/mlsae-* 2>/dev/null | head -n 1)
        cmp -s "$sae/model.safetensors" "$(ls -d "$TMP"/full/mlsae-* | head -n 1)/model.safetensors" \
            || die "pipeline point $n: resumed result differs from the uninterrupted run"
    fi
done
no_staging || die "pipeline: staging left behind"
echo "  pipeline: $total write points, 5 sampled"

# ---- 3. SIGKILL at random moments, then --resume ----
i=0
seed=$(( $$ % 97 ))
while [ $i -lt 2 ]; do
    out="$TMP/k$i"
    "$MLSAE_BIN" train $P --out "$out" >/dev/null 2>&1 &
    pid=$!
    seed=$(( (seed * 37 + 11) % 97 ))
    sleep "0.$(( 10 + seed * 8 / 10 ))"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    tries=0
    while [ ! -d "$(ls -d "$out"/mlsae-* 2>/dev/null | head -n 1)" ] && [ $tries -lt 3 ]; do
        if [ -d "$out/checkpoints/last" ]; then
            "$MLSAE_BIN" train --resume "$out/checkpoints/last" >/dev/null 2>"$TMP/err" \
                || { cat "$TMP/err"; die "kill $i: resume failed"; break; }
        else
            rm -rf "$out"
            "$MLSAE_BIN" train $P --out "$out" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "kill $i: rerun failed"; break; }
        fi
        tries=$((tries + 1))
    done
    cmp -s "$(ls -d "$out"/mlsae-* | head -n 1)/model.safetensors" \
        "$(ls -d "$TMP"/full/mlsae-* | head -n 1)/model.safetensors" \
        || die "kill $i: the resumed SAE differs from the uninterrupted run's"
    i=$((i + 1))
done
no_staging || die "kill: staging left behind"
echo "  SIGKILL + resume: 2 runs"

# ---- 4. mlsae dists into a directory holding a previous run's files ----
# A failed run removes the files it wrote before the failure but never the
# file it failed to write: what was there (the previous run's) stays, so at
# least one previous file survives, byte for byte, and nothing else is there.
FX="$MLSAE_TEST_FIXTURES/analysis"
D="--checkpoint $FX/sae --model_name $FX/model --data.path $FX/data.jsonl --max_length 16
   --batch_size 3 --max_tokens 200 --threads 2 --log_every_n_steps 2"
"$MLSAE_BIN" dists $D --out "$TMP/dprev" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "dists failed"; }
dfiles=$(cd "$TMP/dprev" && ls)
[ "$(echo $dfiles | wc -w)" -eq 3 ] || die "dists wrote '$dfiles', not 3 files"
faulted 0 dists $D --out "$TMP/dcount" >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "dists under the shim failed"; }
total=$(cat "$TMP/count")
for n in 1 $((total / 3)) $((total * 2 / 3)) $((total - 2)) $((total - 1)) $total; do
    rm -rf "$TMP/dout" && cp -r "$TMP/dprev" "$TMP/dout"
    faulted $n dists $D --out "$TMP/dout" >/dev/null 2>"$TMP/err"
    rc=$?
    [ $rc -lt 128 ] || die "dists point $n/$total: killed by signal $((rc - 128))"
    [ $rc -ne 0 ] || continue
    [ "$(grep -c '^mlsae dists: ' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; die "dists point $n: not one error line"; }
    kept=0
    for f in $(cd "$TMP/dout" && ls); do
        cmp -s "$TMP/dprev/$f" "$TMP/dout/$f" || die "dists point $n/$total: $f is not the previous run's"
        kept=$((kept + 1))
    done
    [ $kept -gt 0 ] || die "dists point $n/$total: the failed run removed every previous file"
done
no_staging || die "dists: staging left behind"
echo "  dists: $total write points, 6 sampled"

[ $fail -eq 0 ] && echo "test_fault_injection: PASS"
exit $fail
