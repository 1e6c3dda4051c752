"""Continue an avatargan run with PyTorch, on one process or many (torchrun).

    PYTHONPATH=python torchrun --nproc_per_node N -m avatargan_torch.train \\
        --run RUN_DIR [--data DIR] [--max-steps N]

It loads the run's latest checkpoint (weights, Adam moments, BatchNorm statistics, EMA,
step; the configuration from RUN_DIR/config.json), trains avatargan's schedule on the
pixels of avatargan's own dataset cache with avatargan's latents and data order, and
writes checkpoints into the run in avatargan's format (atomically, every
checkpoint_every steps, at each epoch end and at the end), so `avatargan train` resumes
the run and `avatargan generate`/`serve`/`export` load it.

Data parallelism: the global batch of a step (the run's batch, or --batch-per-process
times the number of processes) is split into equal, contiguous slices, one per process.
Each process computes the losses of its slice; the gradients are averaged over the
processes (one all-reduce per network update) before every Adam step, so all replicas
take identical steps. BatchNorm normalises with the statistics of each process's slice
(SyncBatchNorm on CUDA with --sync-bn); running statistics are averaged over the
processes before each checkpoint. With one process this is avatargan's computation.

The discriminator's separate real and fake passes and the two G steps per batch are why
this averages gradients explicitly instead of wrapping the networks in
DistributedDataParallel, whose reducer expects one forward per backward.
"""
import argparse
import datetime
import json
import math
import os
import signal
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import augment, checkpoint, data, gorand
from .model import Discriminator, Generator

# The model-configuration keys this trainer implements (config.json's "model", in the
# snake_case form or the older capitalised one). A run whose configuration has any other
# key is refused rather than trained differently.
KNOWN_MODEL_KEYS = {"size", "zdim", "gf", "df", "batch", "lr_g", "lr_d", "lrg", "lrd", "beta1", "beta2",
                    "beta1_d", "beta2_d", "g_steps", "gsteps", "dist", "seed", "loss", "spectral_norm",
                    "d_norm", "augment", "r1", "r1_every", "d_steps", "spectral_reg", "phase_balance",
                    "spectrum_loss", "spectrum_window", "patch_loss", "patch_lowpass"}


def _enum(v, names, what):
    if isinstance(v, str):
        if v not in names:
            raise SystemExit(f"avatargan_torch.train: unknown {what} {v!r} (this trainer knows {', '.join(names)})")
        return v
    if not 0 <= int(v) < len(names):
        raise SystemExit(f"avatargan_torch.train: unknown {what} {v!r}")
    return names[int(v)]


