#!/bin/sh
# The example programs (examples/train.c, examples/encode.c) against the
# build tree: train an SAE on a random-weight model with Pythia's
# vocabulary, save it, load it back and encode a prompt.
set -u
bin=${MLSAE_BUILDDIR:?}/examples
src=${MLSAE_SRCDIR:?}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"${MAKE_MODEL:?}" "$tmp/model" 32 2 4 64 50304 7 || fail "make_model"
"$bin/train" --device cpu "$tmp/model" "$src/README.md" "$tmp/sae" > "$tmp/train.out" ||
    fail "train: $(tail -n 3 "$tmp/train.out")"
tail -n 1 "$tmp/train.out"
[ -f "$tmp/sae/config.json" ] && [ -f "$tmp/sae/model.safetensors" ] || fail "train wrote no checkpoint"
# n_inputs = d_model 32, n_latents = 4 * 32, k 8 (examples/train.c)
grep -q '"n_inputs": *32' "$tmp/sae/config.json" && grep -q '"n_latents": *128' "$tmp/sae/config.json" &&
    grep -q '"k": *8' "$tmp/sae/config.json" || fail "unexpected config.json: $(cat "$tmp/sae/config.json")"
# Every micro-batch line shows finite losses.
n_mb=$(grep -c '^micro-batch ' "$tmp/train.out")
[ "$n_mb" -gt 1 ] || fail "expected several micro-batches, got $n_mb"
grep '^micro-batch ' "$tmp/train.out" | grep -qi 'nan\|inf' && fail "non-finite loss"

"$bin/encode" --device cpu --top 8 "$tmp/model" "$tmp/sae" "Hello world" > "$tmp/encode.out" ||
    fail "encode: $(cat "$tmp/encode.out")"
cat "$tmp/encode.out"
# "Hello world" is two GPT-NeoX-20B tokens, 12092 and 1533.
grep -q '^token 0  12092 Hello ' "$tmp/encode.out" && grep -q '^token 1   1533  world ' "$tmp/encode.out" ||
    fail "unexpected tokens"
# 2 layers x 8 latents per token, each "index(value)" with a latent index < 128,
# values non-increasing within a layer.
awk '/^token / {
    n = split($0, parts, "|");
    if (n != 3) { print "bad line: " $0; bad = 1; next }
    for (i = 2; i <= n; i++) {
        m = split(parts[i], f, " "); prev = 1e30;
        if (m != 9) { print "expected 8 latents: " parts[i]; bad = 1 }
        for (j = 2; j <= m; j++) {
            split(f[j], iv, /[()]/); idx = iv[1] + 0; val = iv[2] + 0;
            if (idx < 0 || idx >= 128 || val < 0 || val > prev) { print "bad latent " f[j] " in: " parts[i]; bad = 1 }
            prev = val;
        }
    }
} END { exit bad }' "$tmp/encode.out" || fail "bad encode output"
echo PASS
