#!/bin/sh
# Training sweeps (train/sweep.h): a 2 x 2 sweep of expansion_factor x k
# trains every SAE from one transformer pass per batch, and each member's
# directory equals, byte for byte, a single run made with that --out (its
# metrics add one last row with the member's memory and times); an
# interrupted sweep resumed with --resume <out> gives the same bits; lists
# for other options, several models and a sweep from --init are refused; on
# 2 MPI ranks every SAE of a sweep matches one process's.
set -u
bin=${MLSAE_BIN:-./mlsae}
make_model=${MAKE_MODEL:-./tests/make_model}
interrupt="$(dirname "$make_model")/train_interrupt"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-sweep-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
# every file of two member directories equal, metrics without the sweep row
same_member() { # same_member DIR_A DIR_B
    (cd "$1" && find . -type f | sort) > "$tmp/files_a"
    (cd "$2" && find . -type f | sort) > "$tmp/files_b"
    cmp -s "$tmp/files_a" "$tmp/files_b" || { echo "  file lists differ: $1 $2"; return 1; }
    while read -r f; do
        if [ "$f" = ./metrics.jsonl ]; then
            grep -v '"sweep/' "$1/$f" > "$tmp/m_a"
            grep -v '"sweep/' "$2/$f" > "$tmp/m_b"
            cmp -s "$tmp/m_a" "$tmp/m_b" || { echo "  differ: $f"; return 1; }
        else
            cmp -s "$1/$f" "$2/$f" || { echo "  differ: $f"; return 1; }
        fi
    done < "$tmp/files_a"
}

"$make_model" "$tmp/model" 32 2 2 64 50304 7 || { echo "cannot make the model"; exit 1; }
data="$tmp/train.jsonl"
zstd -dc "$MLSAE_TEST_SRCDIR/../data/tinyshakespeare.jsonl.zst" | head -n 3 > "$data"
common="--model $tmp/model --data $data --max_length 64 --batch_size 2
        --auxk 16 --accumulate 3 --max_tokens 1536 --dead_tokens_threshold 1000
        --log_every_n_steps 1 --limit_val_batches 1 --checkpoint_every_n_steps 2 --threads 2"
names="mlsae-model-x4-k8 mlsae-model-x4-k4 mlsae-model-x8-k8 mlsae-model-x8-k4"

# 1. the sweep, then the four single runs at the members' places
"$bin" train $common --autoencoder.expansion_factor 4 8 --autoencoder.k 8 4 --out "$tmp/s" \
    > "$tmp/s.out" 2> "$tmp/s.err"
check "sweep exits 0" [ $? -eq 0 ]
check "sweep lists its four members in sweep.json" \
    [ "$(grep -c '"name": "mlsae-model-x[48]-k[48]"' "$tmp/s/sweep.json")" -eq 4 ]
check "summary: a line per member with its memory" [ "$(grep -c '^member: .*memory [0-9.]* MiB' "$tmp/s.out")" -eq 4 ]
for n in $names; do
    check "$n: summary row with memory and time" \
        grep -q '"sweep/memory_bytes":[1-9][0-9]*.*"sweep/sae_seconds"' "$tmp/s/$n/metrics.jsonl"
