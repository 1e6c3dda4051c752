"""avatargan's generator and discriminator as PyTorch modules, with the module names and
tensor layouts of avatargan's checkpoints (adapted from the reference network the Go
code was written against).

Architecture (image size S, a multiple of 16; s = S // 16; latent size Z; widths gf, df):

  Generator    z[N,Z] -> fc -> view [N, 8gf, s, s] -> bn0 -> relu
               -> deconv1 (8gf->4gf) -> bn1 -> relu      (2s)
               -> deconv2 (4gf->2gf) -> bn2 -> relu      (4s)
               -> deconv3 (2gf->gf)  -> bn3 -> relu      (8s)
               -> deconv4 (gf->3)    -> tanh             (16s = S)
               with refine = r > 0 (a refinement head; h = bn3's relu output, 8s):
               tanh(deconv4(h) + refine_conv(relu(refine_bn(refine_deconv(h)))))
                 refine_deconv (gf->r, like deconv4) -> refine_bn -> relu   (16s)
                 refine_conv   (r->3, Conv2d kernel 3, stride 1, padding 1)  (16s)
  Discriminator x[N,3,S,S] -> conv0 (3->df) -> lrelu(0.2)              (S/2)
               -> conv1 (df->2df)  -> bn1 -> lrelu(0.2)               (S/4)
               -> conv2 (2df->4df) -> bn2 -> lrelu(0.2)               (S/8)
               -> conv3 (4df->8df) -> bn3 -> lrelu(0.2)               (s)
               -> flatten (NCHW order) -> fc -> one logit per image

  deconvK = ConvTranspose2d(kernel 5, stride 2, padding 2, output_padding 1)
  convK   = Conv2d(kernel 5, stride 2, padding 2)
  BatchNorm2d: eps 1e-5, momentum 0.1. Every conv/deconv/fc layer has a bias.
  The head's tensors follow deconv4's in the state_dict (refine_deconv, refine_bn,
  refine_conv); without a head (refine=0, the default) there are none.

Layouts are PyTorch's (Linear [out, in], Conv2d [out, in, kh, kw], ConvTranspose2d
[in, out, kh, kw]), so Generator(...).load_state_dict() takes the tensors of
`avatargan export` unchanged, and the "generator." / "discriminator." tensors of a
training checkpoint without their prefix.
"""
import torch
import torch.nn as nn


class Generator(nn.Module):
    def __init__(self, size=48, z=100, gf=64, refine=0):
        super().__init__()
        if size % 16:
            raise ValueError(f"size {size} is not a multiple of 16")
        if refine < 0:
            raise ValueError(f"refine {refine} is negative")
        self.s, self.gf, self.z, self.refine = size // 16, gf, z, refine
        self.fc = nn.Linear(z, 8 * gf * self.s * self.s)
        self.bn0 = nn.BatchNorm2d(8 * gf)
        chans = [8 * gf, 4 * gf, 2 * gf, gf, 3]
        for i in range(4):
            setattr(self, f"deconv{i + 1}", nn.ConvTranspose2d(chans[i], chans[i + 1], 5, 2, 2, output_padding=1))
            if i < 3:
                setattr(self, f"bn{i + 1}", nn.BatchNorm2d(chans[i + 1]))
        if refine:
            # Registered after deconv4, so the state_dict lists them last, as avatargan.
            self.refine_deconv = nn.ConvTranspose2d(gf, refine, 5, 2, 2, output_padding=1)
            self.refine_bn = nn.BatchNorm2d(refine)
            self.refine_conv = nn.Conv2d(refine, 3, 3, 1, 1)

    def forward(self, z):
        h = self.fc(z).view(-1, 8 * self.gf, self.s, self.s)
        h = torch.relu(self.bn0(h))
        for i in range(1, 4):
            h = torch.relu(getattr(self, f"bn{i}")(getattr(self, f"deconv{i}")(h)))
        out = self.deconv4(h)
        if self.refine:
            out = out + self.refine_conv(torch.relu(self.refine_bn(self.refine_deconv(h))))
        return torch.tanh(out)


class Discriminator(nn.Module):
    """The discriminator; bn=False drops bn1..bn3 (a recipe option), sn=True wraps every
    conv and the fc in torch.nn.utils.spectral_norm (state names weight_orig, weight_u,
    weight_v, as avatargan stores them)."""

    def __init__(self, size=48, df=64, bn=True, sn=False):
        super().__init__()
        if size % 16:
            raise ValueError(f"size {size} is not a multiple of 16")
        s = size // 16
        self.bn = bn
        wrap = nn.utils.spectral_norm if sn else (lambda m: m)
        chans = [3, df, 2 * df, 4 * df, 8 * df]
        for i in range(4):
            setattr(self, f"conv{i}", wrap(nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2)))
            if i > 0 and bn:
                setattr(self, f"bn{i}", nn.BatchNorm2d(chans[i + 1]))
        self.fc = wrap(nn.Linear(8 * df * s * s, 1))

    def forward(self, x):
        h = nn.functional.leaky_relu(self.conv0(x), 0.2)
        for i in range(1, 4):
            h = getattr(self, f"conv{i}")(h)
            if self.bn:
                h = getattr(self, f"bn{i}")(h)
            h = nn.functional.leaky_relu(h, 0.2)
        return self.fc(h.flatten(1))


def load_generator(path, map_location="cpu"):
    """A Generator in eval mode from an avatargan file: a generator-only export (its
    "spec" metadata gives the sizes) or a training checkpoint (the "config" metadata;
    the EMA weights are NOT applied here: use `avatargan export` for those, since the
    EMA needs recalibrated BatchNorm statistics)."""
    import json

    from . import safetensors
    tensors, meta = safetensors.read(path)
    if meta.get("format") == "avatargan-generator":
        spec = json.loads(meta["spec"])
        g = Generator(spec["size"], spec["zdim"], spec["gf"], spec.get("refine", 0))
        sd = tensors
    elif meta.get("format") == "avatargan-train":
        cfg = {k.lower(): v for k, v in json.loads(meta["config"]).items()}
        g = Generator(cfg["size"], cfg["zdim"], cfg["gf"], cfg.get("refine", 0))
        sd = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")}
    else:
        raise ValueError(f"{path}: not an avatargan generator or checkpoint (no format metadata)")
    g.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    return g.eval().to(map_location)
