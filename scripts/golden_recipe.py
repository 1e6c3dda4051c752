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


# A tiny SNGAN-recipe iteration (dcgan/testdata/sngan_tiny.json): the reference
# Generator, and the reference Discriminator without BatchNorm and with
# spectral_norm on every conv and the fc; hinge loss; Adam G 1e-4 (0, 0.9), D 4e-4
# (0, 0.9); one D step then one G step with the same z.
class Generator(torch.nn.Module):
    def __init__(self, size, z, gf):
        super().__init__()
        self.s, self.gf = size // 16, gf
        self.fc = torch.nn.Linear(z, 8 * gf * self.s * self.s)
        self.bn0 = torch.nn.BatchNorm2d(8 * gf)
        chans = [8 * gf, 4 * gf, 2 * gf, gf, 3]
        for i in range(4):
            setattr(self, f"deconv{i+1}", torch.nn.ConvTranspose2d(chans[i], chans[i + 1], 5, 2, 2, output_padding=1))
            if i < 3:
                setattr(self, f"bn{i+1}", torch.nn.BatchNorm2d(chans[i + 1]))

    def forward(self, z):
        h = torch.relu(self.bn0(self.fc(z).view(-1, 8 * self.gf, self.s, self.s)))
        for i in range(1, 4):
            h = torch.relu(getattr(self, f"bn{i}")(getattr(self, f"deconv{i}")(h)))
        return torch.tanh(self.deconv4(h))


class SNDiscriminator(torch.nn.Module):
    def __init__(self, size, df):
        super().__init__()
        s = size // 16
        chans = [3, df, 2 * df, 4 * df, 8 * df]
        sn = torch.nn.utils.spectral_norm
        for i in range(4):
            setattr(self, f"conv{i}", sn(torch.nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2)))
        self.fc = sn(torch.nn.Linear(8 * df * s * s, 1))

    def forward(self, x):
        h = x
        for i in range(4):
            h = F.leaky_relu(getattr(self, f"conv{i}")(h), 0.2)
        return self.fc(h.flatten(1))


def state(prefix, m):
    return {prefix + k: v.clone().double() for k, v in m.state_dict().items()}


G, D = Generator(16, 8, 4), SNDiscriminator(16, 4)
for m in (G, D):
    for mod in m.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            w = mod.weight_orig if hasattr(mod, "weight_orig") else mod.weight
            torch.nn.init.normal_(w, 0, 0.2)
            torch.nn.init.normal_(mod.bias, 0, 0.05)
out = {}
out.update(state("G.", G))
out.update(state("D.", D))
z = torch.rand(4, 8) * 2 - 1
real = torch.rand(4, 3, 16, 16) * 2 - 1
out["z"], out["real"] = z, real
optG = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
optD = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9))
# D step: real, then fake, each through D separately (each forward one power iteration).
optD.zero_grad()
fake = G(z).detach()
lossD = F.relu(1 - D(real)).mean() + F.relu(1 + D(fake)).mean()
lossD.backward()
for k, p in D.named_parameters():
    out["gradD0." + k] = p.grad.clone()
optD.step()
optG.zero_grad()
lossG = -D(G(z)).mean()
lossG.backward()
optG.step()
out["losses_iteration"] = torch.stack([lossD.detach(), lossG.detach()])
out.update({"after." + k: v for k, v in state("G.", G).items()})
out.update({"after." + k: v for k, v in state("D.", D).items()})
out = {k: (v if v.dim() > 0 or "num_batches" not in k else v.reshape(1)) for k, v in out.items()}
write_to = "dcgan/testdata/sngan_tiny.json"
with open(write_to, "w") as f:
    json.dump({"doc": "Tiny SNGAN-recipe iteration (S=16 Z=8 gf=df=4, batch 4, float64): reference G, D "
               "without BatchNorm and with spectral_norm on conv0..3 and fc; weights N(0, 0.2), biases "
               "N(0, 0.05); hinge loss; Adam G 1e-4 (0, 0.9), D 4e-4 (0, 0.9); one D step (real then fake "
               "through D, one power iteration each) then one G step with the same z. 'G.*'/'D.*': initial "
               "state_dict; gradD0.*: D grads of the D step; losses_iteration: [D loss, G loss]; after.*: "
               "state_dict after the iteration (u, v moved by the three training forwards of D).",
               "tensors": {k: t(v) for k, v in out.items()}}, f)


# The R1 penalty's gradient (dcgan/testdata/r1_tiny.json): a fresh spectral-normed D
# without BatchNorm, in eval mode (spectral norm uses the stored u, v), the exact
# second-order gradient of gamma/2 * mean_i |dD(x_i)/dx_i|^2 by double backprop.
D = SNDiscriminator(16, 4)
for mod in D.modules():
    if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
        torch.nn.init.normal_(mod.weight_orig, 0, 0.2)
        torch.nn.init.normal_(mod.bias, 0, 0.05)
out = state("D.", D)
gamma = 0.7
x = torch.rand(4, 3, 16, 16) * 2 - 1
out["x"] = x
D.eval()
xr = x.clone().requires_grad_(True)
g, = torch.autograd.grad(D(xr).sum(), xr, create_graph=True)
penalty = gamma / 2 * g.pow(2).sum() / x.shape[0]
D.zero_grad()
penalty.backward()
out["input_grad"] = g.detach()
out["penalty"] = penalty.detach().reshape(1)
for k, p in D.named_parameters():
    out["grad." + k] = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
write_to = "dcgan/testdata/r1_tiny.json"
with open(write_to, "w") as f:
    json.dump({"doc": "R1 penalty gamma/2 * mean_i |dD(x_i)/dx_i|^2, gamma 0.7, on a spectral-normed D without "
               "BatchNorm (S=16, df=4, float64; weight_orig N(0, 0.2), biases N(0, 0.05)) in eval mode (stored "
               "u, v): 'D.*' the state_dict, x the batch of 4, input_grad dD/dx, penalty, grad.* the exact "
               "gradient of the penalty (double backprop; the biases' is zero).",
               "tensors": {k: t(v) for k, v in out.items()}}, f)
