#!/bin/sh
# Hostile inputs to the CLI, one kind of fault per section (doc/security.md):
# each must end with one line of error naming the file and the field or
# position, a non-zero exit, no output and no staging directory left, and a
# checkpoint already at --out must survive unchanged.
#   1. sizes read from files: shapes whose byte size wraps 64 bits, data
#      sections not tiled exactly by the tensors
#   2. finiteness in training: an all-zero micro-batch (zero variance), a NaN
#      or an infinity in the activations
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
    "$MLSAE_BIN" train "$@" -q >/dev/null 2>"$TMP/err"
    rc=$?
    [ $rc -ne 0 ] || die "$name: exit status 0"
    [ $rc -lt 128 ] || die "$name: killed by signal $((rc - 128))"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; die "$name: not one line of error"; }
    grep -q -- "$needle" "$TMP/err" || die "$name: message lacks '$needle': $(cat "$TMP/err")"
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
"$MLSAE_BIN" train --activations "$FIX/activations.safetensors" --out "$TMP/keep" $A -q \
    2>"$TMP/err" || { cat "$TMP/err"; die "good run failed"; }
cp "$TMP/keep/model.safetensors" "$TMP/keep_model"
bad keep_nan "micro-batch 1" --activations "$TMP/nan1.safetensors" --out "$TMP/keep" $A
cmp -s "$TMP/keep/model.safetensors" "$TMP/keep_model" || die "the previous checkpoint was replaced"
"$MLSAE_BIN" train --activations "$FIX/activations.safetensors" --init "$TMP/keep" \
    --out "$TMP/reload" -q 2>"$TMP/err" || { cat "$TMP/err"; die "the kept checkpoint does not load"; }

[ $fail -eq 0 ] && echo "test_hardening_cli: PASS"
exit $fail
