#!/usr/bin/env python3
"""Golden fixtures for the analyses (tests/test_analysis.c, test_analysis.sh).

Writes tests/fixtures/analysis/:
  model/        a small random-weight GPTNeoXForCausalLM (HF format) with the
                tiny test tokenizer as its tokenizer.json
  sae/          an MLSAE checkpoint (config.json + model.safetensors, the
                reference's layout) of the model's d_model
  data.jsonl    a few documents of random words
  expected.json the reference's analysis maths on that model, SAE and data

The maths is the reference's own, reproduced in torch from
tim-lawson/mlsae: the transformer's residual stream after each layer with
special tokens zeroed (mlsae/model/transformer.py), the encoder's
standardize + TopK (mlsae/model/autoencoder.py), dists' Metric.update,
Dists and get_stats (mlsae/analysis/dists.py) and get_examples
(mlsae/analysis/examples.py). Batches are the reference's sequence building
(tests/gen/gen_sequences.py: group_sequences).

Two documented differences are applied here as in the C code (doc/analysis.md):
the token budget is data.max_tokens exactly (the reference's loops run two
batches past it), and an example's context window is clipped to its own
sequence and keeps float32 activations (the reference slices the flattened
batch and rounds to float16).

Run from the repository root: python3 tests/gen/gen_analysis.py
"""
import json
import os
import random
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast
from transformers.utils import logging

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_sequences import group_sequences  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "analysis")
TOKENIZER = os.path.join(HERE, "..", "fixtures", "text", "tiny-tokenizer.json")

D, N_LAYERS, EXPANSION, K = 16, 3, 4, 4
MAX_LENGTH, BATCH_SIZE, MAX_TOKENS, LOG_EVERY = 16, 3, 200, 2
N_EXAMPLES, N_TOKENS = 3, 2
N_EMBEDS, SELECT = 3, [5, 2, 63]
THRESHOLD = 1e-3  # get_examples' dead_threshold default


def make_model():
    cfg = GPTNeoXConfig(
        vocab_size=712, hidden_size=D, num_hidden_layers=N_LAYERS, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=64, rotary_pct=0.5,
        use_parallel_residual=True, tie_word_embeddings=False, hidden_act="gelu",
        bos_token_id=0, eos_token_id=0)
    torch.manual_seed(1)
    model = GPTNeoXForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p) if name.endswith("weight")
                        else 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    return model


def make_sae():
    """The reference's initialisation (autoencoder.py), plus a random bias."""
    torch.manual_seed(2)
    n_latents = EXPANSION * D
    enc = torch.empty(n_latents, D).uniform_(-1 / D ** 0.5, 1 / D ** 0.5)
    # A direction shared by every encoder row, along the bias: rows whose
    # input leans against it (and the zeroed special-token rows, whose
    # encoder input is -bias) have only negative pre-activations, so some
    # TopK values are negative and the raw values (not the ReLU'd ones) are
    # tested.
    u = torch.randn(D)
    u = u / u.norm()
    enc = enc + 0.5 * u
    dec = enc.T.clone()
    dec = dec / dec.norm(dim=0, keepdim=True)
    bias = 0.3 * u
    config = {"n_inputs": D, "n_latents": n_latents, "k": K, "dead_steps_threshold": 76,
              "dead_threshold": 0.001, "auxk": 8, "standardize": True}
    tensors = {"encoder.weight": enc.contiguous(), "decoder.weight": dec.contiguous(),
               "pre_encoder_bias": bias, "last_nonzero": torch.zeros(n_latents, dtype=torch.long)}
    return config, tensors


def make_docs():
    rng = random.Random(3)
    words = ("the of and to in is was for that with as on by at from his her an which are "
             "be this it had not or have one all were but their they she he there been "
             "king queen river stone light water house night time world").split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(20, 60))).capitalize() + "."
            for _ in range(8)]


def hidden_states(model, tokens, special):
    """The residual stream after each layer, special tokens zeroed
    (transformer.py: Transformer.forward with skip_special_tokens)."""
    outs = []
    hooks = [layer.register_forward_hook(
        lambda m, i, o: outs.append((o[0] if isinstance(o, tuple) else o).detach()))
        for layer in model.gpt_neox.layers]
    with torch.no_grad():
        model(tokens)
    for h in hooks:
        h.remove()
    x = torch.stack(outs)  # layer batch pos d
    mask = torch.isin(tokens, torch.tensor(special))
    x[:, mask, :] = 0.0
    return x


