#!/bin/sh
# `mlsae dists` and `mlsae examples` throughput (issue: the paper's
# analyses): a random-weight model of pythia-70m-deduped's shape (6 layers,
# d 512, 8 heads, d_ff 2048, vocab 50304) and a random x64 k32 SAE, batches
# of 1 x 2048 tokens, on a shared corpus; tokens/s beside
#   (a) the roofline of the same work: the transformer's and the encoder's
#       FLOPs at the sgemm rates measured in the same run (bench/bench_gemm);
#   (b) the reference's dists loop re-implemented in PyTorch on the CPU
#       (bench/bench_analysis.py) over the same sequences, same thread count;
# and the peak RSS of `examples`.
# Run from the build directory after `make && make check`:
#     sh bench/bench_analysis.sh [tokens] [corpus.jsonl.zst]
# The issue's figure is for >= 1M tokens (tokens=1048576); the default is
# 16384 so that it finishes in minutes on 2 cores.
set -eu
TOKENS=${1:-16384}
DATA=${2:-$(dirname "$0")/../../shared/data/wikitext2-test.jsonl.zst}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
BIN=${MLSAE_BIN:-./mlsae}
here=$(dirname "$0")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlsae-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -e "$DATA" ] || { echo "corpus $DATA not found (pass one as the second argument)"; exit 1; }
make -s tests/make_model bench/bench_gemm >/dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $THREADS threads"
./tests/make_model "$tmp/model" 512 6 8 2048 50304 1
python3 "$here/bench_analysis.py" make-sae "$tmp/sae" 512 32768 32
common="--checkpoint $tmp/sae --model_name $tmp/model --data.path $DATA --max_length 2048
        --batch_size 1 --max_tokens $TOKENS --threads $THREADS"
/usr/bin/time -f "%M" -o "$tmp/rss_d" "$BIN" dists $common --out "$tmp/out" > "$tmp/d" 2> /dev/null
/usr/bin/time -f "%M" -o "$tmp/rss_e" "$BIN" examples $common --out "$tmp/out" > "$tmp/e" 2> /dev/null
head -1 "$tmp/d"; head -1 "$tmp/e"
# the same sequences for the PyTorch loop
"$BIN" tokenize --help > /dev/null 2>&1 || true
python3 - "$DATA" "$TOKENS" "$tmp/tokens.bin" <<'PY'
import json, subprocess, sys
import numpy as np
sys.path.insert(0, "tests/gen")
from transformers import PreTrainedTokenizerFast
from gen_sequences import group_sequences
tok = PreTrainedTokenizerFast(tokenizer_file="data/gpt-neox-20b-tokenizer.json",
                              eos_token="<|endoftext|>")
raw = subprocess.run(["zstdcat", sys.argv[1]], check=True, capture_output=True).stdout
docs = [json.loads(l)["text"] for l in raw.decode().splitlines() if l.strip()]
n = -(-int(sys.argv[2]) // 2048)
seqs = group_sequences(tok, docs[:1024], 2048)[:n]
np.asarray(seqs, dtype=np.int32).tofile(sys.argv[3])
PY
python3 "$here/bench_analysis.py" dists "$tmp/model" "$tmp/sae" "$tmp/tokens.bin" "$THREADS" > "$tmp/torch"
./bench/bench_gemm 12288 32768 512 2048 2048 512 > "$tmp/gemm"
python3 - "$tmp/d" "$tmp/e" "$tmp/torch" "$tmp/gemm" "$tmp/rss_e" "$TOKENS" <<'PY'
import json, re, sys
def rate(path):
    m = re.search(r"([0-9]+) tokens per layer in ([0-9.]+) s", open(path).read())
    return int(m.group(1)), float(m.group(2))
(td, sd), (te, se) = rate(sys.argv[1]), rate(sys.argv[2])
torch = json.loads(open(sys.argv[3]).read())
gemm = [json.loads(l) for l in open(sys.argv[4])]
rss_mb = int(open(sys.argv[5]).read().split()[-1]) / 1024
d, L, dff, P, nlat = 512, 6, 2048, 2048, 512 * 64
per_token = L * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * dff + 2 * d * (P + 1))
enc = 2.0 * L * d * nlat
roof_rate = 1.0 / (per_token / (gemm[1]["gflops"] * 1e9) + enc / (gemm[0]["gflops"] * 1e9))
print(f"--- {td} tokens (batches of 1 x 2048, 6 layers, x64 k32 SAE)")
print(f"dists     {td / sd:8.0f} tokens/s")
print(f"examples  {te / se:8.0f} tokens/s, peak RSS {rss_mb:.0f} MB")
print(f"roofline  {roof_rate:8.0f} tokens/s (transformer at {gemm[1]['gflops']:.0f} GFLOP/s, "
      f"encoder at {gemm[0]['gflops']:.0f} GFLOP/s)")
print(f"reference dists loop on PyTorch CPU: {torch['tokens_per_s']:.0f} tokens/s "
      f"({torch['tokens']} tokens)")
print(f"dists: {100 * td / sd / roof_rate:.0f}% of the roofline, "
      f"{td / sd / torch['tokens_per_s']:.2f}x the PyTorch loop")
print(f"examples: {100 * te / se / roof_rate:.0f}% of the roofline")
PY
