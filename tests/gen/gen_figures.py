#!/usr/bin/env python3
"""Fixtures for tests/test_figures.c and tests/test_figures_cli.sh: small
dists files and checkpoints, and the numbers the reference's figure code
computes from them (mlsae/analysis/dists.py, figures/dists_heatmaps.py,
dists_histograms.py, dists_cos_sim_heatmaps.py, dists_layer_std.py, test.py),
redone here with the same torch / numpy / pandas calls on the same inputs.

Writes tests/fixtures/figures/:
  mlsae-pythia-test-x4-k2-dists.safetensors   counts, totals F32 [6, 128]:
      latents that never fired (NaN), latents firing at one layer only,
      latents spread over several layers
  mlsae-pythia-test-x8-k2-dists.safetensors   a second SAE of the sweep [6, 96]
  mlsae-pythia-test-x4-k2/                    its checkpoint (config.json +
                                              model.safetensors, d_model 48)
  expected_dists_heatmap_mlsae-pythia-test-x4-k2.csv
                                              probs[:, layer_mean descending],
                                              all-NaN latents dropped
                                              (layer, then one column per latent)
  expected_dists_histogram[_noninteger]_mlsae-pythia-test-x4-k2.csv
                                              the reference's CSVs (pandas)
  expected_dists_cos_sim_heatmap_mlsae-pythia-test-x4-k2.csv
                                              x, y, count of numpy.histogram2d
                                              with x and y from the same pair
                                              (the non-empty bins only)
  expected_dists_layer_std.csv                the reference's sweep CSV
  test_mlsae-pythia-test-x{4,8}-k2.csv        `mlsae test` rows (made up)
  expected_test.csv                           figures/test.py's out/test.csv
  test_sweep/                                 `mlsae test` rows (made up) of
                                              x64-k16, x64-k32, x32-k32, and
                                              figures/test.py's test.csv and its
                                              per-model _k / _expansion_factor tables
  mmcs.csv, embed_cos_sim.csv                 analysis summaries (made up)
  metrics.jsonl                               a training log (made up)
  prompt/model/                               a tiny random GPT-NeoX (3 layers,
                                              d_model 16, the tiny tokenizer's vocab)
  prompt/sae/                                 an SAE for it (64 latents, k 4)
  expected_prompt_heatmap.csv                 figures/prompt_heatmaps.py's probs
                                              for the reference's default prompt
  near_edges.json                             values within 1e-6 of a bin edge
                                              (float32 vs float64 may bin them
                                              either way)

Run: python3 tests/gen/gen_figures.py   (needs torch, numpy, pandas,
safetensors, natsort)
"""
import json
import os

import numpy as np
import pandas as pd
import torch
from natsort import natsorted
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "figures")
MODEL = "EleutherAI/pythia-test"
N_LAYERS = 6


def make_dists(n_latents, seed):
    g = torch.Generator().manual_seed(seed)
    counts = torch.zeros(N_LAYERS, n_latents)
    totals = torch.zeros(N_LAYERS, n_latents)
    for j in range(n_latents):
        kind = j % 8
        if kind == 0:  # never fired
            continue
        if kind == 1:  # one layer only
            layers = [int(torch.randint(0, N_LAYERS, (1,), generator=g))]
        else:
            n = int(torch.randint(2, N_LAYERS + 1, (1,), generator=g))
            layers = torch.randperm(N_LAYERS, generator=g)[:n].tolist()
        for l in layers:
            c = float(torch.randint(1, 50, (1,), generator=g))
            counts[l, j] = c
            totals[l, j] = c * float(torch.rand(1, generator=g) * 3 + 0.1)
    return {"counts": counts.contiguous(), "totals": totals.contiguous()}


# --- the reference's Dists (mlsae/analysis/dists.py), float32 -----------------
class Dists:
    def __init__(self, t):
        self.counts, self.totals = t["counts"], t["totals"]
        self.n_layers, self.n_latents = self.counts.shape
        self.layers = torch.arange(self.n_layers).unsqueeze(1)
        self.probs = self.totals / self.totals.sum(0)
        self.layer_mean = (self.probs * self.layers).sum(0)
        self.layer_var = (self.probs * self.layers**2).sum(0) - self.layer_mean**2
        self.layer_std = self.layer_var.sqrt()


def get_stats(layer_std):  # dists.py get_stats
    values = layer_std.cpu().numpy()
    std = np.nanstd(values).item()
    return {
        "mean": np.nanmean(values).item(),
        "var": np.nanvar(values).item(),
        "std": std,
        "sem": std / np.sqrt(len(values)),
    }


def normalize(x, dim=0, eps=1e-8):  # mlsae/utils.py
    norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True)
    return x / torch.max(norm, eps * torch.ones_like(norm))