class Recipe:
    """A run's model configuration (dcgan.Config) as the training step needs it."""

    def __init__(self, model):
        m = {k.lower(): v for k, v in model.items()}  # Go's JSON keys match case-insensitively
        unknown = sorted(k for k in m if k not in KNOWN_MODEL_KEYS)
        if unknown:
            raise SystemExit(f"avatargan_torch.train: the run's configuration has {', '.join(unknown)}, "
                             "which this PyTorch trainer does not implement; continue the run with `avatargan train`")
        self.size, self.zdim, self.gf, self.df, self.batch = m["size"], m["zdim"], m["gf"], m["df"], m["batch"]
        self.lr_g, self.lr_d = m.get("lr_g", m.get("lrg")), m.get("lr_d", m.get("lrd"))
        self.betas_g = (m["beta1"], m["beta2"])
        self.betas_d = (m.get("beta1_d", m["beta1"]), m.get("beta2_d", m["beta2"]))
        self.gsteps = m.get("g_steps", m.get("gsteps"))
        self.d_steps = max(int(m.get("d_steps", 0)), 1)
        self.dist = gorand.NORMAL if _enum(m.get("dist", 0), ["uniform", "normal"], "latent distribution") == "normal" else gorand.UNIFORM
        self.seed = m["seed"]
        self.loss = _enum(m.get("loss", 0), ["bce", "hinge"], "loss")
        self.d_sn = bool(m.get("spectral_norm", False))
        self.d_bn = _enum(m.get("d_norm", 0), ["batch", "none"], "d_norm") == "batch"
        self.augment = augment.parse_policy(m.get("augment") or "")
        self.r1, self.r1_every = float(m.get("r1", 0)), max(int(m.get("r1_every", 0)), 1)
        if self.r1 > 0 and self.d_bn:
            raise SystemExit("avatargan_torch.train: r1 needs a discriminator without BatchNorm (d_norm none)")
        self.spectral_reg = int(m.get("spectral_reg", 0))
        if self.spectral_reg > 0 and not self.d_sn:
            raise SystemExit("avatargan_torch.train: spectral_reg needs spectral norm in the discriminator")
        self.spectrum_loss = float(m.get("spectrum_loss", 0))
        if not (0 <= self.spectrum_loss < math.inf):
            raise SystemExit(f"avatargan_torch.train: spectrum_loss {self.spectrum_loss}: want a finite number >= 0")
        self.spectrum_window = bool(m.get("spectrum_window", False))
        if self.spectrum_window and self.spectrum_loss == 0:
            raise SystemExit("avatargan_torch.train: spectrum_window needs spectrum_loss > 0")
        self.patch_loss = float(m.get("patch_loss", 0))
        if not (0 <= self.patch_loss < math.inf):
            raise SystemExit(f"avatargan_torch.train: patch_loss {self.patch_loss}: want a finite number >= 0")
        self.patch_lowpass = bool(m.get("patch_lowpass", False))
        if self.patch_lowpass and self.patch_loss == 0:
            raise SystemExit("avatargan_torch.train: patch_lowpass needs patch_loss > 0")
        self.phase_balance = int(m.get("phase_balance", 0))
        if not 0 <= self.phase_balance <= 4:
            raise SystemExit(f"avatargan_torch.train: phase_balance {self.phase_balance}: want 0..4")

    def describe(self):
        return (f"loss {self.loss}, D {'BatchNorm' if self.d_bn else 'no norm'}{', spectral norm' if self.d_sn else ''}, "
                f"Adam G {self.lr_g} {self.betas_g} D {self.lr_d} {self.betas_d}, {self.gsteps} G step(s)"
                + (f" every {self.d_steps} D steps" if self.d_steps > 1 else "")
                + (f", DiffAugment {','.join(n for n in augment.POLICY_NAMES if n in self.augment)}" if self.augment else "")
                + (f", R1 {self.r1} every {self.r1_every} D step(s)" if self.r1 > 0 else "")
                + (f", spectral compensation every {self.spectral_reg} D steps" if self.spectral_reg > 0 else "")
                + (f", last {self.phase_balance} transposed convolution(s) of G phase-balanced" if self.phase_balance > 0 else "")
                + (f", spectrum loss {self.spectrum_loss}" if self.spectrum_loss > 0 else "")
                + (" (Hann-windowed)" if self.spectrum_window else "")
                + (f", patch loss {self.patch_loss}" if self.patch_loss > 0 else "")
                + (" (low-pass half-size level)" if self.patch_lowpass else ""))


@torch.no_grad()
def balance_phases(G, k):
    """nn.BalancePhases on G's last k transposed convolutions (dcgan.Config.PhaseBalance):
    for every (input, output) kernel the taps of each stride phase shift by one common
    amount so that all phases sum alike, the smallest such change (sums in float64)."""
    for i in range(5 - k, 5):
        conv = getattr(G, f"deconv{i}")
        w = conv.weight  # [in, out, k, k]
        s, kk = conv.stride[0], w.shape[-1]
        ph = torch.arange(kk) % s
        onehot = F.one_hot((ph[:, None] * s + ph[None, :]).reshape(-1), s * s).double()  # [k*k, s*s]
        count = onehot.sum(0)
        flat = w.reshape(w.shape[0], w.shape[1], -1)
        sums = flat.double() @ onehot  # [in, out, s*s]
        t = (sums / count).sum(-1, keepdim=True) / (1 / count).sum()
        flat += (((t - sums) / count) @ onehot.T).float()


