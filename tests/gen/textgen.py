"""Deterministic text generators shared (by definition, not by code) with
tests/text_gen.c: the C tests rebuild the same texts from the parameters
stored in the fixtures."""

MASK = (1 << 64) - 1


class Lcg:
    """x <- x * 6364136223846793005 + 1442695040888963407 (mod 2^64); draws x >> 33."""

    def __init__(self, seed):
        self.x = seed & MASK

    def next(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & MASK
        return self.x >> 33


def fnv64(ids):
    """FNV-1a 64 over the ids as little-endian int32 bytes (hex string)."""
    h = 0xCBF29CE484222325
    for i in ids:
        for b in (i & 0xFFFFFFFF).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) & MASK
    return "%016x" % h


def build(spec):
    """Bytes of a generated text: see the kinds below."""
    kind = spec["kind"]
    if kind == "repeat":  # one string repeated
        return spec["unit"].encode("utf-8") * spec["count"]
    if kind == "word":  # letters a..z drawn at random: one long word
        r = Lcg(spec["seed"])
        return bytes(ord("a") + r.next() % 26 for _ in range(spec["count"]))
    if kind == "soup":  # elements of an alphabet drawn at random
        r = Lcg(spec["seed"])
        alphabet = [a.encode("utf-8") for a in spec["alphabet"]]
        return b"".join(alphabet[r.next() % len(alphabet)] for _ in range(spec["count"]))
    if kind == "bytes":  # random bytes (mostly invalid UTF-8)
        r = Lcg(spec["seed"])
        return bytes(r.next() & 0xFF for _ in range(spec["count"]))
    if kind == "sweep":  # every code point of a range (step apart) in a few contexts
        out = []
        for c in range(spec["start"], spec["end"], spec["step"]):
            if 0xD800 <= c < 0xE000:
                continue
            ch = chr(c)
            out.append("a" + ch + "1" + ch + " " + ch + ch + "x " + ch + "\n")
        return "".join(out).encode("utf-8")
    raise ValueError(kind)