done
check "progress shows every member's loss" grep -q 'x4k8=.*x4k4=.*x8k8=.*x8k4=' "$tmp/s.err"
mv "$tmp/s" "$tmp/sweep"
for n in $names; do
    e=${n#mlsae-model-x}; e=${e%%-*}; k=${n##*-k}
    "$bin" train $common --expansion_factor "$e" --k "$k" --out "$tmp/s/$n" > /dev/null 2> "$tmp/one.err" ||
        { echo "FAIL: single run $n"; cat "$tmp/one.err"; fail=1; }
    check "$n equals its single run, byte for byte" same_member "$tmp/sweep/$n" "$tmp/s/$n"
done
check "different shapes train differently" \
    sh -c '! cmp -s "$1/mlsae-model-x4-k8/mlsae-model-x4-k8/model.safetensors" "$1/mlsae-model-x4-k4/mlsae-model-x4-k4/model.safetensors"' _ "$tmp/sweep"

# 1b. nothing masked (the true path shared by the layers as well as by the
#     SAEs, eval/downstream.h): the second SAE equals its single run
nomask="--max_tokens 1024 --val_check_interval 4 --limit_val_batches 2 --skip_special_tokens false"
"$bin" train $common $nomask --expansion_factor 4 --k 8 4 --out "$tmp/v" > /dev/null 2> "$tmp/v.err" ||
    { echo "FAIL: unmasked sweep"; cat "$tmp/v.err"; fail=1; }
mv "$tmp/v" "$tmp/vs"
"$bin" train $common $nomask --expansion_factor 4 --k 4 --out "$tmp/v/mlsae-model-x4-k4" \
    > /dev/null 2> "$tmp/v1.err" || { echo "FAIL: unmasked single run"; cat "$tmp/v1.err"; fail=1; }
check "shared true path: validation rows logged" \
    [ "$(grep -c '"val/loss/delta/layer_0"' "$tmp/v/mlsae-model-x4-k4/metrics.jsonl")" -eq 3 ]
check "shared true path: the second SAE equals its single run" \
    same_member "$tmp/vs/mlsae-model-x4-k4" "$tmp/v/mlsae-model-x4-k4"

# 2. interrupted after 5 micro-batches (mid-accumulation), resumed from <out>
"$interrupt" 5 $common --expansion_factor 4 8 --k 8 4 --out "$tmp/i" > "$tmp/i1.out" 2> "$tmp/i1.err"
check "interrupted sweep exits 0" [ $? -eq 0 ]
check "interrupted sweep stopped after 5" grep -q "^stopped after 5 micro-batches" "$tmp/i1.out"
"$bin" train --resume "$tmp/i" > "$tmp/i2.out" 2> "$tmp/i2.err"
check "resumed sweep exits 0" [ $? -eq 0 ]
for n in $names; do
    check "$n resumed: final SAE bit-identical" \
        cmp -s "$tmp/sweep/$n/$n/model.safetensors" "$tmp/i/$n/$n/model.safetensors"
    check "$n resumed: training state bit-identical" \
        cmp -s "$tmp/sweep/$n/checkpoints/last/training_state.safetensors" \
               "$tmp/i/$n/checkpoints/last/training_state.safetensors"
    grep -v '"sweep/' "$tmp/sweep/$n/metrics.jsonl" > "$tmp/m1"
    grep -v '"sweep/' "$tmp/i/$n/metrics.jsonl" > "$tmp/m2"
    check "$n resumed: metrics equal" cmp -s "$tmp/m1" "$tmp/m2"
done
# 2b. resumed once more with nothing left to train: no new rows, the same
#     files, and a line that says so
(cd "$tmp/i" && find . -type f -exec cksum {} + | sort) > "$tmp/i.before"
"$bin" train --resume "$tmp/i" > "$tmp/i3.out" 2> "$tmp/i3.err"
check "resume of a finished sweep exits 0" [ $? -eq 0 ]
check "resume of a finished sweep says nothing is left" grep -q "nothing left to train" "$tmp/i3.err"
(cd "$tmp/i" && find . -type f -exec cksum {} + | sort) > "$tmp/i.after"
check "resume of a finished sweep leaves every file as it was" cmp -s "$tmp/i.before" "$tmp/i.after"
#     the same for a sweep and a single run that finished without a resume
#     (their config.yaml and run.yaml record no checkpoint_path), the
#     checkpoint named with a trailing slash
for run in sweep s/mlsae-model-x4-k8; do
    case $run in sweep) r="$tmp/$run" ;; *) r="$tmp/$run/checkpoints/last/" ;; esac
    (cd "$tmp/$run" && find . -type f -exec cksum {} + | sort) > "$tmp/f.before"
    "$bin" train --resume "$r" > /dev/null 2> "$tmp/f.err"
    check "resume of finished $run says nothing is left" \
        grep -q "nothing left to train" "$tmp/f.err"
    (cd "$tmp/$run" && find . -type f -exec cksum {} + | sort) > "$tmp/f.after"
    check "resume of finished $run leaves every file as it was" cmp -s "$tmp/f.before" "$tmp/f.after"
done

