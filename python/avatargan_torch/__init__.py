"""avatargan in PyTorch: the generator and discriminator with the names and layouts of
avatargan's checkpoints, a safetensors reader/writer, avatargan's latents and data order,
and `python -m avatargan_torch.train`, which continues an avatargan run with PyTorch
(one process, or many with torchrun: gloo on CPU, NCCL on CUDA).
"""
from .model import Discriminator, Generator, load_generator
from .gorand import seed_latent

__all__ = ["Generator", "Discriminator", "load_generator", "seed_latent"]
