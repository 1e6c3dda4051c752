#!/usr/bin/env python3
"""Golden values for nn.CompensateSpectrum (nn/specreg.go), in PyTorch float64.

The step is SR-GAN's static spectral compensation as the authors' code applies it
(Liu et al. 2019, max-liu-112/SRGANs, updater.py: SVD of the weight matrix, singular
values divided by their maximum, the first half set to 1, recomposed), followed by the
one change avatargan makes: the result is scaled to the input's Frobenius norm (the
spectrally normalised layer is the same either way; see nn/specreg.go for why).

Writes nn/testdata/spectral_reg.json: a list of {rows, cols, w, out}, w float32-exact
(drawn with a fixed seed, one direction grown as in a collapsed layer), out with 12
significant digits.

Usage: python3 scripts/golden_specreg.py
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import json
import os

import torch

SHAPES = [(6, 10), (10, 6), (5, 5), (16, 75)]


def compensate(w):
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    s = s / s.max()
    s[: s.shape[0] // 2] = 1
    out = u @ torch.diag(s) @ vh
    return out * (w.norm() / out.norm())


def main():
    g = torch.Generator().manual_seed(10)
    cases = []
    for rows, cols in SHAPES:
        w = torch.randn(rows, cols, generator=g, dtype=torch.float64) * 0.02
        w += 0.1 * torch.sin(torch.arange(cols, dtype=torch.float64))
        w = w.float().double()  # float32-exact inputs: the Go side holds float32
        out = compensate(w)
        cases.append({"rows": rows, "cols": cols,
                      "w": [float("%.12g" % x) for x in w.flatten().tolist()],
                      "out": [float("%.12g" % x) for x in out.flatten().tolist()]})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn", "testdata", "spectral_reg.json")
    with open(path, "w") as f:
        json.dump(cases, f, indent=0)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
