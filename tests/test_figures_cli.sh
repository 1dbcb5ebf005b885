#!/bin/sh
# mlsae figures: a sweep resolved by the reference's repo-id convention
# (--checkpoints DIR and the HF cache), every kind with its inputs, a sweep
# with one SAE missing (all missing inputs named in one line, nothing
# written), an unwritable output directory, the paper style and SVG.
set -u
BIN=${MLSAE_BIN:?}
FX="$MLSAE_TEST_FIXTURES/figures"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { # description, status (0 = ok)
    if [ "$2" -eq 0 ]; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}
lines() { wc -l <"$1" | tr -d ' '; }

"$BIN" figures --help >"$TMP/help" 2>&1
check "--help exits 0" $?
grep -q dists-cos-sim "$TMP/help" && grep -q -- "--style" "$TMP/help"
check "--help lists kinds and options" $?

OUT="$TMP/out"
mkdir -p "$OUT"
cp "$FX"/mlsae-pythia-test-x4-k2-dists.safetensors "$FX"/mlsae-pythia-test-x8-k2-dists.safetensors \
   "$FX"/mmcs.csv "$FX"/embed_cos_sim.csv "$FX"/test_mlsae-pythia-test-x4-k2.csv \
   "$FX"/test_mlsae-pythia-test-x8-k2.csv "$OUT"/
SWEEP="--model_name EleutherAI/pythia-test --expansion_factor 4 8 -k 2"

# the x4 checkpoint only in the HF cache, under its repo id
CACHE="$TMP/hf"
REPO="$CACHE/models--tim-lawson--mlsae-pythia-test-x4-k2"
mkdir -p "$REPO/snapshots/abc123" "$REPO/refs"
cp "$FX/mlsae-pythia-test-x4-k2/"* "$REPO/snapshots/abc123/"
printf abc123 >"$REPO/refs/main"

# a sweep with one SAE (x16) missing: every missing input in one line, no file written
before=$(ls "$OUT" | wc -l)
HF_HUB_CACHE="$CACHE" "$BIN" figures dists-heatmap dists-layer-std --model_name EleutherAI/pythia-test \
    --expansion_factor 4 8 16 -k 2 --out "$OUT" \
    >"$TMP/o" 2>"$TMP/e"
st=$?
[ $st -ne 0 ]
check "a missing SAE fails (status $st)" $?
[ "$(lines "$TMP/e")" = 1 ] && grep -q "x16-k2-dists.safetensors" "$TMP/e" &&
    grep -q "dists-layer-std" "$TMP/e" && grep -q "dists-heatmap" "$TMP/e"
! grep -q "x4-k2-dists\|x8-k2-dists" "$TMP/e"
st=$?; check "one line naming every missing input, only those: $(cat "$TMP/e")" $st
[ "$(ls "$OUT" | wc -l)" = "$before" ]
check "nothing written" $?

# every kind whose inputs exist
HF_HUB_CACHE="$CACHE" "$BIN" figures $SWEEP --out "$OUT" >"$TMP/o" 2>"$TMP/e"
st=$?; check "no KIND: exits 0 ($(cat "$TMP/e"))" $st
for f in dists_heatmap_mlsae-pythia-test-x4-k2-tfm dists_heatmap_mlsae-pythia-test-x8-k2-tfm \
         dists_histogram_mlsae-pythia-test-x4-k2-tfm dists_cos_sim_heatmap_mlsae-pythia-test-x4-k2 \
         dists_layer_std mmcs_sweep embed_cos_sim_sweep test; do
    [ -s "$OUT/$f.csv" ] && [ -s "$OUT/$f.png" ] && [ -s "$OUT/$f.pdf" ]
    check "$f: csv, png, pdf" $?
done
grep -q "skipped dists-cos-sim: missing checkpoint of mlsae-pythia-test-x8-k2" "$TMP/o"
check "names the skipped figure (x8 has no checkpoint)" $?
grep -q "skipped resid-cos-sim" "$TMP/o"
check "names the skipped resid-cos-sim" $?
head -c 8 "$OUT/dists_layer_std.png" | od -An -c | grep -q "P   N   G"
check "PNG signature" $?
ls "$OUT" | grep -q '\.tmp\.' && r=1 || r=0
check "no temporary files left" $r

