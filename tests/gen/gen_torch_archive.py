#!/usr/bin/env python3
"""Fixtures for the torch.save reader (tests/test_torch_archive.c).

Writes tests/fixtures/torch/:

  dtypes.pt                 real torch.save of a state dict: F32 [3, 4], F16 [5],
                            BF16 [2, 3], a 0-dim F32, an I64 and a BOOL buffer, and
                            two tensors sharing one storage ("shared.base" [4, 3]
                            and "shared.row2", the view base[2], storage offset 6;
                            "shared.tail", base[1:], offset 3)
  dtypes.expected.safetensors   the same tensors, contiguous copies
  noncontig.pt              torch.save of a transposed view (strides (1, 3)):
                            torch writes the view as is; the reader refuses it
  legacy.pt                 torch.save(..., _use_new_zipfile_serialization=False)
  evil_*.pt                 a real archive whose data.pkl is replaced by a
                            hand-assembled pickle (see EVIL below)
  neox_f16_bin/             tests/fixtures/model/seq_r100_f16 saved by torch.save
                            as pytorch_model.bin (F16), plus the buffers old
                            Pythia checkpoints carry (attention.bias BOOL,
                            attention.masked_bias, rotary_emb.inv_freq)
  neox_f16_bin_sharded/     the same split over two .bin shards with
                            pytorch_model.bin.index.json
  sae_ckpt_ref_bin/         tests/fixtures/sae/ckpt_ref as config.json +
                            pytorch_model.bin

Hand-assembled pickles are checked against torch.load(weights_only=True): the
honest one must load there, so the assembler writes what torch writes.
Run from the repository root: python3 tests/gen/gen_torch_archive.py
"""
import io
import json
import os
import shutil
import struct
import zipfile

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "torch")
MODEL = os.path.join(HERE, "..", "fixtures", "model", "seq_r100_f16")


# ---- a tiny pickle assembler (protocol 2 opcodes) -------------------------

def u_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def u_int(i):
    if 0 <= i < 256:
        return b"K" + bytes([i])
    return b"\x8a\x08" + struct.pack("<q", i)


def u_tuple(items):
    return b"(" + b"".join(items) + b"t"


def u_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


EMPTY_ODICT = u_global("collections", "OrderedDict") + b")R"


def tensor_entry(name, stype, key, numel, offset, size, stride):
    pid = u_tuple([u_str("storage"), u_global("torch", stype), u_str(key), u_str("cpu"),
                   u_int(numel)]) + b"Q"
    args = u_tuple([pid, u_int(offset), u_tuple([u_int(s) for s in size]),
                    u_tuple([u_int(s) for s in stride]), b"\x89", EMPTY_ODICT])
    return u_str(name) + u_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_dict_pickle(entries):
    return b"\x80\x02" + EMPTY_ODICT + b"(" + b"".join(tensor_entry(*e) for e in entries) + b"u."