def encode_topk(tensors, x):
    """autoencoder.py: standardize, subtract the bias, encoder, TopK."""
    mu = x.mean(dim=-1, keepdim=True)
    x = x - mu
    std = x.std(dim=-1, keepdim=True)
    x = x / (std + 1e-5)
    latents = (x - tensors["pre_encoder_bias"]) @ tensors["encoder.weight"].T
    return torch.topk(latents, k=K, sorted=False)


def layer_std_stats(counts, totals):
    """dists.py: Dists.layer_std (float32), then get_stats."""
    layers = torch.arange(counts.shape[0]).unsqueeze(1)
    probs = totals / totals.sum(0)
    layer_mean = (probs * layers).sum(0)
    layer_var = (probs * layers ** 2).sum(0) - layer_mean ** 2
    values = layer_var.sqrt().numpy()
    std = np.nanstd(values).item()
    out = {"mean": np.nanmean(values).item(), "var": np.nanvar(values).item(), "std": std,
           "sem": std / np.sqrt(len(values))}
    return {k: (None if np.isnan(v) else v) for k, v in out.items()}


class VarianceMetric:
    """variances.py Metric: dense probs over layers per (token, latent)."""

    def __init__(self, n_layers):
        self.layers = torch.arange(n_layers)
        self.rows = []

    def var(self, x):
        layers = self.layers.view((len(self.layers), *([1] * (len(x.shape) - 1))))
        ell = (layers * x).sum(dim=0)
        ell_sq = ((layers ** 2) * x).sum(dim=0)
        return ell_sq - ell ** 2

    def update(self, latents):
        probs = (latents / latents.sum(dim=0)).nan_to_num_(0.0)
        e_var_l_f = self.var(probs.mean(1)).mean()
        e_var_l_tf = self.var(probs).mean()
        var_l = self.var(probs.mean((1, 2)))
        self.rows.append([e_var_l_f, e_var_l_tf, var_l, e_var_l_f / var_l, e_var_l_tf / e_var_l_f])

    def compute(self):
        names = ["exp_var_l_f", "exp_var_l_tf", "var_l", "rel_var_f", "rel_var_t"]
        return {n: torch.stack([r[i] for r in self.rows]).mean().item()
                for i, n in enumerate(names)}


class RunningMetric:
    """figures/resid_cos_sim.py VarianceMetric."""

    def __init__(self, size):
        self.count = 0
        self.mean = torch.zeros(size, dtype=torch.float64)
        self.squared = torch.zeros(size, dtype=torch.float64)

    def update(self, x):
        self.count += x.shape[0]
        delta1 = x - self.mean
        self.mean += torch.sum(delta1, dim=0) / self.count
        delta2 = x - self.mean
        self.squared += torch.sum(delta1 * delta2, dim=0)

    def compute(self):
        var = self.squared / (self.count - 1)
        std = var.sqrt()
        return {"mean": self.mean.item(), "var": var.item(), "std": std.item(),
                "sem": (std / self.count ** 0.5).item()}


def resid_cos_sim(model, batches, special):
    """figures/resid_cos_sim.py save_resid_cos_sim: two passes, over the
    budget's tokens."""
    means = [RunningMetric((D,)) for _ in range(N_LAYERS)]
    norms = [RunningMetric((1,)) for _ in range(N_LAYERS)]
    cos = [RunningMetric((1,)) for _ in range(N_LAYERS - 1)]
    for pass_ in (1, 2):
        seen = 0
        for batch in batches:
            if seen >= MAX_TOKENS:
                break
            tokens = torch.tensor(batch)
            valid = min(tokens.numel(), MAX_TOKENS - seen)
            seen += valid
            x = hidden_states(model, tokens, special).reshape(N_LAYERS, -1, D)[:, :valid].double()
            if pass_ == 1:
                for layer in range(N_LAYERS):
                    means[layer].update(x[layer])
                    norms[layer].update(x[layer].norm(dim=-1).unsqueeze(-1))
            else:
                m = torch.stack([mm.mean for mm in means])
                x = x - m.unsqueeze(1)
                x = x / torch.max(x.norm(dim=-1, keepdim=True), torch.tensor(1e-8))
                for layer in range(N_LAYERS - 1):
                    cos[layer].update((x[layer] * x[layer + 1]).sum(-1).unsqueeze(-1))
    return {"l2_norm": [n.compute() for n in norms], "cos_sim": [c.compute() for c in cos]}