@torch.no_grad()
def compensate_spectra(D):
    """nn.CompensateSpectrum on every spectrally normalised weight of D
    (dcgan.Config.SpectralReg, SR-GAN's static compensation): in float64, the top half of
    the singular values of weight_orig [out x rest] raised to the largest, then scaled
    back to its Frobenius norm; a 1 x n weight is left as it is."""
    for mod in D.modules():
        w = getattr(mod, "weight_orig", None)
        if w is None or min(w.shape[0], w[0].numel()) < 2:
            continue
        a = w.detach().double().reshape(w.shape[0], -1)
        u, s, vh = torch.linalg.svd(a, full_matrices=False)
        s2 = s.clone()
        s2[: s.shape[0] // 2] = s[0]
        out = u @ torch.diag(s2) @ vh
        out *= a.norm() / out.norm()
        w.copy_(out.reshape(w.shape).float())


_YCC = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]


def mean_power(x, window=False):
    """The mean power spectrum [3, h, w] (float64) of NCHW images x in Y, Cb, Cr
    (nn.SpectrumLoss): unnormalised 2-D DFT of every image channel (times the 2-D
    symmetric Hann window with window, nn.SpectrumLoss.Window), |.|^2, mean over the
    batch."""
    y = torch.einsum("cd,ndhw->nchw", torch.tensor(_YCC, dtype=torch.float64, device=x.device), x.double())
    if window:
        h, w = x.shape[-2:]
        y = y * torch.outer(torch.hann_window(h, periodic=False, dtype=torch.float64, device=x.device),
                            torch.hann_window(w, periodic=False, dtype=torch.float64, device=x.device))
    f = torch.fft.fft2(y)
    return (f.real ** 2 + f.imag ** 2).mean(0)


def spectrum_loss(fake, target_power, window=False):
    """nn.SpectrumLoss: the mean over (channel, frequency but DC) of
    (ln(P + eps) - ln(T + eps))^2, P the mean power of fake, eps = 1e-6 * h * w."""
    h, w = fake.shape[-2:]
    eps = 1e-6 * h * w
    d = torch.log(mean_power(fake, window) + eps) - torch.log(target_power + eps)
    mask = torch.ones(h, w, dtype=torch.bool, device=fake.device)
    mask[0, 0] = False
    return (d[:, mask] ** 2).mean()


# nn.PatchSWD's shape: Laplacian levels, patch side, patches per image and level, directions.
PATCH_LEVELS, PATCH_SIDE, PATCH_PER_IMAGE, PATCH_DIRS = 2, 5, 256, 32


