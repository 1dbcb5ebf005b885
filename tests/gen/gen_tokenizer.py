#!/usr/bin/env python3
"""Write the tokenizer oracle fixtures (tests/fixtures/text/tokenizer_cases.json
and tiny-tokenizer.json) with HF tokenizers.

Convention for bytes that are not valid UTF-8: the oracle encodes
bytes.decode("utf-8", "replace"), the string Python (and hence HF tokenizers)
sees; the C tokenizer repairs its input the same way.

Two tokenizers are covered:
  - neox: the GPT-NeoX-20B tokenizer of the shared data (the C test SKIPs
    those cases when the shared data is absent); the Pythia HF-hub file must
    give identical ids (checked here and in the C test);
  - tiny: a small byte-level BPE trained here with HF tokenizers (NFC, the
    same pre-tokenizer, special and normalized added tokens), committed as a
    fixture, so that exact-oracle tests always run.
Usage: tests/gen/gen_tokenizer.py [SHARED_DATA_DIR]
"""
import json
import os
import random
import subprocess
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import AddedToken

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from textgen import build, fnv64  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "text")
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "data")
CORPORA = ["wikitext2-test.jsonl.zst", "tinyshakespeare.jsonl.zst", "llmc-code.jsonl.zst"]

PROSE = (
    "The lighthouse keeper counted the ships every evening. On the 3rd of May, 1921, "
    "she wrote: \"Nine vessels -- two of them steamers -- passed before dusk.\" "
    "It's odd, isn't it? We'd thought they'd stopped; you'll see they're back, "
    "and I've no idea why. THE END.\n\nChapter 2\n\tIndented line.\r\nWindows line.\n"
)
CODE_C = (
    "#include <stdio.h>\n\nstatic int sum(const int *xs, size_t n)\n{\n    int total = 0;\n"
    "    for (size_t i = 0; i < n; i++) {\n        total += xs[i];   // accumulate\n    }\n"
    "\treturn total;\n}\n\nint main(void) { int a[3] = {1, 2, 3}; printf(\"%d\\n\", sum(a, 3)); }\n"
)
CODE_PY = (
    "def fib(n: int) -> int:\n    \"\"\"Return the n-th number.\"\"\"\n    a, b = 0, 1\n"
    "    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n\nif __name__ == '__main__':\n"
    "    print([fib(k) for k in range(10)])  # 0 1 1 2 ...\n        \n"
)
CASES = [
    ("empty", b""),
    ("single space", b" "),
    ("single letter", b"a"),
    ("prose", PROSE.encode()),
    ("code C", CODE_C.encode()),
    ("code Python", CODE_PY.encode()),
    ("digits long", b"31415926535897932384626433832795028841971693993751058209749445923078164062862"),
    ("digits mixed", b"v1.2.3 10,000,000 3.14e-10 0x7fff 2024-01-31 12:34:56 +44 (0)20 7946 0958"),
    ("spaces 2..30", b"".join(b"x" + b" " * k for k in range(1, 31)) + b"y"),
    ("trailing spaces", b"end   "),
    ("leading spaces", b"    start"),
    ("only spaces 25", b" " * 25),
    ("only spaces 49", b" " * 49),
    ("tabs", b"a\tb\t\tc \t d\t \te\t"),
    ("newlines", b"\n\n\nx\n\ny\n \n  \n   z\n\n\n"),
    ("crlf", b"line one\r\nline two\r\n\r\n"),
    ("whitespace mix", b" \t\n\x0b\x0c\r x  \t  y\n\t\n"),
    ("unicode spaces", "a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u202f h\u205f\u1680i  \u3000 j".encode()),
    ("not spaces", "a\x1cb\u200bc\u180ed\ufeffe".encode()),
    ("contractions", b"I'm you're he's she'd we've they'll it't 's 't 're 've 'm 'll 'd"),
    ("contractions upper", b"I'M YOU'RE HE'S WE'VE THEY'LL DON'T 'S"),
    ("apostrophes", "don\u2019t ''quoted'' '' ' x' 'sss 'llama 'reef".encode()),
    ("punctuation", b"!!! ??? ... --- *** ((())) [[]] {{}} <<>> ,,, ;;; ::: ~~~ @@@ ### $$$ %%% ^^^ &&&"),
    ("punctuation run", b"=" * 300 + b"-" * 77 + b"!?" * 40),
    ("url json", b'see https://example.org/a/b?c=1&d=%20e#f and {"k": [1, 2.5, null], "s": "x\\ty"}'),
    ("markdown latex", b"# Title\n\n* item **bold** _it_ `code`\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n"),
    ("emoji", "hi \U0001f600\U0001f600 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \U0001f1ec\U0001f1e7 end".encode()),
    ("cjk", "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002 \u4e2d\u6587\u6d4b\u8bd5\uff0c\u6807\u70b9\u3002 \ud55c\uad6d\uc5b4 \ud14c\uc2a4\ud2b8".encode()),
    ("arabic hindi", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0661\u0662\u0663 \u0939\u093f\u0928\u094d\u0926\u0940 \u0915\u094d\u0937 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22".encode()),
    ("greek cyrillic", "\u0391\u03b8\u03ae\u03bd\u03b1 \u039c\u03cc\u03c3\u03c7\u03b1 \u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u044f\u0437\u044b\u043a \u0401\u0436".encode()),
    ("combining marks", "e\u0301 a\u0300\u0316 o\u0308\u0304 x\u0327\u0301 \u0301 \u0301\u0301abc n\u0303o".encode()),
    ("nfd input", "Cafe\u0301 re\u0301sume\u0301 A\u030a \u212b \u2126 Ame\u0301lie \u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af".encode()),
    ("nfc sensitive", "\u00c5 \u212b A\u030a \ufb01 \u2460 \u00bd \u2163 x\u00b2 \uff21\uff22 \u1e9b\u0323".encode()),
    ("numbers unicode", "\u0660\u0661\u0662 \u00b2\u00b3 \u2155 \u2167 \u3007 \U0001d7ce\U0001d7cf".encode()),
    ("endoftext inside", b"first doc<|endoftext|>second doc<|endoftext|><|endoftext|> third"),
    ("endoftext partial", b"<|endoftext <|endoftext|| <|endof <|padding|> <|pad|> |>"),
    ("endoftext spaces", b"a <|endoftext|> b  <|endoftext|>  c"),
    ("nul and controls", b"a\x00b\x01\x02\x1b[31mred\x1b[0m\x7f\x00"),
    ("invalid lone continuation", b"abc\x80def\xbf"),
    ("invalid lead bytes", b"\xc0\xc1\xf5\xf8\xff x \xfe"),
    ("invalid truncated", b"a\xe2\x82 b\xf0\x9f\x98 c\xc3"),
    ("invalid surrogates", b"\xed\xa0\x80\xed\xbf\xbf ok"),
    ("invalid overlong", b"\xe0\x80\xaf \xf0\x80\x80\xaf \xc0\xaf"),
    ("invalid above max", b"\xf4\x90\x80\x80 \xf7\xbf\xbf\xbf"),
    ("invalid mixed", "ok \u00e9".encode() + b"\xe9t\xe9 " + "\U0001f600".encode()[:3] + b"!"),
    ("latin1 text", "na\u00efve caf\u00e9 \u00fcber".encode("latin-1")),
    ("long word", b"Pneumonoultramicroscopicsilicovolcanoconiosis" * 5),
    ("repeated subword", b"abababababababababababababababababab" + b" ab" * 20),
    ("mixed scripts", "abc\u0431\u0432\u0433123\u4e00\u4e8c\u4e09\u00e9\U0001f600x".encode()),
]

SOUP_ALPHABET = [
    "a", "b", "e", "s", "t", "Z", "0", "7", " ", " ", " ", "  ", "\t", "\n", "\n\n", "'", "'s", "'ll",
    ".", ",", "!", "-", "(", ")", "\u00e9", "e\u0301", "\u0301", "\u00a0", "\u3000", "\u4e2d", "\u6587",
    "\U0001f600", "\u200d", "\u0939\u093f", "\u0661", "\u00b2", "\u1100", "\u1161", "\u11a8",
    "<|endoftext|>", "<|pad", "\u212b", "A\u030a", "\u2028", "\u0085",
]

GENERATED = [
    {"name": "1 MB of 'a'", "kind": "repeat", "unit": "a", "count": 1000000},
    {"name": "200 KB of '7'", "kind": "repeat", "unit": "7", "count": 200000},
    {"name": "100 KB of spaces", "kind": "repeat", "unit": " ", "count": 100000},
    {"name": "100 KB of newlines", "kind": "repeat", "unit": "\n", "count": 100000},
    {"name": "50 K x e-acute (NFD)", "kind": "repeat", "unit": "e\u0301", "count": 50000},
    {"name": "20 K emoji", "kind": "repeat", "unit": "\U0001f600", "count": 20000},
    {"name": "100 KB random word", "kind": "word", "seed": 12345, "count": 100000},
    {"name": "soup 1", "kind": "soup", "seed": 1, "count": 20000, "alphabet": SOUP_ALPHABET},
    {"name": "soup 2", "kind": "soup", "seed": 2, "count": 20000, "alphabet": SOUP_ALPHABET},
    {"name": "random bytes", "kind": "bytes", "seed": 7, "count": 50000},
    {"name": "sweep U+0080..U+FFFF", "kind": "sweep", "start": 0x80, "end": 0x10000, "step": 1},
    {"name": "sweep U+10000..U+10FFFF / 13", "kind": "sweep", "start": 0x10000, "end": 0x110000,
     "step": 13},
]


def as_text(b):
    return b.decode("utf-8", "replace")


def case_entry(name, b):
    e = {"name": name}
    try:
        e["text"] = b.decode("utf-8")
    except UnicodeDecodeError:
        e["hex"] = b.hex()
    return e


def train_tiny():
    """A small byte-level BPE with the GPT-NeoX configuration."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        min_frequency=2,
        special_tokens=["<|endoftext|>", "<|padding|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    training = [PROSE, CODE_C, CODE_PY] + [as_text(b) for _, b in CASES] * 3
    tok.train_from_iterator(training, trainer=trainer)
    tok.add_tokens([AddedToken(" " * k, normalized=True) for k in range(8, 1, -1)])
    return tok


def read_corpus(path):
    raw = subprocess.run(["zstdcat", path], check=True, capture_output=True).stdout
    return [json.loads(line)["text"] for line in raw.decode("utf-8").splitlines() if line.strip()]


def corpus_cases(neox):
    rng = random.Random(2024)
    out = []
    for name in CORPORA:
        docs = read_corpus(os.path.join(SHARED, name))
        ids = [e.ids for e in neox.encode_batch(docs)]
        whole = [{"n": len(x), "fnv": fnv64(x)} for x in ids]
        snippets = []
        for _ in range(4):
            d = rng.randrange(len(docs))
            text = docs[d]
            a = rng.randrange(max(1, len(text) - 1500))
            piece = text[a:a + 1500]
            start = len(text[:a].encode("utf-8"))
            snippets.append({"doc": d, "start": start, "len": len(piece.encode("utf-8")),
                             "ids": neox.encode(piece).ids})
        out.append({"file": name, "docs": whole, "snippets": snippets})
    return out


def main():
    neox = Tokenizer.from_file(os.path.join(SHARED, "gpt-neox-20b-tokenizer.json"))
    pythia = Tokenizer.from_file(os.path.join(SHARED, "pythia-hf-tokenizer.json"))
    tiny = train_tiny()
    tiny_path = os.path.join(OUT, "tiny-tokenizer.json")
    tiny.save(tiny_path)
    tiny = Tokenizer.from_file(tiny_path)

    cases = []
    for name, b in CASES:
        e = case_entry(name, b)
        t = as_text(b)
        n_ids = neox.encode(t).ids
        assert pythia.encode(t).ids == n_ids, name
        e["neox"] = n_ids
        e["tiny"] = tiny.encode(t).ids
        # decode(encode(x)) is NFC(x) with U+FFFD repairs; store it when it differs
        dec = neox.decode(n_ids, skip_special_tokens=False)
        if dec.encode() != b:
            e["decoded"] = dec
        e["decoded_skip_special"] = neox.decode(n_ids, skip_special_tokens=True)
        cases.append(e)

    generated = []
    for spec in GENERATED:
        t = as_text(build(spec))
        n_ids = neox.encode(t).ids
        assert pythia.encode(t).ids == n_ids, spec["name"]
        t_ids = tiny.encode(t).ids
        g = dict(spec)
        g["neox"] = {"n": len(n_ids), "fnv": fnv64(n_ids)}
        g["tiny"] = {"n": len(t_ids), "fnv": fnv64(t_ids)}
        generated.append(g)

    tokens = []
    for i in [0, 1, 2, 13, 187, 209, 247, 1533, 12092, 50253, 50254, 50260, 50276]:
        tokens.append({"id": i, "token": neox.id_to_token(i)})

    fixture = {
        "about": "oracle: HF tokenizers %s; texts with invalid UTF-8 are given as hex and "
                 "encoded as bytes.decode('utf-8', 'replace')" % __import__("tokenizers").__version__,
        "cases": cases,
        "generated": generated,
        "neox_tokens": tokens,
        "neox_vocab_size": neox.get_vocab_size(),
        "tiny_vocab_size": tiny.get_vocab_size(),
        "corpora": corpus_cases(neox),
    }
    with open(os.path.join(OUT, "tokenizer_cases.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"), ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
