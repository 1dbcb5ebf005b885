#!/usr/bin/env python3
"""Golden fixtures for the MLSAE (SPEC §4): forward, loss, autograd
gradients after the decoder hooks, and a short training run with the
geometric-median initialisation, gradient accumulation and Adam.

The model below follows the reference implementation's code paths (the
MLSAE module, its standardisation, TopK, dead-latent bookkeeping, masked
AuxK, the MSE and auxiliary losses, the after-backward hooks, Adam with
eps 6.25e-10) and computes in float64 so that the fixtures are the exact
answer for the float32 inputs stored beside them.

Usage: python3 tests/gen/gen_sae.py [OUTDIR]   (default tests/fixtures/sae)
Needs torch and safetensors; never run by `make check`.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

DT = torch.float64
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "fixtures", "sae")

# Margins that keep float32 round-off from changing a discrete decision
# (TopK membership, ReLU gate, dead threshold) between the oracle and C.
GAP = 2e-4


class Oracle:
    def __init__(self, enc, dec, bias, last_nonzero, cfg):
        self.enc = enc.clone().to(DT).requires_grad_(True)      # [n, d]
        self.dec = dec.clone().to(DT).requires_grad_(True)      # [d, n]
        self.bias = bias.clone().to(DT).requires_grad_(True)    # [d]
        self.last_nonzero = last_nonzero.clone()                # [n] int64
        self.cfg = cfg
        self.opt = torch.optim.Adam([self.enc, self.dec, self.bias], lr=1e-4, eps=6.25e-10)
        self.near_tie = False

    def check_margins(self, latents, topk_vals, masked, auxk_vals):
        c = self.cfg
        s = torch.sort(latents, dim=-1, descending=True).values
        if (s[..., c["k"] - 1] - s[..., c["k"]]).abs().min() < GAP:
            self.near_tie = "topk boundary"
        if topk_vals.abs().min() < GAP or (topk_vals - c["dead_threshold"]).abs().min() < GAP:
            self.near_tie = "topk value near 0 or the dead threshold"
        if c["auxk"] and auxk_vals is not None:
            sm = torch.sort(masked, dim=-1, descending=True).values
            if sm.shape[-1] > c["auxk"]:
                a, b = sm[..., c["auxk"] - 1], sm[..., c["auxk"]]
                both_pos = (a > 0) & (b > 0)
                if both_pos.any() and (a - b)[both_pos].abs().min() < GAP:
                    self.near_tie = "auxk boundary"
            sel = auxk_vals[auxk_vals != 0]
            if sel.numel() and sel.abs().min() < GAP:
                self.near_tie = "auxk value near 0"

    def forward(self, x):
        c = self.cfg
        x = x.to(DT)
        stats = None
        if c["standardize"]:
            mu = x.mean(dim=-1, keepdim=True)
            x = x - mu
            std = x.std(dim=-1, keepdim=True)
            x = x / (std + 1e-5)
            stats = (mu, std)
        latents = torch.nn.functional.linear(x - self.bias, self.enc)
        topk = torch.topk(latents, k=c["k"], sorted=False)
        fired = torch.zeros_like(self.last_nonzero)
        fired.scatter_add_(0, topk.indices.reshape(-1),
                           (topk.values > c["dead_threshold"]).to(fired.dtype).reshape(-1))
        self.last_nonzero *= 1 - fired.clamp(max=1)
        self.last_nonzero += 1
        dead_mask = self.last_nonzero >= c["dead_steps_threshold"]
        latents_pre = latents.detach().clone()
        latents.data *= dead_mask
        dead = dead_mask.sum().item() / latents.shape[-1]
        auxk = torch.topk(latents, k=c["auxk"], sorted=False) if c["auxk"] else None
        self.check_margins(latents_pre, topk.values.detach(),
                           latents.detach(), auxk.values.detach() if auxk else None)
        values = torch.relu(topk.values)
        recons = decode(values, topk.indices, self.dec) + self.bias
        if stats is not None:
            recons = recons * stats[1] + stats[0]
        aux_vals = torch.relu(auxk.values) if auxk else None
        aux_recons = decode(aux_vals, auxk.indices, self.dec) + self.bias if auxk else None
        return values, topk.indices, recons, aux_vals, (auxk.indices if auxk else None), aux_recons, dead

    def loss(self, x, recons, aux_recons):
        x = x.to(DT)
        mse = ((recons - x).pow(2).mean(dim=(1, 2, 3)) / x.var(dim=(1, 2, 3))).mean()
        if aux_recons is None:
            return mse, torch.zeros((), dtype=DT)
        err = x - recons
        aux = (err - aux_recons).pow(2).mean() / (err - err.mean(dim=3, keepdim=True)).pow(2).mean()
        aux = self.cfg["auxk_coef"] * aux.nan_to_num(0)
        return mse, aux

    def hooks(self):
        with torch.no_grad():
            self.dec.data /= self.dec.data.norm(dim=0)
            scalar = (self.dec.grad * self.dec).sum(dim=0)
            self.dec.grad -= scalar * self.dec

    def microbatch(self, x):
        out = self.forward(x)
        mse, aux = self.loss(x, out[2], out[5])
        ((mse + aux) / self.cfg["accumulate"]).backward()
        self.hooks()
        return out, mse.item(), aux.item()


def decode(values, indices, dec):
    # sum_j values_j * dec[:, indices_j]  (the reference's sparse decode)
    return (values.unsqueeze(-1) * dec.t()[indices]).sum(dim=-2)


def geometric_median(points, max_iter=100, tol=1e-5):
    points = points.reshape(-1, points.shape[-1]).to(DT)
    curr = points.mean(dim=0)
    for _ in range(max_iter):
        prev = curr
        weights = 1 / torch.norm(points - curr, dim=1)
        weights /= weights.sum()
        curr = (weights.unsqueeze(1) * points).sum(dim=0)
        if torch.norm(curr - prev) < tol:
            break
    return curr


def make_inputs(g, n_mb, c):
    L, B, P, D = c["n_layers"], c["batch"], c["pos"], c["n_inputs"]
    x = torch.randn(n_mb, L, B, P, D, generator=g)
    for l in range(L):  # different scale and offset per layer
        x[:, l] = x[:, l] * (1.0 + 2.5 * l) + 0.3 * l
    for (b, p) in c.get("zero_tokens", []):  # masked special tokens: zero at every layer
        x[:, :, b, p, :] = 0
    return x.float()


def make_init(g, c):
    n, d = c["n_latents"], c["n_inputs"]
    bound = 1 / d ** 0.5
    enc = (torch.rand(n, d, generator=g) * 2 - 1) * bound
    dec = enc.t().clone()
    dec = dec / dec.norm(dim=0)
    last_nonzero = torch.zeros(n, dtype=torch.int64)
    dead = torch.randperm(n, generator=g)[: c["n_dead_init"]]
    last_nonzero[dead] = c["dead_steps_threshold"] + 3
    # Weak encoder rows keep the dead latents mostly out of the TopK, so that
    # they stay dead; the decoder (unit columns) is unaffected.
    enc[dead] *= 0.25
    if c.get("n_fire_init"):
        # Latents one micro-batch short of dead (AuxK candidates) with strong
        # encoder rows: they fire in the first micro-batch and stay live.
        live = torch.ones(n, dtype=torch.bool)
        live[dead] = False
        live_idx = live.nonzero().flatten()
        fire = live_idx[torch.randperm(live_idx.numel(), generator=g)[: c["n_fire_init"]]]
        last_nonzero[fire] = c["dead_steps_threshold"] - 1
        enc[fire] *= 4.0
    return enc.float(), dec.float(), last_nonzero


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def gen_case(name, c):
    seed = c["seed"]
    for attempt in range(200):
        g = torch.Generator().manual_seed(seed + attempt)
        enc, dec, ln0 = make_init(g, c)
        bias0 = (torch.randn(c["n_inputs"], generator=g) * 0.1).float()
        x1 = make_inputs(g, 1, c)[0]
        xs = make_inputs(g, 6, c)
        # Forward / backward on one micro-batch from (enc, dec, bias0, ln0).
        o = Oracle(enc, dec, bias0, ln0, c)
        (vals, idx, recons, avals, aidx, arecons, dead), mse, aux = o.microbatch(x1)
        ok = not o.near_tie
        if c.get("expect_no_dead"):
            ok = ok and dead == 0
        # Training: 6 micro-batches, accumulation 2, geometric median first.
        t = Oracle(enc, dec, torch.zeros(c["n_inputs"]), ln0, c)
        losses = []
        bias_gm = None
        for i in range(6):
            if i == 0:
                with torch.no_grad():
                    t.bias.data = geometric_median(xs[0])
                    bias_gm = t.bias.detach().clone()
            out, m, a = t.microbatch(xs[i])
            losses.append([m + a, m, a, out[6]])
            if (i + 1) % c["accumulate"] == 0:
                t.opt.step()
                t.opt.zero_grad()
        ok = ok and not t.near_tie
        if ok:
            break
    else:
        raise SystemExit(f"{name}: no input without near-ties ({o.near_tie}, {t.near_tie})")
    rows = c["n_layers"] * c["batch"] * c["pos"]
    tensors = {
        "x": f32(x1), "enc": f32(enc), "dec": f32(dec), "bias": f32(bias0),
        "last_nonzero": ln0.contiguous(),
        "out.values": f32(vals.reshape(rows, -1)),
        "out.indices": idx.reshape(rows, -1).to(torch.int64).contiguous(),
        "out.recons": f32(recons.reshape(rows, -1)),
        "out.losses": torch.tensor([mse + aux, mse, aux, dead], dtype=torch.float64),
        "out.last_nonzero": o.last_nonzero.contiguous(),
        "out.grad_enc": f32(o.enc.grad), "out.grad_dec": f32(o.dec.grad),
        "out.grad_bias": f32(o.bias.grad), "out.dec_normed": f32(o.dec),
        "train.x": f32(xs),
        "train.bias_gm": f32(bias_gm),
        "train.losses": torch.tensor(losses, dtype=torch.float64),
        "train.enc": f32(t.enc), "train.dec": f32(t.dec), "train.bias": f32(t.bias),
        "train.last_nonzero": t.last_nonzero.contiguous(),
    }
    if c["auxk"]:
        tensors["out.aux_recons"] = f32(arecons.reshape(rows, -1))
        tensors["out.aux_values"] = f32(avals.reshape(rows, -1))
        tensors["out.aux_indices"] = aidx.reshape(rows, -1).to(torch.int64).contiguous()
    meta = {key: json.dumps(c[key]) for key in (
        "n_inputs", "n_latents", "k", "auxk", "dead_steps_threshold", "dead_threshold",
        "standardize", "accumulate", "n_layers", "batch", "pos", "auxk_coef")}
    path = os.path.join(OUT, f"{name}.safetensors")
    save_file(tensors, path, metadata=meta)
    print(f"{path}: attempt {attempt}, dead {dead:.3f}, mse {mse:.4f}, aux {aux:.4f}, "
          f"{os.path.getsize(path)} bytes")


BASE = dict(dead_threshold=1e-3, auxk_coef=1 / 32, accumulate=2)
CASES = {
    # dead latents at start (auxk < n_dead), 3 layers with different scales,
    # zero vectors (masked special tokens)
    "basic": dict(BASE, seed=1, n_inputs=16, n_latents=64, k=8, auxk=12, dead_steps_threshold=4,
                  n_dead_init=24, standardize=True, n_layers=3, batch=2, pos=5,
                  zero_tokens=[(0, 0), (1, 3)]),
    # no standardisation; auxk larger than the number of dead latents
    "nostd": dict(BASE, seed=2, n_inputs=24, n_latents=96, k=12, auxk=32,
                  dead_steps_threshold=3, n_dead_init=10, standardize=False, n_layers=2,
                  batch=3, pos=4, zero_tokens=[(2, 1)]),
    # no dead latents at all: AuxK reconstructs the bias alone
    "nodead": dict(BASE, seed=3, n_inputs=20, n_latents=80, k=10, auxk=16,
                   dead_steps_threshold=1000, n_dead_init=0, standardize=True, n_layers=4,
                   batch=1, pos=6),
    # k larger than the number of live latents; most latents dead
    "bigk": dict(BASE, seed=4, n_inputs=12, n_latents=48, k=20, auxk=40,
                 dead_steps_threshold=2, n_dead_init=36, standardize=True, n_layers=2,
                 batch=2, pos=3, zero_tokens=[(1, 2)]),
    # AuxK candidates (one micro-batch short of dead) that all fire in the
    # first micro-batch: none is dead after it; later micro-batches reach the
    # threshold for the latents that do not fire
    "allfire": dict(BASE, seed=6, n_inputs=16, n_latents=64, k=8, auxk=8,
                    dead_steps_threshold=5, n_dead_init=0, n_fire_init=6,
                    expect_no_dead=True, standardize=True, n_layers=2, batch=2, pos=4),
    # dead_steps_threshold 1: every latent is dead after every update, the
    # ones that fired included; AuxK runs over all latents
    "thr1": dict(BASE, seed=7, n_inputs=12, n_latents=48, k=6, auxk=10,
                 dead_steps_threshold=1, n_dead_init=0, standardize=True, n_layers=2,
                 batch=2, pos=3),
    # no auxiliary loss, one layer, larger latent count
    "noaux": dict(BASE, seed=5, n_inputs=40, n_latents=160, k=24, auxk=0,
                  dead_steps_threshold=5, n_dead_init=50, standardize=True, n_layers=1,
                  batch=2, pos=7),
}


def write_cli_fixtures():
    """Inputs for tests/test_train_activations.sh: the "basic" case's initial
    state as an MLSAE checkpoint directory, its 6 training micro-batches as
    an activations file, and files that `mlsae train` must refuse."""
    from safetensors.torch import load_file
    c = CASES["basic"]
    t = load_file(os.path.join(OUT, "basic.safetensors"))
    cli = os.path.join(OUT, "cli")
    init = os.path.join(cli, "init")
    os.makedirs(init, exist_ok=True)
    save_file({"encoder.weight": t["enc"], "decoder.weight": t["dec"],
               "pre_encoder_bias": t["bias"], "last_nonzero": t["last_nonzero"]},
              os.path.join(init, "model.safetensors"))
    with open(os.path.join(init, "config.json"), "w") as f:
        json.dump({"n_inputs": c["n_inputs"], "n_latents": c["n_latents"], "k": c["k"],
                   "dead_steps_threshold": c["dead_steps_threshold"],
                   "dead_threshold": c["dead_threshold"], "auxk": c["auxk"],
                   "standardize": c["standardize"]}, f, indent=2)
    save_file({"inputs": t["train.x"].contiguous()}, os.path.join(cli, "activations.safetensors"))
    save_file({"x": torch.zeros(2, 3)}, os.path.join(cli, "bad_noinputs.safetensors"))
    save_file({"inputs": torch.zeros(4, 16)}, os.path.join(cli, "bad_rank.safetensors"))
    save_file({"inputs": torch.randn(1, 2, 1, 3, 24)}, os.path.join(cli, "bad_dmodel.safetensors"))
    print(f"{cli}: init/, activations.safetensors, bad_*.safetensors")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for name, c in CASES.items():
        gen_case(name, c)
    write_cli_fixtures()


if __name__ == "__main__":
    main()