def patch_draw(seed, t, k, n, h, w):
    """nn.PatchSWD.Draw for G step k at D-step count t (dcgan.Trainer.generatorGrads's
    generator): per level, unit directions [PATCH_DIRS, 75] (float64) and the positions
    [n * PATCH_PER_IMAGE, 3] (image, row, column) of the batch's and then the target's
    patches, both batches of n images."""
    r = gorand.PCG(seed ^ 0x8C6D2B1E4F3A5970, ((t << 8) | k) & ((1 << 64) - 1))
    dim = 3 * PATCH_SIDE * PATCH_SIDE
    levels = []
    for l in range(PATCH_LEVELS):
        d = torch.tensor([r.norm_float64() for _ in range(PATCH_DIRS * dim)], dtype=torch.float64).view(PATCH_DIRS, dim)
        d = d / d.pow(2).sum(1, keepdim=True).sqrt()
        hl, wl = h >> l, w >> l
        pos = []
        for _ in range(2):
            p = []
            for i in range(n * PATCH_PER_IMAGE):
                y = augment._intn(r, hl - PATCH_SIDE + 1)
                p.append((i // PATCH_PER_IMAGE, y, augment._intn(r, wl - PATCH_SIDE + 1)))
            pos.append(torch.tensor(p, dtype=torch.long))
        levels.append((d, pos[0], pos[1]))
    return levels


def _patch_bands(x, lowpass):
    """The box-filter Laplacian bands of x; with lowpass, the coarsest level is the
    pooled image itself (nn.PatchSWD.LowPass)."""
    out, g = [], x.double()
    for l in range(PATCH_LEVELS):
        if lowpass and l == PATCH_LEVELS - 1:
            out.append(g)
            break
        low = F.avg_pool2d(g, 2)
        out.append(g - F.interpolate(low, scale_factor=2, mode="nearest"))
        g = low
    return out


def _patches(band, pos):
    """The [len(pos), 75] patches (channel, row, column order) of band at pos."""
    ar = torch.arange(PATCH_SIDE, device=band.device)
    pos = pos.to(band.device)
    b = pos[:, 0].view(-1, 1, 1, 1)
    c = torch.arange(3, device=band.device).view(1, 3, 1, 1)
    y = (pos[:, 1].view(-1, 1) + ar).view(-1, 1, PATCH_SIDE, 1)
    x = (pos[:, 2].view(-1, 1) + ar).view(-1, 1, 1, PATCH_SIDE)
    return band[b, c, y, x].reshape(len(pos), -1)


def patch_loss(fake, real, levels, lowpass=False):
    """nn.PatchSWD: per level the mean over directions and ranks of the squared
    difference of the sorted projections of fake's and real's patches, over the mean
    variance of real's projections; the mean over levels (float64)."""
    total = 0
    for (d, pos, tpos), bf, br in zip(levels, _patch_bands(fake, lowpass), _patch_bands(real, lowpass)):
        d = d.to(fake.device)
        pf, pr = _patches(bf, pos) @ d.T, _patches(br, tpos) @ d.T
        s = pr.var(0, unbiased=False).mean().clamp_min(1e-12)
        diff = torch.sort(pf, 0).values - torch.sort(pr, 0).values
        total = total + diff.pow(2).mean() / s
    return total / PATCH_LEVELS


def _patch_levels(r, t, k, part):
    """This process's share of the draw for the global batch: the positions of images
    part.lo..part.hi, renumbered from 0 (each process matches its own slice, as with the
    spectrum loss)."""
    out = []
    for d, pos, tpos in patch_draw(r.seed, t, k, part.batch, r.size, r.size):
        lo, hi = part.lo * PATCH_PER_IMAGE, part.hi * PATCH_PER_IMAGE
        sl = lambda p: p[lo:hi] - torch.tensor([part.lo, 0, 0])
        out.append((d, sl(pos), sl(tpos)))
    return out


def make_models(r, device):
    G = Generator(r.size, r.zdim, r.gf).to(device)
    D = Discriminator(r.size, r.df, bn=r.d_bn, sn=r.d_sn).to(device)
    optG = torch.optim.Adam(G.parameters(), lr=r.lr_g, betas=r.betas_g, eps=1e-8)
    optD = torch.optim.Adam(D.parameters(), lr=r.lr_d, betas=r.betas_d, eps=1e-8)
    return G, D, optG, optD


def d_losses(r, real_logits, fake_logits):
    if r.loss == "hinge":
        return F.relu(1 - real_logits).mean(), F.relu(1 + fake_logits).mean()
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)),
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def g_loss(r, logits):
    if r.loss == "hinge":
        return -logits.mean()
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


class Reducer:
    """Averages gradients and statistics over the processes (a no-op for one)."""

    def __init__(self, world, device="cpu"):
        # NCCL reduces device tensors only: the statistics travel on the device too.
        self.world, self.device = world, device

    def grads(self, module):
        if self.world == 1:
            return
        ps = [p for p in module.parameters() if p.grad is not None]
        flat = torch.cat([p.grad.reshape(-1) for p in ps])
        dist.all_reduce(flat)
        flat /= self.world
        o = 0
        for p in ps:
            n = p.numel()
            p.grad.copy_(flat[o:o + n].view_as(p.grad))
            o += n

    def mean(self, values):
        if self.world == 1:
            return [float(v) for v in values]
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        t /= self.world
        return t.tolist()

    def running_stats(self, *modules):
        """Replaces every BatchNorm's running mean and variance by the average over the
        processes (the mean is then exactly the global batch's running mean)."""
        if self.world == 1:
            return
        for m in modules:
            for name, b in m.named_buffers():
                if name.endswith("running_mean") or name.endswith("running_var"):
                    dist.all_reduce(b)
                    b /= self.world

    def any(self, flag):
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return t.item() > 0


