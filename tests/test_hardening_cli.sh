#!/bin/sh
# Hostile inputs to the CLI, one kind of fault per section (doc/security.md):
# each must end with one line of error naming the file and the field or
# position, a non-zero exit, no output and no staging directory left, and a
# checkpoint already at --out must survive unchanged.
#   1. sizes read from files: shapes whose byte size wraps 64 bits, data
#      sections not tiled exactly by the tensors
#   2. finiteness in training: an all-zero micro-batch (zero variance), a NaN
#      or an infinity in the activations, a corpus starting with empty documents
#   4. model-dependent checks (data.max_length against the context) in
#      config, train and test, before any output
#   6. resume: options that fix the run's state are refused with both values,
#      the budget may change, a copied checkpoint needs --out
#   7. stale staging directories of killed runs are removed
#   8. file types: FIFOs and directories where a file belongs fail at once
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
FIX="$MLSAE_TEST_FIXTURES/sae/cli"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-hard-XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
fail=0
die() { echo "FAIL: $*"; fail=1; }

# st_raw FILE HEADER NDATA: a safetensors file with HEADER and NDATA zero bytes
st_raw() {
    n=${#2}
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((n & 255)) $((n >> 8 & 255)) \
        $((n >> 16 & 255)) $((n >> 24 & 255)))\\000\\000\\000\\000" >"$1"
    printf '%s' "$2" >>"$1"
    head -c "$3" /dev/zero >>"$1"
}
# patch FILE OFFSET BYTES(printf octal escapes)
patch() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }

# bad NAME NEEDLE ARGS...: train fails with one line containing NEEDLE
bad() {
    name=$1 needle=$2; shift 2
    "$MLSAE_BIN" train "$@" --device cpu >/dev/null 2>"$TMP/err"
    rc=$?
    [ $rc -ne 0 ] || die "$name: exit status 0"
    [ $rc -lt 128 ] || die "$name: killed by signal $((rc - 128))"
    # one error line (progress lines may come before it)
    [ "$(grep -c '^mlsae train: ' "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; die "$name: not one line of error"; }
    grep '^mlsae train: ' "$TMP/err" | grep -q -- "$needle" ||
        die "$name: message lacks '$needle': $(cat "$TMP/err")"
    ls "$TMP" | grep -q '\.tmp\.' && die "$name: staging directory left behind"
    echo "  $name: $(cat "$TMP/err")"
}
A="--trainer.accumulate_grad_batches 2 --autoencoder.expansion_factor 2 --autoencoder.k 4 \
--autoencoder.auxk 8"

# ---- 1. sizes ----
# [2^61, 1, 1, 1, 2] F32 = 2^64 bytes: wraps to 0 = data_offsets [0, 0]
st_raw "$TMP/wrap.safetensors" '{"inputs":{"dtype":"F32","shape":[2305843009213693952,1,1,1,2],"data_offsets":[0,0]}}' 0
bad wrap "wrap.safetensors: tensor 'inputs'" --activations "$TMP/wrap.safetensors" --out "$TMP/o_wrap"
[ -e "$TMP/o_wrap" ] && die "wrap: output created"
st_raw "$TMP/wrap2.safetensors" '{"inputs":{"dtype":"F32","shape":[1,1,1,4611686018427387904,1],"data_offsets":[0,0]}}' 0
bad wrap2 "overflows" --activations "$TMP/wrap2.safetensors" --out "$TMP/o_wrap2"
st_raw "$TMP/tail.safetensors" '{"inputs":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}}' 12
bad tail "4 bytes after the last" --activations "$TMP/tail.safetensors" --out "$TMP/o_tail"
st_raw "$TMP/gap.safetensors" '{"inputs":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[4,12]}}' 12
bad gap "gap of 4 bytes" --activations "$TMP/gap.safetensors" --out "$TMP/o_gap"

# ---- 2. finiteness ----
# the fixture: header 72 bytes, data at 80, [6, 3, 2, 5, 16] F32: 1920 bytes a micro-batch
cp "$FIX/activations.safetensors" "$TMP/zero0.safetensors"
dd if=/dev/zero of="$TMP/zero0.safetensors" bs=1 seek=80 count=1920 conv=notrunc 2>/dev/null
bad zero_batch "micro-batch 0: layer 0: all 160 inputs are equal" \
    --activations "$TMP/zero0.safetensors" --out "$TMP/o_zero" $A
