#!/bin/sh
# `mlsae hidden-states --model ORG/NAME` downloads into the HF cache from a
# file:// mirror of the hub (no network): the cache layout (blobs, snapshot
# symlinks, refs/main), an offline second run from the cache, a sharded model
# through its index, one-line errors (offline with an empty cache, a missing
# repository), and --revision: a branch holding only pytorch_model.bin, online
# and offline, refs/{branch} -> commit, a commit hash, an uncached revision.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}" "${MLSAE_TEST_SRCDIR:?}"
make_model=${MAKE_MODEL:-./tests/make_model}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-hub-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
check() { # check DESCRIPTION COMMAND...
    d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
unset HF_TOKEN HF_HUB_OFFLINE HF_HOME
export HF_TOKEN_PATH="$tmp/no-token"

# the mirror: {hub}/{org}/{name}/resolve/main/{file}
hub="$tmp/hub"
tiny="$hub/EleutherAI/tiny-model/resolve/main"
"$make_model" "$tmp/local" 32 2 2 64 97 5 || { echo "cannot make the model"; exit 1; }
mkdir -p "$tiny"
cp "$tmp/local/config.json" "$tmp/local/model.safetensors" "$tiny/"
zstd -dc "$MLSAE_TEST_SRCDIR/../data/gpt-neox-20b-tokenizer.json.zst" > "$tiny/tokenizer.json" ||
    { echo "cannot unpack the tokenizer"; exit 1; }
sharded="$hub/Org/sharded/resolve/main"
mkdir -p "$sharded"
cp "$MLSAE_TEST_FIXTURES"/model/par_r50_long_sharded/config.json \
   "$MLSAE_TEST_FIXTURES"/model/par_r50_long_sharded/model-0000*-of-00002.safetensors \
   "$MLSAE_TEST_FIXTURES"/model/par_r50_long_sharded/model.safetensors.index.json "$sharded/"

export HF_ENDPOINT="file://$hub" HF_HUB_CACHE="$tmp/cache"
run() { # run OUT MODEL: hidden-states on 3 ids
    "$MLSAE_BIN" hidden-states --model "$2" --ids 1,2,3 --threads 2 --out "$1"
}

# 1. download: output as from the local directory, and the cache layout
run "$tmp/local.st" "$tmp/local" 2> "$tmp/err" || bad "local run: $(cat "$tmp/err")"
if run "$tmp/a.st" EleutherAI/tiny-model 2> "$tmp/err"; then ok "download run"
else bad "download run: $(cat "$tmp/err")"; fi
check "same hidden states as the local model" cmp -s "$tmp/local.st" "$tmp/a.st"
check "progress names the files on stderr" grep -q "model.safetensors" "$tmp/err"
repo="$tmp/cache/models--EleutherAI--tiny-model"
check "refs/main holds the revision" [ "$(cat "$repo/refs/main" 2>/dev/null)" = main ]
for f in config.json model.safetensors tokenizer.json; do
    link=$(readlink "$repo/snapshots/main/$f")
    sum=$(sha256sum < "$tiny/$f" | cut -d' ' -f1)
    check "snapshots/main/$f -> ../../blobs/<sha256>" [ "$link" = "../../blobs/$sum" ]
    check "blob of $f has its content" cmp -s "$repo/blobs/$sum" "$tiny/$f"
done
check "no temporary files left in blobs/" [ "$(ls "$repo/blobs" | wc -l)" -eq 3 ]

# 2. offline, from the cache, with the mirror gone
mv "$hub" "$tmp/hub.away"
if HF_HUB_OFFLINE=1 run "$tmp/b.st" EleutherAI/tiny-model 2> "$tmp/err"; then ok "offline run"
else bad "offline run: $(cat "$tmp/err")"; fi
check "offline run gives the same output" cmp -s "$tmp/a.st" "$tmp/b.st"
check "offline run prints nothing" [ ! -s "$tmp/err" ]
mv "$tmp/hub.away" "$hub"

# 3. a sharded model, through HF_HOME (HF_HUB_CACHE unset)
if HF_HUB_CACHE= HF_HOME="$tmp/home" run "$tmp/c.st" Org/sharded 2> "$tmp/err"; then ok "sharded download"
else bad "sharded download: $(cat "$tmp/err")"; fi
snap="$tmp/home/hub/models--Org--sharded/snapshots/main"
for f in model.safetensors.index.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
    check "sharded snapshot has $f" cmp -s "$snap/$f" "$sharded/$f"
done
run "$tmp/c-local.st" "$MLSAE_TEST_FIXTURES/model/par_r50_long_sharded" 2> /dev/null
check "sharded download gives the local model's output" cmp -s "$tmp/c.st" "$tmp/c-local.st"

# 4. one-line errors, no output file
expect_error() { # expect_error NAME NEEDLE MODEL [ENV...]
    name=$1; needle=$2; model=$3; shift 3
    rm -f "$tmp/x.st"
    if env "$@" "$MLSAE_BIN" hidden-states --model "$model" --ids 1 --out "$tmp/x.st" 2> "$tmp/err"; then
        bad "$name: exit status 0"
    elif [ "$(wc -l < "$tmp/err")" -ne 1 ] || ! grep -q -- "$needle" "$tmp/err"; then
        bad "$name: expected one line with '$needle':"; cat "$tmp/err"
    elif [ -e "$tmp/x.st" ]; then
        bad "$name: output written"
    else
        ok "$name -> $(cat "$tmp/err")"
    fi
}
expect_error "offline, empty cache" "$tmp/empty/models--EleutherAI--tiny-model/snapshots" \
    EleutherAI/tiny-model HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/empty"
expect_error "missing repository" "file://$hub/Org/absent/resolve/main/config.json: not found" Org/absent
check "a missing repository leaves nothing in the cache" [ ! -e "$tmp/cache/models--Org--absent" ]
expect_error "unreachable hub" "http://127.0.0.1:1/Org/absent/resolve/main/config.json" \
    Org/absent HF_ENDPOINT=http://127.0.0.1:1 NO_PROXY='*'

# 5. revisions: main holds safetensors, step1 only pytorch_model.bin (as Pythia's
#    training-step branches); each resolves to its own snapshot, offline too
steps="$hub/Org/steps/resolve"
mkdir -p "$steps/main" "$steps/step1"
cp "$MLSAE_TEST_FIXTURES"/model/seq_r100_f16/config.json \
   "$MLSAE_TEST_FIXTURES"/model/seq_r100_f16/model.safetensors "$steps/main/"
cp "$MLSAE_TEST_FIXTURES"/torch/neox_f16_bin/config.json \
   "$MLSAE_TEST_FIXTURES"/torch/neox_f16_bin/pytorch_model.bin "$steps/step1/"
run "$tmp/s-local.st" "$MLSAE_TEST_FIXTURES/model/seq_r100_f16" 2> /dev/null
run_rev() { # run_rev OUT REV
    "$MLSAE_BIN" hidden-states --model Org/steps --revision "$2" --ids 1,2,3 --threads 2 --out "$1"
}
if run_rev "$tmp/s1.st" step1 2> "$tmp/err"; then ok "download of revision step1"
else bad "download of revision step1: $(cat "$tmp/err")"; fi
srepo="$tmp/cache/models--Org--steps"
check "refs/step1 written" [ "$(cat "$srepo/refs/step1" 2>/dev/null)" = step1 ]
check "snapshot step1 holds pytorch_model.bin" cmp -s "$srepo/snapshots/step1/pytorch_model.bin" \
    "$steps/step1/pytorch_model.bin"
check "no model.safetensors at step1" [ ! -e "$srepo/snapshots/step1/model.safetensors" ]
check "step1 (pytorch_model.bin) gives the safetensors model's output" cmp -s "$tmp/s1.st" "$tmp/s-local.st"
if run "$tmp/s-main.st" Org/steps 2> "$tmp/err"; then ok "main of the same repository"
else bad "main of the same repository: $(cat "$tmp/err")"; fi
check "main and step1 are separate snapshots" [ -e "$srepo/snapshots/main/model.safetensors" ]
mv "$hub" "$tmp/hub.away"
if HF_HUB_OFFLINE=1 run_rev "$tmp/s1-off.st" step1 2> "$tmp/err"; then ok "offline revision from the cache"
else bad "offline revision from the cache: $(cat "$tmp/err")"; fi
check "offline revision gives the same output" cmp -s "$tmp/s1.st" "$tmp/s1-off.st"
# the hub's own layout: refs/{branch} holds a commit hash naming the snapshot
c=0123456789abcdef0123456789abcdef01234567
mkdir -p "$srepo/snapshots/$c"
cp "$tmp/hub.away/Org/steps/resolve/step1/"* "$srepo/snapshots/$c/"
printf %s "$c" > "$srepo/refs/step2"
if HF_HUB_OFFLINE=1 run_rev "$tmp/s2.st" step2 2> "$tmp/err"; then ok "offline refs/step2 -> commit"
else bad "offline refs/step2 -> commit: $(cat "$tmp/err")"; fi
check "refs/step2 -> snapshots/<commit> gives the step1 output" cmp -s "$tmp/s2.st" "$tmp/s1.st"
if HF_HUB_OFFLINE=1 run_rev "$tmp/s3.st" "$c" 2> "$tmp/err"; then ok "offline by commit hash"
else bad "offline by commit hash: $(cat "$tmp/err")"; fi
check "commit hash gives the same output" cmp -s "$tmp/s3.st" "$tmp/s1.st"
mv "$tmp/hub.away" "$hub"
rm -f "$tmp/x.st"
if HF_HUB_OFFLINE=1 run_rev "$tmp/x.st" step9 2> "$tmp/err"; then bad "uncached revision offline: exit 0"
elif grep -q "at revision step9" "$tmp/err" && [ "$(wc -l < "$tmp/err")" -eq 1 ] && [ ! -e "$tmp/x.st" ]; then
    ok "uncached revision offline -> $(cat "$tmp/err")"
else bad "uncached revision offline: $(cat "$tmp/err")"; fi
if run_rev "$tmp/x.st" step9 2> "$tmp/err"; then bad "absent revision: exit 0"
elif grep -q "Org/steps/resolve/step9/config.json: not found" "$tmp/err" && [ ! -e "$tmp/x.st" ]; then
    ok "absent revision -> $(cat "$tmp/err")"
else bad "absent revision: $(cat "$tmp/err")"; fi
check "an absent revision writes no ref" [ ! -e "$srepo/refs/step9" ]

exit $fail