# mmcs.csv without the row of one SAE: skipped without a KIND, an error when asked for
OUT2="$TMP/out2"
mkdir -p "$OUT2"
cp "$OUT"/*-dists.safetensors "$OUT"/embed_cos_sim.csv "$OUT"/test_*.csv "$OUT2"/
grep -v "^[^,]*,[^,]*,8," "$OUT/mmcs.csv" >"$OUT2/mmcs.csv"
[ "$(lines "$OUT2/mmcs.csv")" -lt "$(lines "$OUT/mmcs.csv")" ]
check "the test's mmcs.csv lacks the x8 row" $?
HF_HUB_CACHE="$CACHE" "$BIN" figures $SWEEP --out "$OUT2" >"$TMP/o" 2>"$TMP/e"
st=$?; check "no KIND, mmcs.csv without a row: exits 0 ($(cat "$TMP/e"))" $st
grep -q "skipped mmcs: missing the row of mlsae-pythia-test-x8-k2" "$TMP/o" &&
    [ ! -e "$OUT2/mmcs_sweep.csv" ] && [ -s "$OUT2/embed_cos_sim_sweep.csv" ]
check "names the skipped mmcs figure, draws the others" $?
HF_HUB_CACHE="$CACHE" "$BIN" figures mmcs $SWEEP --out "$OUT2" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && grep -q "the row of mlsae-pythia-test-x8-k2" "$TMP/e"
st=$?; check "mmcs asked for without the row: an error naming it ($(cat "$TMP/e"))" $st

# the same checkpoint from --checkpoints DIR; dists from an explicit checkpoint
"$BIN" figures dists-cos-sim $SWEEP --checkpoints "$FX" --out "$OUT" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && grep -q "x8-k2" "$TMP/e" && ! grep -q "x4-k2 " "$TMP/e"
check "dists-cos-sim asked for: x8 has no checkpoint" $?
"$BIN" figures dists-cos-sim dists-histogram --checkpoint "$FX/mlsae-pythia-test-x4-k2" \
    --noninteger --out "$OUT" --style paper --format svg >"$TMP/o" 2>"$TMP/e"
st=$?; check "explicit --checkpoint, paper style, svg ($(cat "$TMP/e"))" $st
[ -s "$OUT/dists_histogram_noninteger_mlsae-pythia-test-x4-k2.svg" ] &&
    grep -q "<svg" "$OUT/dists_cos_sim_heatmap_mlsae-pythia-test-x4-k2.svg"
check "svg written" $?
cmp -s "$OUT/dists_histogram_noninteger_mlsae-pythia-test-x4-k2.csv" \
    "$FX/expected_dists_histogram_noninteger_mlsae-pythia-test-x4-k2.csv"
check "dists_histogram_noninteger CSV is the reference's, byte for byte" $?

# the cosine blocks on the OpenCL backend give the same histogram (when a device is there)
mkdir "$TMP/ocl"
cp "$FX/mlsae-pythia-test-x4-k2-dists.safetensors" "$TMP/ocl/"
if "$BIN" figures dists-cos-sim --checkpoint "$FX/mlsae-pythia-test-x4-k2" --out "$TMP/ocl" \
        --device opencl --format none >"$TMP/o" 2>"$TMP/e"; then
    cmp -s "$TMP/ocl/dists_cos_sim_heatmap_mlsae-pythia-test-x4-k2.csv" \
        "$OUT/dists_cos_sim_heatmap_mlsae-pythia-test-x4-k2.csv"
    check "dists-cos-sim on OpenCL: the CPU's histogram" $?
else
    echo "skip: dists-cos-sim on OpenCL ($(head -c 200 "$TMP/e"))"
fi

# train curves
"$BIN" figures train-curves --metrics "$FX/metrics.jsonl" --out "$OUT" >"$TMP/o" 2>"$TMP/e"
st=$?; check "train-curves ($(cat "$TMP/e"))" $st
[ "$(lines "$OUT/train_curves.csv")" = 11 ]
check "train_curves.csv: header + 10 rows" $?

# a bad metrics file: one line, and no empty output directory left behind
printf '{"step":1,\n' >"$TMP/bad.jsonl"
"$BIN" figures train-curves --metrics "$TMP/bad.jsonl" --out "$TMP/badfigs" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && [ "$(lines "$TMP/e")" = 1 ] && grep -q "bad.jsonl:1" "$TMP/e" && [ ! -e "$TMP/badfigs" ]
st=$?; check "bad --metrics: one line, no output directory ($(cat "$TMP/e"))" $st

# unwritable output: below a regular file; one line, nothing written
printf x >"$TMP/file"
"$BIN" figures dists-heatmap $SWEEP --checkpoints "$FX" --out "$TMP/file/figs" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && [ "$(lines "$TMP/e")" = 1 ] && grep -q "file/figs" "$TMP/e"
st=$?; check "unwritable --out: one line ($(cat "$TMP/e"))" $st
mkdir "$TMP/ro"
cp "$FX"/mlsae-pythia-test-x4-k2-dists.safetensors "$TMP/ro/"
mkdir "$TMP/ro/dists_heatmap_mlsae-pythia-test-x4-k2-tfm.png"  # blocks the PNG
"$BIN" figures dists-heatmap --model_name EleutherAI/pythia-test --expansion_factor 4 -k 2 \
    --out "$TMP/ro" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && [ "$(lines "$TMP/e")" = 1 ] && [ "$(ls "$TMP/ro" | wc -l)" = 2 ]
st=$?; check "a write failing mid-figure leaves no file of it ($(cat "$TMP/e"))" $st

# a dists file holding a NaN: refused naming the file, tensor and element,
# not drawn with the latent left out
mkdir "$TMP/nan"
D="$TMP/nan/mlsae-pythia-test-x4-k2-dists.safetensors"
cp "$FX/mlsae-pythia-test-x4-k2-dists.safetensors" "$D"
hlen=$(od -An -t u8 -N 8 "$D" | tr -d ' ')
printf '\000\000\300\177' | dd of="$D" bs=1 seek=$((8 + hlen)) conv=notrunc 2>/dev/null
"$BIN" figures dists-heatmap --checkpoint "$FX/mlsae-pythia-test-x4-k2" --out "$TMP/nan" \
    >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && [ "$(lines "$TMP/e")" = 1 ] && grep -q "x4-k2-dists.safetensors: tensor '[a-z]*' has a non-finite value (nan) at element 0" "$TMP/e" &&
    [ "$(ls "$TMP/nan")" = "mlsae-pythia-test-x4-k2-dists.safetensors" ]
st=$?; check "NaN in a dists file: one line, nothing written ($(cat "$TMP/e"))" $st

# report: one self-contained HTML file
"$BIN" report --checkpoint "$FX/mlsae-pythia-test-x4-k2" --out "$OUT" --metrics "$FX/metrics.jsonl" \
    >"$TMP/o" 2>"$TMP/e"
st=$?; check "report ($(cat "$TMP/e"))" $st
H="$OUT/mlsae-pythia-test-x4-k2-report.html"
[ "$(grep -o '<img' "$H" | wc -l)" = 5 ] && grep -q "train/fvu/avg" "$H" && grep -q "n_latents" "$H"
check "report: 5 figures, test metrics, configuration" $?
grep -q 'src="http\|src="/\|href=' "$H" && r=1 || r=0
check "report references no other file" $r
sed -n 's/.*src="data:image\/png;base64,\([^"]*\)".*/\1/p' "$H" | head -n 1 | base64 -d 2>/dev/null |
    head -c 4 | od -An -c | grep -q "P   N   G"
