#!/usr/bin/env python3
"""Fixtures for the tuned lens (tests/test_tuned_lens.c).

A random lens for the model tests/fixtures/model/par_r25 (d_model 32, 3
layers), made and saved by the tuned-lens package itself
(TunedLens.from_model, random translators, TunedLens.save), and the
reference's own forward_lens / inverse_lens / create_untransform_hidden
(mlsae/model/lightning.py, read from the reference's git repository and run
as they are, annotations dropped) applied to random activations:

  tests/fixtures/lens/par_r25/config.json, params.pt   TunedLens.save output
  tests/fixtures/lens/par_r25_st/config.json, params.safetensors   the same
                                tensors as safetensors
  tests/fixtures/lens/zero_d32/  an identity lens (zero translators), 2 x 32
  tests/fixtures/lens/ckpt_tfm_lens/  tests/fixtures/sae/ckpt_ref_tfm with
                                tuned_lens true and lens.layer_translators.0.*
  tests/fixtures/lens/d6/, zero_d6/  that translator as a lens; the identity
  tests/fixtures/lens/losses.safetensors  random inputs x, reconstructions r,
                                AuxK reconstructions a [layers, batch, pos, d]
                                ("a.*", "b.*") and the reference's MSELoss and
                                AuxiliaryLoss (mlsae/metrics/) on them ("*.mse",
                                "*.aux", F64 [1])
  tests/fixtures/lens/expected.safetensors
      inputs         F32 [3, 2, 5, 32]  activations after each layer, the rows of
                     position 0 zeroed (a special token)
      lensed         F32 [3, 2, 5, 32]  forward_lens(inputs): translator i on the
                     i-th selected layer
      recons         F32 [3, 2, 5, 32]  random reconstructions
      inverse_ref    F32 [3, 2, 5, 32]  inverse_lens(recons): the reference's
                     diagonal-only "inverse"
      inverse_exact  F32 [3, 2, 5, 32]  (I + W_i)^-1 (recons - b_i), float64
      roundtrip      F32 [3, 2, 5, 32]  exact inverse of lensed (= inputs)

pip install tuned-lens --no-deps (it needs only torch and transformers here).
Run from the repository root: python3 tests/gen/gen_tuned_lens.py
[path of the reference's git dir, default /work/.mirror/tim-lawson+mlsae/repo]
"""
import ast
import json
import os
import shutil
import subprocess
import sys
import types

import einops
import torch
from safetensors.torch import save_file
from transformers import GPTNeoXForCausalLM
from tuned_lens import TunedLens

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lens")
MODEL = os.path.join(HERE, "..", "fixtures", "model", "par_r25")
REF_GIT = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/tim-lawson+mlsae/repo"


