#!/usr/bin/env python3
"""The reference's `dists` loop (mlsae/analysis/dists.py: get_tensors with
Metric.update) re-implemented in PyTorch on the CPU, for bench_analysis.sh:
the residual stream after each layer of a HF GPTNeoXForCausalLM (hooks on the
layers, special tokens zeroed as mlsae/model/transformer.py), the MLSAE
encoder's standardize + TopK (mlsae/model/autoencoder.py), and put_ with
accumulate into counts and totals per layer. Also writes the random SAE the
benchmark uses.

Usage: bench_analysis.py make-sae DIR D N_LATENTS K
       bench_analysis.py dists MODEL_DIR SAE_DIR TOKENS_FILE THREADS
TOKENS_FILE: int32 token ids [n_sequences, 2048] (raw), the sequences the C
run streamed. Prints one JSON line: tokens, seconds, tokens_per_s.
"""
import json
import os
import sys
import time

import numpy as np
import torch


def make_sae(out, d, n_latents, k):
    from safetensors.torch import save_file
    torch.manual_seed(0)
    enc = torch.empty(n_latents, d).uniform_(-1 / d ** 0.5, 1 / d ** 0.5)
    dec = enc.T.clone()
    dec = dec / dec.norm(dim=0, keepdim=True)
    os.makedirs(out, exist_ok=True)
    json.dump({"n_inputs": d, "n_latents": n_latents, "k": k, "dead_steps_threshold": 76,
               "dead_threshold": 0.001, "auxk": 256, "standardize": True},
              open(os.path.join(out, "config.json"), "w"))
    save_file({"encoder.weight": enc.contiguous(), "decoder.weight": dec.contiguous(),
               "pre_encoder_bias": 0.01 * torch.randn(d),
               "last_nonzero": torch.zeros(n_latents, dtype=torch.long)},
              os.path.join(out, "model.safetensors"))


@torch.no_grad()
def dists(model_dir, sae_dir, tokens_file, threads):
    from safetensors.torch import load_file
    from transformers import GPTNeoXForCausalLM
    torch.set_num_threads(threads)
    model = GPTNeoXForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    sae = load_file(os.path.join(sae_dir, "model.safetensors"))
    k = json.load(open(os.path.join(sae_dir, "config.json")))["k"]
    enc, bias = sae["encoder.weight"], sae["pre_encoder_bias"]
    n_latents = enc.shape[0]
    seqs = torch.from_numpy(np.fromfile(tokens_file, dtype=np.int32).reshape(-1, 2048)).long()
    n_layers = model.config.num_hidden_layers
    counts = torch.zeros(n_layers, n_latents)
    totals = torch.zeros(n_layers, n_latents)
    outs = []
    for layer in model.gpt_neox.layers:
        layer.register_forward_hook(
            lambda m, i, o: outs.append(o[0] if isinstance(o, tuple) else o))
    t0 = time.perf_counter()
    for i in range(seqs.shape[0]):
        tokens = seqs[i:i + 1]
        outs.clear()
        model.gpt_neox(tokens)  # the residual stream; the reference skips the LM head too
        x = torch.stack(outs)
        x[:, (tokens == 0) | (tokens == 1), :] = 0.0
        mu = x.mean(dim=-1, keepdim=True)
        x = x - mu
        x = x / (x.std(dim=-1, keepdim=True) + 1e-5)
        topk = torch.topk((x - bias) @ enc.T, k=k, sorted=False)
        for layer in range(n_layers):
            idx = topk.indices[layer].reshape(-1)
            counts[layer].put_(idx, torch.ones_like(idx, dtype=torch.float), accumulate=True)
            totals[layer].put_(idx, topk.values[layer].reshape(-1), accumulate=True)
    dt = time.perf_counter() - t0
    n = seqs.numel()
    print(json.dumps({"tokens": n, "seconds": dt, "tokens_per_s": n / dt}))


if __name__ == "__main__":
    if sys.argv[1] == "make-sae":
        make_sae(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        dists(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