def edge_distance(v, lo, hi, bins):
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, v), 0, bins)
    d = np.abs(v - edges[idx])
    d2 = np.abs(v - edges[np.clip(idx - 1, 0, bins)])
    return np.minimum(d, d2)


PROMPT = "When Mary and John went to the store, John gave a drink to"


def prompt_fixture():
    """figures/prompt_heatmaps.py get_data on a tiny model: the residual after
    each layer (hooks on the layers, as tests/gen/gen_neox.py), the MLSAE
    forward (standardize, encoder, TopK, ReLU), summed over the tokens."""
    from tokenizers import Tokenizer
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = Tokenizer.from_file(os.path.join(HERE, "..", "fixtures", "text", "tiny-tokenizer.json"))
    ids = tok.encode(PROMPT).ids
    torch.manual_seed(5)
    cfg = GPTNeoXConfig(vocab_size=707, hidden_size=16, num_hidden_layers=3,
                        num_attention_heads=4, intermediate_size=32,
                        max_position_embeddings=64, rotary_pct=0.5,
                        tie_word_embeddings=True, use_parallel_residual=True)
    model = GPTNeoXForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    mdir = os.path.join(OUT, "prompt", "model")
    model.save_pretrained(mdir, safe_serialization=True)
    for f in os.listdir(mdir):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(mdir, f))
    hidden = []
    hooks = [layer.register_forward_hook(lambda m, i, o: hidden.append(
        (o[0] if isinstance(o, tuple) else o).detach().clone())) for layer in model.gpt_neox.layers]
    with torch.no_grad():
        model(input_ids=torch.tensor([ids]))
    for h in hooks:
        h.remove()
    x = torch.stack(hidden)  # [layers, 1, pos, d]

    n_latents, k = 64, 4
    g = torch.Generator().manual_seed(6)
    enc = torch.randn(n_latents, 16, generator=g)
    dec = enc.T.clone()
    dec = dec / dec.norm(dim=0, keepdim=True)
    bias = torch.randn(16, generator=g) * 0.1
    sdir = os.path.join(OUT, "prompt", "sae")
    os.makedirs(sdir, exist_ok=True)
    save_file({"encoder.weight": enc.contiguous(), "decoder.weight": dec.contiguous(),
               "pre_encoder_bias": bias}, os.path.join(sdir, "model.safetensors"))
    with open(os.path.join(sdir, "config.json"), "w") as f:
        json.dump({"n_inputs": 16, "n_latents": n_latents, "k": k, "dead_steps_threshold": 1000,
                   "dead_threshold": 1e-3, "auxk": None, "standardize": True}, f)
    # the reference's MLSAE.forward: standardize, encode, TopK, ReLU
    mu = x.mean(dim=-1, keepdim=True)
    xs = x - mu
    xs = xs / (xs.std(dim=-1, keepdim=True) + 1e-5)
    pre = torch.nn.functional.linear(xs - bias, enc)
    srt = pre.sort(dim=-1, descending=True).values
    margin = (srt[..., k - 1] - srt[..., k]).abs().min().item()
    assert margin > 1e-4, f"TopK near-tie {margin}: pick another seed"
    topk = torch.topk(pre, k=k, sorted=False)
    values = torch.relu(topk.values)
    dense = torch.zeros(*pre.shape).scatter_(-1, topk.indices, values)  # scatter_topk
    latents = dense.squeeze(1).sum(dim=1)  # [layers, n_latents]
    latents = latents[:, latents.max(dim=0).values.gt(1e-3)]
    kept = torch.nonzero(dense.squeeze(1).sum(dim=1).max(dim=0).values.gt(1e-3)).flatten()
    probs = latents / latents.sum(dim=0, keepdim=True)
    layers = torch.arange(0, x.shape[0]).unsqueeze(-1)
    _, indices = (probs * layers).sum(0).sort(descending=True, stable=True)
    probs = probs[:, indices]
    df = pd.DataFrame(probs.numpy(), columns=[str(int(kept[i])) for i in indices])
    df.insert(0, "layer", range(x.shape[0]))
    df.to_csv(os.path.join(OUT, "expected_prompt_heatmap.csv"), index=False)
    return len(ids), margin


