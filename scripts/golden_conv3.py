#!/usr/bin/env python3
"""Golden values for nn.Conv2d with a 3x3 kernel, stride 1 and padding 1 (the
generator's refinement head, refine_conv), in PyTorch float64.

scripts/golden.py covers the discriminator's 5x5 stride-2 convolutions; this is the
same check for the head's geometry: every output pixel of the border sees the zero
padding, and the image is not square (5 x 6), so swapped axes show.

Writes nn/testdata/conv2d_k3s1.json in golden.py's format ({"doc", "tensors": {name:
{shape, data}}}): the inputs x, weight, bias and gy float32-exact (drawn with a fixed
seed), the outputs y = conv2d(x, weight, bias, stride=1, padding=1) and the gradients
of sum(y*gy) with 12 significant digits.

Usage: python3 scripts/golden_conv3.py
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import json
import os

import torch
import torch.nn.functional as F

SHAPES = {"x": [2, 3, 5, 6], "weight": [4, 3, 3, 3], "bias": [4], "gy": [2, 4, 5, 6]}


def main():
    g = torch.Generator().manual_seed(13)
    # float32-exact inputs: the Go side holds float32.
    i = {k: torch.randn(shape, generator=g, dtype=torch.float64).float().double() for k, shape in SHAPES.items()}
    x, w, b = (i[k].clone().requires_grad_(True) for k in ("x", "weight", "bias"))
    y = F.conv2d(x, w, b, stride=1, padding=1)
    gx, gw, gb = torch.autograd.grad((y * i["gy"]).sum(), (x, w, b))
    out = {"y": y, "grad_x": gx, "grad_weight": gw, "grad_bias": gb}

    def tensor(t, digits):
        t = t.detach()
        data = t.reshape(-1).tolist() if digits is None else [float("%.12g" % v) for v in t.reshape(-1).tolist()]
        return {"shape": list(t.shape), "data": data}

    tensors = {k: tensor(v, None) for k, v in i.items()}
    tensors.update({k: tensor(v, 12) for k, v in out.items()})
    doc = {"doc": "Conv2d(kernel 3, stride 1, padding 1), NCHW; weight [out,in,kh,kw]; grads of sum(y*gy). "
                  "Written by scripts/golden_conv3.py.", "tensors": tensors}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nn", "testdata", "conv2d_k3s1.json")
    with open(path, "w") as f:
        json.dump(doc, f)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
