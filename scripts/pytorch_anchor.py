#!/usr/bin/env python3
"""PyTorch anchor for `avatargan bench`: times avatargan's DCGAN in PyTorch
(python/avatargan_torch, the reference network's modules) on synthetic data with the original schedule
(batch 64, 48 px, one D step then two G steps with the same z, Adam 2e-4/0.5), and
generator inference at batch 64 and 1. Prints medians, like `avatargan bench`.

The anchor is what a PyTorch user gets today, on 2 threads by default:
- oneDNN for every convolution. PyTorch 1.13 runs ConvTranspose2d on CPU through its
  slow im2col + BLAS path, while current PyTorch uses oneDNN; --deconv adjoint (the
  default) replaces each ConvTranspose2d by the same operator written as the adjoint of
  Conv2d (aten::convolution_backward for the forward, conv2d and convolution_backward
  for the gradients), which 1.13 runs on oneDNN. It is checked against the module it
  replaces before timing. --deconv native times the stock module.
- A tuned malloc: the script re-executes itself with LD_PRELOAD of jemalloc or
  tcmalloc when one is installed (Debian: libjemalloc2), and says which one it used.

Usage: python3 scripts/pytorch_anchor.py [--threads 2] [--reps 5]
       [--deconv adjoint|native] [--malloc auto|system]
Needs PyTorch (Debian: apt-get install python3-torch; run with /usr/bin/python3).
"""
import argparse
import os
import statistics
import sys
import time

MALLOCS = [
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
]


def preload_malloc(choice):
    """Re-executes the script with a tuned malloc preloaded, once; returns its name."""
    if choice == "system":
        return "glibc"
    if os.environ.get("ANCHOR_MALLOC"):
        return os.environ["ANCHOR_MALLOC"]
    for lib in MALLOCS:
        if os.path.exists(lib):
            env = dict(os.environ, LD_PRELOAD=lib, ANCHOR_MALLOC=os.path.basename(lib))
            os.execve(sys.executable, [sys.executable] + sys.argv, env)
    return "glibc (no jemalloc/tcmalloc installed)"


def adjoint_deconvs(model, torch):
    """Replaces every ConvTranspose2d of model by AdjointConvTranspose2d with the same
    parameters, and checks each replacement's output and gradients against the original."""
    nn = torch.nn

    class AdjointFn(torch.autograd.Function):
        # y = conv_transpose2d(x, w) is the input gradient of conv2d(u, w) with upstream
        # gradient x: dL/dx = conv2d(dL/dy, w), and dL/dw is conv2d's weight gradient
        # for input dL/dy with upstream gradient x.
        @staticmethod
        def forward(ctx, x, w, b, stride, padding, out_size):
            u = x.new_empty(out_size)
            y = torch.ops.aten.convolution_backward(
                x, u, w, None, stride, padding, [1, 1], False, [0, 0], 1, [True, False, False])[0]
            ctx.save_for_backward(x, w)
            ctx.conf = (stride, padding)
            return y + b.view(1, -1, 1, 1)

        @staticmethod
        def backward(ctx, gy):
            x, w = ctx.saved_tensors
            stride, padding = ctx.conf
            gx = torch.nn.functional.conv2d(gy, w, None, stride, padding)
            gw = torch.ops.aten.convolution_backward(
                x, gy, w, None, stride, padding, [1, 1], False, [0, 0], 1, [False, True, False])[1]
            return gx, gw, gy.sum((0, 2, 3)), None, None, None

    class AdjointConvTranspose2d(nn.Module):
        def __init__(self, m):
            super().__init__()
            assert m.groups == 1 and tuple(m.dilation) == (1, 1)
            self.m = m  # keeps the parameters (and state_dict names) of the original

        def forward(self, x):
            m = self.m
            h = [(x.shape[2 + i] - 1) * m.stride[i] - 2 * m.padding[i] + m.kernel_size[i] + m.output_padding[i]
                 for i in range(2)]
            return AdjointFn.apply(x, m.weight, m.bias, list(m.stride), list(m.padding),
                                   [x.shape[0], m.out_channels] + h)

    for name, mod in list(model.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, nn.ConvTranspose2d):
                adj = AdjointConvTranspose2d(child)
                x = torch.randn(2, child.in_channels, 3, 3, requires_grad=True)
                y0 = child(x)
                gy = torch.randn_like(y0)
                g0 = torch.autograd.grad(y0, (x, child.weight, child.bias), gy)
                y1 = adj(x)
                g1 = torch.autograd.grad(y1, (x, child.weight, child.bias), gy)
                for a, b in zip((y0,) + g0, (y1,) + g1):
                    if not torch.allclose(a, b, rtol=1e-4, atol=1e-4):
                        sys.exit(f"adjoint ConvTranspose2d {name}.{cname} disagrees with the module")
                setattr(mod, cname, adj)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--deconv", choices=["adjoint", "native"], default="adjoint")
    ap.add_argument("--malloc", choices=["auto", "system"], default="auto")
    a = ap.parse_args()
    malloc = preload_malloc(a.malloc)
    sys.path.insert(0, os.path.join(here, "..", "python"))
    import torch
    import torch.nn.functional as F
    from avatargan_torch import Discriminator, Generator

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    G, D = Generator(), Discriminator()
    if a.deconv == "adjoint":
        adjoint_deconvs(G, torch)
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

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN {torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled}, "
          f"ConvTranspose2d {a.deconv}, malloc {malloc}")
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