cp "$FIX/activations.safetensors" "$TMP/nan1.safetensors"
patch "$TMP/nan1.safetensors" $((80 + 1920 + 640 + 12)) '\000\000\300\177'
bad nan_batch "micro-batch 1: layer 1: non-finite input" \
    --activations "$TMP/nan1.safetensors" --out "$TMP/o_nan" $A
cp "$FIX/activations.safetensors" "$TMP/inf0.safetensors"
patch "$TMP/inf0.safetensors" 84 '\000\000\200\377'
bad inf_first "micro-batch 0: geometric median: non-finite input at vector 0, element 1" \
    --activations "$TMP/inf0.safetensors" --out "$TMP/o_inf" $A

# a good checkpoint at --out is kept when a later run fails
"$MLSAE_BIN" train --activations "$FIX/activations.safetensors" --out "$TMP/keep" $A --device cpu \
    >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "good run failed"; }
cp "$TMP/keep/checkpoints/last/model.safetensors" "$TMP/keep_model"
bad keep_nan "micro-batch 1" --activations "$TMP/nan1.safetensors" --out "$TMP/keep" $A
cmp -s "$TMP/keep/checkpoints/last/model.safetensors" "$TMP/keep_model" ||
    die "the previous checkpoint was replaced"
"$MLSAE_BIN" train --activations "$FIX/activations.safetensors" --init "$TMP/keep/checkpoints/last" \
    --out "$TMP/reload" --device cpu >/dev/null 2>"$TMP/err" ||
    { cat "$TMP/err"; die "the kept checkpoint does not load"; }

# ---- a tiny model and corpus for the pipeline commands ----
MAKE_MODEL=${MAKE_MODEL:-./tests/make_model}
"$MAKE_MODEL" "$TMP/model" 32 2 2 64 50304 7 >/dev/null || { echo "cannot make the model"; exit 1; }
zstd -dc "$MLSAE_TEST_FIXTURES/../../data/tinyshakespeare.jsonl.zst" | head -n 3 >"$TMP/train.jsonl"
P="--model $TMP/model --max_length 64 --batch_size 2 --expansion_factor 4 --k 8 --auxk 16
   --max_tokens 1024 --accumulate 2 --threads 2"
# run_bad NAME NEEDLE CMD ARGS...: fails within 60 s (no hang), one error line
# holding NEEDLE, and no output directory
run_bad() {
    name=$1 needle=$2 cmd=$3; shift 3
    timeout 60 "$MLSAE_BIN" "$cmd" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -ne 124 ] || die "$name: hangs"
    [ $rc -ne 0 ] || die "$name: exit status 0"
    [ "$(grep -c "^mlsae $cmd: " "$TMP/err")" -eq 1 ] || { cat "$TMP/err"; die "$name: not one error line"; }
    grep "^mlsae $cmd: " "$TMP/err" | grep -q -- "$needle" || die "$name: message lacks '$needle': $(cat "$TMP/err")"
    [ -e "$TMP/run_$name" ] && die "$name: output directory created"
    echo "  $name: $(grep "^mlsae $cmd: " "$TMP/err")"
}

# an SAE of this model, for the `mlsae test` cases
"$MLSAE_BIN" train $P --data "$TMP/train.jsonl" --max_tokens 256 --limit_val_batches 0 \
    --out "$TMP/s32" --device cpu >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "cannot train the d=32 SAE"; }
S32=$(ls -d "$TMP"/s32/mlsae-* | head -n 1)

