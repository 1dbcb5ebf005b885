#!/usr/bin/env python3
"""Golden fixtures for the GPT-NeoX forward (tests/test_model.c).

Builds small random-weight GPTNeoXForCausalLM models with HF transformers,
float32 compute, and saves each in HF format next to the expected outputs:

  tests/fixtures/model/<name>/config.json
  tests/fixtures/model/<name>/model.safetensors   (or 2 shards + index)
  tests/fixtures/model/<name>/expected.safetensors
      tokens       I64 [B, S]
      hidden       F32 [n_layers, B, S, d]  residual after each layer (hooks on
                   the layers: not the embedding output, not after final LN)
      logits       F32 [B, S, vocab]
      ce           F32 [B, S]   next-token CE at each position, 0 at the last
      mean_ce      F32 [1]
      fal_layer    I64 [1]      forward_at_layer: layer L ...
      fal_h        F32 [B, S, d] ... the residual after L, perturbed ...
      fal_logits   F32 [B, S, vocab] ... and what layers L+1.. give from it
      fal_ce       F32 [B, S]
      fal_mean_ce  F32 [1]

Weights are drawn with larger scales than HF's init (and random LayerNorm
and bias terms) so every term of the forward matters. The F16 model is
rounded to F16 first and the oracle computes from the rounded values.
Run from the repository root: python3 tests/gen/gen_neox.py
"""
import copy
import json
import os
import shutil

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "model")

MODELS = [
    # name, dims, residual, rotary_pct, base, batch, seq, disk format, config style, fal layer
    dict(name="par_r25", vocab=97, d=32, heads=4, layers=3, ff=64, parallel=True, pct=0.25,
         base=10000, batch=3, seq=17, fmt="f32", style="pythia", fal=1, max_pos=64),
    dict(name="seq_r100_f16", vocab=61, d=24, heads=2, layers=2, ff=40, parallel=False, pct=1.0,
         base=500, batch=2, seq=9, fmt="f16", style="hf5", fal=0, max_pos=32),
    dict(name="par_r50_long_sharded", vocab=50, d=16, heads=2, layers=2, ff=32, parallel=True,
         pct=0.5, base=10000, batch=2, seq=320, fmt="sharded", style="alias", fal=0, max_pos=512),
]


def randomise(model, gen):
    """Random weights with scales that keep activations O(1) and attention peaky."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("layer_norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif "embed_in" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                gain = 1.5 if "query_key_value" in name else 1.0
                p.copy_(gain * torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)


def hf_state(model):
    """State dict with the checkpoint names Pythia files use."""
    sd = {}
    for k, v in model.state_dict().items():
        if k.startswith("lm_head."):
            k = "embed_out." + k[len("lm_head."):]
        sd[k] = v.detach().contiguous()
    return sd


def write_config(spec, path):
    cfg = {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
        "hidden_act": "gelu", "hidden_size": spec["d"], "intermediate_size": spec["ff"],
        "num_attention_heads": spec["heads"], "num_hidden_layers": spec["layers"],
        "vocab_size": spec["vocab"], "max_position_embeddings": spec["max_pos"],
        "layer_norm_eps": 1e-5, "use_parallel_residual": spec["parallel"],
        "initializer_range": 0.02, "bos_token_id": 0, "eos_token_id": 0,
        "tie_word_embeddings": False, "torch_dtype": "float32", "use_cache": True,
    }
    if spec["style"] == "pythia":
        cfg["rotary_pct"] = spec["pct"]
        cfg["rotary_emb_base"] = spec["base"]
    else:  # the names newer transformers releases write at top level
        cfg["partial_rotary_factor"] = spec["pct"]
        cfg["rope_theta"] = spec["base"]
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def run(model, tokens, replace=None):
    """Hidden states (hooks on the layers), logits; optionally replace layer L's output."""
    hidden = []

    def hook(idx):
        def fn(_module, _inp, out):
            if replace is not None and idx == replace[0]:
                out = replace[1] if not isinstance(out, tuple) else (replace[1],) + out[1:]
            hidden.append((out[0] if isinstance(out, tuple) else out).detach().clone())
            return out
        return fn

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(model.gpt_neox.layers)]
    with torch.no_grad():
        logits = model(input_ids=tokens).logits.float()
    for h in handles:
        h.remove()
    v = logits.shape[-1]
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, v), tokens[:, 1:].reshape(-1), reduction="none")
    ce_full = torch.zeros(tokens.shape)
    ce_full[:, :-1] = ce.reshape(tokens.shape[0], -1)
    return torch.stack(hidden), logits, ce_full, ce.mean()


