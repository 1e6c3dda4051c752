"""torchrun, working around a bug of PyTorch 1.13 under Python 3.11 (Debian's
python3-torch): its Std.from_str maps "0" (the default of --redirects and --tee) to None
because Python 3.11 no longer lists a flag enum's zero member, and every launch fails
with "'NoneType' object has no attribute 'get'". Same arguments as torchrun:

    PYTHONPATH=python python3 -m avatargan_torch.run --nproc_per_node 2 -m avatargan_torch.train --run RUN

On other versions it is plain torchrun.
"""
import sys

from torch.distributed.elastic.multiprocessing import api


def _patch():
    orig = api.Std.from_str.__func__

    def from_str(cls, vm):
        v = orig(cls, vm)
        if v is None:
            return cls(int(vm))
        if isinstance(v, dict):
            return {k: (cls(int(x)) if x is None else x) for k, x in v.items()}
        return v
    if orig(api.Std, "0") is None:
        api.Std.from_str = classmethod(from_str)


def main():
    _patch()
    from torch.distributed import run
    sys.exit(run.main())


if __name__ == "__main__":
    main()
