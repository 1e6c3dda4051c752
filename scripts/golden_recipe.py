#!/usr/bin/python3
"""Writes nn/testdata/{spectral_norm_conv,spectral_norm_linear,hinge}.json: PyTorch float64
reference values for the recipe ops of avatargan (spectral normalisation with
torch.nn.utils.spectral_norm, hinge losses). Run from the repository root with Debian's
python3-torch:  /usr/bin/python3 scripts/golden_recipe.py
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)


def t(x):
    x = x.detach()
    return {"shape": list(x.shape), "data": x.reshape(-1).tolist()}


def write(name, doc, tensors):
    with open(f"nn/testdata/{name}.json", "w") as f:
        json.dump({"doc": doc, "tensors": {k: t(v) for k, v in tensors.items()}}, f)


def spectral(module, x, name, doc, forwards=2):
    """Applies spectral_norm, records the initial state, then runs `forwards` training
    forwards (each one power iteration) with a backward of sum(y*gy) after each, and one
    eval forward. Gradients of weight_orig accumulate over the passes, as in a D step."""
    module = torch.nn.utils.spectral_norm(module)
    out = {"weight_orig": module.weight_orig.clone(), "bias": module.bias.clone(),
           "u0": module.weight_u.clone(), "v0": module.weight_v.clone(), "x": x}
    for i in range(forwards):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        gy = torch.randn_like(y)
        (y * gy).sum().backward()
        out[f"gy{i}"] = gy
        out[f"y{i}"] = y
        out[f"dx{i}"] = xi.grad
        out[f"u{i + 1}"] = module.weight_u.clone()
        out[f"v{i + 1}"] = module.weight_v.clone()
        out[f"sigma{i + 1}"] = torch.dot(module.weight_u, module.weight_orig.reshape(module.weight_orig.shape[0], -1) @ module.weight_v).reshape(1)
    out["grad_weight_orig"] = module.weight_orig.grad
    out["grad_bias"] = module.bias.grad
    module.eval()
    with torch.no_grad():
        out["y_eval"] = module(x)
    write(name, doc, out)


spectral(torch.nn.Conv2d(3, 4, 5, stride=2, padding=2), torch.randn(2, 3, 7, 7), "spectral_norm_conv",
         "torch.nn.utils.spectral_norm(Conv2d(3, 4, 5, 2, 2)) from weight_orig, u0, v0: two training "
         "forwards (one power iteration each; u, v after each as uK, vK, sigma as sigmaK) each followed by a "
         "backward of sum(yK*gyK); grads accumulate; then an eval forward y_eval.")
spectral(torch.nn.Linear(6, 3), torch.randn(4, 6), "spectral_norm_linear",
         "torch.nn.utils.spectral_norm(Linear(6, 3)): as spectral_norm_conv.")

x = torch.tensor([-2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 1.7, 3.0]).reshape(8, 1)
xs = {}
for name, fn in [("real", lambda v: F.relu(1 - v).mean()), ("fake", lambda v: F.relu(1 + v).mean()),
                 ("gen", lambda v: -v.mean())]:
    v = x.clone().requires_grad_(True)
    loss = fn(v)
    loss.backward()
    xs[f"loss_{name}"] = loss.reshape(1)
    xs[f"grad_{name}"] = v.grad
xs["logits"] = x
write("hinge", "Hinge losses on logits: real mean(relu(1-x)), fake mean(relu(1+x)), gen -mean(x); grads.", xs)
