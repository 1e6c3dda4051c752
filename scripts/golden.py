#!/usr/bin/env python3
"""Golden values for the numeric tests: PyTorch float64 results of every layer, the
loss, Adam and one iteration of the reference DCGAN, in the JSON files the Go tests read
(nn/testdata/*.json, dcgan/testdata/dcgan_tiny.json; ../shared/golden holds the first
copies).

Each file stores its random inputs (x, weights, upstream gradients gy, ...) and the
outputs PyTorch computes from them in float64. This script recomputes the outputs from
the stored inputs:

  python3 scripts/golden.py            check: recompute, compare with the files, exit 1
                                       on any difference beyond float64 rounding
  python3 scripts/golden.py --write    rewrite the outputs of the files
  python3 scripts/golden.py --fresh S  draw new inputs from seed S, then write

Needs PyTorch (Debian: apt-get install python3-torch; run it with /usr/bin/python3).
The DCGAN below is the reference network (architecture, names, layouts, schedule) that
the Go code follows, written out here so the script needs nothing outside the
repository.
"""
import argparse
import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class Generator(nn.Module):
    def __init__(self, size=48, z=100, gf=64):
        super().__init__()
        self.s, self.gf = size // 16, gf
        self.fc = nn.Linear(z, 8 * gf * self.s * self.s)
        self.bn0 = nn.BatchNorm2d(8 * gf)
        chans = [8 * gf, 4 * gf, 2 * gf, gf, 3]
        for i in range(4):
            setattr(self, f"deconv{i+1}", nn.ConvTranspose2d(chans[i], chans[i + 1], 5, 2, 2, output_padding=1))
            if i < 3:
                setattr(self, f"bn{i+1}", nn.BatchNorm2d(chans[i + 1]))

    def forward(self, z):
        h = self.fc(z).view(-1, 8 * self.gf, self.s, self.s)
        h = torch.relu(self.bn0(h))
        for i in range(1, 4):
            h = torch.relu(getattr(self, f"bn{i}")(getattr(self, f"deconv{i}")(h)))
        return torch.tanh(self.deconv4(h))


class Discriminator(nn.Module):
    def __init__(self, size=48, df=64):
        super().__init__()
        s = size // 16
        chans = [3, df, 2 * df, 4 * df, 8 * df]
        for i in range(4):
            setattr(self, f"conv{i}", nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2))
            if i > 0:
                setattr(self, f"bn{i}", nn.BatchNorm2d(chans[i + 1]))
        self.fc = nn.Linear(8 * df * s * s, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv0(x), 0.2)
        for i in range(1, 4):
            h = F.leaky_relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h)), 0.2)
        return self.fc(h.flatten(1))


def grads(y, gy, *xs):
    """Gradients of sum(y*gy) with respect to xs."""
    return torch.autograd.grad((y * gy).sum(), xs)


def req(t):
    return t.clone().requires_grad_(True)


# Each case: (file, inputs {name: shape}, compute(inputs) -> outputs, doc).

def linear(i):
    x, w, b = req(i["x"]), req(i["weight"]), req(i["bias"])
    y = F.linear(x, w, b)
    gx, gw, gb = grads(y, i["gy"], x, w, b)
    return {"y": y, "grad_x": gx, "grad_weight": gw, "grad_bias": gb}


def conv2d(i):
    x, w, b = req(i["x"]), req(i["weight"]), req(i["bias"])
    y = F.conv2d(x, w, b, stride=2, padding=2)
    gx, gw, gb = grads(y, i["gy"], x, w, b)
    return {"y": y, "grad_x": gx, "grad_weight": gw, "grad_bias": gb}


def conv_transpose2d(i):
    x, w, b = req(i["x"]), req(i["weight"]), req(i["bias"])
    y = F.conv_transpose2d(x, w, b, stride=2, padding=2, output_padding=1)
    gx, gw, gb = grads(y, i["gy"], x, w, b)
    return {"y": y, "grad_x": gx, "grad_weight": gw, "grad_bias": gb}


def batchnorm2d(i):
    x, g, b = req(i["x"]), req(i["gamma"]), req(i["beta"])
    rm, rv = i["running_mean"].clone(), i["running_var"].clone()
    y_eval = F.batch_norm(i["x"], i["running_mean"], i["running_var"], i["gamma"], i["beta"], False, 0.1, 1e-5)
    y = F.batch_norm(x, rm, rv, g, b, True, 0.1, 1e-5)
    gx, gg, gb = grads(y, i["gy"], x, g, b)
    return {"y": y, "grad_x": gx, "grad_gamma": gg, "grad_beta": gb,
            "running_mean_after": rm, "running_var_after": rv, "y_eval": y_eval}


