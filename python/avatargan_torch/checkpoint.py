"""avatargan's run directory and training checkpoints, from PyTorch.

A checkpoint RUN/ckpt-<step, 9+ digits>.safetensors holds "generator.*" and
"discriminator.*" (state_dict names, num_batches_tracked as I64 scalars), the Adam states
"adam_g.*" / "adam_d.*" ("step" as an I64 scalar, "<param>.exp_avg", "<param>.exp_avg_sq"
for each trainable parameter), the generator's weight average "ema.*" when the run keeps
one, and in __metadata__: format "avatargan-train", config (the model configuration, JSON),
run (the whole run configuration, JSON, as in RUN/config.json), step and version.
"""
import json
import os
import re

import torch

from . import safetensors

_NAME = re.compile(r"^ckpt-(\d{9,})\.safetensors$")
FORMAT_TRAIN = "avatargan-train"


def list_checkpoints(run):
    """[(step, path)] of the run's checkpoints, oldest first (checkpoint.List)."""
    out = []
    for name in os.listdir(run):
        m = _NAME.match(name)
        if m and name == f"ckpt-{int(m.group(1)):09d}.safetensors":
            out.append((int(m.group(1)), os.path.join(run, name)))
    return sorted(out)


def latest(run):
    cks = list_checkpoints(run) if os.path.isdir(run) else []
    if not cks:
        raise FileNotFoundError(
            f"no checkpoint in {run}: start the run with avatargan (e.g. `avatargan train --data DIR --out {run} --max-steps 1`), then continue it here")
    return cks[-1][1]


def prune(run, keep, every=0):
    """Deletes all but the keep newest checkpoints, sparing those at positive multiples
    of every (train --keep-every; 0: none), as avatargan's checkpoint.PruneHolding."""
    for step, path in list_checkpoints(run)[:-keep]:
        if every > 0 and step > 0 and step % every == 0:
            continue
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def ckpt_name(step):
    return f"ckpt-{step:09d}.safetensors"


def _load_module(module, tensors, prefix):
    sd = module.state_dict()
    missing = [k for k in sd if prefix + k not in tensors]
    if missing:
        raise ValueError(f"checkpoint lacks {prefix}{missing[0]} (and {len(missing) - 1} more): another model configuration?")
    new = {}
    for k, v in sd.items():
        t = tensors[prefix + k]
        if t.numel() != v.numel() or (t.dim() and tuple(t.shape) != tuple(v.shape)):
            raise ValueError(f"{prefix}{k}: shape {list(t.shape)} in the checkpoint, the model needs {list(v.shape)}")
        new[k] = t.reshape(v.shape).to(v.dtype)
    module.load_state_dict(new)


def _trainable(module):
    return [(n, p) for n, p in module.named_parameters() if p.requires_grad]


def load_adam(opt, module, tensors, prefix):
    """Restores torch.optim.Adam's state from avatargan's names."""
    step = float(tensors[prefix + "step"].reshape(()).item())
    for n, p in _trainable(module):
        m, v = tensors.get(f"{prefix}{n}.exp_avg"), tensors.get(f"{prefix}{n}.exp_avg_sq")
        if m is None or v is None:
            raise ValueError(f"checkpoint lacks {prefix}{n}.exp_avg / .exp_avg_sq")
        opt.state[p] = {"step": torch.tensor(step),
                        "exp_avg": m.reshape(p.shape).to(p.device, torch.float32).clone(),
                        "exp_avg_sq": v.reshape(p.shape).to(p.device, torch.float32).clone()}


def adam_step(opt, module):
    for _, p in _trainable(module):
        st = opt.state.get(p)
        if st:
            return int(float(st["step"]))
    return 0


def adam_tensors(opt, module, prefix):
    out = {prefix + "step": torch.tensor(adam_step(opt, module), dtype=torch.int64)}
    for n, p in _trainable(module):
        st = opt.state.get(p)
        if st:
            m, v = st["exp_avg"], st["exp_avg_sq"]
        else:
            m, v = torch.zeros_like(p), torch.zeros_like(p)
        out[f"{prefix}{n}.exp_avg"] = m.detach().float().cpu()
        out[f"{prefix}{n}.exp_avg_sq"] = v.detach().float().cpu()
    return out


def module_tensors(module, prefix):
    return {prefix + k: (v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu().to(torch.int64))
            for k, v in module.state_dict().items()}


def load_state(path, G, D, optG, optD):
    """Loads a training checkpoint into G, D and their Adams; returns (step, ema, meta):
    ema maps G's trainable parameter names to their averages (None without EMA)."""
    tensors, meta = safetensors.read(path)
    if meta.get("format") != FORMAT_TRAIN:
        raise ValueError(f"{path} is not an avatargan training checkpoint")
    _load_module(G, tensors, "generator.")
    _load_module(D, tensors, "discriminator.")
    load_adam(optG, G, tensors, "adam_g.")
    load_adam(optD, D, tensors, "adam_d.")
    ema = None
    if "ema.fc.weight" in tensors:
        dev = next(G.parameters()).device
        ema = {n: tensors["ema." + n].reshape(p.shape).to(dev, torch.float32).clone() for n, p in _trainable(G)}
    return int(meta["step"]), ema, meta


def save_state(run, step, G, D, optG, optD, ema, run_cfg, version):
    """Writes RUN/ckpt-<step>.safetensors atomically in avatargan's format."""
    t = {}
    t.update(module_tensors(G, "generator."))
    t.update(module_tensors(D, "discriminator."))
    t.update(adam_tensors(optG, G, "adam_g."))
    t.update(adam_tensors(optD, D, "adam_d."))
    if ema is not None:
        t.update({"ema." + n: v.detach().cpu().float() for n, v in ema.items()})
    for k, v in t.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise FloatingPointError(f"step {step}: {k} holds a non-finite value; not saving a checkpoint of it")
    meta = {"format": FORMAT_TRAIN, "config": json.dumps(run_cfg["model"], separators=(",", ":")),
            "run": json.dumps(run_cfg, separators=(",", ":")), "step": str(step), "version": version}
    path = os.path.join(run, ckpt_name(step))
    safetensors.write(path, t, meta)
    return path


def write_json_atomic(path, obj):
    import tempfile
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(obj, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
