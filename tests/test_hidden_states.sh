#!/bin/sh
# mlsae hidden-states: a good run, and every bad input (SPEC §11) gives one
# line on stderr, a non-zero exit and no output file.
set -u
: "${MLSAE_BIN:?}" "${MLSAE_TEST_FIXTURES:?}"
MODEL="$MLSAE_TEST_FIXTURES/model/par_r25"   # vocab 97, context 64, 3 layers, d 32
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
out="$TMP/hs.safetensors"

# a good run: 2 sequences of 4 ids, mixed separators, a blank line
printf '1, 2 3,4\n\n5 6 7 96\n' > "$TMP/ids.txt"
if ! "$MLSAE_BIN" hidden-states --model "$MODEL" --ids-file "$TMP/ids.txt" --out "$out" \
     --threads 2 2> "$TMP/err"; then
  echo "FAIL: good run: $(cat "$TMP/err")"; fail=1
fi
# data: hidden 3*2*4*32 floats + logits 2*4*97 floats, after the header
size=$(wc -c < "$out" 2>/dev/null || echo 0)
want=$(( (3*2*4*32 + 2*4*97) * 4 ))
if [ "$size" -le "$want" ]; then echo "FAIL: output has $size bytes, expected > $want"; fail=1; fi
grep -q '"hidden_states".*\[3,2,4,32\]' "$out" 2>/dev/null || \
  head -c 400 "$out" | grep -q '\[3,2,4,32\]' || { echo "FAIL: hidden_states shape"; fail=1; }
head -c 400 "$out" | grep -q '\[2,4,97\]' || { echo "FAIL: logits shape"; fail=1; }
rm -f "$out"
"$MLSAE_BIN" hidden-states --model "$MODEL" --ids 3 --no-logits --out "$out" 2> "$TMP/err" || \
  { echo "FAIL: --no-logits run: $(cat "$TMP/err")"; fail=1; }
head -c 400 "$out" | grep -q logits && { echo "FAIL: --no-logits wrote logits"; fail=1; }
rm -f "$out"

"$MLSAE_BIN" hidden-states --help > "$TMP/help" || { echo "FAIL: --help exit"; fail=1; }
for word in --model --ids --ids-file --out --device --threads hidden_states logits; do
  grep -q -- "$word" "$TMP/help" || { echo "FAIL: --help lacks $word"; fail=1; }
done

# expect_error NAME NEEDLE ARGS...: non-zero exit, one stderr line holding NEEDLE, no output
expect_error() {
  name=$1; needle=$2; shift 2
  rm -f "$out"
  if "$MLSAE_BIN" hidden-states "$@" > "$TMP/stdout" 2> "$TMP/err"; then
    echo "FAIL: $name: exit status 0"; fail=1
  fi
  lines=$(wc -l < "$TMP/err")
  if [ "$lines" -ne 1 ]; then echo "FAIL: $name: $lines stderr lines"; cat "$TMP/err"; fail=1; fi
  grep -q -- "$needle" "$TMP/err" || { echo "FAIL: $name: message lacks '$needle': $(cat "$TMP/err")"; fail=1; }
  if ls "$TMP" | grep -q '^hs\.safetensors'; then echo "FAIL: $name: output file written"; fail=1; fi
  echo "  $name -> $(cat "$TMP/err")"
}

expect_error "id outside vocabulary" "outside the model's vocabulary" \
  --model "$MODEL" --ids 1,97 --out "$out"
# after a blank line: the file's line (3) beside the sequence's number (2)
printf '1 2 3\n\n4 5 97\n' > "$TMP/oov.txt"
expect_error "id outside vocabulary in a file" "oov.txt:3: token id 97 (sequence 2, token 3" \
  --model "$MODEL" --ids-file "$TMP/oov.txt" --out "$out"
printf '1 2 3\n4 5\n' > "$TMP/ragged.txt"
expect_error "ragged lines" "ragged.txt:2" --model "$MODEL" --ids-file "$TMP/ragged.txt" --out "$out"
expect_error "too long" "max_position_embeddings 64" \
  --model "$MODEL" --ids "$(seq -s, 1 65)" --out "$out"
expect_error "not a number" "not a token id" --model "$MODEL" --ids 1,x2 --out "$out"
expect_error "negative id" "not a token id" --model "$MODEL" --ids 1,-2 --out "$out"
expect_error "missing model dir" "$TMP/nope" --model "$TMP/nope" --ids 1 --out "$out"
HF_HUB_CACHE="$TMP/hub" HF_HUB_OFFLINE=1 expect_error "repo not cached" "models--Org--absent" \
  --model Org/absent --ids 1 --out "$out"
expect_error "missing ids file" "nofile.txt" --model "$MODEL" --ids-file "$TMP/nofile.txt" --out "$out"
: > "$TMP/empty.txt"
expect_error "empty ids file" "no token ids" --model "$MODEL" --ids-file "$TMP/empty.txt" --out "$out"
expect_error "no --out" "--out" --model "$MODEL" --ids 1
expect_error "both id sources" "exactly one" --model "$MODEL" --ids 1 --ids-file "$TMP/ids.txt" --out "$out"
expect_error "bad threads" "--threads" --model "$MODEL" --ids 1 --threads 0 --out "$out"
expect_error "unknown option" "--bogus" --model "$MODEL" --ids 1 --bogus --out "$out"
# a bad --out is refused before the model is read (the model here does not exist)
mkdir "$TMP/outdir"
expect_error "--out is a directory" "outdir: is a directory" --model "$TMP/nope" --ids 1 --out "$TMP/outdir"
[ -d "$TMP/outdir" ] || { echo "FAIL: the directory given as --out was removed"; fail=1; }
expect_error "--out in a missing directory" "cannot write into $TMP/nodir" \
  --model "$TMP/nope" --ids 1 --out "$TMP/nodir/hs.safetensors"

# a broken model: config missing a field (HF's default, 44 layers, then
# lacks weights), then a weight with the wrong shape
mkdir -p "$TMP/bad"
cp "$MODEL/model.safetensors" "$TMP/bad/"
grep -v '"num_hidden_layers"' "$MODEL/config.json" > "$TMP/bad/config.json"
expect_error "config missing field" "missing tensor 'gpt_neox.layers.3.input_layernorm.weight'" --model "$TMP/bad" --ids 1 --out "$out"
sed 's/"hidden_size": 32/"hidden_size": "32"/' "$MODEL/config.json" > "$TMP/bad/config.json"
expect_error "config wrong type" "hidden_size" --model "$TMP/bad" --ids 1 --out "$out"
echo '{"hidden_size": 32,' > "$TMP/bad/config.json"
expect_error "config not JSON" "config.json" --model "$TMP/bad" --ids 1 --out "$out"
sed 's/"intermediate_size": 64/"intermediate_size": 48/' "$MODEL/config.json" > "$TMP/bad/config.json"
expect_error "tensor wrong shape" "dense_h_to_4h.weight' has shape" --model "$TMP/bad" --ids 1 --out "$out"
head -c 1000 "$MODEL/model.safetensors" > "$TMP/bad/model.safetensors"
cp "$MODEL/config.json" "$TMP/bad/config.json"
expect_error "truncated weights" "model.safetensors" --model "$TMP/bad" --ids 1 --out "$out"

exit $fail
