"""DiffAugment (Zhao et al. 2020) exactly as avatargan draws and applies it
(nn.DiffAugment, dcgan.Trainer.augment), differentiable through autograd.

For D evaluation k of an iteration (0: real and 1: fake in the D step, 2+j: G step j),
the parameters of all images of the global batch come from Go's PCG seeded with
(seed ^ 0xd1b54a32d192ed03, T << 8 | k), T being D's Adam step count at that moment;
per image: brightness, saturation, contrast (Float32 each), then the translation along
H and W (IntN(2*shift+1) - shift), then the cutout centre (IntN(cutOff) along H and W).
The transforms, in this order: colour (x + b - 0.5; (x - mean over channels) * 2s + that
mean; (x - mean over the image) * (c + 0.5) + that mean), translation
(y[r][q] = x[r+th][q+tw], 0 outside), cutout (a cut x cut square, half the side rounded
half up, zeroed around the centre).
"""
import torch

from .gorand import PCG

POLICY_NAMES = ("color", "translation", "cutout")


def parse_policy(s):
    """The set of transforms of a policy string such as "color,translation,cutout"."""
    names = [n.strip() for n in s.split(",") if n.strip()] if s else []
    for n in names:
        if n not in POLICY_NAMES:
            raise ValueError(f"augment policy {s!r}: unknown transform {n!r}")
    return set(names)


def ranges(h, w):
    """nn.AugmentRanges: (shiftH, shiftW, cutH, cutW, cutOffH, cutOffW)."""
    sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
    ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    return sh, sw, ch, cw, h + 1 - ch % 2, w + 1 - cw % 2


def _float32(r):
    return ((r.uint64() >> 32) & 0xFFFFFF) / float(1 << 24)


def _intn(r, n):
    if n & (n - 1) == 0:
        return r.uint64() & (n - 1)
    return r.bounded(n)


def draw(seed, t, k, n, h, w):
    """The parameters of the n images of one D evaluation: a list of tuples
    (brightness, saturation, contrast, th, tw, cut_h, cut_w)."""
    r = PCG(seed ^ 0xD1B54A32D192ED03, ((t << 8) | k) & ((1 << 64) - 1))
    sh, sw, _, _, coh, cow = ranges(h, w)
    out = []
    for _ in range(n):
        b, s, c = _float32(r), _float32(r), _float32(r)
        th = _intn(r, 2 * sh + 1) - sh
        tw = _intn(r, 2 * sw + 1) - sw
        out.append((b, s, c, th, tw, _intn(r, coh), _intn(r, cow)))
    return out


def apply(x, policy, params):
    """The augmentation of x [n, C, H, W] with one parameter tuple per image."""
    n, _, h, w = x.shape
    dev, dt = x.device, x.dtype
    if "color" in policy:
        b = torch.tensor([p[0] - 0.5 for p in params], dtype=dt, device=dev).view(n, 1, 1, 1)
        s = torch.tensor([p[1] * 2 for p in params], dtype=dt, device=dev).view(n, 1, 1, 1)
        c = torch.tensor([p[2] + 0.5 for p in params], dtype=dt, device=dev).view(n, 1, 1, 1)
        x = x + b
        m = x.mean(dim=1, keepdim=True)
        x = (x - m) * s + m
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - m) * c + m
    if "translation" in policy:
        rows = []
        for i, p in enumerate(params):
            th, tw = p[3], p[4]
            xi = x[i]
            y = torch.zeros_like(xi)
            r0, r1 = max(0, -th), min(h, h - th)
            q0, q1 = max(0, -tw), min(w, w - tw)
            if r0 < r1 and q0 < q1:
                y = torch.nn.functional.pad(xi[:, r0 + th:r1 + th, q0 + tw:q1 + tw], (q0, w - q1, r0, h - r1))
            rows.append(y)
        x = torch.stack(rows)
    if "cutout" in policy:
        _, _, ch, cw, _, _ = ranges(h, w)
        mask = torch.ones(n, 1, h, w, dtype=dt, device=dev)
        for i, p in enumerate(params):
            r0, q0 = p[5] - ch // 2, p[6] - cw // 2
            r1, q1 = min(r0 + ch, h), min(q0 + cw, w)
            r0, q0 = max(r0, 0), max(q0, 0)
            if r0 < r1 and q0 < q1:
                mask[i, :, r0:r1, q0:q1] = 0
        x = x * mask
    return x
