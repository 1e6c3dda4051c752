#!/usr/bin/env python3
"""Golden values for nn.PatchSWD (nn/patchswd.go), in PyTorch float64.

The loss: each image's box-filter Laplacian bands, G_0 = x, G_{l+1} = avg_pool2d(G_l, 2),
band_l = G_l - nearest-upsampled G_{l+1}, for 2 levels (with lowpass, the coarser level
is G_1 itself instead of its band); 5x5 patches (3 channels, in
channel, row, column order) at given positions of every band; projections onto given
unit directions; per level and direction the mean squared difference of the sorted
projections of the batch and of the target, divided by s_l (the mean over directions
of the population variance of the target's projections); the mean over levels. The
gradient is autograd's (torch.sort's values pass the gradient to the sorted elements).

Writes nn/testdata/patch_swd.json: a list of {n, h, w, patches, dirs_n, lowpass, x, target,
dirs, pos, tpos, loss, grad}: x, target and grad in CNHW order (as nn holds images),
dirs per level [dirs_n * 75], pos and tpos per level [n * patches] of [image, row,
column]; x, target and dirs float64 values that float32 holds exactly where they are
images, loss and grad with 12 significant digits.

Usage: python3 scripts/golden_patchswd.py
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import json
import os

import torch
import torch.nn.functional as F

LEVELS, SIDE = 2, 5
# n, h, w, patches per image, directions, lowpass
CASES = [(2, 12, 12, 3, 4, False), (3, 16, 20, 5, 6, False), (2, 12, 16, 4, 5, True)]


def bands(x, lowpass):
    out, g = [], x
    for l in range(LEVELS):
        if lowpass and l == LEVELS - 1:
            out.append(g)
            break
        low = F.avg_pool2d(g, 2)
        out.append(g - F.interpolate(low, scale_factor=2, mode="nearest"))
        g = low
    return out


def patches(band, pos):
    return torch.stack([band[b, :, y:y + SIDE, x:x + SIDE].reshape(-1) for b, y, x in pos])


def loss(x, target, dirs, pos, tpos, lowpass):
    total = 0
    for l, (bx, bt) in enumerate(zip(bands(x, lowpass), bands(target, lowpass))):
        px = patches(bx, pos[l]) @ dirs[l].T  # [m, k]
        pt = patches(bt, tpos[l]) @ dirs[l].T
        s = pt.var(0, unbiased=False).mean()
        d = torch.sort(px, 0).values - torch.sort(pt, 0).values
        total = total + (d ** 2).mean() / s
    return total / LEVELS


def cnhw(t):
    return t.permute(1, 0, 2, 3).flatten().tolist()


def main():
    g = torch.Generator().manual_seed(23)
    out = []
    for n, h, w, m, k, lowpass in CASES:
        x = (torch.rand(n, 3, h, w, generator=g, dtype=torch.float64) * 2 - 1).float().double()
        x[..., ::2, :] *= 0.5  # a stripe, so that the batch's patches differ from the target's
        target = (torch.rand(n, 3, h, w, generator=g, dtype=torch.float64) * 2 - 1).float().double()
        dirs, pos, tpos = [], [], []
        for l in range(LEVELS):
            hl, wl = h >> l, w >> l
            d = torch.randn(k, 3 * SIDE * SIDE, generator=g, dtype=torch.float64)
            dirs.append(d / d.norm(dim=1, keepdim=True))
            for p in (pos, tpos):
                ys = torch.randint(0, hl - SIDE + 1, (n * m,), generator=g).tolist()
                xs = torch.randint(0, wl - SIDE + 1, (n * m,), generator=g).tolist()
                p.append([[i // m, y, xx] for i, (y, xx) in enumerate(zip(ys, xs))])
        x.requires_grad_(True)
        l = loss(x, target, dirs, pos, tpos, lowpass)
        l.backward()
        out.append({"n": n, "h": h, "w": w, "patches": m, "dirs_n": k, "lowpass": lowpass,
                    "x": cnhw(x.detach()), "target": cnhw(target),
                    "dirs": [d.flatten().tolist() for d in dirs], "pos": pos, "tpos": tpos,
                    "loss": float("%.12g" % l.item()),
                    "grad": [float("%.12g" % v) for v in cnhw(x.grad)]})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn", "testdata", "patch_swd.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
