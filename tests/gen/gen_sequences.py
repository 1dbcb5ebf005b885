#!/usr/bin/env python3
"""Write tests/fixtures/text/sequences.json: the reference's sequence building
(SPEC §3) run with HF transformers on the shared corpora, for the C sequence
builder and loader tests.

The procedure is the reference's: documents in order, in groups of
group_size; one tokenizer call on eos.join(["", *texts]) with
truncation=True, max_length, return_overflowing_tokens=True; overflowing
pieces split into max_length chunks; the last sequence of each group dropped;
DataLoader-style batches of batch_size (the last batch may be short).
Only counts, hashes and the first batches are stored (the corpora are not
part of the project).
Usage: tests/gen/gen_sequences.py [SHARED_DATA_DIR]
"""
import json
import math
import os
import subprocess
import sys

from transformers import PreTrainedTokenizerFast
from transformers.utils import logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import fnv64  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "text", "sequences.json")
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "data")

CONFIGS = [
    {"sources": ["wikitext2-test.jsonl.zst", "tinyshakespeare.jsonl.zst", "llmc-code.jsonl.zst"],
     "max_length": 64, "group_size": 16, "batch_size": 3},
    {"sources": ["wikitext2-test.jsonl.zst", "tinyshakespeare.jsonl.zst", "llmc-code.jsonl.zst"],
     "max_length": 2048, "group_size": 1024, "batch_size": 2},
    {"sources": ["tinyshakespeare.jsonl.zst"], "max_length": 100, "group_size": 7, "batch_size": 5},
    {"sources": ["llmc-code.jsonl.zst"], "max_length": 512, "group_size": 1, "batch_size": 4},
]


def read_docs(name):
    raw = subprocess.run(["zstdcat", os.path.join(SHARED, name)], check=True,
                         capture_output=True).stdout
    return [json.loads(line)["text"] for line in raw.decode("utf-8").splitlines() if line.strip()]


def group_sequences(tokenizer, texts, max_length):
    """One group, as the reference's concat_and_tokenize does it."""
    out = tokenizer(
        tokenizer.eos_token.join([""] + texts),
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_overflowing_tokens=True,
    )
    seqs = list(out["input_ids"])
    overflow = out.get("overflowing_tokens")
    if overflow is not None:  # slow tokenizers only
        seqs += [overflow[i * max_length:(i + 1) * max_length]
                 for i in range(math.ceil(len(overflow) / max_length))]
    return seqs[:-1]


def main():
    logging.set_verbosity_error()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(SHARED, "gpt-neox-20b-tokenizer.json"),
        eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    results = []
    for cfg in CONFIGS:
        docs = [d for name in cfg["sources"] for d in read_docs(name)]
        L, G, B = cfg["max_length"], cfg["group_size"], cfg["batch_size"]
        seqs, groups = [], []
        for g in range(0, len(docs), G):
            s = group_sequences(tokenizer, docs[g:g + G], L)
            assert all(len(x) == L for x in s)
            groups.append(len(s))
            seqs += s
        batches = [seqs[i:i + B] for i in range(0, len(seqs), B)]
        flat = [t for s in seqs for t in s]
        r = dict(cfg)
        r.update({
            "n_docs": len(docs),
            "n_sequences": len(seqs),
            "n_batches": len(batches),
            "last_batch_rows": len(batches[-1]) if batches else 0,
            "group_sequences": groups,
            "fnv": fnv64(flat),
            "first_batches": batches[:2],
        })
        results.append(r)
        print(cfg, len(seqs), "sequences", file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump({"about": "reference sequence building with HF transformers; see gen_sequences.py",
                   "configs": results}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
