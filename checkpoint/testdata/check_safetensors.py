#!/usr/bin/env python3
"""Independent stdlib-only re-check of safetensors files written by the Go
package, used by checkpoint tests when python3 exists (no torch needed).

  check_safetensors.py FILE   validate FILE per the safetensors spec and print
                              a JSON summary; float values are given as the
                              float32 bit patterns Python itself decodes.
  check_safetensors.py half   read float32 bit patterns (one per line) on
                              stdin and print Python's own half bits for each.
"""
import json
import math
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2,
         "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
         "I64": 8, "U64": 8, "F64": 8}


def fail(msg):
    sys.exit("invalid: " + msg)


def f32bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def check(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        fail("short file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        fail("bad header length")
    if (8 + n) % 8 != 0:
        fail("data buffer not 8-byte aligned")
    raw = data[8:8 + n]
    if not raw.startswith(b"{"):
        fail("header must start with {")

    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            fail("duplicate keys")
        return dict(pairs)

    header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_dups)
    buf = data[8 + n:]
    meta = header.pop("__metadata__", None)
    if meta is not None and not all(isinstance(v, str) for v in meta.values()):
        fail("metadata values must be strings")
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    pos = 0
    out = {}
    for name, info in entries:
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail(name + ": fields")
        b, e = info["data_offsets"]
        if b != pos or e < b:
            fail(name + ": offsets not contiguous")
        size = SIZES[info["dtype"]]
        if b % size != 0:
            fail(name + ": misaligned")
        numel = math.prod(info["shape"])
        if any(d < 0 for d in info["shape"]) or numel * size != e - b:
            fail(name + ": size mismatch")
        chunk = buf[b:e]
        dt = info["dtype"]
        vals = None
        if dt == "F32":
            vals = list(struct.unpack("<%dI" % numel, chunk))
        elif dt == "F16":
            vals = [f32bits(x) for x in struct.unpack("<%de" % numel, chunk)]
        elif dt == "F64":
            vals = [f32bits(x) for x in struct.unpack("<%dd" % numel, chunk)]
        elif dt == "I64":
            vals = list(struct.unpack("<%dq" % numel, chunk))
        out[name] = {"dtype": dt, "shape": info["shape"], "values": vals}
        pos = e
    if pos != len(buf):
        fail("buffer not fully covered")
    json.dump({"metadata": meta, "tensors": out}, sys.stdout)


def half():
    for line in sys.stdin:
        (x,) = struct.unpack("<f", struct.pack("<I", int(line)))
        try:
            (h,) = struct.unpack("<H", struct.pack("<e", x))
        except OverflowError:  # Python refuses; IEEE says round to Inf
            h = 0xFC00 if x < 0 else 0x7C00
        print(h)


if __name__ == "__main__":
    half() if sys.argv[1] == "half" else check(sys.argv[1])