check "report: the inlined figure is a PNG" $?
"$BIN" report --checkpoint "$FX/mlsae-pythia-test-x4-k2" --out "$TMP/empty" >"$TMP/o" 2>"$TMP/e"
[ $? -eq 0 ] && grep -q "layer distributions (no dists file" "$TMP/o"
check "report without dists: made, and says what is left out" $?
"$BIN" report --checkpoint "$TMP/nothing" --out "$TMP/empty" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && [ "$(lines "$TMP/e")" = 1 ] && [ ! -e "$TMP/empty/nothing-report.html" ]
check "report of nothing: one line, no file" $?

# prompt-heatmap: a plain checkpoint needs its model; with it, the figure
"$BIN" figures prompt-heatmap --checkpoint "$FX/prompt/sae" --out "$OUT" >"$TMP/o" 2>"$TMP/e"
[ $? -ne 0 ] && [ "$(lines "$TMP/e")" = 1 ] && grep -q "model of sae" "$TMP/e"
st=$?; check "prompt-heatmap without a model: one line ($(cat "$TMP/e"))" $st
cp -r "$FX/prompt/model" "$TMP/model"
cp "$MLSAE_TEST_FIXTURES/text/tiny-tokenizer.json" "$TMP/model/tokenizer.json"
"$BIN" figures prompt-heatmap --checkpoint "$FX/prompt/sae" --model_name "$TMP/model" \
    --prompt "John gave a drink to Mary" --out "$OUT" >"$TMP/o" 2>"$TMP/e"
