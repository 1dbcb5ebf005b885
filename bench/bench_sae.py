#!/usr/bin/env python3
"""PyTorch CPU doing one MLSAE training step the standard way (dense encoder,
torch.topk, masked AuxK, the sparse-COO decode the reference uses on CPU,
autograd, decoder hooks, Adam), on random activations of the same shape as
bench_sae. With precision bf16-mixed the forward runs under
torch.autocast("cpu", dtype=torch.bfloat16), as Lightning's "bf16-mixed"
does: the encoder linear takes bf16 inputs (and returns bf16); the sparse
decode runs with autocast off, on the TopK values cast back to float32 (its
backward fails on mixed dtypes otherwise). Prints one JSON object.

Usage: bench_sae.py [d n_latents k auxk rows steps threads [precision]]
"""
import json
import resource
import sys
import time

import warnings

import torch

warnings.filterwarnings("ignore", message="Sparse invariant checks")

d, n, k, auxk, rows, steps, threads = 512, 32768, 32, 256, 12288, 3, 2
precision = sys.argv[8] if len(sys.argv) > 8 else "32"
if precision not in ("32", "bf16-mixed"):
    sys.exit(f"precision {precision!r}: 32 or bf16-mixed")
args = [int(a) for a in sys.argv[1:8]]
d, n, k, auxk, rows, steps, threads = (args + [d, n, k, auxk, rows, steps, threads][len(args):])
torch.set_num_threads(threads)
layers = 6
x = torch.randn(layers, 1, rows // layers, d) * torch.arange(1, layers + 1).view(-1, 1, 1, 1)

enc = torch.nn.Parameter(torch.empty(n, d).uniform_(-d ** -0.5, d ** -0.5))
dec = torch.nn.Parameter(enc.detach().t().clone())
with torch.no_grad():
    dec /= dec.norm(dim=0)
bias = torch.nn.Parameter(torch.zeros(d))
last_nonzero = torch.zeros(n, dtype=torch.long)
opt = torch.optim.Adam([enc, dec, bias], lr=1e-4, eps=6.25e-10)


def decode(values, indices, weight, chunk=1024):
    kk = indices.shape[-1]
    iv, vv = indices.reshape(-1, kk), values.reshape(-1, kk)
    out = []
    for i in range(0, iv.shape[0], chunk):
        ic, vc = iv[i:i + chunk], vv[i:i + chunk]
        rows_idx = torch.arange(ic.shape[0]).repeat_interleave(kk)
        sp = torch.sparse_coo_tensor(torch.stack([rows_idx, ic.flatten()]), vc.flatten(),
                                     size=(ic.shape[0], weight.shape[1]))
        out.append(torch.sparse.mm(sp, weight.t()))
    return torch.cat(out).view(*indices.shape[:-1], weight.shape[0])


def forward():
    global last_nonzero
    mu = x.mean(-1, keepdim=True)
    xs = x - mu
    std = xs.std(-1, keepdim=True)
    xs = xs / (std + 1e-5)
    latents = torch.nn.functional.linear(xs - bias, enc)
    top = torch.topk(latents, k, sorted=False)
    fired = torch.zeros_like(last_nonzero)
    fired.scatter_add_(0, top.indices.reshape(-1), (top.values > 1e-3).long().reshape(-1))
    last_nonzero *= 1 - fired.clamp(max=1)
    last_nonzero += 1
    dead_mask = last_nonzero >= 1000
    latents.data *= dead_mask
    aux = torch.topk(latents, auxk, sorted=False)
    with torch.autocast("cpu", enabled=False):  # the sparse decode stays float32
        recons = (decode(torch.relu(top.values.float()), top.indices, dec) + bias) * std + mu
        aux_recons = decode(torch.relu(aux.values.float()), aux.indices, dec) + bias
    mse = ((recons - x).pow(2).mean(dim=(1, 2, 3)) / x.var(dim=(1, 2, 3))).mean()
    err = x - recons
    auxl = (err - aux_recons).pow(2).mean() / (err - err.mean(3, keepdim=True)).pow(2).mean()
    return mse + auxl.nan_to_num(0) / 32


def step():
    # the forward under autocast, the backward and the optimizer outside it
    # (as Lightning's mixed-precision plugin does)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
        loss = forward()
    loss.backward()
    with torch.no_grad():
        dec.data /= dec.data.norm(dim=0)
        dec.grad -= (dec.grad * dec).sum(0) * dec
    opt.step()
    opt.zero_grad()
    return loss.item()


t0 = time.perf_counter()
step()
first = time.perf_counter() - t0
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(json.dumps({
    "impl": "pytorch", "precision": precision, "torch": torch.__version__, "threads": torch.get_num_threads(), "d": d,
    "n_latents": n, "k": k, "auxk": auxk, "rows": rows, "tokens": rows // layers,
    "step_s": round(med, 4), "first_step_s": round(first, 4), "rows_per_s": round(rows / med, 1),
    "tokens_per_s": round(rows // layers / med, 1), "loss": round(loss, 5),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
