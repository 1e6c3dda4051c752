"""A small reader and writer of safetensors files (8-byte little-endian header length,
a JSON header of {name: {dtype, shape, data_offsets}} plus an optional "__metadata__"
map of strings, then the raw little-endian tensor bytes), enough for avatargan's
checkpoints: Debian packages no safetensors module, and the format is simple.

read() returns CPU tensors (F32, F16, BF16, F64, I64, I32, U8 ...) and the metadata;
write() writes atomically (a temporary file in the same folder, fsynced, renamed).
"""
import json
import os
import struct
import tempfile

import sys

import torch

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

# The reference implementation's limit: a corrupt length must not make us read gigabytes.
MAX_HEADER = 100_000_000


class FormatError(ValueError):
    """A file that is not valid safetensors."""


def loads(data):
    """Decodes the bytes of a safetensors file into ({name: tensor}, {key: value})."""
    if len(data) < 8:
        raise FormatError("file shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise FormatError(f"header length {n} exceeds the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"bad JSON header: {e}") from None
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + n:]
    out, spans = {}, []
    for name, e in header.items():
        dt = e.get("dtype")
        if dt not in _DTYPES:
            raise FormatError(f"{name}: unsupported dtype {dt!r}")
        shape = [int(s) for s in e["shape"]]
        lo, hi = (int(x) for x in e["data_offsets"])
        count = 1
        for s in shape:
            count *= s
        if not (0 <= lo <= hi <= len(body)) or hi - lo != count * _SIZES[dt]:
            raise FormatError(f"{name}: offsets {lo}..{hi} do not hold {shape} {dt}")
        spans.append((lo, hi))
        raw = bytes(body[lo:hi])
        if dt == "BF16":
            # numpy has no bfloat16: go through int16 and reinterpret.
            t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=torch.bfloat16)
        elif raw:
            t = torch.frombuffer(bytearray(raw), dtype=_DTYPES[dt])
        else:
            t = torch.empty(0, dtype=_DTYPES[dt])
        out[name] = t.reshape(shape)
    spans.sort()
    pos = 0
    for lo, hi in spans:
        if lo != pos:
            raise FormatError("tensor data are not contiguous")
        pos = hi
    if pos != len(body):
        raise FormatError("tensor data do not cover the file")
    return out, meta


def read(path):
    """Reads a safetensors file: ({name: CPU tensor}, {metadata key: value})."""
    with open(path, "rb") as f:
        return loads(f.read())


def dumps(tensors, metadata=None):
    """Encodes {name: tensor} (and string metadata) as safetensors bytes, names sorted."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors: big-endian hosts are not supported")
    header, chunks, pos = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors name")
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # keep the data 8-byte aligned, as the reference writer does
    return struct.pack("<Q", len(h)) + h + b"".join(chunks)


def write(path, tensors, metadata=None):
    """Writes tensors atomically to path (see dumps)."""
    data = dumps(tensors, metadata)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass

