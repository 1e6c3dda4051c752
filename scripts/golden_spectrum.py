#!/usr/bin/env python3
"""Golden values for nn.SpectrumLoss (nn/spectrum.go), in PyTorch float64.

The loss: RGB -> (Y, Cb, Cr) with JPEG's matrix (no offsets), with window times the 2-D
symmetric Hann window (torch.hann_window(periodic=False), outer product of rows and
columns), unnormalised 2-D DFT of every image channel (torch.fft.fft2), mean power over the batch, then the mean over
channels and every frequency but DC of (ln(P + eps) - ln(T + eps))^2 with
eps = 1e-6 * H * W, T the same mean power of the target batch. The gradient is
autograd's.

Writes nn/testdata/spectrum_loss.json: a list of {n, nt, h, w, window, x, target, loss, grad}
with x, target and grad in CNHW order (as nn holds images), x and target float32-exact
(drawn with a fixed seed), loss and grad with 12 significant digits.

Usage: python3 scripts/golden_spectrum.py
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import json
import os

import torch

YCC = torch.tensor([[0.299, 0.587, 0.114],
                    [-0.168736, -0.331264, 0.5],
                    [0.5, -0.418688, -0.081312]], dtype=torch.float64)
# n, nt, h, w, window
CASES = [(3, 4, 6, 5, False), (2, 2, 8, 8, False), (4, 3, 12, 10, False),
         (3, 4, 6, 5, True), (4, 3, 12, 10, True)]


def power(x, window):
    """Mean power spectrum [3, h, w] of NCHW images x."""
    y = torch.einsum("cd,ndhw->nchw", YCC, x)
    if window:
        h, w = x.shape[-2:]
        y = y * torch.outer(torch.hann_window(h, periodic=False, dtype=torch.float64),
                            torch.hann_window(w, periodic=False, dtype=torch.float64))
    f = torch.fft.fft2(y)
    return (f.real ** 2 + f.imag ** 2).mean(0)


def loss(x, target, window):
    h, w = x.shape[-2:]
    eps = 1e-6 * h * w
    d = torch.log(power(x, window) + eps) - torch.log(power(target, window) + eps)
    mask = torch.ones(h, w, dtype=torch.bool)
    mask[0, 0] = False
    return (d[:, mask] ** 2).mean()


def cnhw(t):
    return t.permute(1, 0, 2, 3).flatten().tolist()


def main():
    g = torch.Generator().manual_seed(11)
    out = []
    for n, nt, h, w, window in CASES:
        x = (torch.rand(n, 3, h, w, generator=g, dtype=torch.float64) * 2 - 1).float().double()
        # A stripe pattern in the batch, so that its spectrum differs from the target's.
        x[..., ::2] *= 0.25
        target = (torch.rand(nt, 3, h, w, generator=g, dtype=torch.float64) * 2 - 1).float().double()
        x.requires_grad_(True)
        l = loss(x, target, window)
        l.backward()
        out.append({"n": n, "nt": nt, "h": h, "w": w, "window": window,
                    "x": cnhw(x.detach()), "target": cnhw(target),
                    "loss": float("%.12g" % l.item()),
                    "grad": [float("%.12g" % v) for v in cnhw(x.grad)]})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn", "testdata", "spectrum_loss.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