# ---- 8. file types: checked before any blocking open ----
mkfifo "$TMP/fifo.jsonl" "$TMP/fifo.yaml" "$TMP/fifo.safetensors"
run_bad fifo_shard "fifo.jsonl: not a regular file (a FIFO)" train $P --data "$TMP/fifo.jsonl" --out "$TMP/run_fifo_shard"
mkdir -p "$TMP/shards" && cp "$TMP/train.jsonl" "$TMP/shards/a.jsonl" && mkfifo "$TMP/shards/b.jsonl"
run_bad fifo_in_dir "b.jsonl: not a regular file (a FIFO)" train $P --data "$TMP/shards" --out "$TMP/run_fifo_in_dir"
run_bad fifo_test "fifo.jsonl: not a regular file" test --checkpoint "$S32" $P --data "$TMP/fifo.jsonl"
run_bad fifo_config "fifo.yaml: not a regular file (a FIFO)" train --config "$TMP/fifo.yaml" $P --data "$TMP/train.jsonl" --out "$TMP/run_fifo_config"
run_bad fifo_config2 "fifo.yaml: not a regular file" config --config "$TMP/fifo.yaml"
run_bad fifo_activations "not a regular file (a FIFO)" train --activations "$TMP/fifo.safetensors" --out "$TMP/run_fifo_act"
run_bad dir_activations "shards: no model.safetensors" train --activations "$TMP/shards" --out "$TMP/run_dir_act"
mkdir -p "$TMP/fmodel" && cp "$TMP/model/model.safetensors" "$TMP/fmodel/" && mkfifo "$TMP/fmodel/config.json"
run_bad fifo_model_config "config.json: not a regular file (a FIFO)" train $P --model "$TMP/fmodel" --data "$TMP/train.jsonl" --out "$TMP/run_fifo_model"
# a run's checkpoint whose run.yaml is a FIFO: named, not taken for an absent run.yaml
mkdir -p "$TMP/frun/checkpoints" && cp -r "$TMP/s32/checkpoints/last" "$TMP/frun/checkpoints/" &&
    rm "$TMP/frun/checkpoints/last/run.yaml" && mkfifo "$TMP/frun/checkpoints/last/run.yaml"
run_bad fifo_run_yaml "run.yaml: not a regular file (a FIFO)" test --checkpoint "$TMP/frun/checkpoints/last" --data "$TMP/train.jsonl"
# ... and an empty run.yaml: damaged, never the default model's options
mkdir -p "$TMP/erun/checkpoints" && cp -r "$TMP/s32/checkpoints/last" "$TMP/erun/checkpoints/" &&
    : > "$TMP/erun/checkpoints/last/run.yaml"
run_bad empty_run_yaml "run.yaml: empty" test --checkpoint "$TMP/erun/checkpoints/last" --data "$TMP/train.jsonl"
run_bad empty_run_yaml_resume "run.yaml: empty" train --resume "$TMP/erun/checkpoints/last/"
mkdir -p "$TMP/fmodel2" && cp "$TMP/model/config.json" "$TMP/fmodel2/" && mkfifo "$TMP/fmodel2/model.safetensors"
run_bad fifo_model_weights "model.safetensors: not a regular file (a FIFO)" train $P --model "$TMP/fmodel2" --data "$TMP/train.jsonl" --out "$TMP/run_fifo_weights"
run_bad fifo_tokenizer "not a regular file (a FIFO)" train $P --tokenizer "$TMP/fifo.yaml" --data "$TMP/train.jsonl" --out "$TMP/run_fifo_tok"
# standard input stays readable where it is meant to be
echo "hello world" | "$MLSAE_BIN" tokenize --tokenizer "$MLSAE_TEST_FIXTURES/text/tiny-tokenizer.json" - >/dev/null 2>"$TMP/err" \
    || { cat "$TMP/err"; die "tokenize from a pipe failed"; }

# ---- 4. model-dependent checks right after loading, before any output ----
run_bad long_train "data.max_length: 4096 tokens is longer than the model's context" \
    train $P --max_length 4096 --data "$TMP/train.jsonl" --out "$TMP/run_long_train"
run_bad long_config "max_position_embeddings 2048" config $P --max_length 4096
run_bad long_test "max_position_embeddings 2048" test --checkpoint "$S32" $P --max_length 4096 --data "$TMP/train.jsonl"
run_bad k_config "autoencoder.k: 200 is more than the 128 latents" config $P --k 200
"$MLSAE_BIN" config $P --max_length 2048 >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; die "config at the context length failed"; }
grep -q "^model: *checked against" "$TMP/out" || die "config did not check the local model"

