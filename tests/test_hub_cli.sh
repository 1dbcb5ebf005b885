#!/bin/sh
# `mlsae hidden-states --model ORG/NAME` downloads into the HF cache from a
# file:// mirror of the hub (no network): the cache layout (blobs, snapshot
# symlinks, refs/main), an offline second run from the cache, a sharded model
# through its index, and one-line errors (offline with an empty cache, a
# missing repository).
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

exit $fail