def activations(i):
    out = {}
    for name, f in [("relu", torch.relu), ("leaky_relu", lambda t: F.leaky_relu(t, 0.2)), ("tanh", torch.tanh)]:
        x = req(i["x"])
        y = f(x)
        out[name + "_y"], out[name + "_grad_x"] = y, grads(y, i["gy"], x)[0]
    return out


def bce(i):
    out = {}
    for t in (0, 1):
        x = req(i["logits"])
        loss = F.binary_cross_entropy_with_logits(x, torch.full_like(x, float(t)))
        out[f"loss_target{t}"], out[f"grad_target{t}"] = loss.reshape(1), torch.autograd.grad(loss, x)[0]
    return out


def adam(i):
    p = nn.Parameter(i["param"].clone())
    opt = torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    out = {}
    for k in ("1", "2", "3"):
        p.grad = i["grad_step" + k].clone()
        opt.step()
        out["param_after_step" + k] = p.detach().clone()
    return out


TINY = dict(size=16, z=8, gf=4, df=4, batch=4)


def tiny_nets(i):
    G = Generator(TINY["size"], TINY["z"], TINY["gf"])
    D = Discriminator(TINY["size"], TINY["df"])
    for prefix, net in (("G.", G), ("D.", D)):
        sd = {k: i[prefix + k].reshape(v.shape).to(v.dtype) for k, v in net.state_dict().items()}
        net.load_state_dict(sd)
    return G, D


def dcgan_tiny(i):
    z, real = i["z"], i["real"]
    ones, zeros = torch.ones(TINY["batch"], 1), torch.zeros(TINY["batch"], 1)
    bce_ = F.binary_cross_entropy_with_logits
    out = {}
    G, D = tiny_nets(i)
    out["fake0"] = G(z).detach()

    # D loss and grads at init: real and fake through D separately.
    G, D = tiny_nets(i)
    lossD = bce_(D(real), ones) + bce_(D(G(z).detach()), zeros)
    lossD.backward()
    out["lossD0"] = lossD.detach().reshape(1)
    for k, p in D.named_parameters():
        out["gradD0." + k] = p.grad.detach().clone()

    # G loss and grads at init (non-saturating).
    G, D = tiny_nets(i)
    lossG = bce_(D(G(z)), ones)
    lossG.backward()
    out["lossG0"] = lossG.detach().reshape(1)
    for k, p in G.named_parameters():
        out["gradG0." + k] = p.grad.detach().clone()

    # One iteration of the original schedule: one D step, then two G steps, same z.
    G, D = tiny_nets(i)
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    losses = []
    optD.zero_grad()
    lossD = bce_(D(real), ones) + bce_(D(G(z).detach()), zeros)
    lossD.backward()
    optD.step()
    losses.append(lossD.item())
    for _ in range(2):
        optG.zero_grad()
        lossG = bce_(D(G(z)), ones)
        lossG.backward()
        optG.step()
        losses.append(lossG.item())
    out["losses_iteration"] = torch.tensor(losses)
    for prefix, net in (("after.G.", G), ("after.D.", D)):
        for k, v in net.state_dict().items():
            out[prefix + k] = v.detach().clone().to(torch.float64)
    G.eval()
    out["fake_eval"] = G(z).detach()
    return out


def tiny_inputs(gen):
    """The initial state (TF init: N(0, 0.02) weights, truncated at 2 sigma for convs,
    zero biases, BN 1/0) and the inputs z ~ U(-1, 1), real in [-1, 1]."""
    G = Generator(TINY["size"], TINY["z"], TINY["gf"])
    D = Discriminator(TINY["size"], TINY["df"])
    for net in (G, D):
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif name.startswith("bn"):
                nn.init.ones_(p)
            elif name.startswith("fc"):
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            else:
                with torch.no_grad():
                    t = torch.randn(p.shape, generator=gen)
                    while (t.abs() > 2).any():
                        bad = t.abs() > 2
                        t[bad] = torch.randn(int(bad.sum()), generator=gen)
                    p.copy_(t * 0.02)
    i = {}
    for prefix, net in (("G.", G), ("D.", D)):
        for k, v in net.state_dict().items():
            i[prefix + k] = v.detach().clone().to(torch.float64)
    i["z"] = torch.rand(TINY["batch"], TINY["z"], generator=gen) * 2 - 1
    i["real"] = torch.rand(TINY["batch"], 3, TINY["size"], TINY["size"], generator=gen) * 2 - 1
    return i