def build(spec, seed):
    gen = torch.Generator().manual_seed(seed)
    kwargs = dict(vocab_size=spec["vocab"], hidden_size=spec["d"],
                  num_hidden_layers=spec["layers"], num_attention_heads=spec["heads"],
                  intermediate_size=spec["ff"], max_position_embeddings=spec["max_pos"],
                  use_parallel_residual=spec["parallel"], layer_norm_eps=1e-5,
                  rotary_pct=spec["pct"], rotary_emb_base=spec["base"])
    config = GPTNeoXConfig(**kwargs)
    config._attn_implementation = "eager"
    model = GPTNeoXForCausalLM(config).float().eval()
    randomise(model, gen)
    out = os.path.join(OUT, spec["name"])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    if spec["fmt"] == "f16":
        model.half()
        model.save_pretrained(out)          # config in the layout this transformers writes
        model.float()                       # the oracle computes from the rounded weights
    else:
        write_config(spec, os.path.join(out, "config.json"))
        sd = hf_state(model)
        if spec["fmt"] == "sharded":
            names = sorted(sd)
            half = len(names) // 2
            shards = {"model-00001-of-00002.safetensors": names[:half],
                      "model-00002-of-00002.safetensors": names[half:]}
            weight_map = {}
            for fname, keys in shards.items():
                save_file({k: sd[k] for k in keys}, os.path.join(out, fname), {"format": "pt"})
                weight_map.update({k: fname for k in keys})
            total = sum(t.numel() * 4 for t in sd.values())
            with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f,
                          indent=2, sort_keys=True)
        else:
            save_file(sd, os.path.join(out, "model.safetensors"), {"format": "pt"})

    tokens = torch.randint(0, spec["vocab"], (spec["batch"], spec["seq"]), generator=gen)
    hidden, logits, ce, mean_ce = run(model, tokens)
    # Conditioning check: the float32 oracle against float64 on the same
    # weights must sit well inside the tests' 1e-4, so that the tests measure
    # the implementation and not the oracle's own rounding.
    h64, l64, _, _ = run(copy.deepcopy(model).double(), tokens)
    cond = max(((hidden - h64).abs().max() / h64.abs().max()).item(),
               ((logits - l64).abs().max() / l64.abs().max()).item())
    assert cond < 1e-5, f"{spec['name']}: float32 oracle off float64 by {cond:.2g}"
    L = spec["fal"]
    fal_h = hidden[L] + 0.5 * torch.randn(hidden[L].shape, generator=gen)
    _, fal_logits, fal_ce, fal_mean = run(model, tokens, replace=(L, fal_h))
    expected = {
        "tokens": tokens.to(torch.int64), "hidden": hidden.contiguous(), "logits": logits,
        "ce": ce, "mean_ce": mean_ce.reshape(1), "fal_layer": torch.tensor([L], dtype=torch.int64),
        "fal_h": fal_h.contiguous(), "fal_logits": fal_logits, "fal_ce": fal_ce,
        "fal_mean_ce": fal_mean.reshape(1),
    }
    save_file({k: v.contiguous() for k, v in expected.items()},
              os.path.join(out, "expected.safetensors"))
    print(f"{spec['name']}: hidden {tuple(hidden.shape)} logits {tuple(logits.shape)} "
          f"mean CE {mean_ce.item():.4f} forward_at_layer({L}) CE {fal_mean.item():.4f} "
          f"(float32 vs float64 oracle: {cond:.2g})")


def main():
    torch.manual_seed(0)
    for i, spec in enumerate(MODELS):
        build(spec, 1000 + i)


if __name__ == "__main__":
    main()