# 2c. mlsae test of a run's checkpoints/last: the model and layers come from
#     its run.yaml (no --model here), and the CSV is named after the run's SAE
#     and lands in the run's directory
"$bin" test --checkpoint "$tmp/i/mlsae-model-x4-k8/checkpoints/last" --data "$data" \
    --max_tokens 128 --threads 2 > /dev/null 2> "$tmp/t.err"
check "test of checkpoints/last exits 0" [ $? -eq 0 ]
check "test of checkpoints/last writes <out>/test_<SAE>-last.csv" \
    test -s "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"
#     the same CSV when the checkpoint is named from inside the run: "last"
#     from checkpoints/, "." from the checkpoint itself (not test_..csv there)
rm -f "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"
(cd "$tmp/i/mlsae-model-x4-k8/checkpoints" && "$bin" test --checkpoint last --data "$data" \
    --max_tokens 128 --threads 2 > /dev/null 2> "$tmp/t.err")
check "test --checkpoint last from <out>/checkpoints writes <out>/test_<SAE>-last.csv" \
    test -s "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"
rm -f "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"
(cd "$tmp/i/mlsae-model-x4-k8/checkpoints/last" && "$bin" test --checkpoint . --data "$data" \
    --max_tokens 128 --threads 2 > /dev/null 2> "$tmp/t.err")
check "test --checkpoint . from <out>/checkpoints/last writes <out>/test_<SAE>-last.csv" \
    test -s "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"
check "... and nothing inside the checkpoint or checkpoints/" \
    [ -z "$(find "$tmp/i/mlsae-model-x4-k8/checkpoints" -name 'test_*')" ]
#     and for a run that the end of the data finished (no second
#     validation row, no new checkpoint, config.yaml as it was)
"$bin" train $common --max_tokens 1000000 --expansion_factor 4 --k 4 --out "$tmp/de" \
    > /dev/null 2> "$tmp/de.err"
check "a run past its data ends with the data" grep -q "the data ended" "$tmp/de.err"
(cd "$tmp/de" && find . -type f -exec cksum {} + | sort) > "$tmp/f.before"
"$bin" train --resume "$tmp/de/checkpoints/last" > /dev/null 2> "$tmp/de2.err"
check "resume of a run its data finished says nothing is left" \
    grep -q "nothing left to train: the data ended" "$tmp/de2.err"
(cd "$tmp/de" && find . -type f -exec cksum {} + | sort) > "$tmp/f.after"
check "resume of a run its data finished leaves every file as it was" \
    cmp -s "$tmp/f.before" "$tmp/f.after"
#     a run's or a sweep's directory given for its checkpoint: one line that
#     names the checkpoint to give
"$bin" test --checkpoint "$tmp/s/mlsae-model-x4-k8" --data "$data" > /dev/null 2> "$tmp/t2.err"
one_line_error "test of a run's directory" $? "$tmp/t2.err" \
    "a training run: its checkpoint is $tmp/s/mlsae-model-x4-k8/checkpoints/last"
"$bin" test --checkpoint "$tmp/i" --data "$data" > /dev/null 2> "$tmp/t3.err"
one_line_error "test of a sweep's directory" $? "$tmp/t3.err" \
    "a sweep: its SAEs' checkpoints are $tmp/i/<name>/checkpoints/last"
#     named after the SAE tested, whatever -x/-k say here
rm -f "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"
"$bin" test --checkpoint "$tmp/i/mlsae-model-x4-k8/checkpoints/last" --data "$data" -x 8 -k 4 \
    --max_tokens 128 --threads 2 > /dev/null 2> "$tmp/t.err"
check "test of checkpoints/last with -x 8 -k 4 still names the x4-k8 SAE" \
    test -s "$tmp/i/mlsae-model-x4-k8/test_mlsae-model-x4-k8-last.csv"

# 3. refusals: one line naming the option, nothing written
"$bin" train $common --lr 1e-4 2e-4 --out "$tmp/e1" > /dev/null 2> "$tmp/e1.err"
one_line_error "a list for another option" $? "$tmp/e1.err" "option --lr takes one value"
"$bin" train $common --model_name "$tmp/model" "$tmp/model2" --out "$tmp/e2" > /dev/null 2> "$tmp/e2.err"
one_line_error "several models" $? "$tmp/e2.err" "one model per command"
"$bin" train $common --k 8 4 8 --out "$tmp/e3" > /dev/null 2> "$tmp/e3.err"
one_line_error "a value listed twice" $? "$tmp/e3.err" "listed twice"
"$bin" train $common --k 8 4 --init "$tmp/sweep/mlsae-model-x4-k8/mlsae-model-x4-k8" --out "$tmp/e4" \
    > /dev/null 2> "$tmp/e4.err"
