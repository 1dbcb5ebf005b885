#!/usr/bin/env python3
"""`mlsae serve` benchmark (not a test): a random-weight model of
pythia-70m-deduped's shape (d 512, 6 layers, vocab 50304) with an x64 k32
MLSAE (32768 latents), the bundled GPT-NeoX tokenizer, loopback only.

1. Latency of the full set of requests the page makes for a new 32-token
   prompt (tokens, sparse latent activations, histograms, examples, input /
   recon / steer logits, metrics), and of the reference app's set (params,
   tokens, dense latent activations, input logits, histograms, examples,
   recon, steer): p50 / p99 over --prompts distinct prompts, each a cache miss.
2. With wrk (Debian package wrk) when installed: --duration seconds of
   --connections clients on the prompt endpoints (4 prompts, so mostly
   cached forwards; recon / steer run the model's upper layers every time):
   requests/s, p50 / p99 latency, non-2xx and socket errors, the server's
   RSS before and after.

The reference's FastAPI server is not run here (it needs its whole package:
lightning, torchmetrics, datasets, ...), so there is no comparison column.

    python3 bench/bench_server.py --mlsae ./mlsae --make-model tests/make_model
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

WORDS = ("the of and to in is was for on as with by at from his her that which this were "
         "river mountain engine signal theory market garden winter music paper").split()


def write_sae(path, d=512, expansion=64, k=32, seed=0):
    """A random MLSAE in the reference's format (encoder U(-1/sqrt(d), 1/sqrt(d)),
    decoder = unit-norm columns of its transpose)."""
    from safetensors.numpy import save_file
    rng = np.random.default_rng(seed)
    n = d * expansion
    enc = rng.uniform(-d ** -0.5, d ** -0.5, size=(n, d)).astype(np.float32)
    dec = enc.T.copy()
    dec /= np.linalg.norm(dec, axis=0, keepdims=True)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(dict(n_inputs=d, n_latents=n, k=k, dead_steps_threshold=1000,
                       dead_threshold=1e-3, auxk=256, standardize=True), f)
    save_file({"encoder.weight": enc, "decoder.weight": np.ascontiguousarray(dec),
               "pre_encoder_bias": np.zeros(d, np.float32),
               "last_nonzero": np.zeros(n, np.int64)}, os.path.join(path, "model.safetensors"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def post(base, path, body, parse=True):
    """POST a JSON body; the reply parsed (or only read: what a client does
    with tens of MB of JSON is not the server's time)."""
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        data = r.read()
        assert r.status == 200, (path, r.status)
        return json.loads(data) if parse else len(data)


def get(base, path):
    with urllib.request.urlopen(base + path) as r:
        return json.loads(r.read())


def prompt_of(i, n_tokens, base):
    """A prompt of exactly n_tokens tokens (words added until the count fits)."""
    words, text = [], ""
    j = i
    while True:
        words.append(WORDS[(j * 7 + len(words) * 3) % len(WORDS)])
        j += 1
        text = " ".join(words) + f" {i}"
        n = len(post(base, "/prompt/tokens", {"prompt": text}))
        if n >= n_tokens:
            return text


def page_set(base, prompt, ours):
    if ours:
        post(base, "/prompt/tokens", {"prompt": prompt})
        post(base, "/prompt/latent-activations-sparse", {"prompt": prompt})
    else:
        get(base, "/params")
        post(base, "/prompt/tokens", {"prompt": prompt})
        post(base, "/prompt/latent-activations", {"prompt": prompt}, parse=False)
    post(base, "/prompt/logits-input", {"prompt": prompt})
    post(base, "/prompt/layer-histograms", {"prompt": prompt})
    post(base, "/examples", {"layer": 1, "latent": 7})
    post(base, "/prompt/logits-recon", {"prompt": prompt, "layer": 2})
    post(base, "/prompt/logits-steer", {"prompt": prompt, "latent": 7, "layer": 2, "factor": -2})
    if ours:
        post(base, "/prompt/metrics", {"prompt": prompt})


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


WRK_LUA = r"""
local paths = {"/api/py/prompt/logits-input", "/api/py/prompt/latent-activations-sparse",
  "/api/py/prompt/layer-histograms", "/api/py/prompt/logits-recon", "/api/py/prompt/tokens",
  "/api/py/prompt/logits-steer", "/api/py/prompt/metrics"}
local prompts = PROMPTS
local i = 0
request = function()
  i = i + 1
  local p = prompts[(i % #prompts) + 1]
  local body = '{"prompt": "' .. p .. '", "layer": 2, "latent": 7, "factor": -2}'
  return wrk.format("POST", paths[(i % #paths) + 1], {["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(port, prompts, seconds, connections, pid, timeout):
    lua = WRK_LUA.replace("PROMPTS", "{" + ", ".join(json.dumps(p) for p in prompts) + "}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
        script = f.name
    before = rss_kib(pid)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", f"{timeout}s",
                          "-s", script, f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True).stdout
    after = rss_kib(pid)
    os.unlink(script)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    print(f"wrk {seconds}s, {connections} connections: {rps.group(1) if rps else '?'} requests/s, "
          f"p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'}, "
          f"non-2xx {non2xx.group(1) if non2xx else 0}, socket errors {sock.group(1) if sock else 'none'}; "
          f"server RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlsae", default="./mlsae")
    ap.add_argument("--make-model", default="tests/make_model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=10)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--wrk-timeout", type=int, default=10, help="seconds before wrk gives up on a reply")
    ap.add_argument("--keep", default=None, help="reuse/keep the model and SAE in this directory")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="mlsae-bench-serve-")
    model, sae = os.path.join(tmp, "model"), os.path.join(tmp, "sae")
    if not os.path.exists(os.path.join(model, "config.json")):
        subprocess.run([args.make_model, model, "512", "6", "8", "2048", "50304", "1"], check=True)
    if not os.path.exists(os.path.join(sae, "config.json")):
        write_sae(sae)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.Popen([args.mlsae, "serve", "--checkpoint", sae, "--model_name", model,
                             "--port", "0", "--threads", str(args.threads)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)/", line).group(1))
        base = f"http://127.0.0.1:{port}/api/py"
        print(line.strip())
        prompts = [prompt_of(1000 + i, args.tokens, base) for i in range(args.prompts * 2 + 4)]
        for ours, label in ((True, "page's requests (ours, sparse activations)"),
                            (False, "reference app's requests (dense activations)")):
            times = []
            batch = prompts[:args.prompts] if ours else prompts[args.prompts:2 * args.prompts]
            for p in batch:
                t0 = time.perf_counter()
                page_set(base, p, ours)
                times.append(time.perf_counter() - t0)
            print(f"{label}, {args.tokens}-token prompt, {len(times)} prompts: "
                  f"p50 {pct(times, 50) * 1e3:.0f} ms, p99 {pct(times, 99) * 1e3:.0f} ms, "
                  f"mean {statistics.mean(times) * 1e3:.0f} ms")
        if shutil.which("wrk"):
            run_wrk(port, prompts[-4:], args.duration, args.connections, proc.pid, args.wrk_timeout)
        else:
            print("wrk not installed (apt-get install wrk): no load test")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
