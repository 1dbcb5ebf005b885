#!/usr/bin/env python3
"""HF tokenizers (Rust) throughput on the same corpora as bench_tokenizer.c:
encode document by document on one thread, and encode_batch on all threads.
Usage: bench_tokenizer.py TOKENIZER.json CORPUS.jsonl.zst..."""
import json
import os
import subprocess
import sys
import time


def read_docs(path):
    if path.endswith(".zst"):
        raw = subprocess.run(["zstdcat", path], check=True, capture_output=True).stdout
    else:
        raw = open(path, "rb").read()
    return [json.loads(line)["text"] for line in raw.decode("utf-8").splitlines() if line.strip()]


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    tok_path, corpora = sys.argv[1], sys.argv[2:]
    docs = [d for c in corpora for d in read_docs(c)]
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    from tokenizers import Tokenizer, __version__
    tok = Tokenizer.from_file(tok_path)
    t1 = best_of(3, lambda: [tok.encode(d) for d in docs])
    tn = best_of(3, lambda: tok.encode_batch(docs))
    print("%-34s %8.1f MB/s" % ("HF tokenizers %s, encode loop" % __version__, mb / t1))
    print("%-34s %8.1f MB/s  (%d threads)" % ("HF tokenizers, encode_batch", mb / tn,
                                               len(os.sched_getaffinity(0))))


if __name__ == "__main__":
    main()