class Slice:
    """This process's part of the global batch: images lo..hi of `batch`."""

    def __init__(self, lo, hi, batch):
        self.lo, self.hi, self.batch = lo, hi, batch


def _augmented(r, x, k, t, part):
    """x with the DiffAugment of D evaluation k at D-step count t (nothing without a
    policy); the parameters are drawn for the whole global batch and sliced."""
    if not r.augment:
        return x
    params = augment.draw(r.seed, t, k, part.batch, r.size, r.size)[part.lo:part.hi]
    return augment.apply(x, r.augment, params)


def train_step(r, G, D, optG, optD, x, z, reducer=None, part=None):
    """One iteration of avatargan's schedule (dcgan.Trainer.Step) on this process's slice
    x (NCHW in [-1, 1]) and z: one D Adam step on loss(D(x), real) + loss(D(G(z)), fake),
    real and fake passed through D separately, then GSteps G Adam steps, each with a fresh
    forward of the same z (G and D in training mode throughout, as avatargan; with
    DiffAugment every D evaluation augments its input); with d_steps > 1 the G steps run
    on every d_steps-th iteration only (dcgan.Trainer.gDue). Returns the global statistics
    [d_loss, d_x, d_g_z, g_loss], g_loss None without G steps; raises FloatingPointError
    before an update a non-finite loss would poison."""
    reducer = reducer or Reducer(1)
    part = part or Slice(0, x.shape[0], x.shape[0])
    G.train()
    D.train()
    for p in D.parameters():
        p.requires_grad_(True)
    t = checkpoint.adam_step(optD, D)
    with torch.no_grad():
        fake = G(z)
    optD.zero_grad(set_to_none=False)
    lr = D(_augmented(r, x, 0, t, part))
    lr_loss, _ = d_losses(r, lr, lr)
    lr_loss.backward()
    lf = D(_augmented(r, fake, 1, t, part))
    _, lf_loss = d_losses(r, lf, lf)
    lf_loss.backward()
    if r.r1 > 0 and (t + 1) % r.r1_every == 0:
        # R1 on the same augmented reals, every r1_every-th D step with gamma scaled by
        # it (dcgan.Trainer.r1Due); D in eval mode so spectral norm keeps its u, v, as
        # avatargan's R1 pass. The mean is over this slice: averaging the processes'
        # gradients makes it the global batch's.
        gamma = r.r1 * r.r1_every
        D.eval()
        xa = _augmented(r, x, 0, t, part).detach().requires_grad_(True)
        g, = torch.autograd.grad(D(xa).sum(), xa, create_graph=True)
        (gamma / 2 * g.pow(2).sum() / x.shape[0]).backward()
        D.train()
    reducer.grads(D)
    loss_d, d_x, d_g_z = reducer.mean([lr_loss.item() + lf_loss.item(),
                                       torch.sigmoid(lr.detach().double()).mean().item(),
                                       torch.sigmoid(lf.detach().double()).mean().item()])
    if not math.isfinite(loss_d):
        raise FloatingPointError(f"non-finite D loss {loss_d}")
    optD.step()
    t += 1
    if r.spectral_reg > 0 and t % r.spectral_reg == 0:
        compensate_spectra(D)  # every process alike: the weights stay identical
    if t % r.d_steps != 0:
        return [loss_d, d_x, d_g_z, None]
    for p in D.parameters():
        p.requires_grad_(False)  # G steps need dD/dx only
    lg = 0.0
    if r.spectrum_loss > 0:
        # The target is this iteration's real batch before augmentation. Under data
        # parallelism each process matches its own slice (as BatchNorm's statistics are
        # per process too).
        with torch.no_grad():
            target_power = mean_power(x, r.spectrum_window)
    for k in range(r.gsteps):
        optG.zero_grad(set_to_none=False)
        fake = G(z)
        loss = g_loss(r, D(_augmented(r, fake, 2 + k, t, part)))
        spec = spectrum_loss(fake, target_power, r.spectrum_window) if r.spectrum_loss > 0 else None
        patch = patch_loss(fake, x, _patch_levels(r, t, k, part), r.patch_lowpass) if r.patch_loss > 0 else None
        total = loss if spec is None else loss + r.spectrum_loss * spec
        (total if patch is None else total + r.patch_loss * patch).backward()
        reducer.grads(G)
        (lg,) = reducer.mean([loss.item()])
        if not math.isfinite(lg):
            raise FloatingPointError(f"non-finite G loss {lg} at G step {k + 1}")
        if spec is not None and not math.isfinite(spec.item()):
            raise FloatingPointError(f"non-finite spectrum loss {spec.item()} at G step {k + 1}")
        if patch is not None and not math.isfinite(patch.item()):
            raise FloatingPointError(f"non-finite patch loss {patch.item()} at G step {k + 1}")
        optG.step()
        if r.phase_balance > 0:
            balance_phases(G, r.phase_balance)  # every process alike: the weights stay identical
    for p in D.parameters():
        p.requires_grad_(True)
    return [loss_d, d_x, d_g_z, lg]


