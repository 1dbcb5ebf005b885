#!/bin/sh
# mlsae train --activations: the training loop on saved activations. A run
# from an MLSAE checkpoint (--init) over six micro-batches matches the
# float64 oracle (tests/gen/gen_sae.py, case "basic": geometric-median bias,
# accumulation 2, three Adam steps); the output directory is laid out as for
# a run on a model (config.yaml, metrics.jsonl, checkpoints/last, the SAE in
# the reference's format); --resume continues; bad inputs fail with one
# line, a non-zero exit and no output.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
FIX="$MLSAE_TEST_FIXTURES/sae"
CMP="$(dirname "$0")/test_sae_compare_run"
[ -x "$CMP" ] || CMP="./tests/test_sae_compare_run"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-train-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

# 1. the oracle run
"$MLSAE_BIN" train --activations "$FIX/cli/activations.safetensors" --init "$FIX/cli/init" \
    --out "$TMP/run" --trainer.accumulate_grad_batches 2 --log_every_n_steps 1 --device cpu \
    >"$TMP/stdout" 2>"$TMP/stderr" || { cat "$TMP/stderr"; die "train exited $?"; }
for f in config.yaml metrics.jsonl checkpoints/last/config.json \
    checkpoints/last/model.safetensors checkpoints/last/training_state.safetensors; do
    [ -s "$TMP/run/$f" ] || die "missing $f"
done
sae=$(sed -n 's/^sae: *//p' "$TMP/stdout")
[ -s "$sae/model.safetensors" ] || die "no trained SAE named in the output"
# a file that records no model: named after the file (never the default model)
case "$sae" in */mlsae-activations-x4-k8) ;; *) die "SAE not named by the file and its own shape: $sae" ;; esac
grep -q '^train 100.0% 60/60 tok' "$TMP/stderr" || { cat "$TMP/stderr"; die "progress total is not the file's 60 tokens"; }
[ "$(grep -c '"loss/total"' "$TMP/run/metrics.jsonl")" -eq 3 ] || die "metrics.jsonl should have 3 step rows"
grep -q '"k": 8' "$sae/config.json" || die "config.json lacks k"
grep -q 'activations:.*activations.safetensors' "$TMP/run/config.yaml" || die "config.yaml lacks data.activations"
"$CMP" "$TMP/run" "$FIX/basic.safetensors" || die "output differs from the oracle"
ls "$TMP" | grep -q tmp && die "a staging directory was left behind"

# 2. resuming a finished run over the same file trains nothing and keeps the weights
cp "$TMP/run/checkpoints/last/model.safetensors" "$TMP/finished.safetensors"
"$MLSAE_BIN" train --resume "$TMP/run/checkpoints/last" >"$TMP/stdout2" 2>"$TMP/stderr" \
    || { cat "$TMP/stderr"; die "resume failed"; }
cmp -s "$TMP/finished.safetensors" "$TMP/run/checkpoints/last/model.safetensors" \
    || die "resume changed the weights"

# 3. a fresh run with explicit options
"$MLSAE_BIN" train --activations "$FIX/cli/activations.safetensors" --out "$TMP/fresh" \
    --autoencoder.expansion_factor 4 --autoencoder.k 3 --autoencoder.auxk null \
    --autoencoder.standardize false --seed 3 --threads 1 --device cpu \
    >"$TMP/stdout3" 2>"$TMP/stderr" || { cat "$TMP/stderr"; die "fresh run failed"; }
fresh=$(sed -n 's/^sae: *//p' "$TMP/stdout3")
grep -q '"auxk": null' "$fresh/config.json" || die "auxk null should be null"
grep -q '"standardize": false' "$fresh/config.json" || die "standardize false"
grep -q '"n_latents": 64' "$fresh/config.json" || die "n_latents should be 64"

# 3b. a file recording its model (metadata model_name) names the SAE after it;
#     --model_name wins over it
hdr_len=$(od -An -tu8 -N8 "$FIX/cli/activations.safetensors" | tr -d ' ')
hdr=$(dd if="$FIX/cli/activations.safetensors" bs=1 skip=8 count="$hdr_len" 2>/dev/null | sed 's/ *$//')
new="{\"__metadata__\":{\"model_name\":\"EleutherAI/pythia-14m\"},${hdr#\{}"
while [ $(( ${#new} % 8 )) -ne 0 ]; do new="$new "; done
n=${#new}
{ printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((n & 255)) $(((n >> 8) & 255)) $(((n >> 16) & 255)) $(((n >> 24) & 255)))"
  printf '\000\000\000\000'; printf '%s' "$new"
  tail -c +$((9 + hdr_len)) "$FIX/cli/activations.safetensors"; } >"$TMP/meta.safetensors"
"$MLSAE_BIN" train --activations "$TMP/meta.safetensors" --out "$TMP/meta" --device cpu \
    --max_steps 1 --trainer.accumulate_grad_batches 1 --autoencoder.expansion_factor 2 --autoencoder.k 4 --autoencoder.auxk 8 >"$TMP/stdout4" 2>"$TMP/stderr" || { cat "$TMP/stderr"; die "run on a file with metadata failed"; }
case "$(sed -n 's/^sae: *//p' "$TMP/stdout4")" in */mlsae-pythia-14m-x2-k4) ;;
    *) cat "$TMP/stdout4"; die "SAE not named after the recorded model" ;; esac
grep -q '^train 100.0% 10/10 tok' "$TMP/stderr" || { cat "$TMP/stderr"; die "progress total is not max_steps' 10 tokens"; }
"$MLSAE_BIN" train --activations "$TMP/meta.safetensors" --out "$TMP/meta2" --device cpu \
    --max_steps 1 --autoencoder.expansion_factor 2 --autoencoder.k 4 --autoencoder.auxk 8 --model_name org/given >"$TMP/stdout5" 2>"$TMP/stderr" || die "run with --model_name failed"
case "$(sed -n 's/^sae: *//p' "$TMP/stdout5")" in */mlsae-given-x2-k4) ;; *) die "--model_name not used" ;; esac

