#!/bin/sh
# End-to-end: `mlsae train` on a tiny random model and the bundled corpus;
# an interrupted + resumed run gives the same bits as an uninterrupted one;
# `mlsae test` writes the reference's one-row CSV; bad input fails cleanly.
set -u
bin=${MLSAE_BIN:-./mlsae}
make_model=${MAKE_MODEL:-./tests/make_model}
interrupt="$(dirname "$make_model")/train_interrupt"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-pipe-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"

"$make_model" "$tmp/model" 32 2 2 64 50304 7 || { echo "cannot make the model"; exit 1; }
# a small corpus: the first documents of the bundled Shakespeare
data="$tmp/train.jsonl"
zstd -dc "$MLSAE_TEST_SRCDIR/../data/tinyshakespeare.jsonl.zst" | head -n 3 > "$data"

common="--model $tmp/model --data $data --max_length 64 --batch_size 2
        --expansion_factor 4 --k 8 --auxk 16 --accumulate 3 --max_tokens 2048
        --dead_tokens_threshold 1000 --log_every_n_steps 1 --val_check_interval 6
        --limit_val_batches 1 --checkpoint_every_n_steps 2 --threads 2"

# 1. uninterrupted: 16 micro-batches, 6 optimizer steps (the last one on 1)
"$bin" train $common --out "$tmp/a" > "$tmp/a.out" 2> "$tmp/a.err"
check "uninterrupted run exits 0" [ $? -eq 0 ]
sae=$(sed -n 's/^sae: *//p' "$tmp/a.out")
check "SAE written in the reference format" [ -f "$sae/config.json" ] && [ -f "$sae/model.safetensors" ]
check "metrics logged" grep -q '"loss/total"' "$tmp/a/metrics.jsonl"
check "validation logged" grep -q '"val/loss/delta/layer_1"' "$tmp/a/metrics.jsonl"
check "no temporary files left" [ -z "$(find "$tmp/a" -name '*.tmp*')" ]
# validation shows its own progress (batches of limit_val_batches), then its message
check "validation shows progress" grep -q '^validate 100.0% 1/1 batch' "$tmp/a.err"
check "validation message follows its progress" \
    sh -c "grep -A1 '^validate 100.0%' '$tmp/a.err' | grep -q '^validation at step'"

# 2. interrupted by SIGINT after 5 micro-batches (mid-accumulation; the
#    library's own signal path, raised by tests/train_interrupt), resumed
"$interrupt" 5 $common --out "$tmp/b" > "$tmp/b1.out" 2> "$tmp/b1.err"
check "interrupted run exits 0" [ $? -eq 0 ]
check "interrupted run says so" grep -q "^stopped after 5 micro-batches" "$tmp/b1.out"
check "interrupted run wrote its checkpoint" [ -f "$tmp/b/checkpoints/last/training_state.safetensors" ]
"$bin" train --resume "$tmp/b/checkpoints/last" > "$tmp/b2.out" 2> "$tmp/b2.err"
check "resumed run exits 0" [ $? -eq 0 ]
sae_b=$(sed -n 's/^sae: *//p' "$tmp/b2.out")
check "resumed weights are bit-identical" cmp -s "$sae/model.safetensors" "$sae_b/model.safetensors"
check "resumed training state is bit-identical" \
    cmp -s "$tmp/a/checkpoints/last/training_state.safetensors" "$tmp/b/checkpoints/last/training_state.safetensors"
check "resumed metrics equal" cmp -s "$tmp/a/metrics.jsonl" "$tmp/b/metrics.jsonl"

# 3. mlsae test: one CSV row with the reference's columns
"$bin" test --checkpoint "$sae" $common --csv "$tmp/test.csv" > "$tmp/t.out" 2> "$tmp/t.err"
check "test exits 0" [ $? -eq 0 ]
check "test CSV has a header and one row" [ "$(wc -l < "$tmp/test.csv")" -eq 2 ]
for col in train/dead/rel train/fvu/layer_0 train/l1/avg val/loss/delta/layer_1 val/logit/kldiv/avg loss/total loss/auxk; do
    check "test CSV has $col" grep -q "$col" "$tmp/test.csv"
