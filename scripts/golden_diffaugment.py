#!/usr/bin/env python3
"""Golden values for nn.DiffAugment (nn/augment.go), in PyTorch float64.

The transforms mirror DiffAugment_pytorch.py of mit-han-lab/data-efficient-gans
(BSD 2-Clause, Zhao et al. 2020) operation for operation: the same means, the same
pad-by-one-and-clamp gather for translation, the same clamped scatter for the cutout
mask. The one change: each transform takes its per-sample random values as arguments
instead of calling torch.rand / torch.randint, because avatargan draws them in Go
(DiffAugment.Draw). The values used here are drawn with torch in the same ranges, with
the extreme offsets forced on two samples, and written to the JSON beside the results,
so the Go test hands exactly the same values to its own code.

Writes nn/testdata/diffaugment_<h>x<w>.json, each with x and gy (NCHW, float32-exact),
the parameters, and for every policy P in POLICIES: y/P = DiffAugment(x, P) and
grad_x/P = d sum(y * gy) / dx (12 significant digits).

Usage: python3 scripts/golden_diffaugment.py
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import json
import os

import torch
import torch.nn.functional as F

POLICIES = ["color,translation,cutout", "color", "translation", "cutout"]
SHAPES = [(3, 3, 8, 8), (3, 3, 7, 7), (3, 3, 9, 12)]  # N, C, H, W


def ranges(h, w):
    """Shift bound, cutout size and cutout offset bound per axis, as the official code."""
    shift = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
    cut = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    off = h + (1 - cut[0] % 2), w + (1 - cut[1] % 2)
    return shift, cut, off


def rand_brightness(x, r):
    return x + (r.view(-1, 1, 1, 1) - 0.5)


def rand_saturation(x, r):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) * 2) + x_mean


def rand_contrast(x, r):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (r.view(-1, 1, 1, 1) + 0.5) + x_mean


def rand_translation(x, trans_h, trans_w):
    n, _, h, w = x.shape
    tx, ty = trans_h.view(-1, 1, 1), trans_w.view(-1, 1, 1)
    gb, gx, gy = torch.meshgrid(torch.arange(n), torch.arange(h), torch.arange(w), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2).contiguous()


def rand_cutout(x, cut_h, cut_w):
    n, _, h, w = x.shape
    _, cut, _ = ranges(h, w)
    ox, oy = cut_h.view(-1, 1, 1), cut_w.view(-1, 1, 1)
    gb, gx, gy = torch.meshgrid(torch.arange(n), torch.arange(cut[0]), torch.arange(cut[1]), indexing="ij")
    gx = torch.clamp(gx + ox - cut[0] // 2, min=0, max=h - 1)
    gy = torch.clamp(gy + oy - cut[1] // 2, min=0, max=w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


def diff_augment(x, policy, p):
    for name in policy.split(","):
        if name == "color":
            x = rand_brightness(x, p["brightness"])
            x = rand_saturation(x, p["saturation"])
            x = rand_contrast(x, p["contrast"])
        elif name == "translation":
            x = rand_translation(x, p["trans_h"], p["trans_w"])
        elif name == "cutout":
            x = rand_cutout(x, p["cut_h"], p["cut_w"])
        else:
            raise ValueError(name)
    return x.contiguous()


def draw(n, h, w):
    """Parameters in the official ranges; samples 0 and 1 take the extreme offsets."""
    (sh, sw), _, (oh, ow) = ranges(h, w)
    p = {k: torch.rand(n, dtype=torch.float32).double() for k in ("brightness", "saturation", "contrast")}
    p["trans_h"] = torch.randint(-sh, sh + 1, (n,))
    p["trans_w"] = torch.randint(-sw, sw + 1, (n,))
    p["cut_h"] = torch.randint(0, oh, (n,))
    p["cut_w"] = torch.randint(0, ow, (n,))
    p["trans_h"][:2] = torch.tensor([-sh, sh])
    p["trans_w"][:2] = torch.tensor([sw, -sw])
    p["cut_h"][:2] = torch.tensor([0, oh - 1])
    p["cut_w"][:2] = torch.tensor([ow - 1, 0])
    return p


def tensor(t, digits=12):
    """A JSON tensor, values to `digits` significant digits: 12 for results (far below
    the Go test's tolerance), 9 for float32 inputs (enough to read back exactly)."""
    return {"shape": list(t.shape), "data": [float(f"{v:.{digits}g}") for v in t.detach().reshape(-1).tolist()]}


def main():
    torch.manual_seed(0)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn", "testdata")
    for n, c, h, w in SHAPES:
        x = torch.randn(n, c, h, w, dtype=torch.float32).double()
        gy = torch.randn(n, c, h, w, dtype=torch.float32).double()
        p = draw(n, h, w)
        tensors = {"x": tensor(x, 9), "gy": tensor(gy, 9)}
        tensors.update({k: tensor(v, 9) for k, v in p.items()})
        for policy in POLICIES:
            xr = x.clone().requires_grad_(True)
            y = diff_augment(xr, policy, p)
            (y * gy).sum().backward()
            tensors["y/" + policy] = tensor(y)
            tensors["grad_x/" + policy] = tensor(xr.grad)
        doc = (f"DiffAugment (official semantics, parameters given) of x [{n},{c},{h},{w}] NCHW, float64; "
               "grad_x = d sum(y*gy)/dx; written by scripts/golden_diffaugment.py")
        path = os.path.join(out_dir, f"diffaugment_{h}x{w}.json")
        with open(path + ".tmp", "w") as f:
            json.dump({"doc": doc, "tensors": tensors}, f)
            f.write("\n")
        os.replace(path + ".tmp", path)
        print(path)


if __name__ == "__main__":
    main()