def main():
    os.makedirs(OUT, exist_ok=True)
    print("prompt: tokens, TopK margin", prompt_fixture())
    name = "mlsae-pythia-test-x4-k2"
    t = make_dists(128, 1)
    save_file(t, os.path.join(OUT, f"{name}-dists.safetensors"))
    t8 = make_dists(96, 2)
    save_file(t8, os.path.join(OUT, "mlsae-pythia-test-x8-k2-dists.safetensors"))
    dists = Dists(t)

    # checkpoint: the reference's MLSAE files; d_model 48 so that most
    # cosine similarities fall inside the histogram's (-0.25, 0.25)
    d_model = 48
    g = torch.Generator().manual_seed(3)
    W_dec = torch.randn(d_model, 128, generator=g)
    W_dec = W_dec / W_dec.norm(dim=0, keepdim=True)
    ckpt = os.path.join(OUT, name)
    os.makedirs(ckpt, exist_ok=True)
    save_file(
        {
            "encoder.weight": W_dec.T.contiguous(),
            "decoder.weight": W_dec.contiguous(),
            "pre_encoder_bias": torch.zeros(d_model),
        },
        os.path.join(ckpt, "model.safetensors"),
    )
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        json.dump({"n_inputs": d_model, "n_latents": 128, "k": 2, "dead_steps_threshold": 1000,
                   "dead_threshold": 1e-3, "auxk": None, "standardize": True}, f)

    # dists_heatmaps.py + heatmaps.save_heatmap: probs[:, sort desc], all-NaN dropped
    _, indices = dists.layer_mean.sort(descending=True, stable=True)
    data = dists.probs[:, indices]
    keep = ~torch.all(data.isnan(), dim=0)
    data, kept = data[:, keep], indices[keep]
    df = pd.DataFrame(data.numpy(), columns=[str(int(i)) for i in kept])
    df.insert(0, "layer", range(N_LAYERS))
    df.to_csv(os.path.join(OUT, f"expected_dists_heatmap_{name}.csv"), index=False)

    # dists_histograms.py, both variants
    near = {}
    for noninteger in (False, True):
        values = dists.layer_mean[~torch.isnan(dists.layer_mean)].cpu().numpy()
        bins = 16 * dists.n_layers
        if noninteger:
            values = np.abs(values - np.round(values))
            range_ = (0, 0.5)
            filename = f"expected_dists_histogram_noninteger_{name}.csv"
        else:
            range_ = (0, dists.n_layers - 1)
            filename = f"expected_dists_histogram_{name}.csv"
        hist, edges = np.histogram(values, bins=bins, range=range_, density=True)
        hist = np.append(hist, 0)
        pd.DataFrame({"layer": edges, "density": hist}).to_csv(os.path.join(OUT, filename),
                                                              index=False)
        # integer values (one-layer latents) sit on edges exactly in both
        d = edge_distance(values.astype(np.float64), *range_, bins)
        near["histogram_noninteger" if noninteger else "histogram"] = int(
            ((d < 1e-6) & (d > 0)).sum())

    # dists_cos_sim_heatmaps.py, x and y from the same pair (the reference
    # takes x from the unsorted layer_mean)
    W = normalize(W_dec)
    lm_sorted, indices = dists.layer_mean.sort(descending=True, stable=True)
    W = W[:, indices]
    layer_mean = lm_sorted.view(-1, 1) - lm_sorted.view(1, -1)
    cos_sim = torch.mm(W.T, W)
    iu = torch.triu_indices(*cos_sim.shape, offset=1)
    x = layer_mean[iu[0], iu[1]].numpy()
    y = cos_sim[iu[0], iu[1]].numpy()
    counts, xe, ye = np.histogram2d(x, y, bins=[64, 512], range=[(0, 5), (-0.25, 0.25)])
    rows = [{"x": xe[i], "y": ye[j], "count": int(counts[i, j])}
            for i in range(64) for j in range(512) if counts[i, j] > 0]
    pd.DataFrame(rows).to_csv(os.path.join(OUT, f"expected_dists_cos_sim_heatmap_{name}.csv"),
                              index=False)
    ok = ~np.isnan(x)
    dx = edge_distance(x[ok].astype(np.float64), 0, 5, 64)
    dy = edge_distance(y[ok].astype(np.float64), -0.25, 0.25, 512)
    near["cos_sim_pairs"] = int(ok.sum())
    near["cos_sim_in_range"] = int(counts.sum())
    near["cos_sim"] = int(((dx < 1e-6) & (dx > 0)).sum() + (dy < 1e-6).sum())
    with open(os.path.join(OUT, "near_edges.json"), "w") as f:
        json.dump(near, f, indent=1)

    # dists_layer_std.py over the sweep x {4, 8}, k {2}
    rows = []
    for ef, tensors in ((4, t), (8, t8)):
        d = Dists(tensors)
        stats = get_stats(d.layer_std)
        rows.append({"model_name": MODEL, "n_layers": d.n_layers, "n_latents": d.n_latents,
                     "expansion_factor": ef, "k": 2, "tuned_lens": False, **stats,
                     **{f"{k}_rel": v / d.n_layers for k, v in stats.items()}})
    pd.DataFrame(rows).to_csv(os.path.join(OUT, "expected_dists_layer_std.csv"), index=False)

    # `mlsae test` rows and figures/test.py's out/test.csv
    rng = np.random.default_rng(4)
    cols = ["loss/total", "train/fvu/avg", "train/fvu/layer_10", "train/fvu/layer_2",
            "train/mse/avg", "train/l1/avg", "val/loss/delta/avg", "val/logit/kldiv/avg"]
    dfs, columns = [], []
    for ef in (8, 4):
        df = pd.DataFrame([{c: float(rng.uniform(0.01, 2)) for c in cols}])
        fname = f"test_mlsae-pythia-test-x{ef}-k2.csv"
        df.to_csv(os.path.join(OUT, fname), index=False)
        columns = list(set(columns + list(df.columns)))
        df["model_name"] = "pythia-test"
        df["expansion_factor"] = ef
        df["k"] = 2
        df["tuned_lens"] = False
        dfs.append(df)
    df = pd.concat(dfs)
    df["n_latents"] = np.nan  # figures/test.py knows only the paper's models
    df = df[["model_name", "expansion_factor", "k", "tuned_lens", "n_latents"]
            + natsorted(columns)]
    df = df.sort_values(["n_latents", "expansion_factor", "k", "tuned_lens"])
    df.to_csv(os.path.join(OUT, "expected_test.csv"), index=False)

    # figures/test.py's per-model tables (expansion factor 64 varying k; k 32
    # varying the expansion factor), on a sweep that has them
    tdir = os.path.join(OUT, "test_sweep")
    os.makedirs(tdir, exist_ok=True)
    dfs, columns = [], []
    for ef, k in ((64, 32), (32, 32), (64, 16)):
        df = pd.DataFrame([{c: float(rng.uniform(0.01, 2)) for c in cols}])
        df.to_csv(os.path.join(tdir, f"test_mlsae-pythia-test-x{ef}-k{k}.csv"), index=False)
        columns = list(set(columns + list(df.columns)))
        df["model_name"] = "pythia-test"
        df["expansion_factor"] = ef
        df["k"] = k
        df["tuned_lens"] = False
        dfs.append(df)
    df = pd.concat(dfs)
    df["n_latents"] = np.nan
    df = df[["model_name", "expansion_factor", "k", "tuned_lens", "n_latents"]
            + natsorted(columns)]
    df = df.sort_values(["n_latents", "expansion_factor", "k", "tuned_lens"])
    df.to_csv(os.path.join(tdir, "expected_test.csv"), index=False)
    is_model = df["model_name"] == "pythia-test"
    df[is_model & (df["expansion_factor"] == 64) & ~df["tuned_lens"]].to_csv(
        os.path.join(tdir, "expected_test_pythia-test_k.csv"), index=False)
    df[is_model & (df["k"] == 32) & ~df["tuned_lens"]].to_csv(
        os.path.join(tdir, "expected_test_pythia-test_expansion_factor.csv"), index=False)

    # analysis summaries as the analyses write them (mmcs.py, embed_cos_sim.py)
    pd.DataFrame([
        {"model_name": MODEL, "n_latents": 256 * ef, "expansion_factor": ef, "k": 2,
         "tuned_lens": False, "mean": 0.1 * ef, "var": 0.01, "std": 0.1, "sem": 0.001 * ef}
        for ef in (4, 8, 16)]).to_csv(os.path.join(OUT, "mmcs.csv"), index=False)
    pd.DataFrame([
        {"model_name": MODEL, "n_latents": 256 * ef, "expansion_factor": ef, "k": 2,
         "tuned_lens": False, "in_mean": 0.2, "in_var": 0.01, "in_std": 0.1, "in_sem": 0.01,
         "out_mean": 0.3, "out_var": 0.01, "out_std": 0.1, "out_sem": 0.02}
        for ef in (4, 8)]).to_csv(os.path.join(OUT, "embed_cos_sim.csv"), index=False)
    with open(os.path.join(OUT, "metrics.jsonl"), "w") as f:
        for step in range(1, 9):
            row = {"step": step, "micro_batch": step, "tokens": 1024 * step,
                   "loss/total": 2.0 / step, "loss/mse": 1.5 / step, "loss/auxk": None,
                   "train/dead/abs": 0, "train/dead/rel": 0.5 / step,
                   "train/fvu/avg": 1.0 / step}
            f.write(json.dumps(row) + "\n")
            if step % 4 == 0:
                f.write(json.dumps({"step": step, "micro_batch": step, "tokens": 1024 * step,
                                    "val/loss/delta/avg": 0.1 * step}) + "\n")
    print("wrote", OUT, near)


if __name__ == "__main__":
    main()