# 3c. a run that fails before its first checkpoint (a NaN in micro-batch 0)
#     removes what it created, and nothing else; one that fails later keeps
#     its last checkpoint and the metrics it covers. (per micro-batch: 3 x 2
#     x 5 x 16 floats = 1920 bytes)
nan_at() { # nan_at MICRO_BATCH OUT
    cp "$FIX/cli/activations.safetensors" "$2"
    printf '\000\000\300\177' | dd of="$2" bs=1 seek=$((8 + hdr_len + $1 * 1920)) conv=notrunc 2>/dev/null
}
small="--device cpu --autoencoder.expansion_factor 2 --autoencoder.k 4 --autoencoder.auxk 8"
nan_at 0 "$TMP/nan0.safetensors"
"$MLSAE_BIN" train --activations "$TMP/nan0.safetensors" --out "$TMP/nan0/run" $small \
    >/dev/null 2>"$TMP/err" && die "a NaN at micro-batch 0 should fail"
grep -q 'non-finite' "$TMP/err" || { cat "$TMP/err"; die "NaN: no error naming it"; }
[ -e "$TMP/nan0" ] && die "a run failing before any checkpoint left $(find "$TMP/nan0")"
mkdir "$TMP/pre" && echo keep >"$TMP/pre/keep.txt"
"$MLSAE_BIN" train --activations "$TMP/nan0.safetensors" --out "$TMP/pre" $small \
    >/dev/null 2>&1 && die "a NaN at micro-batch 0 should fail (existing --out)"
[ "$(ls -A "$TMP/pre")" = keep.txt ] || die "existing --out: left $(ls -A "$TMP/pre"), expected keep.txt alone"
nan_at 4 "$TMP/nan4.safetensors"
"$MLSAE_BIN" train --activations "$TMP/nan4.safetensors" --out "$TMP/nan4" $small \
    --trainer.accumulate_grad_batches 1 --checkpoint_every_n_steps 1 --log_every_n_steps 1 \
    >/dev/null 2>&1 && die "a NaN at micro-batch 4 should fail"
[ -s "$TMP/nan4/checkpoints/last/training_state.safetensors" ] || die "a later failure lost its checkpoint"
[ "$(grep -c '"loss/total"' "$TMP/nan4/metrics.jsonl")" -eq 4 ] || die "a later failure: 4 metric rows expected"

# 4. bad input: one line on stderr, non-zero exit, no output directory
bad() {
    name=$1; shift
    "$MLSAE_BIN" train "$@" --out "$TMP/bad_$name" --device cpu >/dev/null 2>"$TMP/err"
    rc=$?
    [ $rc -ne 0 ] || die "$name: exit status 0"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; die "$name: not one line of error"; }
    [ -e "$TMP/bad_$name" ] && die "$name: output directory created"
    ls "$TMP" | grep -q "bad_$name" && die "$name: staging left behind"
    echo "  $name: $(cat "$TMP/err")"
}
bad noinputs --activations "$FIX/cli/bad_noinputs.safetensors"
bad rank --activations "$FIX/cli/bad_rank.safetensors"
bad dmodel --activations "$FIX/cli/bad_dmodel.safetensors" --init "$FIX/cli/init"
bad missing --activations "$TMP/does-not-exist.safetensors"
bad k_too_big --activations "$FIX/cli/activations.safetensors" --autoencoder.expansion_factor 1 --autoencoder.k 17
bad option --activations "$FIX/cli/activations.safetensors" --autoencoder.k x
bad unknown --activations "$FIX/cli/activations.safetensors" --bogus
bad init_shape --activations "$FIX/cli/activations.safetensors" --init "$FIX/cli/init" --autoencoder.k 5
head -c 100 "$FIX/cli/activations.safetensors" >"$TMP/trunc.safetensors"
bad truncated --activations "$TMP/trunc.safetensors"
"$MLSAE_BIN" train --help | grep -q -- --activations || die "--help"

[ $fail -eq 0 ] && echo "test_train_activations: PASS"
exit $fail
