#!/bin/sh
# autoencoder.tuned_lens end to end: `mlsae test` with the identity lens gives
# the no-lens numbers; a random lens (tests/fixtures/lens, saved by the
# tuned-lens package) changes what it should and nothing else: train/* in the
# lens's space whatever the inverse, val/* and the losses by the inverse;
# the lens found by model name (download, cache); a -lens-tfm checkpoint;
# OpenCL; `mlsae train` with a lens; one-line errors. (params.pt and
# params.safetensors are compared in test_tuned_lens.)
set -u
bin=${MLSAE_BIN:-./mlsae}
make_model=${MAKE_MODEL:-./tests/make_model}
fix=${MLSAE_TEST_FIXTURES:-tests/fixtures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-lens-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
. "${MLSAE_TEST_SRCDIR:-$(dirname "$0")}/testlib.sh"
# compare_csv A B COLUMN-REGEX MODE: every matching column equal to 1e-9
# relative (MODE same) or at least one differing by more than 1e-6 (MODE differ)
compare_csv() {
    awk -F, -v re="$3" -v mode="$4" '
        FNR == 1 { for (i = 1; i <= NF; i++) name[FILENAME, i] = $i; next }
        FILENAME == ARGV[1] { for (i = 1; i <= NF; i++) a[name[FILENAME, i]] = $i; next }
        { for (i = 1; i <= NF; i++) b[name[FILENAME, i]] = $i }
        END {
            same = 1; differ = 0; n = 0
            for (k in a) {
                if (k !~ re) continue
                n++
                d = a[k] - b[k]; if (d < 0) d = -d
                s = a[k] < 0 ? -a[k] : a[k]; if (s < 1e-30) s = 1e-30
                if (d / s > 1e-9) same = 0
                if (d / s > 1e-6) differ = 1
            }
            if (n == 0) exit 1
            exit mode == "same" ? !same : !differ
        }' "$1" "$2"
}

"$make_model" "$tmp/model" 32 2 2 64 50304 7 > /dev/null || { echo "cannot make the model"; exit 1; }
data="$tmp/train.jsonl"
zstd -dc "$MLSAE_TEST_SRCDIR/../data/tinyshakespeare.jsonl.zst" | head -n 3 > "$data"
common="--model $tmp/model --data $data --max_length 64 --batch_size 2
        --expansion_factor 4 --k 8 --auxk 16 --accumulate 2 --max_tokens 768
        --dead_tokens_threshold 1000 --log_every_n_steps 1 --val_check_interval 4
        --limit_val_batches 1 --checkpoint_every_n_steps 0 --threads 2"
"$bin" train $common --out "$tmp/a" > "$tmp/a.out" 2> "$tmp/a.err" || { cat "$tmp/a.err"; exit 1; }
sae=$(sed -n 's/^sae: *//p' "$tmp/a.out")

t() { # t CSV [OPTIONS...]
    out=$1; shift
    "$bin" test --checkpoint "$sae" $common --max_tokens 256 --csv "$out" "$@" > /dev/null 2> "$tmp/t.err" ||
        { echo "FAIL: test $*:"; cat "$tmp/t.err"; fail=1; }
}
t "$tmp/none.csv"
t "$tmp/zero.csv" --tuned_lens true --lens "$fix/lens/zero_d32"
t "$tmp/ref.csv" --tuned_lens true --lens "$fix/lens/par_r25"
t "$tmp/exact.csv" --tuned_lens true --lens "$fix/lens/par_r25" --lens-inverse exact

# resid-cos-sim through the lens (figures/resid_cos_sim.py): the identity lens
# gives the no-lens statistics in files named resid_*_lens_MODEL.csv; a
# random lens changes them
r() { # r OUT [OPTIONS...]
    o=$1; shift
    "$bin" resid-cos-sim --model_name "$tmp/model" --data "$data" --max_length 64 --batch_size 2 \
        --max_tokens 256 --threads 2 --out "$o" "$@" > /dev/null 2> "$tmp/r.err" ||
        { echo "FAIL: resid-cos-sim $*:"; cat "$tmp/r.err"; fail=1; }
}
r "$tmp/rn"
r "$tmp/rz" --tuned_lens true --lens "$fix/lens/zero_d32"
r "$tmp/rr" --tuned_lens true --lens "$fix/lens/par_r25"
check "resid-cos-sim with a lens names its files lens_" [ -f "$tmp/rz/resid_cos_sim_lens_model.csv" ]
check "resid-cos-sim through the identity lens: the no-lens numbers" \
    cmp -s "$tmp/rn/resid_cos_sim_model.csv" "$tmp/rz/resid_cos_sim_lens_model.csv"
check "resid-cos-sim through a random lens: other numbers" \
    sh -c "! cmp -s '$tmp/rn/resid_l2_norm_model.csv' '$tmp/rr/resid_l2_norm_lens_model.csv'"

check "identity lens: every column as without a lens" compare_csv "$tmp/none.csv" "$tmp/zero.csv" . same
check "random lens: train/* change" compare_csv "$tmp/none.csv" "$tmp/ref.csv" '^train/' differ
check "random lens: train/* (lens space) do not depend on the inverse" \
    compare_csv "$tmp/ref.csv" "$tmp/exact.csv" '^train/' same
check "random lens: val/* depend on the inverse" compare_csv "$tmp/ref.csv" "$tmp/exact.csv" '^val/' differ
check "random lens: loss/mse depends on the inverse" \
    compare_csv "$tmp/ref.csv" "$tmp/exact.csv" '^loss/mse$' differ

# the lens on an OpenCL device (the SAE only, and both): the CPU's numbers to
# 1e-5 relative (float32 sums in another order), when a device is there
close_csv() { # close_csv A B: every column within 1e-5 relative
    awk -F, 'FNR == 1 { for (i = 1; i <= NF; i++) name[FILENAME, i] = $i; next }
        FILENAME == ARGV[1] { for (i = 1; i <= NF; i++) a[name[FILENAME, i]] = $i; next }
        { for (i = 1; i <= NF; i++) b[name[FILENAME, i]] = $i }
        END { bad = 0; for (k in a) { d = a[k] - b[k]; if (d < 0) d = -d
              s = a[k] < 0 ? -a[k] : a[k]; if (s < 1e-12) s = 1e-12; if (d / s > 1e-5) bad = 1 }
              exit bad }' "$1" "$2"
}
if "$bin" devices 2> /dev/null | grep -q '^ *opencl:0'; then
    t "$tmp/ocl.csv" --tuned_lens true --lens "$fix/lens/par_r25" --device opencl
    check "lens, SAE on OpenCL: the CPU's numbers" close_csv "$tmp/ref.csv" "$tmp/ocl.csv"
    t "$tmp/ocl2.csv" --tuned_lens true --lens "$fix/lens/par_r25" --device opencl --model_device opencl
    check "lens, all on OpenCL: the CPU's numbers" close_csv "$tmp/ref.csv" "$tmp/ocl2.csv"
else
    echo "skip: no OpenCL device for the lens on a device"
fi

# training on lensed activations: runs, validates, and learns something else
"$bin" train $common --tuned_lens true --lens "$fix/lens/par_r25" --out "$tmp/b" \
    > "$tmp/b.out" 2> "$tmp/b.err"
check "train with a lens exits 0" [ $? -eq 0 ]
check "train with a lens validates" grep -q '"val/loss/delta/layer_1"' "$tmp/b/metrics.jsonl"
sae_b=$(sed -n 's/^sae: *//p' "$tmp/b.out")
check "the SAE trained through the lens differs" [ -f "$sae_b/model.safetensors" ] &&
    ! cmp -s "$sae/model.safetensors" "$sae_b/model.safetensors"

# errors: one line, non-zero exit, no CSV
expect_error() { # expect_error NAME NEEDLE OPTIONS...
    name=$1; needle=$2; shift 2
    rm -f "$tmp/x.csv"
    "$bin" test --checkpoint "$sae" $common --max_tokens 256 --csv "$tmp/x.csv" "$@" > /dev/null 2> "$tmp/e.err"
    st=$?
    if [ $st -ne 0 ] && [ "$(grep -c '^mlsae test: ' "$tmp/e.err")" -eq 1 ] &&
       grep -q -- "$needle" "$tmp/e.err" && [ ! -e "$tmp/x.csv" ]; then
        echo "ok: $name -> $(grep '^mlsae test: ' "$tmp/e.err")"
    else
        echo "FAIL: $name (status $st):"; cat "$tmp/e.err"; fail=1
    fi
}
HF_HUB_CACHE="$tmp/empty" expect_error "tuned_lens without a lens" "there is no lens" --tuned_lens true
expect_error "a lens without tuned_lens" "autoencoder.tuned_lens is false" --lens "$fix/lens/par_r25"
expect_error "missing lens directory" "nope/config.json" --tuned_lens true --lens "$tmp/nope"
mkdir "$tmp/fifo_lens"
cp "$fix/lens/par_r25/params.pt" "$tmp/fifo_lens/"
mkfifo "$tmp/fifo_lens/config.json"
expect_error "a FIFO as the lens's config.json" "fifo_lens/config.json: not a regular file (a FIFO)" \
    --tuned_lens true --lens "$tmp/fifo_lens"
expect_error "bad inverse mode" "lens-inverse" --tuned_lens true --lens "$fix/lens/par_r25" --lens-inverse inverse
"$make_model" "$tmp/m16" 16 2 2 32 50304 3 > /dev/null
expect_error "lens of another d_model" "does not fit" --model "$tmp/m16" --tuned_lens true \
    --lens "$fix/lens/par_r25"
# a hub model's lens, found by its name where the tuned-lens package keeps it
# (the Space AlignmentResearch/tuned-lens, lens/ORG/NAME/), downloaded from a
# file:// mirror of the hub, then from the cache offline
mirror="$tmp/mirror"
mkdir -p "$mirror/Org/tiny/resolve/main" \
    "$mirror/spaces/AlignmentResearch/tuned-lens/resolve/main/lens/Org/tiny"
cp "$tmp/model/config.json" "$tmp/model/model.safetensors" "$mirror/Org/tiny/resolve/main/"
cp "$fix/lens/par_r25/config.json" "$fix/lens/par_r25/params.pt" \
    "$mirror/spaces/AlignmentResearch/tuned-lens/resolve/main/lens/Org/tiny/"
unset HF_TOKEN HF_HOME
export HF_TOKEN_PATH="$tmp/no-token"
HF_ENDPOINT="file://$mirror" HF_HUB_CACHE="$tmp/hub" t "$tmp/hub.csv" --model Org/tiny --tuned_lens true
check "the lens downloaded by model name gives the --lens numbers" \
    compare_csv "$tmp/ref.csv" "$tmp/hub.csv" . same
space="$tmp/hub/spaces--AlignmentResearch--tuned-lens"
check "the lens sits in the Space's cache layout" \
    [ -L "$space/snapshots/main/lens/Org/tiny/params.pt" ] && [ "$(cat "$space/refs/main")" = main ]
mv "$mirror" "$tmp/mirror.away"
HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/hub" t "$tmp/hub_off.csv" --model Org/tiny --tuned_lens true
check "the cached lens offline gives the same numbers" compare_csv "$tmp/hub.csv" "$tmp/hub_off.csv" . same
rm -rf "$space"
HF_HUB_OFFLINE=1 HF_HUB_CACHE="$tmp/hub" expect_error "offline, lens not cached" \
    "HF_HUB_OFFLINE forbids downloading it" --model Org/tiny --tuned_lens true
mv "$tmp/mirror.away" "$mirror"

# a -lens-tfm checkpoint: its config turns the lens on and its own translators
# win over --lens, as in the reference
"$make_model" "$tmp/m6" 6 1 2 8 50304 3 > /dev/null || { echo "cannot make the d=6 model"; exit 1; }
for c in ckpt_tfm_lens; do
    cp -r "$fix/lens/$c" "$tmp/$c"
    sed -i "s|\"EleutherAI/pythia-70m-deduped\"|\"$tmp/m6\"|" "$tmp/$c/config.json"
done
cp -r "$fix/sae/ckpt_ref_tfm" "$tmp/tfm_plain"
sed -i "s|\"EleutherAI/pythia-70m-deduped\"|\"$tmp/m6\"|" "$tmp/tfm_plain/config.json"
tt() { # tt CSV CHECKPOINT [OPTIONS...]
    out=$1; ck=$2; shift 2
    "$bin" test --checkpoint "$ck" --data "$data" --max_tokens 256 --threads 2 --csv "$out" "$@" \
        > /dev/null 2> "$tmp/t.err" || { echo "FAIL: test $ck $*:"; cat "$tmp/t.err"; fail=1; }
}
tt "$tmp/tfm_none.csv" "$tmp/tfm_plain"
tt "$tmp/tfm_own.csv" "$tmp/ckpt_tfm_lens"
tt "$tmp/tfm_dir.csv" "$tmp/tfm_plain" --tuned_lens true --lens "$fix/lens/d6"
tt "$tmp/tfm_over.csv" "$tmp/ckpt_tfm_lens" --lens "$fix/lens/zero_d6"
check "-lens-tfm: its translators are used" compare_csv "$tmp/tfm_own.csv" "$tmp/tfm_dir.csv" . same
check "-lens-tfm: they change the numbers" compare_csv "$tmp/tfm_none.csv" "$tmp/tfm_own.csv" '^train/' differ
check "-lens-tfm: its translators win over --lens" compare_csv "$tmp/tfm_own.csv" "$tmp/tfm_over.csv" . same

exit $fail