def mmcs(decoder, chunk_size=None):
    """figures/mmcs.py get_max_cos_sim: the full matrix below max_latents
    (16384), else the chunked loop. The chunked loop's mask is the triangle
    of each chunk in chunk-local column numbers, so for every chunk after
    the first it compares latent j with latents i < j - start and i >= the
    chunk's end instead of i < j: it disagrees with the full matrix (see
    doc/analysis.md). The expected values are the full matrix's."""
    w = decoder / torch.max(decoder.norm(dim=0, keepdim=True), torch.tensor(1e-8))
    n_latents = w.shape[1]
    if chunk_size is None:
        return torch.triu(w.T @ w, diagonal=1).max(dim=0).values
    out = torch.zeros(n_latents)
    for i in range(0, n_latents, chunk_size):
        chunk = w.T @ w[:, i:i + chunk_size]
        mask = torch.ones_like(chunk, dtype=torch.bool)
        mask[:i + chunk_size, :] = torch.triu(mask[:i + chunk_size, :], diagonal=1)
        chunk = chunk.masked_fill(~mask, float("-inf"))
        out[i:i + chunk_size] = torch.max(out[i:i + chunk_size], chunk.max(dim=0).values)
    return out


def main():
    logging.set_verbosity_error()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "model"))
    os.makedirs(os.path.join(OUT, "sae"))
    model = make_model()
    model.save_pretrained(os.path.join(OUT, "model"), safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(OUT, "model", extra)
        if os.path.exists(path):
            os.remove(path)
    shutil.copy(TOKENIZER, os.path.join(OUT, "model", "tokenizer.json"))
    config, tensors = make_sae()
    with open(os.path.join(OUT, "sae", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file(tensors, os.path.join(OUT, "sae", "model.safetensors"))
    docs = make_docs()
    with open(os.path.join(OUT, "data.jsonl"), "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")

    tok = PreTrainedTokenizerFast(tokenizer_file=TOKENIZER, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                  pad_token="<|padding|>")
    special = sorted({tok.eos_token_id, tok.pad_token_id, tok.bos_token_id})
    seqs = group_sequences(tok, docs, MAX_LENGTH)
    batches = [seqs[i:i + BATCH_SIZE] for i in range(0, len(seqs), BATCH_SIZE)]
    assert len(batches) * BATCH_SIZE * MAX_LENGTH > MAX_TOKENS + 2 * BATCH_SIZE * MAX_LENGTH

    n_latents = EXPANSION * D
    counts = torch.zeros(N_LAYERS, n_latents)
    totals = torch.zeros(N_LAYERS, n_latents)
    steps, heaps = [], {}
    variances = VarianceMetric(N_LAYERS)
    seen, order = 0, 0
    expected_neg = []
    cond = 1.0
    for i, batch in enumerate(batches):
        if seen >= MAX_TOKENS:
            break
        tokens = torch.tensor(batch)
        rows_per_layer = tokens.numel()
        valid = min(rows_per_layer, MAX_TOKENS - seen)
        x = hidden_states(model, tokens, special)
        topk = encode_topk(tensors, x)
        values = topk.values.reshape(N_LAYERS, rows_per_layer, K)
        expected_neg.append(int((values[:, :valid] < 0).sum()))
        indices = topk.indices.reshape(N_LAYERS, rows_per_layer, K)
        # dists.py Metric.update, over the budget's rows
        for layer in range(N_LAYERS):
            idx = indices[layer, :valid].reshape(-1)
            val = values[layer, :valid].reshape(-1)
            counts[layer].put_(idx, torch.ones_like(idx, dtype=torch.float), accumulate=True)
            totals[layer].put_(idx, val, accumulate=True)
        seen += valid
        # variances.py: scatter_topk, then Metric.update on the budget's tokens
        dense = torch.zeros(N_LAYERS, rows_per_layer, n_latents).scatter_(-1, indices, values)
        variances.update(dense[:, :valid, :].double())
        # the shares' condition number: sum |a| / |sum a| over (token, latent)
        a = dense[:, :valid, :].double()
        s_abs, s = a.abs().sum(0), a.sum(0)
        live = s_abs > 0
        cond = max(cond, (s_abs[live] / s[live].abs()).max().item())
        if i % LOG_EVERY == 0:
            steps.append({"step": i, "tokens": seen, **layer_std_stats(counts, totals)})
        # examples.py get_examples, window clipped to the sequence, float32
        flat_tokens = tokens.reshape(-1).tolist()
        for layer in range(N_LAYERS):
            for pos in range(valid):
                for kk in range(K):
                    act = values[layer, pos, kk].item()
                    if not act > THRESHOLD:
                        continue
                    latent = indices[layer, pos, kk].item()
                    p = pos % MAX_LENGTH
                    start = pos - p
                    lo, hi = max(0, p - N_TOKENS), min(MAX_LENGTH, p + N_TOKENS)
                    window = range(start + lo, start + hi)
                    token_ids = [flat_tokens[t] for t in window]
                    acts = [torch.where(indices[layer, t] == latent, values[layer, t],
                                        0.0).sum().item() for t in window]
                    heaps.setdefault((latent, layer), []).append({
                        "latent": latent, "layer": layer, "token_id": flat_tokens[pos],
                        "token": tok.decode(flat_tokens[pos]), "act": act,
                        "token_ids": token_ids, "tokens": tok.convert_ids_to_tokens(token_ids),
                        "acts": acts, "order": order + pos})
        order += rows_per_layer

    layers = torch.arange(N_LAYERS).unsqueeze(1)
    per_latent = []
    for j in range(n_latents):
        c, t = counts[:, j], totals[:, j]
        probs = t / t.sum()
        lm = (probs * layers[:, 0]).sum().item()
        lv = (probs * (layers[:, 0] - lm) ** 2).sum().item()  # two-pass; see doc/analysis.md
        if t.sum().item() == 0:  # no distribution: NaN there, null here (JSON)
            lm = lv = None
        per_latent.append({"latent": j, "count": c.sum().item(), "total": t.sum().item(),
                           "mean": (t.sum() / (c.sum() + 1e-8)).item(),
                           "layer_mean": lm, "layer_var": lv,
                           "layer_std": None if lv is None or lv < 0 else float(np.sqrt(lv))})
    examples = []
    for key in sorted(heaps):
        rows = sorted(heaps[key], key=lambda e: (-e["act"], e["order"]))[:N_EXAMPLES]
        for e in rows:
            del e["order"]
            examples.append(e)
    max_cos_sim = mmcs(tensors["decoder.weight"])
    chunked = mmcs(tensors["decoder.weight"], chunk_size=16)
    print(f"mmcs: full {max_cos_sim.mean().item():.6f}, reference's chunked loop "
          f"{chunked.mean().item():.6f}", file=sys.stderr)
    # figures/embed_cos_sim.py get_embed_cos_sim, every latent and a selection
    w_dec = tensors["decoder.weight"]
    w_dec = w_dec / torch.max(w_dec.norm(dim=0, keepdim=True), torch.tensor(1e-8))
    embed = {}
    for which, m in (("in", model.get_input_embeddings()), ("out", model.get_output_embeddings())):
        e = m.weight.detach()
        e = e / torch.max(e.norm(dim=1, keepdim=True), torch.tensor(1e-8))
        for sel_name, sel in (("all", list(range(n_latents))), ("sel", SELECT)):
            topk = torch.topk(e @ w_dec[:, sel], k=N_EMBEDS, dim=0)
            best = topk.values[0, :]
            embed[f"{which}_{sel_name}"] = {
                "rows": [{"latent": latent, "token": tok.decode(topk.indices[i, li].item()),
                          "token_id": topk.indices[i, li].item(),
                          "sim": topk.values[i, li].item()}
                         for li, latent in enumerate(sel) for i in range(N_EMBEDS)],
                "mean": best.mean().item(), "var": best.var().item(), "std": best.std().item(),
                "sem": best.std().item() / np.sqrt(len(sel))}
    expected = {
        "about": "tests/gen/gen_analysis.py: the reference's analysis maths on this fixture",
        "max_length": MAX_LENGTH, "batch_size": BATCH_SIZE, "max_tokens": MAX_TOKENS,
        "log_every_n_steps": LOG_EVERY, "n_examples": N_EXAMPLES, "n_tokens": N_TOKENS,
        "n_layers": N_LAYERS, "n_latents": n_latents, "k": K,
        "counts": counts.tolist(), "totals": totals.tolist(),
        "latents": per_latent, "steps": steps, "examples": examples,
        "variances": {**variances.compute(), "step": len(variances.rows) - 1, "cond": cond},
        "embed": embed, "n_embeds": N_EMBEDS, "select": SELECT,
        "resid": resid_cos_sim(model, batches, special),
        "mmcs": {"max_cos_sim": max_cos_sim.tolist(), "mean": max_cos_sim.mean().item(),
                 "var": max_cos_sim.var().item(), "std": max_cos_sim.std().item(),
                 "sem": max_cos_sim.std().item() / max_cos_sim.size(0) ** 0.5},
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print(f"{int((torch.tensor(expected_neg) > 0).sum())} batches with negative TopK values",
          file=sys.stderr)
    print(f"{len(seqs)} sequences, {len(steps)} step rows, {len(examples)} examples",
          file=sys.stderr)


if __name__ == "__main__":
    main()
