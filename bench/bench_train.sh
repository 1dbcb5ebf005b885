#!/bin/sh
# End-to-end training throughput (SPEC §10): `mlsae train` on a random-weight
# model of pythia-70m-deduped's exact shape (6 layers, d 512, 8 heads, d_ff
# 2048, vocab 50304), expansion 64, k 32, batch 1 x 2048 tokens, 2 threads,
# on a shared corpus; the share of time in data, transformer and SAE; and
# the roofline of the same work: the transformer's and the encoder's FLOPs
# at the sgemm rate measured in the same run (bench/bench_gemm).
# Run from the build directory after `make && make check` (for tests/make_model):
#     sh bench/bench_train.sh [micro_batches] [corpus.jsonl.zst]
# (the run ends on a whole optimizer step, as the reference's does: it trains
# ceil(micro_batches / 64) * 64 micro-batches)
set -eu
MB=${1:-64}  # micro-batches: one optimizer step at the default accumulation
DATA=${2:-$(dirname "$0")/../../shared/data/wikitext2-test.jsonl.zst}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
BIN=${MLSAE_BIN:-./mlsae}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -e "$DATA" ] || { echo "corpus $DATA not found (pass one as the second argument)"; exit 1; }
make -s tests/make_model bench/bench_gemm >/dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $THREADS threads"
./tests/make_model "$tmp/model" 512 6 8 2048 50304 1
tokens=$((MB * 2048))
/usr/bin/time -f "%M" -o "$tmp/rss" "$BIN" train --model "$tmp/model" --data "$DATA" \
    --expansion_factor 64 --k 32 --max_length 2048 --batch_size 1 --max_tokens "$tokens" \
    --limit_val_batches 0 --checkpoint_every_n_steps 0 --threads "$THREADS" \
    --out "$tmp/run" > "$tmp/out" 2> "$tmp/err" || { cat "$tmp/err"; exit 1; }
cat "$tmp/out" | head -2
# sgemm rates for the encoder (rows x d x n_latents) and the transformer's largest linear
./bench/bench_gemm 12288 32768 512 2048 2048 512 > "$tmp/gemm"
cat "$tmp/gemm"
python3 - "$tmp/out" "$tmp/gemm" "$tmp/rss" "$MB" <<'PY'
import json, re, sys
out = open(sys.argv[1]).read()
gemm = [json.loads(l) for l in open(sys.argv[2])]
rss_mb = int(open(sys.argv[3]).read().split()[-1]) / 1024
mb = int(sys.argv[4])
m = re.search(r"after ([0-9]+) micro-batches .* in ([0-9.]+) s", out)
t = re.search(r"data ([0-9.]+) s, transformer ([0-9.]+) s, sae ([0-9.]+) s, validation ([0-9.]+) s, checkpoints\+logs ([0-9.]+) s", out)
mb = int(m.group(1))  # whole optimizer steps: ceil(requested / accumulate) * accumulate
total = float(m.group(2))
data, fwd, sae, val, save = (float(x) for x in t.groups())
d, L, dff, P, nlat = 512, 6, 2048, 2048, 512 * 64
tokens = mb * P
# per token: qkv + dense + mlp linears, and causal attention (scores and AV)
tf_flops = tokens * L * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * dff + 2 * d * (P + 1))
enc_flops = 2.0 * tokens * L * d * nlat
enc_rate, lin_rate = gemm[0]["gflops"] * 1e9, gemm[1]["gflops"] * 1e9
roof = tf_flops / lin_rate + enc_flops / enc_rate
loop = data + fwd + sae + save
print(f"--- end-to-end training, {tokens} tokens ({mb} micro-batches of 2048 x 6 layers)")
print(f"wall time {total:.2f} s ({tokens / total:.0f} tokens/s); training loop {loop:.2f} s ({tokens / loop:.0f} tokens/s)")
print(f"shares of the loop: data {100 * data / loop:.1f}%, transformer {100 * fwd / loop:.1f}%, "
      f"SAE {100 * sae / loop:.1f}%, checkpoints/logs {100 * save / loop:.1f}%")
print(f"roofline: transformer {tf_flops / 1e9:.0f} GFLOP at {lin_rate / 1e9:.0f} GFLOP/s + encoder "
      f"{enc_flops / 1e9:.0f} GFLOP at {enc_rate / 1e9:.0f} GFLOP/s = {roof:.2f} s "
      f"({tokens / roof:.0f} tokens/s)")
print(f"fraction of roofline: {100 * roof / loop:.0f}% (training loop), {100 * roof / total:.0f}% (wall, incl. start-up and final save)")
print(f"peak RSS {rss_mb:.0f} MB")
PY
