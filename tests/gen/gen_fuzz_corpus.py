#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (tests/fuzz/corpus/<target>/), small
valid inputs of each reader plus a few near-misses.

  python3 tests/gen/gen_fuzz_corpus.py [MLSAE_BIN]

Run from the repository root. The checkpoint seeds come from a tiny
`mlsae train --activations` run with MLSAE_BIN (default ./mlsae). Needs
numpy, safetensors and zstandard (or the zstd command)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save, save_file

SEP = b"\n--8<--\n"
ROOT = "tests/fuzz/corpus"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def raw_st(header, data=b""):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def zstd(data):
    try:
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    except ImportError:
        return subprocess.run(["zstd", "-c", "-q"], input=data, capture_output=True,
                              check=True).stdout


rng = np.random.default_rng(0)
shutil.rmtree(ROOT, ignore_errors=True)

# safetensors
put("safetensors", "f32", save({"a": rng.standard_normal((2, 3)).astype(np.float32)},
                               metadata={"format": "pt"}))
put("safetensors", "mixed", save({"h": np.arange(4, dtype=np.float16),
                                  "i": np.arange(3, dtype=np.int64),
                                  "b": np.zeros((0, 2), dtype=np.float32),
                                  "u": np.arange(5, dtype=np.uint8)}))
put("safetensors", "inputs", save({"inputs": rng.standard_normal((2, 1, 1, 2, 2)).astype(np.float32)}))
put("safetensors", "wrap", raw_st({"inputs": {"dtype": "F32", "shape": [2**61, 1, 1, 1, 2],
                                              "data_offsets": [0, 0]}}))
put("safetensors", "gap", raw_st({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
                                 bytes(8)))

# sharded index: index, then the shards a and b
index = {"metadata": {}, "weight_map": {"w0": "a.safetensors", "w1": "b.safetensors"}}
put("st_index", "two", json.dumps(index).encode() + SEP +
    save({"w0": np.ones(2, dtype=np.float32)}) + SEP + save({"w1": np.ones(3, dtype=np.float32)}))
put("st_index", "missing", json.dumps({"weight_map": {"w9": "a.safetensors"}}).encode() + SEP +
    save({"w0": np.ones(2, dtype=np.float32)}))

# GPT-NeoX config.json
for name in ["par_r25"]:
    with open(f"tests/fixtures/model/{name}/config.json", "rb") as f:
        put("neox_config", name, f.read())
with open("tests/fixtures/model/neox_hf_defaults.json") as f:
    for i, case in enumerate(json.load(f)["cases"]):
        put("neox_config", f"hf{i}", case[0])
put("neox_config", "rope", json.dumps({"hidden_size": 16, "num_attention_heads": 2,
                                       "rope_parameters": {"rope_theta": 500.0,
                                                           "partial_rotary_factor": 0.5,
                                                           "rope_type": "default"}}))

# tokenizer.json: the test tokenizer and a minimal one
with open("tests/fixtures/text/tiny-tokenizer.json", "rb") as f:
    put("tokenizer_json", "tiny", f.read())
mini = {"version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False,
                          "special": True}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3},
                  "merges": ["a b"]}}
put("tokenizer_json", "mini", json.dumps(mini))

# tokenizer encode
for i, t in enumerate(["Hello, world!", "  leading and trailing  \n\n", "<|endoftext|>x",
                       "caf\u00e9 \u65e5\u672c\u8a9e \U0001f600", "cafe\u0301",
                       "tabs\tand\r\nnewlines", "\xff\xfe invalid"]):
    put("tokenizer_encode", f"t{i}", t.encode("utf-8", "surrogateescape")
        if i != 6 else b"\xff\xfe invalid")

# YAML run configurations
for name in ["good", "reference", "wrong_type"]:
    with open(f"tests/fixtures/config/{name}.yaml", "rb") as f:
        put("run_config_yaml", name, f.read())
put("run_config_yaml", "merge", "data: &d\n  batch_size: 2\nautoencoder:\n  <<: {k: 4}\n"
    "  lr: !!float 1e-3\nlayers: [0, 1]\n")
put("run_config_yaml", "dup", "data:\n  max_length: 5\ndata:\n  batch_size: 2\n")

# dataset: first byte 0 = .jsonl, 1 = .jsonl.zst, 2 = .txt
docs = b'{"text": "First document."}\n{"text": ""}\n{"text": "caf\\u00e9\\n"}\n'
put("dataset", "jsonl", b"\x00" + docs)
put("dataset", "zst", b"\x01" + zstd(docs))
put("dataset", "txt", b"\x02" + b"Plain text.\nTwo lines.\n")
put("dataset", "bad", b"\x00" + b'{"text": 5}\n{"nottext": "x"}\n[1]\n')

# checkpoint: config.json, model.safetensors, training_state.safetensors
mlsae = sys.argv[1] if len(sys.argv) > 1 else "./mlsae"
with tempfile.TemporaryDirectory() as tmp:
    save_file({"inputs": rng.standard_normal((2, 1, 1, 3, 2)).astype(np.float32)},
              os.path.join(tmp, "act.safetensors"))
    subprocess.run([mlsae, "train", "--activations", os.path.join(tmp, "act.safetensors"),
                    "--out", os.path.join(tmp, "ck"), "--autoencoder.expansion_factor", "2",
                    "--autoencoder.k", "2", "--autoencoder.auxk", "2",
                    "--trainer.accumulate_grad_batches", "1", "-q"], check=True)
    parts = []
    for name in ["config.json", "model.safetensors", "training_state.safetensors"]:
        with open(os.path.join(tmp, "ck", name), "rb") as f:
            parts.append(f.read())
    put("checkpoint", "trained", SEP.join(parts))
    put("checkpoint", "no_state", SEP.join(parts[:2]))
