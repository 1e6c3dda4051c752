#!/usr/bin/python3
"""Writes dcgan/testdata/refine_tiny.json: PyTorch float64 reference values for the
generator's refinement head (avatargan_torch.model.Generator with refine > 0, the model
that loads avatargan's exports), which dcgan/refine_test.go compares avatargan against.

A tiny generator (S=16, Z=8, gf=4, refine=3, batch 4) with every weight N(0, 0.2), every
bias N(0, 0.05), BatchNorm weights N(1, 0.1) and biases N(0, 0.1), so that no tensor of
the head is trivially zero (refine_conv included, which avatargan's AddRefine zeroes):
  G.*        the initial state_dict (num_batches_tracked too)
  z          the latents, uniform in [-1, 1]
  img        the training-mode forward (batch statistics)
  gimg       a random upstream gradient
  grad.*     the gradient of sum(img * gimg) for every parameter
  after.*    the BatchNorm buffers after that forward (running stats, counts)
  img_eval   the eval-mode forward of the same z after it (running statistics)

Run from the repository root with Debian's python3-torch:
  /usr/bin/python3 scripts/golden_refine.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from avatargan_torch.model import Generator  # noqa: E402

torch.manual_seed(17)
torch.set_default_dtype(torch.float64)


def t(x):
    x = x.detach()
    if x.dim() == 0:
        x = x.reshape(1)
    return {"shape": list(x.shape), "data": x.double().reshape(-1).tolist()}


G = Generator(16, 8, 4, refine=3).double()
for mod in G.modules():
    if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
        torch.nn.init.normal_(mod.weight, 0, 0.2)
        torch.nn.init.normal_(mod.bias, 0, 0.05)
    elif isinstance(mod, torch.nn.BatchNorm2d):
        torch.nn.init.normal_(mod.weight, 1, 0.1)
        torch.nn.init.normal_(mod.bias, 0, 0.1)
out = {"G." + k: v.clone() for k, v in G.state_dict().items()}
z = torch.rand(4, 8) * 2 - 1
out["z"] = z
G.train()
img = G(z)
gimg = torch.randn_like(img)
G.zero_grad()
(img * gimg).sum().backward()
out["img"], out["gimg"] = img, gimg
for k, p in G.named_parameters():
    out["grad." + k] = p.grad.clone()
for k, v in G.state_dict().items():
    if k.split(".")[-1] in ("running_mean", "running_var", "num_batches_tracked"):
        out["after." + k] = v.clone()
G.eval()
with torch.no_grad():
    out["img_eval"] = G(z)

with open("dcgan/testdata/refine_tiny.json", "w") as f:
    json.dump({"doc": "Generator(16, 8, 4, refine=3) of python/avatargan_torch/model.py in float64 (batch 4): "
               "weights N(0, 0.2), biases N(0, 0.05), BatchNorm weights N(1, 0.1) and biases N(0, 0.1). "
               "'G.*': the initial state_dict; z uniform in [-1, 1]; img the training-mode forward; gimg a "
               "random upstream gradient; grad.* the gradients of sum(img*gimg); after.* the BatchNorm "
               "buffers after that forward; img_eval the eval-mode forward of z after it "
               "(scripts/golden_refine.py).",
               "tensors": {k: t(v) for k, v in out.items()}}, f)
