#!/usr/bin/env python3
"""PyTorch anchor for `avatargan bench`: times avatargan's DCGAN in PyTorch
(python/avatargan_torch, the reference network's modules) on synthetic data with the original schedule
(batch 64, 48 px, one D step then two G steps with the same z, Adam 2e-4/0.5), and
generator inference at batch 64 and 1. Prints medians, like `avatargan bench`.

Usage: python3 scripts/pytorch_anchor.py [--threads 2] [--reps 5]
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import argparse
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(here, "..", "python"))
    import torch
    import torch.nn.functional as F
    from avatargan_torch import Discriminator, Generator

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    G, D = Generator(), Discriminator()
    oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(64, 3, 48, 48) * 2 - 1
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)

    def iteration():
        z = torch.rand(64, 100) * 2 - 1
        oD.zero_grad(set_to_none=True)
        fake = G(z).detach()
        lossD = F.binary_cross_entropy_with_logits(D(real), ones) + \
            F.binary_cross_entropy_with_logits(D(fake), zeros)
        lossD.backward()
        oD.step()
        for _ in range(2):
            oG.zero_grad(set_to_none=True)
            lossG = F.binary_cross_entropy_with_logits(D(G(z)), ones)
            lossG.backward()
            oG.step()

    def median(f, reps):
        f()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    t = median(iteration, a.reps)
    print(f"training, reference net (48 px, batch 64, 1 D + 2 G steps), median of {a.reps}:")
    print(f"  {t:.3f} s/iteration  {64 / t:.1f} images/s")
    G.eval()
    print(f"generator inference (eval mode), median of {a.reps}:")
    with torch.no_grad():
        for b in (1, 64):
            z = torch.rand(b, 100) * 2 - 1
            t = median(lambda: G(z), max(a.reps, 20) if b == 1 else a.reps)
            print(f"  batch {b:3d}: {t * 1e3:8.2f} ms/call  {b / t:7.0f} images/s")


if __name__ == "__main__":
    main()