def reference_functions():
    """create_untransform_hidden, forward_lens and inverse_lens from the reference."""
    src = subprocess.run(["git", "--git-dir", REF_GIT, "show", "HEAD:mlsae/model/lightning.py"],
                         check=True, capture_output=True, text=True).stdout
    tree = ast.parse(src)
    wanted = {"create_untransform_hidden", "forward_lens", "inverse_lens"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in wanted:
            for a in node.args.args + node.args.kwonlyargs:
                a.annotation = None
            node.returns = None
            for sub in ast.walk(node):  # local annotated assignments
                if isinstance(sub, ast.AnnAssign):
                    sub.annotation = ast.Name(id="object", ctx=ast.Load())
            found.append(node)
    assert {f.name for f in found} == wanted, found
    module = ast.Module(body=found, type_ignores=[])
    ns = {"torch": torch, "einops": einops, "TunedLens": TunedLens}
    exec(compile(ast.fix_missing_locations(module), "lightning.py", "exec"), ns)
    return ns


def reference_module(path):
    """A module of the reference, run as it is with type annotations dropped."""
    src = subprocess.run(["git", "--git-dir", REF_GIT, "show", "HEAD:" + path],
                         check=True, capture_output=True, text=True).stdout
    tree = ast.parse(src)
    tree.body = [n for n in tree.body
                 if not (isinstance(n, ast.ImportFrom) and n.module == "jaxtyping")]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for a in node.args.args + node.args.kwonlyargs:
                a.annotation = None
            node.returns = None
        if isinstance(node, ast.AnnAssign):
            node.annotation = ast.Name(id="object", ctx=ast.Load())
    ns = {}
    exec(compile(ast.fix_missing_locations(tree), path, "exec"), ns)
    return ns


def losses_fixture(g):
    """loss/mse and loss/auxk by the reference's MSELoss and AuxiliaryLoss."""
    mse_cls = reference_module("mlsae/metrics/mse_loss.py")["MSELoss"]
    aux_cls = reference_module("mlsae/metrics/auxiliary_loss.py")["AuxiliaryLoss"]
    out = {}
    for name, (layers, b, p, d) in {"a": (3, 2, 7, 16), "b": (2, 1, 33, 8)}.items():
        x = torch.randn(layers, b, p, d, generator=g) * 1.5 + 0.3
        r = x + 0.4 * torch.randn(layers, b, p, d, generator=g)
        a = 0.3 * torch.randn(layers, b, p, d, generator=g)
        coef = 1 / 32
        mse = mse_cls(layers).forward(inputs=x, recons=r)
        aux = aux_cls(coef).forward(inputs=x, recons=r, auxk_recons=a)
        out.update({f"{name}.x": x, f"{name}.r": r, f"{name}.a": a,
                    f"{name}.mse": mse.reshape(1).double(), f"{name}.aux": aux.reshape(1).double()})
    return out


def main():
    ref = reference_functions()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    model = GPTNeoXForCausalLM.from_pretrained(MODEL, torch_dtype=torch.float32)
    g = torch.Generator().manual_seed(1603)
    lens = TunedLens.from_model(model)
    d = model.config.hidden_size
    with torch.no_grad():
        for t in lens.layer_translators:
            t.weight.copy_(0.15 * torch.randn(d, d, generator=g))
            t.bias.copy_(0.3 * torch.randn(d, generator=g))
    lens.config.base_model_name_or_path = "tests/fixtures/model/par_r25"
    lens.save(os.path.join(OUT, "par_r25"))
    st_dir = os.path.join(OUT, "par_r25_st")
    os.makedirs(st_dir)
    shutil.copy(os.path.join(OUT, "par_r25", "config.json"), st_dir)
    save_file({k: v.contiguous() for k, v in lens.layer_translators.state_dict().items()},
              os.path.join(st_dir, "params.safetensors"))

    # the identity lens (zero translators) for a 2-layer d=32 model, as safetensors
    zero = os.path.join(OUT, "zero_d32")
    os.makedirs(zero)
    with open(os.path.join(zero, "config.json"), "w") as f:
        f.write('{"d_model": 32, "num_hidden_layers": 2, "bias": true, '
                '"lens_type": "linear_tuned_lens"}')
    save_file({k: torch.zeros(*s) for i in range(2)
               for k, s in ((f"{i}.weight", (d, d)), (f"{i}.bias", (d,)))},
              os.path.join(zero, "params.safetensors"))

    # a -lens-tfm checkpoint: tests/fixtures/sae/ckpt_ref_tfm (d_model 6, one
    # layer) with tuned_lens true and its translator stored beside the SAE,
    # and the same translator as a lens directory
    from safetensors.torch import load_file
    tfm_src = os.path.join(HERE, "..", "fixtures", "sae", "ckpt_ref_tfm")
    tfm = os.path.join(OUT, "ckpt_tfm_lens")
    os.makedirs(tfm)
    cfg = json.load(open(os.path.join(tfm_src, "config.json")))
    cfg["tuned_lens"] = True
    with open(os.path.join(tfm, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    w6 = 0.2 * torch.randn(6, 6, generator=g)
    b6 = 0.2 * torch.randn(6, generator=g)
    tensors = load_file(os.path.join(tfm_src, "model.safetensors"))
    tensors.update({"lens.layer_translators.0.weight": w6, "lens.layer_translators.0.bias": b6})
    save_file(tensors, os.path.join(tfm, "model.safetensors"))
    lens6 = os.path.join(OUT, "d6")
    os.makedirs(lens6)
    with open(os.path.join(lens6, "config.json"), "w") as f:
        f.write('{"d_model": 6, "num_hidden_layers": 1, "bias": true}')
    save_file({"0.weight": w6, "0.bias": b6}, os.path.join(lens6, "params.safetensors"))
    zero6 = os.path.join(OUT, "zero_d6")
    os.makedirs(zero6)
    shutil.copy(os.path.join(lens6, "config.json"), zero6)
    save_file({"0.weight": torch.zeros(6, 6), "0.bias": torch.zeros(6)},
              os.path.join(zero6, "params.safetensors"))

    n_layers = model.config.num_hidden_layers
    inputs = torch.randn(n_layers, 2, 5, d, generator=g) * 2 + 0.5
    inputs[:, :, 0, :] = 0  # a special token's rows, zeroed before the lens
    recons = torch.randn(n_layers, 2, 5, d, generator=g) * 2 + 0.5

    this = types.SimpleNamespace(tuned_lens=True, lens=lens, n_layers=n_layers,
                                 untransform_hidden=ref["create_untransform_hidden"](lens))
    with torch.no_grad():
        lensed = ref["forward_lens"](this, inputs.clone())
        inverse_ref = ref["inverse_lens"](this, recons.clone())
        exact = torch.empty_like(recons)
        roundtrip = torch.empty_like(recons)
        for i, t in enumerate(lens.layer_translators):
            a = t.weight.double() + torch.eye(d, dtype=torch.float64)
            b = t.bias.double()
            exact[i] = torch.linalg.solve(a, (recons[i].double() - b).reshape(-1, d).T).T.reshape(
                recons[i].shape).float()
            roundtrip[i] = torch.linalg.solve(a, (lensed[i].double() - b).reshape(-1, d).T).T.reshape(
                recons[i].shape).float()
        # the lens maps a zeroed row to the bias
        assert torch.allclose(lensed[1, :, 0, :], lens.layer_translators[1].bias.expand(2, d))
        assert torch.allclose(roundtrip, inputs, atol=1e-4)

    save_file(losses_fixture(g), os.path.join(OUT, "losses.safetensors"))
    save_file({"inputs": inputs, "lensed": lensed, "recons": recons, "inverse_ref": inverse_ref,
               "inverse_exact": exact, "roundtrip": roundtrip},
              os.path.join(OUT, "expected.safetensors"))
    total = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
