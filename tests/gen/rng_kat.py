#!/usr/bin/env python3
"""Known-answer values for tests/test_rng.c: an independent Python model of
splitmix64 seeding, xoshiro256**, 53-bit doubles, float uniforms and the
Box-Muller normal deviates. Prints C initialisers to paste into the test."""
import math

import numpy as np

M = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Xoshiro:
    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)
        self.spare = None

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def double(self):
        return (self.next() >> 11) * 2.0**-53

    def uniform(self, lo, hi):
        u = self.double()
        v = np.float32(float(np.float32(lo)) + (float(np.float32(hi)) - float(np.float32(lo))) * u)
        return float(v)

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u1 = 1.0 - self.double()
        u2 = self.double()
        r = math.sqrt(-2.0 * math.log(u1))
        a = 2.0 * math.pi * u2
        self.spare = r * math.sin(a)
        return r * math.cos(a)


x = 0
out = []
for _ in range(3):
    x, z = splitmix64(x)
    out.append(z)
print("splitmix64(0):", ", ".join(f"0x{v:016x}ULL" for v in out))

r = Xoshiro(42)
print("xoshiro(42) next:", ", ".join(f"0x{r.next():016x}ULL" for _ in range(6)))
r = Xoshiro(42)
print("xoshiro(42) double:", ", ".join(repr(r.double()) for _ in range(4)))
r = Xoshiro(7)
print("xoshiro(7) uniform(-0.5, 2):", ", ".join(f"{r.uniform(-0.5, 2.0):.9g}f" for _ in range(4)))
r = Xoshiro(123)
print("xoshiro(123) normal:", ", ".join(repr(r.normal()) for _ in range(5)))