CASES = [
    ("nn/testdata/linear.json", {"x": [3, 5], "weight": [4, 5], "bias": [4], "gy": [3, 4]}, linear),
    ("nn/testdata/conv2d_even.json", {"x": [2, 3, 8, 8], "weight": [4, 3, 5, 5], "bias": [4], "gy": [2, 4, 4, 4]}, conv2d),
    ("nn/testdata/conv2d_odd.json", {"x": [2, 3, 7, 7], "weight": [4, 3, 5, 5], "bias": [4], "gy": [2, 4, 4, 4]}, conv2d),
    ("nn/testdata/conv_transpose2d_3.json", {"x": [2, 4, 3, 3], "weight": [4, 3, 5, 5], "bias": [3], "gy": [2, 3, 6, 6]}, conv_transpose2d),
    ("nn/testdata/conv_transpose2d_4.json", {"x": [2, 4, 4, 4], "weight": [4, 3, 5, 5], "bias": [3], "gy": [2, 3, 8, 8]}, conv_transpose2d),
    ("nn/testdata/batchnorm2d.json", {"x": [4, 3, 5, 5], "gamma": [3], "beta": [3], "running_mean": [3], "running_var": [3],
                                      "gy": [4, 3, 5, 5]}, batchnorm2d),
    ("nn/testdata/activations.json", {"x": [2, 3, 4, 4], "gy": [2, 3, 4, 4]}, activations),
    ("nn/testdata/bce_with_logits.json", {"logits": [6, 1]}, bce),
    ("nn/testdata/adam.json", {"param": [10], "grad_step1": [10], "grad_step2": [10], "grad_step3": [10]}, adam),
    ("dcgan/testdata/dcgan_tiny.json", None, dcgan_tiny),
]


def draw(shapes, gen, name):
    i = {}
    for k, shape in shapes.items():
        t = torch.randn(shape, generator=gen)
        if k == "running_var" or k == "gamma":
            t = t.abs() + 0.5  # variances and scales positive, away from zero
        i[k] = t
    return i


def load(path):
    with open(path) as f:
        doc = json.load(f)
    return doc, {k: torch.tensor(v["data"]).reshape(v["shape"]) for k, v in doc["tensors"].items()}


def tensor_json(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the outputs from the stored inputs")
    ap.add_argument("--fresh", type=int, metavar="SEED", help="draw new inputs from SEED, then write")
    ap.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance of the check")
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(a.fresh) if a.fresh is not None else None
    failed = False
    for rel, shapes, fn in CASES:
        path = os.path.join(ROOT, rel)
        doc, stored = load(path)
        if gen is not None:
            inputs = tiny_inputs(gen) if shapes is None else draw(shapes, gen, rel)
        else:
            names = shapes.keys() if shapes is not None else [k for k in stored if k.startswith(("G.", "D.")) or k in ("z", "real")]
            inputs = {k: stored[k] for k in names}
        out = fn(inputs)
        if a.write or gen is not None:
            tensors = {k: tensor_json(v) for k, v in inputs.items()}
            tensors.update({k: tensor_json(v) for k, v in out.items()})
            # Keep the stored order of names where it exists.
            order = [k for k in doc["tensors"] if k in tensors] + [k for k in tensors if k not in doc["tensors"]]
            doc["tensors"] = {k: tensors[k] for k in order}
            with open(path, "w") as f:
                json.dump(doc, f)
            print(f"wrote {rel}")
            continue
        # Check: every stored output is recomputed, within float64 rounding.
        missing = [k for k in stored if k not in inputs and k not in out]
        if missing:
            print(f"{rel}: stored tensors the script does not compute: {missing}")
            failed = True
        # Mixed tolerance per element: |got - want| <= atol + rtol*|want|. atol is on the
        # scale of the file's largest value: gradients that are zero in exact arithmetic
        # (the bias of a layer followed by BatchNorm) are pure rounding noise, ~1e-17.
        scale = max(v.abs().max().item() for k, v in out.items() if k in stored)
        atol = 1e-12 * scale
        worst = 0.0
        for k, v in out.items():
            if k not in stored:
                print(f"{rel}: {k} computed but not stored")
                failed = True
                continue
            want = stored[k].reshape(-1)
            got = v.reshape(-1).to(torch.float64)
            if got.shape != want.shape:
                print(f"{rel}: {k}: {got.numel()} values, stored {want.numel()}")
                failed = True
                continue
            ratio = ((got - want).abs() / (atol + a.rtol * want.abs())).max().item()
            worst = max(worst, ratio)
            if not ratio <= 1:
                print(f"{rel}: {k}: differs by {ratio:.3g} times the tolerance")
                failed = True
        print(f"{rel}: {len(out)} outputs reproduced, worst at {worst:.2g} of the tolerance")
    if not (a.write or gen is not None):
        print("FAIL" if failed else f"OK: every stored output reproduced (atol 1e-12 x largest value, rtol {a.rtol:g})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