def ema_update(ema, G, decay, t, warmup=True):
    """dcgan.EMA.Update after the t-th iteration: s = d*s + (1-d)*w with the warm-up
    d = min(decay, (1+t)/(10+t)) unless warmup is False (config's ema_no_warmup: an
    average that started at a trained generator), in float32."""
    d = min(decay, (1 + t) / (10 + t)) if warmup else decay
    a, b = torch.tensor(d, dtype=torch.float32), torch.tensor(1 - d, dtype=torch.float32)
    with torch.no_grad():
        for n, p in G.named_parameters():
            s = ema[n]
            s.copy_(a * s + b * p)


def resolve_cache(args, run_cfg, size, log):
    """The dataset cache to read: --data FILE.avgds, or the cache avatargan keeps for
    --data DIR (default: the run's data folder) at the model size."""
    src = args.data or run_cfg.get("data")
    if not src:
        raise SystemExit("avatargan_torch.train: --data is required (the run records no data folder)")
    if os.path.isfile(src):
        path = src
    else:
        path = data.cache_path(src, size, args.cache)
        if not os.path.isfile(path):
            raise SystemExit(f"avatargan_torch.train: no avatargan dataset cache for {src} at {size} px ({path}); "
                             f"run `avatargan train` on this folder once (it builds the cache), or pass --cache DIR / --data FILE.avgds")
        fp = data.fingerprint(src)
    cache = data.Cache(path)
    if cache.size != size:
        raise SystemExit(f"avatargan_torch.train: {path} holds {cache.size} px images, the model is {size} px")
    if not os.path.isfile(src) and fp != cache.fingerprint:
        raise SystemExit(f"avatargan_torch.train: {src} changed since {path} was built; run `avatargan train` on it once to rebuild the cache")
    same = (cache.content_hash() == run_cfg["data_content"]) if run_cfg.get("data_content") \
        else (cache.fingerprint == run_cfg.get("data_fingerprint"))
    if not same:
        log(f"warning: the data in {path} differs from the run's; batches will differ from an uninterrupted run")
    return cache


