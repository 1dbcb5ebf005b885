#!/usr/bin/env python3
"""HF GPTNeoXConfig's defaults and what it refuses, as a fixture for
tests/test_model_bad.c: tests/fixtures/model/neox_hf_defaults.json.

  defaults: the value transformers gives each key a config.json leaves out
  cases:    [config.json text, accepted by GPTNeoXConfig(**json)?, the
            values transformers resolves when accepted]
Needs transformers; run from the repository root."""
import json

import transformers
from transformers import GPTNeoXConfig

base = {"hidden_size": 16, "num_attention_heads": 2, "num_hidden_layers": 2,
        "intermediate_size": 24, "vocab_size": 40}
c = GPTNeoXConfig()
rp = c.rope_parameters
defaults = {
    "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
    "num_hidden_layers": c.num_hidden_layers,
    "num_attention_heads": c.num_attention_heads,
    "intermediate_size": c.intermediate_size,
    "max_position_embeddings": c.max_position_embeddings,
    "layer_norm_eps": c.layer_norm_eps,
    "use_parallel_residual": c.use_parallel_residual,
    "attention_bias": c.attention_bias,
    "tie_word_embeddings": c.tie_word_embeddings,
    "rotary_pct": rp["partial_rotary_factor"], "rotary_emb_base": rp["rope_theta"],
    "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id,
    "pad_token_id": c.pad_token_id,
}


def accepted(extra, drop=()):
    d = dict(base, **extra)
    for k in drop:
        d.pop(k, None)
    try:
        c = GPTNeoXConfig(**d)
    except Exception:
        return [json.dumps(d), False, None]
    return [json.dumps(d), True, {
        "rotary_pct": c.rope_parameters["partial_rotary_factor"],
        "rotary_emb_base": c.rope_parameters["rope_theta"],
        "use_parallel_residual": c.use_parallel_residual,
        "layer_norm_eps": c.layer_norm_eps,
        "max_position_embeddings": c.max_position_embeddings,
        "eos_token_id": c.eos_token_id}]


cases = [
    accepted({}),
    accepted({}, drop=["num_attention_heads"]),        # 64 heads do not divide 16
    accepted({"use_parallel_residual": 1}),
    accepted({"hidden_size": 16.0}),
    accepted({"layer_norm_eps": None}),
    accepted({"use_parallel_residual": False, "rotary_pct": 0.5}),
    accepted({"rope_parameters": {"rope_theta": 500.0, "partial_rotary_factor": 1.0,
                                  "rope_type": "default"}, "rotary_emb_base": 7}),
]
out = {"transformers": transformers.__version__, "defaults": defaults, "cases": cases}
with open("tests/fixtures/model/neox_hf_defaults.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
