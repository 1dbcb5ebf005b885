#!/usr/bin/env python3
"""Golden fixtures for `mlsae serve` (tests/test_server.c).

Writes tests/fixtures/server/:
  model/       a small random GPT-NeoX (HF format; vocab 712 > the 707 ids of
               tests/fixtures/text/tiny-tokenizer.json, so some logits have no
               token string), 3 layers, context 40
  sae/         an MLSAE in the reference's format (config.json + model.safetensors)
  examples.db  an examples database with the reference's schema
  expected.json  what each API endpoint must answer for a few prompts

The numbers are the reference Analyser's maths (mlsae/api/analyser.py) run
with PyTorch / transformers / tokenizers on those files, with the fixes
SPEC §7 asks for: a layer index means that layer (not `layer or n - 1`),
and logits from a middle layer use the true positions and the causal mask
(transformers' own forward with the layer's output replaced by a hook).
Special tokens are not skipped. Run from the repository root:
    python3 tests/gen/gen_server.py
"""
import json
import os
import shutil
import sqlite3
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_neox import hf_state, randomise, run, write_config  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "server")
TOKENIZER = os.path.join(HERE, "..", "fixtures", "text", "tiny-tokenizer.json")
SPEC = dict(name="server", vocab=712, d=16, heads=2, layers=3, ff=32, parallel=True, pct=0.25,
            base=10000, max_pos=40, style="pythia")
N_LATENTS, K = 64, 4
BINS, NUM_TOKENS = 64, 16
DEAD_TOKENS_THRESHOLD = 10_000_000
PROMPTS = ["The cat sat<|endoftext|> on the mat.", "Hello, world! 123"]
STEER = [(5, 1, -3.0), (17, 0, 2.5)]  # (latent, layer, factor) per prompt

REPLACE = {"âĢĶ": "—", "âĢĵ": "–", "âĢĭ": "", "âĢľ": '"', "âĢĿ": '"', "âĢĺ": "'", "âĢĻ": "'",
           "Ġ": " ", "Ċ": "\n", "ĉ": "\t"}


def replace_special(token):
    """The reference's token-string clean-up (same table, same order)."""
    for k, v in REPLACE.items():
        token = token.replace(k, v) if token is not None else ""
    return token


def r7(x):
    return float(f"{x:.7g}")


def build_model():
    gen = torch.Generator().manual_seed(2024)
    config = GPTNeoXConfig(vocab_size=SPEC["vocab"], hidden_size=SPEC["d"],
                           num_hidden_layers=SPEC["layers"], num_attention_heads=SPEC["heads"],
                           intermediate_size=SPEC["ff"], max_position_embeddings=SPEC["max_pos"],
                           use_parallel_residual=True, layer_norm_eps=1e-5,
                           rotary_pct=SPEC["pct"], rotary_emb_base=SPEC["base"])
    config._attn_implementation = "eager"
    model = GPTNeoXForCausalLM(config).float().eval()
    randomise(model, gen)
    out = os.path.join(OUT, "model")
    os.makedirs(out)
    write_config(SPEC, os.path.join(out, "config.json"))
    save_file(hf_state(model), os.path.join(out, "model.safetensors"), {"format": "pt"})
    return model


