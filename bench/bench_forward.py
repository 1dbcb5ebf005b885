#!/usr/bin/env python3
"""Transformer forward benchmark: hidden-state extraction, ours vs HF/PyTorch.

A random-weight GPT-NeoX with the exact pythia-70m-deduped shape (6 layers,
d_model 512, 8 heads, d_ff 2048, rotary_pct 0.25, 2048 positions, 50304 vocab
rows) is written once in HF format; then, on the same machine in the same run,
each side extracts the residual stream after every layer for one batch of
1 x 2048 tokens with the same thread count:
  ours:  mlsae hidden-states --no-logits (no final LN / embed_out)
  torch: GPTNeoXModel (no lm_head), float32, output_hidden_states=True,
         torch.set_num_threads(N), inference_mode
and, for reference, both with logits (our full forward vs GPTNeoXForCausalLM).
Each figure is the best of --repeat forwards after loading, over --rounds
child processes per side run alternately (ours, torch, ours, torch, ...) so
that load from other processes hits both alike; peak RSS is the largest
"Maximum resident set size" /usr/bin/time -v reports for that side's
processes. Both sides run with OMP_NUM_THREADS=N.

Usage: bench_forward.py --mlsae PATH [--threads 2] [--seq 2048] [--repeat 3] [--rounds 3]
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

PYTHIA_70M = dict(vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                  intermediate_size=2048, rotary_pct=0.25, rotary_emb_base=10000,
                  max_position_embeddings=2048, layer_norm_eps=1e-5, use_parallel_residual=True)


def write_model(path):
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(**PYTHIA_70M)).float().eval()
    model.save_pretrained(path)


def torch_worker(args):
    import torch
    torch.set_num_threads(args.threads)
    from transformers import GPTNeoXForCausalLM, GPTNeoXModel
    cls = GPTNeoXForCausalLM if args.logits else GPTNeoXModel
    model = cls.from_pretrained(args.model, dtype=torch.float32).eval()
    ids = torch.randint(0, 50277, (1, args.seq), generator=torch.Generator().manual_seed(1))
    best = None
    with torch.inference_mode():
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = model(input_ids=ids, output_hidden_states=True)
            hs = torch.stack(out.hidden_states[1:])  # materialise [layers, 1, seq, d]
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    print(json.dumps({"seconds": best, "tokens": args.seq, "shape": list(hs.shape),
                      "attn": model.config._attn_implementation}))


def measure(cmd, env):
    t_cmd = ["/usr/bin/time", "-v"] + cmd
    proc = subprocess.run(t_cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return proc.stdout, int(m.group(1)) / 1024 if m else float("nan")


def keep(results, key, seconds, rss, note):
    """Best time and largest peak RSS over the rounds."""
    old = results.get(key)
    if old is None:
        results[key] = (seconds, rss, note)
    else:
        results[key] = (min(old[0], seconds), max(old[1], rss), note if seconds < old[0] else old[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlsae", default="./mlsae")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--torch-worker", action="store_true")
    ap.add_argument("--logits", action="store_true")
    ap.add_argument("--model")
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "pythia-70m-shape")
        write_model(model)
        ids = os.path.join(tmp, "ids.txt")
        random.seed(1)
        with open(ids, "w") as f:
            f.write(" ".join(str(random.randrange(50277)) for _ in range(args.seq)) + "\n")
        out = os.path.join(tmp, "hs.safetensors")
        results = {}
        for logits in (False, True):
            ours_cmd = [args.mlsae, "hidden-states", "--model", model, "--ids-file", ids, "--out",
                        out, "--threads", str(args.threads), "--repeat", str(args.repeat),
                        "--timing"] + ([] if logits else ["--no-logits"])
            torch_cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--model",
                         model, "--threads", str(args.threads), "--seq", str(args.seq),
                         "--repeat", str(args.repeat)] + (["--logits"] if logits else [])
            for _ in range(args.rounds):
                text, rss = measure(ours_cmd, env)
                t = float(re.search(r"forward ([0-9.]+) s", text).group(1))
                keep(results, ("ours", logits), t, rss, text.strip())
                text, rss = measure(torch_cmd, env)
                r = json.loads(text.strip().splitlines()[-1])
                keep(results, ("torch", logits), r["seconds"], rss, f"attention={r['attn']}")

    import torch
    import transformers
    print(f"GPT-NeoX forward, pythia-70m-deduped shape, batch 1 x {args.seq} tokens, "
          f"{args.threads} threads, best of {args.repeat} forwards x {args.rounds} alternating rounds")
    print(f"machine: {os.uname().machine}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"ours: {results[('ours', False)][2]}")
    for logits, label in ((False, "hidden states only (no embed_out)"),
                          (True, "with logits (final LN + embed_out)")):
        to, ro, _ = results[("ours", logits)]
        tt, rt, note = results[("torch", logits)]
        print(f"{label}:")
        print(f"  mlsae          {to:8.3f} s  {args.seq / to:9.1f} tokens/s  peak RSS {ro:7.1f} MiB")
        print(f"  HF transformers{tt:8.3f} s  {args.seq / tt:9.1f} tokens/s  peak RSS {rt:7.1f} MiB"
              f"  ({note})")
        print(f"  speed-up {tt / to:.2f}x")


if __name__ == "__main__":
    main()