def lr_factor(decay, start, step, total):
    """avatargan's learning-rate multiplier of the update that follows step (train.Config.lrFactor):
    with linear decay, 1 at the run's start step falling to 0 at its last step."""
    if decay != "linear" or total <= start:
        return 1.0
    return min(1.0, max(0.0, (total - step) / (total - start)))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m avatargan_torch.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="avatargan run directory to continue")
    ap.add_argument("--data", help="image folder (its avatargan cache is read) or a .avgds cache file (default: the run's data folder)")
    ap.add_argument("--cache", help="avatargan's dataset cache directory (default: the user cache dir, as avatargan)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop at this total step (0: run all epochs)")
    ap.add_argument("--batch-per-process", type=int, default=0,
                    help="images per process and step (default: the run's batch / processes, which keeps the effective batch); "
                         "another value changes the run's batch to this x processes")
    ap.add_argument("--lr-scale", type=float, default=1.0,
                    help="multiply both learning rates by this and record them in the run (e.g. after raising the effective batch)")
    ap.add_argument("--device", default="", help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--sync-bn", action="store_true", help="CUDA only: BatchNorm statistics over the whole batch (SyncBatchNorm)")
    ap.add_argument("--log-every", type=float, default=30, help="seconds between log lines")
    args = ap.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=datetime.timedelta(minutes=10))
    if args.sync_bn and not device.startswith("cuda"):
        raise SystemExit("avatargan_torch.train: --sync-bn needs CUDA (PyTorch's SyncBatchNorm does not run on CPU)")

    def log(msg):
        if rank == 0:
            print(msg, flush=True)

    run_cfg = json.load(open(os.path.join(args.run, "config.json")))
    decay, decay_start = run_cfg.get("lr_decay") or "none", run_cfg.get("lr_decay_start", 0)
    if decay not in ("none", "linear"):
        raise SystemExit(f"avatargan_torch.train: the run uses --lr-decay {decay}, which this trainer "
                         "does not implement; continue it with avatargan train")
    warm_g = int(run_cfg.get("lr_warmup_g", 0))
    m = run_cfg["model"]
    r = Recipe(m)
    per = args.batch_per_process or r.batch // world
    if not args.batch_per_process and r.batch % world:
        raise SystemExit(f"avatargan_torch.train: the run's batch {r.batch} does not split over {world} processes; "
                         "give --batch-per-process (the effective batch becomes that x processes)")
    batch = per * world
    if per < 2:
        raise SystemExit(f"avatargan_torch.train: {per} image per process: BatchNorm needs at least 2")
    changed = batch != r.batch
    if changed:
        log(f"batch: {r.batch} -> {batch} (the run's configuration changes; learning rates stay {r.lr_g}/{r.lr_d})")
        m["batch" if "batch" in m else "Batch"] = batch
        r.batch = batch

    if args.lr_scale != 1.0:
        if not args.lr_scale > 0:
            raise SystemExit("avatargan_torch.train: --lr-scale must be positive")
        for new, old in (("lr_g", "LRG"), ("lr_d", "LRD")):
            key = new if new in m else old
            m[key] = m[key] * args.lr_scale
        log(f"learning rates: G {r.lr_g} -> {r.lr_g * args.lr_scale}, D {r.lr_d} -> {r.lr_d * args.lr_scale}")
        r.lr_g, r.lr_d = r.lr_g * args.lr_scale, r.lr_d * args.lr_scale
        changed = True
    torch.manual_seed(0)
    G, D, optG, optD = make_models(r, device)
    path = checkpoint.latest(args.run)
    step, ema, meta = checkpoint.load_state(path, G, D, optG, optD)
    if ema is None and run_cfg.get("ema", 0) > 0:
        ema = {n: p.detach().clone() for n, p in G.named_parameters()}
    if args.sync_bn:
        G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(G)
        D = torch.nn.SyncBatchNorm.convert_sync_batchnorm(D)
    cache = resolve_cache(args, run_cfg, r.size, log)
    batcher = data.Batcher(cache, batch, r.seed, run_cfg.get("shuffle", True), run_cfg.get("flip", False))
    steps_per_epoch = batcher.per
    total = run_cfg["epochs"] * steps_per_epoch
    run_total = total  # the end of the learning-rate schedule: --max-steps does not move it
    if args.max_steps > 0:
        total = min(total, args.max_steps)
    log(f"resuming {path} at step {step} (epoch {step // steps_per_epoch + 1}) with PyTorch {torch.__version__} on {world} x {device}"
        f" ({'nccl' if device.startswith('cuda') else 'gloo'} when > 1): batch {per} per process, effective batch {batch}; "
        f"{cache.count} images from {cache.path}; stopping at step {total}")
    log(f"recipe: {r.describe()}")
    if decay == "linear":
        log(f"learning rates: linear decay to 0 at step {run_total}, from step {decay_start}")
    if run_cfg.get("eval_every"):
        log("note: quality tracking (eval_every) is avatargan's; this trainer writes no SWD records or ckpt-best")
    if changed and rank == 0:
        checkpoint.write_json_atomic(os.path.join(args.run, "config.json"), run_cfg)

    metrics = os.path.join(args.run, "metrics.jsonl")
    elapsed0 = 0.0
    if rank == 0:
        recs = []
        if os.path.exists(metrics):
            for line in open(metrics):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if rec.get("step", 0) <= step:
                    recs.append(line if line.endswith("\n") else line + "\n")
                    elapsed0 = rec.get("elapsed_s", elapsed0)
        tmp = metrics + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(recs)
        os.replace(tmp, metrics)

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    reducer = Reducer(world, device)
    lo, hi = rank * per, (rank + 1) * per
    part = Slice(lo, hi, batch)
    start, last_log, saved = time.time(), 0.0, step
    win_t, win_n, ips = time.time(), 0, 0.0

    def save():
        reducer.running_stats(G, D)
        if rank == 0:
            checkpoint.save_state(args.run, step, G, D, optG, optD, ema, run_cfg, meta.get("version", "avatargan-0.1"))
            checkpoint.prune(args.run, run_cfg.get("keep", 3), run_cfg.get("keep_every", 0))
        if world > 1:
            dist.barrier()

    while step < total:
        if reducer.any(stop["flag"]):
            break
        f = lr_factor(decay, decay_start, step, run_total)
        # G's warm-up (config's lr_warmup_g): the k-th G update at k/W of the rate, k
        # counted by G's optimiser, as avatargan's train.Config.warmupG.
        wg = min(1.0, (checkpoint.adam_step(optG, G) + 1) / warm_g) if warm_g > 0 else 1.0
        for opt, lr in ((optG, r.lr_g * wg), (optD, r.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * f
        x = batcher.images(step, lo, hi).to(device)
        z = torch.from_numpy(gorand.step_latents(r.seed, step, batch, r.zdim, r.dist)[lo:hi]).to(device)
        try:
            loss_d, d_x, d_g_z, lg = train_step(r, G, D, optG, optD, x, z, reducer, part)
        except FloatingPointError as e:
            raise SystemExit(f"step {step + 1}: {e}; stopping without a checkpoint (the latest one, step {saved}, is the last good state)")
        # A NaN can reach the weights while the losses stay finite (a ReLU maps NaN to 0):
        # check them after every update, as avatargan does.
        bad = next((n for n, p in list(G.named_parameters()) + list(D.named_parameters()) if not torch.isfinite(p).all()), None)
        if bad:
            raise SystemExit(f"step {step + 1}: {bad} holds a non-finite value after the update; stopping without a checkpoint "
                             f"(the latest one, step {saved}, is the last good state)")
        if ema is not None and lg is not None:  # only an iteration that moved G moves its EMA
            ema_update(ema, G, run_cfg["ema"], checkpoint.adam_step(optD, D), not run_cfg.get("ema_no_warmup", False))
        step += 1
        win_n += batch
        now = time.time()
        if now - win_t > 2 or ips == 0:
            ips = win_n / max(now - win_t, 1e-9)
            if now - win_t > 2:
                win_t, win_n = now, 0
        epoch = (step - 1) // steps_per_epoch + 1
        if rank == 0:
            rec = {"step": step, "epoch": epoch, "d_loss": loss_d, "d_x": d_x, "d_g_z": d_g_z,
                   **({"g_loss": lg} if lg is not None else {}), "images_per_s": ips, "elapsed_s": elapsed0 + now - start,
                   "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            with open(metrics, "a") as f:
                f.write(json.dumps(rec) + "\n")
            if now - last_log >= args.log_every or step == total:
                last_log = now
                print(f"step {step}/{total} epoch {epoch}  D {loss_d:.4f}  G {'-' if lg is None else f'{lg:.4f}'}  D(x) {d_x:.3f}  D(G(z)) {d_g_z:.3f}  {ips:.1f} images/s", flush=True)
        if step % run_cfg["checkpoint_every"] == 0 or step % steps_per_epoch == 0 or step == total:
            save()
            saved = step
    if saved != step:
        save()
        log(f"stopped at step {step}; checkpoint saved, run again to resume")
    log(f"done: step {step}; latest checkpoint in {args.run}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