def build_sae(d):
    """The reference's MLSAE initialisation, plus a random pre-encoder bias."""
    gen = torch.Generator().manual_seed(77)
    bound = 1 / d ** 0.5
    enc = (torch.rand(N_LATENTS, d, generator=gen) * 2 - 1) * bound
    dec = enc.T.clone()
    dec = dec / dec.norm(dim=0)
    bias = 0.3 * torch.randn(d, generator=gen)
    out = os.path.join(OUT, "sae")
    os.makedirs(out)
    cfg = dict(n_inputs=d, n_latents=N_LATENTS, k=K, dead_steps_threshold=1000,
               dead_threshold=1e-3, auxk=8, standardize=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file({"encoder.weight": enc.contiguous(), "decoder.weight": dec.contiguous(),
               "pre_encoder_bias": bias, "last_nonzero": torch.zeros(N_LATENTS, dtype=torch.int64)},
              os.path.join(out, "model.safetensors"))
    return enc, dec, bias


def sae_forward(x, enc, dec, bias):
    """mlsae/model/autoencoder.py: standardize, encode, TopK, ReLU, decode."""
    mu = x.mean(-1, keepdim=True)
    xc = x - mu
    std = xc.std(-1, keepdim=True)
    xs = xc / (std + 1e-5)
    pre = F.linear(xs - bias, enc)
    top = torch.topk(pre, K, sorted=False)
    values = torch.relu(top.values)
    latents = torch.zeros(*x.shape[:-1], N_LATENTS).scatter_(-1, top.indices, values)
    recons = (F.linear(latents, dec) + bias) * std + mu
    return values, top.indices, latents, recons


def token_str(tok, i):
    return replace_special(tok.id_to_token(i)) or ""


def max_logits(tok, logits):
    probs = F.softmax(logits, dim=-1)
    out = []
    for p in range(logits.shape[0]):
        top = torch.topk(logits[p], NUM_TOKENS)
        out.append([{"id": i, "token": token_str(tok, i), "logit": r7(v),
                     "prob": r7(probs[p, i].item())}
                    for i, v in zip(top.indices.tolist(), top.values.tolist())])
    return {"max": out}


def logit_changes(tok, before, after):
    change = after - before
    res = {"max": [], "min": []}
    for p in range(change.shape[0]):
        for key, largest in (("max", True), ("min", False)):
            top = torch.topk(change[p], NUM_TOKENS, largest=largest)
            res[key].append([{"id": i, "token": token_str(tok, i), "logit": r7(v), "prob": None}
                             for i, v in zip(top.indices.tolist(), top.values.tolist())])
    return res


def analyse(model, tok, enc, dec, bias, prompt, steer):
    ids = tok.encode(prompt).ids
    tokens = torch.tensor([ids])
    hidden, logits, _, _ = run(model, tokens)
    inputs = hidden[:, 0]                      # [n_layers, P, d]
    logits = logits[0]
    values, indices, latents, recons = sae_forward(inputs, enc, dec, bias)
    L, P = inputs.shape[0], inputs.shape[1]
    metrics = {}
    counts = torch.bincount(indices.reshape(-1), minlength=N_LATENTS)
    metrics["train/dead/rel"] = r7((counts < P / DEAD_TOKENS_THRESHOLD).sum().item() / N_LATENTS)
    l1 = values.abs().sum(dim=(1, 2)) / P
    mse = ((recons - inputs) ** 2).mean(dim=(1, 2))
    fvu = mse / inputs.var(dim=(1, 2))
    for name, t in (("l1", l1), ("mse", mse), ("fvu", fvu)):
        for layer in range(L):
            metrics[f"train/{name}/layer_{layer}"] = r7(t[layer].item())
        metrics[f"train/{name}/avg"] = r7(t.mean().item())
    mx = latents.max().item()
    edges = [round(e, 3) for e in torch.linspace(0, mx, BINS + 1).tolist()]
    hist = [torch.histc(latents[layer], bins=BINS, min=0, max=mx).int().tolist()
            for layer in range(L)]

    def spliced(layer, h):
        before = run(model, tokens, replace=(layer, inputs[layer][None]))[1][0]
        after = run(model, tokens, replace=(layer, h[None]))[1][0]
        return [max_logits(tok, after), logit_changes(tok, before, after)]

    recon = {str(layer): spliced(layer, recons[layer]) for layer in (0, L - 1)}
    latent, layer, factor = steer
    steered = spliced(layer, inputs[layer] + factor * dec[:, latent])
    return {
        "prompt": prompt,
        "tokens": [{"id": i, "token": token_str(tok, i), "pos": p} for p, i in enumerate(ids)],
        "metrics": metrics,
        "latent_activations": {"values": [[[r7(v) for v in row] for row in layer]
                                          for layer in latents.tolist()],
                               "max": [[r7(v) for v in row]
                                       for row in latents.max(dim=-1).values.tolist()]},
        "layer_histograms": {"values": hist, "edges": edges},
        "logits_input": max_logits(tok, logits),
        "logits_recon": recon,
        "steer": {"latent": latent, "layer": layer, "factor": factor, "result": steered},
    }


def build_examples():
    """A few rows in the reference's examples table (mlsae/analysis/examples.py)."""
    path = os.path.join(OUT, "examples.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE examples (id INTEGER PRIMARY KEY, latent INTEGER, layer INTEGER, "
                 "token_id INTEGER, token TEXT, act REAL, token_ids JSON, tokens JSON, acts JSON)")
    rows = [
        (5, 1, 262, " the", 0.5, [11, 262, 3290, 13], ["Ġa", "Ġthe", "Ċ", "âĢĶ"], [0, 0.5, 0.1, 0]),
        (5, 1, 40, "I", 2.25, [40, 1, 2], ["I", "Ġam", "ĉx"], [2.25, 0, 0.75]),
        (5, 1, 50, "S", 1.0, [50], ["S"], [1.0]),
        (5, 2, 50, "S", 9.0, [50], ["S"], [9.0]),
        (6, 1, 50, "S", 8.0, [50], ["S"], [8.0]),
    ]
    for latent, layer, tid, t, act, ids, toks, acts in rows:
        conn.execute("INSERT INTO examples (latent, layer, token_id, token, act, token_ids, tokens,"
                     " acts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (latent, layer, tid, t, act, json.dumps(ids), json.dumps(toks), json.dumps(acts)))
    conn.commit()
    cur = conn.execute("SELECT latent, layer, token_id, token, act, token_ids, tokens, acts FROM "
                       "examples WHERE layer = ? AND latent = ? ORDER BY act DESC", (1, 5))
    expected = [dict(latent=r[0], layer=r[1], token_id=r[2], token=r[3], act=r[4],
                     token_ids=json.loads(r[5]),
                     tokens=[replace_special(t) for t in json.loads(r[6])],
                     acts=json.loads(r[7])) for r in cur.fetchall()]
    conn.close()
    return {"layer": 1, "latent": 5, "result": expected}


def main():
    torch.manual_seed(0)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    model = build_model()
    enc, dec, bias = build_sae(SPEC["d"])
    tok = Tokenizer.from_file(TOKENIZER)
    prompts = [analyse(model, tok, enc, dec, bias, p, s) for p, s in zip(PROMPTS, STEER)]
    expected = {"n_layers": SPEC["layers"], "n_latents": N_LATENTS, "k": K,
                "max_positions": SPEC["max_pos"], "prompts": prompts, "examples": build_examples()}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    for p in prompts:
        print(f"{p['prompt']!r}: {len(p['tokens'])} tokens, fvu/avg "
              f"{p['metrics']['train/fvu/avg']:.4f}, max activation "
              f"{p['layer_histograms']['edges'][-1]}")


if __name__ == "__main__":
    main()