one_line_error "a sweep from --init" $? "$tmp/e4.err" "sweep cannot start from it"
"$bin" train $common --expansion_factor 4 --k 8 400 --out "$tmp/e5" > /dev/null 2> "$tmp/e5.err"
one_line_error "a member's k > n_latents" $? "$tmp/e5.err" "k"
"$bin" test --checkpoint "$tmp/sweep/mlsae-model-x4-k8/mlsae-model-x4-k8" $common --k 8 4 \
    --csv "$tmp/e6.csv" > /dev/null 2> "$tmp/e6.err"
one_line_error "a list outside mlsae train" $? "$tmp/e6.err" "sweep of mlsae train"
# a single run never writes into a sweep's directory (its SAE directory is a
# member's), nor a sweep beside a single run's checkpoints/
(cd "$tmp/sweep" && find . -type f -exec cksum {} + | sort) > "$tmp/sweep.before"
"$bin" train $common -x 4 -k 8 --out "$tmp/sweep" > /dev/null 2> "$tmp/e7.err"
one_line_error "a single run into a sweep's --out" $? "$tmp/e7.err" "holds a sweep"
(cd "$tmp/sweep" && find . -type f -exec cksum {} + | sort) > "$tmp/sweep.after"
check "the sweep is untouched" cmp -s "$tmp/sweep.before" "$tmp/sweep.after"
"$bin" train $common -x 4 8 -k 8 --out "$tmp/sweep/mlsae-model-x4-k8" > /dev/null 2> "$tmp/e8.err"
one_line_error "a sweep beside a single run's checkpoints" $? "$tmp/e8.err" "holds a single run"
(cd "$tmp/sweep" && find . -type f -exec cksum {} + | sort) > "$tmp/sweep.after"
check "nothing written beside the single run" cmp -s "$tmp/sweep.before" "$tmp/sweep.after"
"$bin" train $common --k 4 -3 --out "$tmp/e9" > /dev/null 2> "$tmp/e9.err"
one_line_error "a negative value in a list" $? "$tmp/e9.err" "option --k: "
check "a negative value in a list is named as a value, not an option" \
    sh -c '! grep -q "unknown option" "$1"' _ "$tmp/e9.err"
none_exists() { for f; do [ ! -e "$f" ] || return 1; done; }
check "nothing written by the refused runs" \
    none_exists "$tmp/e1" "$tmp/e2" "$tmp/e3" "$tmp/e4" "$tmp/e5" "$tmp/e6.csv" "$tmp/e9"

# 4. data parallel (skipped without MPI): 2 ranks of batch 1 train every SAE
#    of the sweep as one process of batch 2 does, within float rounding
dp="$(dirname "$make_model")/dp_helper"
if mpi_launcher && [ -x "$dp" ]; then
    mpi_opts="$common --max_tokens 1024 --limit_val_batches 0 --threads 1 --expansion_factor 4 8 --k 8"
    $MR -np 2 "$bin" train $mpi_opts --batch_size 1 \
        --out "$tmp/dp2" > /dev/null 2> "$tmp/dp2.err"
    check "sweep on 2 ranks exits 0" [ $? -eq 0 ]
    "$bin" train $mpi_opts --out "$tmp/dp1" > /dev/null 2> "$tmp/dp1.err"
    check "sweep on 1 process of batch 2 exits 0" [ $? -eq 0 ]
    for n in mlsae-model-x4-k8 mlsae-model-x8-k8; do
        for f in model training_state; do
            check "$n on 2 ranks: $f equals one process's (rtol 1e-5, atol 1e-6)" \
                "$dp" compare "$tmp/dp2/$n/checkpoints/last/$f.safetensors" \
                    "$tmp/dp1/$n/checkpoints/last/$f.safetensors" 1e-5 1e-6
        done
    done
else
    echo "skipped: data-parallel sweep (${MPI_SKIP:-no tests/dp_helper})"
fi

exit $fail
