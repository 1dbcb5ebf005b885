#!/usr/bin/env python3
"""The reference's dists-cos-sim computation (figures/dists_cos_sim_heatmaps.py:
the full W^T W, triu_indices, then matplotlib's hist2d = numpy.histogram2d)
on random inputs of the same shape, timed on the CPU. Prints one JSON object.
    python3 bench_cos_sim.py D N THREADS"""
import json
import resource
import sys
import time

import numpy as np
import torch

D, N, T = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(T)
g = torch.Generator().manual_seed(0)
W = torch.rand(D, N, generator=g) * 2 - 1
layer_mean = torch.rand(N, generator=g) * 5
t0 = time.perf_counter()
W = W / W.norm(dim=0, keepdim=True).clamp(min=1e-8)
_, idx = layer_mean.sort(descending=True)
W = W[:, idx]
lm = layer_mean.view(-1, 1) - layer_mean.view(1, -1)
cos = torch.mm(W.T, W)
iu = torch.triu_indices(N, N, offset=1)
x, y = lm[iu[0], iu[1]].numpy(), cos[iu[0], iu[1]].numpy()
h, _, _ = np.histogram2d(x, y, bins=[64, 512], range=[(0, 5), (-0.25, 0.25)])
t = time.perf_counter() - t0
print(json.dumps({"d": D, "n_latents": N, "seconds": round(t, 3),
                  "pairs_per_s": N * (N - 1) / 2 / t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
