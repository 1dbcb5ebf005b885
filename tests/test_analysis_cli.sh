#!/bin/sh
# `mlsae dists` / `mlsae examples` from the command line: the reference's
# file names (NAME-tfm -> NAME-dists), and bad input (an SAE whose n_inputs
# is not the model's d_model, an empty dataset, an output directory that
# cannot be created) fails with one line and leaves no output file.
set -u
bin=${MLSAE_BIN:-./mlsae}
fx="$MLSAE_TEST_FIXTURES/analysis"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-analysis-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
empty_dir() { [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

common="--model_name $fx/model --data.path $fx/data.jsonl --max_length 16 --batch_size 3
        --max_tokens 200 --threads 2"
cp -r "$fx/sae" "$tmp/x-tfm"

"$bin" dists --checkpoint "$tmp/x-tfm" $common --out "$tmp/out" > "$tmp/d.out" 2> "$tmp/d.err"
check "dists exits 0" [ $? -eq 0 ]
check "dists names its files as the reference" [ -f "$tmp/out/x-dists.safetensors" ] &&
    [ -f "$tmp/out/x-dists.csv" ] && [ -f "$tmp/out/dists_layer_std_step_x-tfm.csv" ]
check "dists reports the exact budget" grep -q "200 tokens per layer" "$tmp/d.out"
check "no temporary files" [ -z "$(find "$tmp/out" -name '*.tmp*')" ]
"$bin" examples --checkpoint "$tmp/x-tfm" $common --n_examples 2 --n_tokens 1 --out "$tmp/out" \
    > "$tmp/e.out" 2> "$tmp/e.err"
check "examples exits 0" [ $? -eq 0 ]
check "examples writes NAME-examples.db" [ -s "$tmp/out/x-examples.db" ]

"$bin" mmcs --checkpoint "$tmp/x-tfm" --checkpoint "$fx/sae" --threads 2 --out "$tmp/out" \
    > "$tmp/m.out" 2> "$tmp/m.err"
check "mmcs exits 0" [ $? -eq 0 ]
check "mmcs writes one row per checkpoint" [ "$(wc -l < "$tmp/out/mmcs.csv")" -eq 3 ]

"$bin" variances --checkpoint "$tmp/x-tfm" $common --out "$tmp/out" > /dev/null 2> "$tmp/v.err"
check "variances writes variances_NAME.csv" [ $? -eq 0 ] && [ -s "$tmp/out/variances_x-tfm.csv" ]

"$bin" embed-cos-sim --checkpoint "$tmp/x-tfm" --model_name "$fx/model" --n_embeds 2 \
    --latents 3,1 --threads 2 --out "$tmp/out" > /dev/null 2> "$tmp/ec.err"
check "embed-cos-sim writes its three files" [ $? -eq 0 ] &&
    [ "$(wc -l < "$tmp/out/embed_out_cos_sim_x-tfm.csv")" -eq 5 ] && [ -s "$tmp/out/embed_cos_sim.csv" ]
"$bin" embed-cos-sim --checkpoint "$fx/sae" --model_name "$fx/model" --latents 3,x \
    > /dev/null 2> "$tmp/ec2.err"
one_line_error "bad --latents" $? "$tmp/ec2.err" "latents"

"$bin" resid-cos-sim $common --out "$tmp/out" > /dev/null 2> "$tmp/r.err"
check "resid-cos-sim writes its two files" [ $? -eq 0 ] &&
    [ "$(wc -l < "$tmp/out/resid_l2_norm_model.csv")" -eq 4 ] &&
    [ "$(wc -l < "$tmp/out/resid_cos_sim_model.csv")" -eq 3 ]

mkdir "$tmp/e1" "$tmp/e2"
"$bin" dists --checkpoint "$MLSAE_TEST_FIXTURES/sae/ckpt_ref" $common --out "$tmp/e1" \
    > /dev/null 2> "$tmp/e1.err"
one_line_error "SAE n_inputs vs model d_model" $? "$tmp/e1.err" "d_model"
check "no output after the mismatch" empty_dir "$tmp/e1"
: > "$tmp/empty.jsonl"
"$bin" examples --checkpoint "$fx/sae" $common --data.path "$tmp/empty.jsonl" --out "$tmp/e2" \
    > /dev/null 2> "$tmp/e2.err"
one_line_error "empty dataset" $? "$tmp/e2.err" "empty.jsonl"
check "no output after the empty dataset" empty_dir "$tmp/e2"
: > "$tmp/file"
"$bin" dists --checkpoint "$fx/sae" $common --out "$tmp/file/out" > /dev/null 2> "$tmp/e3.err"
one_line_error "unwritable output directory" $? "$tmp/e3.err" "file/out"
"$bin" dists --checkpoint "$tmp/nope" $common --out "$tmp/e4" > /dev/null 2> "$tmp/e4.err"
one_line_error "missing checkpoint" $? "$tmp/e4.err" "nope"
check "no output directory for a missing checkpoint" [ ! -e "$tmp/e4" ]
"$bin" examples --checkpoint "$fx/sae" $common --n_examples 0 > /dev/null 2> "$tmp/e5.err"
one_line_error "bad --n_examples" $? "$tmp/e5.err" "n_examples"
# A directory where an output file goes: refused before any data is read
# (the dataset here does not exist, so reading it would be the error), and
# the directory stays.
for case in "dists x-dists.csv" "examples x-examples.db" "variances variances_x-tfm.csv" \
            "resid-cos-sim resid_cos_sim_model.csv"; do
    set -- $case
    rm -rf "$tmp/blocked" && mkdir -p "$tmp/blocked/$2"
    "$bin" "$1" --checkpoint "$tmp/x-tfm" $common --data.path "$tmp/no-such-data.jsonl" \
        --out "$tmp/blocked" > /dev/null 2> "$tmp/b.err"
    one_line_error "$1: a directory in place of $2" $? "$tmp/b.err" "blocked/$2: is a directory"
    check "$1: the directory $2 stays, nothing else is written" [ -d "$tmp/blocked/$2" ] &&
        [ "$(ls -A "$tmp/blocked")" = "$2" ]
done
# a FIFO in place of the checkpoint's config.json: an error, not a hang
mkdir "$tmp/fifo_ckpt"
cp "$fx/sae/model.safetensors" "$tmp/fifo_ckpt/"
mkfifo "$tmp/fifo_ckpt/config.json"
timeout 60 "$bin" mmcs --checkpoint "$tmp/fifo_ckpt" --out "$tmp/fifo_out" > /dev/null 2> "$tmp/f.err"
one_line_error "FIFO config.json" $? "$tmp/f.err" "fifo_ckpt/config.json: not a regular file (a FIFO)"
exit $fail