done

# 3b. a reference -tfm checkpoint (the whole Lightning module) supplies the run
#     options it holds: model_name, max_length 64, batch_size 2; options on the
#     command line override them
"$make_model" "$tmp/m6" 6 1 2 8 50304 3 || { echo "cannot make the d=6 model"; exit 1; }
cp -r "$MLSAE_TEST_FIXTURES/sae/ckpt_ref_tfm" "$tmp/tfm"
sed -i "s|\"EleutherAI/pythia-70m-deduped\"|\"$tmp/m6\"|" "$tmp/tfm/config.json"
"$bin" test --checkpoint "$tmp/tfm" --data "$data" --max_tokens 256 --threads 2 \
    --csv "$tmp/tfm.csv" > "$tmp/tfm.out" 2> "$tmp/tfm.err"
check "test on a -tfm checkpoint exits 0" [ $? -eq 0 ]
check "-tfm: max_length 64 x batch 2 from its config (2 batches)" grep -q "tested on 2 batches (256 tokens)" "$tmp/tfm.out"
check "-tfm: its model's one layer" grep -q "train/fvu/layer_0" "$tmp/tfm.csv"
"$bin" test --checkpoint "$tmp/tfm" --data "$data" --max_tokens 256 --max_length 32 --threads 2 \
    --csv "$tmp/tfm2.csv" > "$tmp/tfm2.out" 2> "$tmp/tfm2.err"
check "-tfm: the command line overrides its max_length (4 batches)" grep -q "tested on 4 batches" "$tmp/tfm2.out"

# 4. bad input: one line, non-zero exit, nothing half-written
"$bin" train --model "$tmp/nope" --data "$data" --out "$tmp/e1" > /dev/null 2> "$tmp/e1.err"
one_line_error "missing model directory" $? "$tmp/e1.err" "nope"
: > "$tmp/empty.jsonl"
"$bin" train $common --data "$tmp/empty.jsonl" --out "$tmp/e2" > /dev/null 2> "$tmp/e2.err"
one_line_error "dataset with no text" $? "$tmp/e2.err" "empty.jsonl"
"$bin" train $common --layers 0,5 --out "$tmp/e3" > /dev/null 2> "$tmp/e3.err"
one_line_error "layer out of range" $? "$tmp/e3.err" "layer"
"$bin" train $common --k 200 --out "$tmp/e4" > /dev/null 2> "$tmp/e4.err"
one_line_error "k > n_latents" $? "$tmp/e4.err" "k"
"$bin" test --checkpoint "$tmp/nope" $common > /dev/null 2> "$tmp/e5.err"
one_line_error "test: missing checkpoint" $? "$tmp/e5.err" "nope"
"$bin" test --checkpoint "$sae" $common --csv "$data/t.csv" > /dev/null 2> "$tmp/e6.err"
one_line_error "test: --csv under a file, refused before the run" $? "$tmp/e6.err" "not a directory"
"$bin" test --checkpoint "$sae" $common --csv "$tmp" > /dev/null 2> "$tmp/e7.err"
one_line_error "test: --csv naming a directory" $? "$tmp/e7.err" "is a directory"
grep -q "^test " "$tmp/e7.err" && { echo "FAIL: test ran before refusing its --csv"; fail=1; }

# 5. a write that fails (file size limit, as a full disk would) leaves no
#    checkpoint behind as the latest, and says so in one line
(
    trap '' XFSZ
    ulimit -f 64
    exec "$bin" train $common --out "$tmp/full" > /dev/null 2> "$tmp/full.err"
)
status=$?
one_line_error "failing checkpoint write" $status "$tmp/full.err" "write"
check "no partial checkpoint published" [ ! -e "$tmp/full/checkpoints/last" ]
check "no temporary files left after the failure" [ -z "$(find "$tmp/full" -name '*.tmp*' 2>/dev/null)" ]

exit $fail
