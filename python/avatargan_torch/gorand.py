"""Go's math/rand/v2 PCG (128-bit LCG, DXSM output) and the draws avatargan makes from
it, so that PyTorch training sees the same latents, data order and flips as avatargan:
latents of a training step (train.Run.latents), latents of a seed (dcgan.Latent) and the
epoch plans of dataset.Batcher (a Fisher-Yates shuffle with Lemire's bounded draws, and a
bitset of flips).
"""
import math

import numpy as np

from . import _gonormal

_M64 = (1 << 64) - 1
_MUL = (2549297995355413924 << 64) | 4865540595714422341
_INC = (6364136223846793005 << 64) | 1442695040888963407
_M128 = (1 << 128) - 1
_CHEAP = 0xDA942042E4DD58B5

_WN = [float(np.float32(float(x))) for x in _gonormal.WN]
_FN = [np.float32(float(x)) for x in _gonormal.FN]


class PCG:
    """rand.NewPCG(seed1, seed2): the state is seed1 (high) : seed2 (low)."""

    def __init__(self, seed1, seed2):
        self.state = ((seed1 & _M64) << 64) | (seed2 & _M64)

    def uint64(self):
        s = (self.state * _MUL + _INC) & _M128
        self.state = s
        hi, lo = s >> 64, s & _M64
        hi ^= hi >> 32
        hi = (hi * _CHEAP) & _M64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & _M64

    def float64(self):
        """rand.Float64: 53 random bits / 2^53."""
        return (self.uint64() & ((1 << 53) - 1)) / float(1 << 53)

    def norm_float64(self):
        """rand.NormFloat64 (ziggurat), with Go's tables."""
        while True:
            u = self.uint64()
            j = u & 0xFFFFFFFF
            if j >= 1 << 31:
                j -= 1 << 32  # int32(u)
            i = (u >> 32) & 0x7F
            x = float(j) * _WN[i]
            if abs(j) < _gonormal.KN[i]:
                return x
            if i == 0:
                while True:
                    x = -math.log(self.float64()) * (1.0 / _gonormal.RN)
                    y = -math.log(self.float64())
                    if y + y >= x * x:
                        break
                return _gonormal.RN + x if j > 0 else -_gonormal.RN - x
            f = _FN[i] + np.float32(self.float64()) * (_FN[i - 1] - _FN[i])
            if f < np.float32(math.exp(-0.5 * x * x)):
                return x

    def bounded(self, n):
        """dataset.bounded: a uniform value in [0, n), Lemire's multiply-shift with rejection."""
        p = self.uint64() * n
        hi, lo = p >> 64, p & _M64
        if lo < n:
            thresh = ((1 << 64) - n) % n
            while lo < thresh:
                p = self.uint64() * n
                hi, lo = p >> 64, p & _M64
        return hi


UNIFORM, NORMAL = 0, 1


def _draw(rng, count, dist):
    out = np.empty(count, dtype=np.float32)
    if dist == NORMAL:
        for k in range(count):
            out[k] = rng.norm_float64()
    else:
        for k in range(count):
            out[k] = 2 * rng.float64() - 1
    return out


def step_latents(seed, step, batch, zdim, dist):
    """The latents [batch, zdim] of training step `step` (0-based) of a run with `seed`:
    train.Run.latents, a pure function of (seed, step)."""
    rng = PCG(seed ^ 0x5851F42D4C957F2D, step)
    return _draw(rng, batch * zdim, dist).reshape(batch, zdim)


def seed_latent(seed, zdim, dist=UNIFORM):
    """dcgan.Latent: the latent vector of an avatar seed (float32 [zdim]); dist is
    UNIFORM/NORMAL or "uniform"/"normal"."""
    if isinstance(dist, str):
        dist = NORMAL if dist == "normal" else UNIFORM
    return _draw(PCG(seed, 0x9E3779B97F4A7C15), zdim, dist)


def epoch_plan(seed, epoch, n, shuffle, flip):
    """dataset.Batcher's plan of an epoch: (order, flipped), order[k] the image index at
    position k of the epoch, flipped[k] whether it is mirrored."""
    perm = list(range(n))
    if shuffle:
        r = PCG(seed, (epoch << 1) & _M64)
        for i in range(n - 1, 0, -1):
            j = r.bounded(i + 1)
            perm[i], perm[j] = perm[j], perm[i]
    flipped = np.zeros(n, dtype=bool)
    if flip:
        r = PCG(seed, ((epoch << 1) | 1) & _M64)
        for w in range((n + 63) // 64):
            word = r.uint64()
            for b in range(min(64, n - 64 * w)):
                flipped[64 * w + b] = (word >> b) & 1
    return np.asarray(perm, dtype=np.int64), flipped