# ---- 2. in the pipeline: a corpus starting with empty documents masks every
# position of micro-batch 0; the run stops there, exit non-zero ----
(i=0; while [ $i -lt 200 ]; do echo '{"text": ""}'; i=$((i + 1)); done; cat "$TMP/train.jsonl") >"$TMP/empty_first.jsonl"
timeout 120 "$MLSAE_BIN" train $P --data "$TMP/empty_first.jsonl" --out "$TMP/run_empty" >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 124 ] || die "empty documents first: exit status $rc"
grep -q "micro-batch 0: layer 0: all .* inputs are equal" "$TMP/err" || { cat "$TMP/err"; die "empty documents first: message"; }
[ -e "$TMP/run_empty/checkpoints/last" ] && die "empty documents first: a checkpoint was written"

# ---- 6. resume reconciles the configuration ----
R="--model $TMP/model --max_length 64 --batch_size 2 --expansion_factor 4 --k 8 --auxk 16
   --accumulate 2 --threads 2 --limit_val_batches 0 --data $TMP/train.jsonl"
"$MLSAE_BIN" train $R --max_tokens 512 --out "$TMP/r1" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; die "r1 failed"; }
cp "$TMP/r1/checkpoints/last/model.safetensors" "$TMP/r1_model"
run_bad resume_batch "data.batch_size: cannot change when resuming" train --resume "$TMP/r1/checkpoints/last" --max_tokens 1024 --batch_size 4
run_bad resume_k "autoencoder.k: cannot change when resuming .*: the run was made with 8, this invocation gives 4" train --resume "$TMP/r1/checkpoints/last" --k 4
run_bad resume_model "model_name: cannot change" train --resume "$TMP/r1/checkpoints/last" --model "$TMP/fmodel"
cmp -s "$TMP/r1/checkpoints/last/model.safetensors" "$TMP/r1_model" || die "a refused resume changed the checkpoint"
# the budget may grow: progress continues to the new token count
"$MLSAE_BIN" train --resume "$TMP/r1/checkpoints/last" --max_tokens 1024 >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; die "resume with a larger budget failed"; }
grep -q "after 8 micro-batches .* 1024 tokens" "$TMP/out" || { cat "$TMP/out"; die "resume did not train to the new budget"; }
# the run's directory, or any directory that is not a checkpoint, is refused
# (not a fresh run of the defaults), naming the run's checkpoint when there is one
run_bad resume_run_dir "--resume $TMP/r1: not a checkpoint .*; this run's is $TMP/r1/checkpoints/last" \
    train --resume "$TMP/r1" --max_tokens 1024
mkdir "$TMP/not_a_ckpt"
run_bad resume_empty_dir "--resume $TMP/not_a_ckpt: not a checkpoint (no run.yaml or training_state.safetensors)\$" \
    train --resume "$TMP/not_a_ckpt"
# a copied checkpoint writes into another run's directory only when asked
cp -r "$TMP/r1/checkpoints/last" "$TMP/copied"
cp "$TMP/r1/config.yaml" "$TMP/r1_config"
run_bad resume_copy "give --out DIR" train --resume "$TMP/copied" --max_tokens 1536
"$MLSAE_BIN" train --resume "$TMP/copied" --max_tokens 1536 --out "$TMP/r2" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; die "resume of a copy with --out failed"; }
[ -f "$TMP/r2/checkpoints/last/model.safetensors" ] || die "the resumed copy did not write to --out"
cmp -s "$TMP/r1/config.yaml" "$TMP/r1_config" || die "the resumed copy wrote into the original run"

# ---- 7. stale staging directories of killed runs are cleaned up ----
dead=999999
while kill -0 $dead 2>/dev/null; do dead=$((dead - 1)); done
K="$TMP/keep/checkpoints/last"
mkdir -p "$K.tmp.$dead" "$K.old.$dead" "$K.tmp.$$"
: >"$K.tmp.$dead/model.safetensors"
"$MLSAE_BIN" train --activations "$FIX/activations.safetensors" --out "$TMP/keep" $A --device cpu \
    >/dev/null 2>"$TMP/err" || { cat "$TMP/err"; die "re-run into keep failed"; }
[ -e "$K.tmp.$dead" ] && die "the stale staging directory of pid $dead is still there"
[ -e "$K.old.$dead" ] && die "the stale .old directory of pid $dead is still there"
[ -d "$K.tmp.$$" ] || die "the staging directory of a live process was removed"
rmdir "$K.tmp.$$"

[ $fail -eq 0 ] && echo "test_hardening_cli: PASS"
exit $fail