def replace_pickle(template, path, pickle_bytes, storages):
    """Copy the archive layout of `template`, with a new data.pkl and storages."""
    src = zipfile.ZipFile(template)
    prefix = src.namelist()[0].split("/")[0]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            rel = info.filename[len(prefix) + 1:]
            if rel == "data.pkl" or rel.startswith("data/"):
                continue
            z.writestr(info.filename.replace(prefix + "/", "archive/", 1), src.read(info))
        z.writestr("archive/data.pkl", pickle_bytes)
        for key, data in storages.items():
            z.writestr("archive/data/" + key, data)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    g = torch.Generator().manual_seed(16)

    base = torch.randn(4, 3, generator=g)
    sd = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "scalar": torch.tensor(2.5),
        "i64": torch.tensor([0, -5, 1 << 40]),
        "mask": torch.tensor([[True, False], [False, True]]),
        "shared.base": base,
        "shared.row2": base[2],
        "shared.tail": base[1:],
    }
    assert sd["shared.row2"].storage_offset() == 6 and sd["shared.tail"].storage_offset() == 3
    torch.save(sd, os.path.join(OUT, "dtypes.pt"))
    save_file({k: v.contiguous().clone() for k, v in sd.items()},
              os.path.join(OUT, "dtypes.expected.safetensors"))
    back = torch.load(os.path.join(OUT, "dtypes.pt"), weights_only=True)
    assert all(torch.equal(back[k], sd[k]) for k in sd)

    t = torch.randn(3, 2, generator=g).t()
    assert t.stride() == (1, 2) and not t.is_contiguous()
    torch.save({"transposed": t}, os.path.join(OUT, "noncontig.pt"))
    torch.save({"w": torch.ones(2)}, os.path.join(OUT, "legacy.pt"),
               _use_new_zipfile_serialization=False)

    # ---- hand-assembled pickles ----
    template = os.path.join(OUT, "dtypes.pt")
    four = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    honest = state_dict_pickle([("w", "FloatStorage", "0", 4, 0, (2, 2), (2, 1)),
                                ("v", "FloatStorage", "0", 4, 1, (3,), (1,))])
    replace_pickle(template, os.path.join(OUT, "assembled.pt"), honest, {"0": four})
    back = torch.load(os.path.join(OUT, "assembled.pt"), weights_only=True)
    assert back["w"].tolist() == [[1, 2], [3, 4]] and back["v"].tolist() == [2, 3, 4]

    EVIL = {
        # GLOBAL os.system called by REDUCE: refused at the GLOBAL
        "evil_os_system": (b"\x80\x02" + u_global("os", "system") + u_str("true") + b"\x85R.",
                           {}),
        # REDUCE of an allowed global that is not a constructor we accept
        "evil_reduce_storage": (b"\x80\x02" + u_global("torch", "FloatStorage") + b")R.", {}),
        # REDUCE of OrderedDict with arguments (items would be built by a call)
        "evil_reduce_args": (b"\x80\x02" + u_global("collections", "OrderedDict") +
                             u_tuple([u_int(1)]) + b"R.", {}),
        # the tensor [8] views a storage the pickle declares as 4 elements
        "evil_tensor_past_storage": (state_dict_pickle(
            [("w", "FloatStorage", "0", 4, 0, (8,), (1,))]), {"0": four}),
        # the pickle declares 100 elements; the record holds 4
        "evil_storage_short": (state_dict_pickle(
            [("w", "FloatStorage", "0", 100, 0, (4,), (1,))]), {"0": four}),
        # sizes whose product overflows int64
        "evil_shape_overflow": (state_dict_pickle(
            [("w", "FloatStorage", "0", 4, 0, (1 << 62, 1 << 62), (1 << 62, 1))]), {"0": four}),
        # an opcode state dicts never use (INST)
        "evil_inst": (b"\x80\x02(ibuiltins\nprint\n.", {}),
    }
    for name, (pkl, storages) in EVIL.items():
        replace_pickle(template, os.path.join(OUT, name + ".pt"), pkl, storages)
        try:
            torch.load(os.path.join(OUT, name + ".pt"), weights_only=True)
            raise SystemExit(f"{name}: torch.load(weights_only=True) accepted it")
        except SystemExit:
            raise
        except Exception:
            pass

    # ---- a GPT-NeoX model as pytorch_model.bin ----
    weights = load_file(os.path.join(MODEL, "model.safetensors"))
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    n = cfg["max_position_embeddings"]
    extra = {}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{layer}.attention."
        extra[p + "bias"] = torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n)
        extra[p + "masked_bias"] = torch.tensor(-1e9)
        extra[p + "rotary_emb.inv_freq"] = torch.ones(6)
    one = os.path.join(OUT, "neox_f16_bin")
    os.makedirs(one)
    shutil.copy(os.path.join(MODEL, "config.json"), one)
    torch.save({**weights, **extra}, os.path.join(one, "pytorch_model.bin"))

    two = os.path.join(OUT, "neox_f16_bin_sharded")
    os.makedirs(two)
    shutil.copy(os.path.join(MODEL, "config.json"), two)
    names = sorted(weights)
    half = len(names) // 2
    shards = [("pytorch_model-00001-of-00002.bin", names[:half]),
              ("pytorch_model-00002-of-00002.bin", names[half:])]
    weight_map = {}
    for fname, keys in shards:
        torch.save({k: weights[k] for k in keys}, os.path.join(two, fname))
        weight_map.update({k: fname for k in keys})
    with open(os.path.join(two, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)

    # ---- an SAE checkpoint as the reference's hub mixin wrote it before safetensors ----
    sae_src = os.path.join(HERE, "..", "fixtures", "sae", "ckpt_ref")
    sae_dst = os.path.join(OUT, "sae_ckpt_ref_bin")
    os.makedirs(sae_dst)
    shutil.copy(os.path.join(sae_src, "config.json"), sae_dst)
    torch.save(load_file(os.path.join(sae_src, "model.safetensors")),
               os.path.join(sae_dst, "pytorch_model.bin"))

    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
