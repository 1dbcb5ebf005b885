#!/usr/bin/env python3
"""MLSAE checkpoint directories as the reference writes them, and the check
that the reference's loader reads ours (SPEC §8).

  python3 tests/gen/gen_sae_ckpt.py write [OUTDIR]
      writes OUTDIR/ckpt_ref (an MLSAE saved with PyTorchModelHubMixin, the
      way the reference's MLSAE module is) and OUTDIR/ckpt_ref_tfm (a module
      laid out like the reference's Lightning module: "autoencoder." and
      "transformer.model." tensors, its hyper-parameters in config.json,
      last_nonzero removed as its upload script does).
  python3 tests/gen/gen_sae_ckpt.py verify DIR
      loads a C-written checkpoint with MLSAE.from_pretrained, checks the
      tensor names, dtypes and shapes against the reference's, and runs a
      forward pass.

Default OUTDIR: tests/fixtures/sae. Needs torch, safetensors, huggingface_hub.
"""
import json
import os
import sys

import torch
from huggingface_hub import PyTorchModelHubMixin
from safetensors import safe_open
from torch.nn import Linear, Module, Parameter


class MLSAE(Module, PyTorchModelHubMixin):
    """The reference's MLSAE parameters and constructor signature."""

    def __init__(self, n_inputs: int, n_latents: int, k: int, dead_steps_threshold: int,
                 dead_threshold: float = 1e-3, auxk: int | None = 256,
                 standardize: bool = True) -> None:
        super().__init__()
        self.n_inputs, self.n_latents, self.k, self.auxk = n_inputs, n_latents, k, auxk
        self.standardize = standardize
        self.encoder = Linear(n_inputs, n_latents, bias=False)
        self.decoder = Linear(n_latents, n_inputs, bias=False)
        self.pre_encoder_bias = Parameter(torch.zeros(n_inputs))
        self.register_buffer("last_nonzero", torch.zeros(n_latents, dtype=torch.long))
        self.decoder.weight.data = self.encoder.weight.data.T.clone()
        self.decoder.weight.data = self.decoder.weight.data.T.contiguous().T
        self.decoder.weight.data /= self.decoder.weight.data.norm(dim=0)

    def forward(self, x):
        if self.standardize:
            mu = x.mean(dim=-1, keepdim=True)
            x = x - mu
            std = x.std(dim=-1, keepdim=True)
            x = x / (std + 1e-5)
        pre = torch.nn.functional.linear(x - self.pre_encoder_bias, self.encoder.weight)
        top = torch.topk(pre, self.k, sorted=False)
        vals = torch.relu(top.values)
        rec = (vals.unsqueeze(-1) * self.decoder.weight.t()[top.indices]).sum(-2)
        rec = rec + self.pre_encoder_bias
        if self.standardize:
            rec = rec * std + mu
        return rec


class Transformer(Module):
    def __init__(self):
        super().__init__()
        self.model = Module()
        self.model.embed_in = Linear(4, 6, bias=False)


class MLSAETransformer(Module, PyTorchModelHubMixin):
    """The reference Lightning module's constructor signature and layout."""

    def __init__(self, model_name: str = "EleutherAI/pythia-70m-deduped",
                 layers: list[int] | None = None, expansion_factor: int = 16, k: int = 32,
                 auxk: int | None = 256, auxk_coef: float | None = 1 / 32,
                 dead_tokens_threshold: int = 10_000_000, dead_threshold: float = 1e-3,
                 lr: float = 1e-4, standardize: bool = True, skip_special_tokens: bool = True,
                 max_length: int = 2048, batch_size: int = 1, accumulate_grad_batches: int = 64,
                 tuned_lens: bool = False, dead_steps_threshold: int | None = None,
                 n_inputs: int = 8) -> None:
        super().__init__()
        steps = dead_steps_threshold or dead_tokens_threshold // (
            batch_size * max_length * accumulate_grad_batches)
        self.transformer = Transformer()
        self.autoencoder = MLSAE(n_inputs, n_inputs * expansion_factor, k, steps,
                                 dead_threshold, auxk, standardize)


EXPECTED = {  # name -> (dtype, shape as a function of n_inputs, n_latents)
    "encoder.weight": (torch.float32, lambda d, n: [n, d]),
    "decoder.weight": (torch.float32, lambda d, n: [d, n]),
    "pre_encoder_bias": (torch.float32, lambda d, n: [d]),
    "last_nonzero": (torch.int64, lambda d, n: [n]),
}


def write(out):
    torch.manual_seed(11)
    m = MLSAE(n_inputs=8, n_latents=32, k=4, dead_steps_threshold=76, dead_threshold=1e-3,
              auxk=6, standardize=True)
    with torch.no_grad():
        m.pre_encoder_bias.normal_()
        m.last_nonzero.copy_(torch.randint(0, 100, (32,)))
    m.save_pretrained(os.path.join(out, "ckpt_ref"))

    t = MLSAETransformer(expansion_factor=4, k=3, auxk=None, max_length=64, batch_size=2,
                         accumulate_grad_batches=8, standardize=False, n_inputs=6)
    with torch.no_grad():
        t.autoencoder.pre_encoder_bias.normal_()
    del t.autoencoder.last_nonzero
    t.save_pretrained(os.path.join(out, "ckpt_ref_tfm"))
    # Our generator's n_inputs argument is not part of the reference's config.
    cfg_path = os.path.join(out, "ckpt_ref_tfm", "config.json")
    cfg = json.load(open(cfg_path))
    cfg.pop("n_inputs", None)
    json.dump(cfg, open(cfg_path, "w"), indent=2)
    for sub in ("ckpt_ref", "ckpt_ref_tfm"):
        for f in os.listdir(os.path.join(out, sub)):
            if f not in ("config.json", "model.safetensors"):
                os.remove(os.path.join(out, sub, f))
        print(os.path.join(out, sub), sorted(os.listdir(os.path.join(out, sub))))


def verify(path):
    cfg = json.load(open(os.path.join(path, "config.json")))
    want_keys = {"n_inputs", "n_latents", "k", "dead_steps_threshold", "dead_threshold", "auxk",
                 "standardize"}
    assert set(cfg) == want_keys, f"config keys {sorted(cfg)}"
    d, n = cfg["n_inputs"], cfg["n_latents"]
    with safe_open(os.path.join(path, "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(EXPECTED), f"tensors {sorted(f.keys())}"
        for name, (dtype, shape) in EXPECTED.items():
            t = f.get_tensor(name)
            assert t.dtype == dtype and list(t.shape) == shape(d, n), (name, t.dtype, t.shape)
    m = MLSAE.from_pretrained(path)
    assert m.n_inputs == d and m.n_latents == n and m.k == cfg["k"]
    norms = m.decoder.weight.norm(dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5), "decoder columns unit norm"
    x = torch.randn(2, 3, 5, d)
    rec = m(x)
    assert rec.shape == x.shape and torch.isfinite(rec).all()
    print(f"{path}: loaded by MLSAE.from_pretrained: config {cfg}, tensors "
          f"{ {k: v[0] for k, v in EXPECTED.items()} }, forward OK")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "write":
        write(sys.argv[2] if len(sys.argv) > 2 else
              os.path.join(os.path.dirname(__file__), "..", "fixtures", "sae"))
    else:
        sys.exit(__doc__)