st=$?; check "prompt-heatmap ($(cat "$TMP/e"))" $st
[ "$(lines "$OUT/prompt_heatmap_sae.csv")" = 4 ] && head -n 1 "$OUT/prompt_heatmap_sae.csv" | grep -q '^layer,[0-9]'
check "prompt_heatmap_sae.csv: layer + latent columns, 3 layers" $?

# report with the prompt heatmap
"$BIN" report --checkpoint "$FX/prompt/sae" --model_name "$TMP/model" --prompt "John gave Mary" \
    --out "$TMP/rep" >"$TMP/o" 2>"$TMP/e"
[ $? -eq 0 ] && grep -q "(1 figures)" "$TMP/o" && grep -q "John gave Mary" "$TMP/rep/sae-report.html"
st=$?; check "report --prompt ($(cat "$TMP/e"))" $st

# resid-cos-sim: one figure per model of the sweep, beside its CSV
printf 'start_at_layer,mean,var,std,sem\n0,0.5,0.01,0.1,0.001\n1,0.6,0.01,0.1,0.002\n' \
    >"$OUT/resid_cos_sim_pythia-test.csv"
cp "$OUT/resid_cos_sim_pythia-test.csv" "$TMP/resid.csv"
"$BIN" figures resid-cos-sim $SWEEP --out "$OUT" >"$TMP/o" 2>"$TMP/e"
[ $? -eq 0 ] && [ "$(grep -c resid-cos-sim "$TMP/o")" = 1 ] && [ -s "$OUT/resid_cos_sim_pythia-test.png" ] &&
    cmp -s "$OUT/resid_cos_sim_pythia-test.csv" "$TMP/resid.csv"
st=$?; check "resid-cos-sim: once for the model, its CSV untouched ($(cat "$TMP/e"))" $st

# kinds after the lists; --opt=value
"$BIN" figures --model_name=EleutherAI/pythia-test --expansion_factor 4 -k 2 dists-histogram \
    --out="$OUT" --format=png >"$TMP/o" 2>"$TMP/e"
st=$?; check "kinds after -k, --opt=value ($(cat "$TMP/e"))" $st

# bad arguments
"$BIN" figures dists-heatmp --checkpoint x >"$TMP/o" 2>"$TMP/e"
[ $? -eq 2 ] && grep -q "unknown figure kind 'dists-heatmp'" "$TMP/e"
check "unknown kind" $?
"$BIN" figures --expansion_factor 4 >"$TMP/o" 2>"$TMP/e"
[ $? -eq 2 ] && grep -q -- "-k" "$TMP/e"
check "a sweep without -k" $?
exit $fail
