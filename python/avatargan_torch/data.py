"""avatargan's dataset cache file, read directly so PyTorch trains on exactly the pixels
avatargan decoded, and dataset.Batcher's order, flips and [-1, 1] conversion.

The file format (all little endian; documented with the writer in dataset/cache.go):

    offset  size  field
    0       8     magic "AVGDSET\\0"
    8       4     version (uint32, 1)
    12      4     size: side of the stored images (uint32)
    16      8     count: number of images (uint64)
    24      4     minSide option used (uint32)
    28      4     CRC-32C (Castagnoli) of meta and pixels (uint32)
    32      8     maxPixels option used (uint64)
    40      8     metaLen: length of the JSON meta block (uint64)
    48      32    fingerprint: SHA-256 of the source list (see fingerprint())
    80      metaLen  JSON {"paths": [...], "found", "skipped", "skipped_paths", "reasons"}
    ...     count*size*size*3  pixels, uint8 HWC RGB, image i is source paths[i]

It lives in os.UserCacheDir()/avatargan (or `avatargan train --cache DIR`), named
<folder base>-<first 6 bytes of SHA-256(absolute folder) in hex>-<size>.avgds.
"""
import hashlib
import json
import os
import struct

import numpy as np
import torch

from . import gorand

MAGIC = b"AVGDSET\x00"
VERSION = 1
HEADER = 80
EXTS = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def _crc32c_table():
    t = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t[i] = c
    return t


def user_cache_dir():
    """Go's os.UserCacheDir() on Linux/BSD and macOS."""
    import sys
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches")
    d = os.environ.get("XDG_CACHE_HOME")
    if d:
        return d
    return os.path.join(os.path.expanduser("~"), ".cache")


def cache_path(folder, size, cache_dir=None):
    """The cache file avatargan uses for folder at size (dataset.cachePath)."""
    absdir = os.path.abspath(folder)
    h = hashlib.sha256(absdir.encode("utf-8")).hexdigest()[:12]
    base = "".join(c if (c in "-_." or c.isascii() and c.isalnum()) else "_" for c in os.path.basename(absdir))
    base = base[:40]
    cache_dir = cache_dir or os.path.join(user_cache_dir(), "avatargan")
    return os.path.join(cache_dir, f"{base}-{h}-{size}.avgds")


def fingerprint(folder):
    """dataset.fingerprint: hex SHA-256 over the sorted image files (relative path, NUL,
    size and modification time in ns as little-endian int64)."""
    root = os.path.abspath(folder)
    srcs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if os.path.splitext(name)[1].lower() not in EXTS:
                continue
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if not os.path.isfile(p):
                continue
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            srcs.append((rel.encode("utf-8"), st.st_size, st.st_mtime_ns))
    srcs.sort()
    h = hashlib.sha256()
    for rel, size, mtime in srcs:
        h.update(rel + b"\x00" + struct.pack("<qq", size, mtime))
    return h.hexdigest()


class Cache:
    """A decoded image cache: pixels uint8 [count, size, size, 3], paths, fingerprint."""

    def __init__(self, path, check_crc=True):
        with open(path, "rb") as f:
            b = f.read()
        if len(b) < HEADER or b[:8] != MAGIC:
            raise ValueError(f"{path}: not an avatargan dataset cache (bad magic)")
        version, size, count, min_side, crc, max_pixels, meta_len = struct.unpack_from("<IIQIIQQ", b, 8)
        if version != VERSION:
            raise ValueError(f"{path}: cache version {version}, this reader knows {VERSION}")
        img = size * size * 3
        if HEADER + meta_len + count * img != len(b):
            raise ValueError(f"{path}: truncated or oversized ({len(b)} bytes for {count} images)")
        if check_crc:
            if crc32c(b[HEADER:]) != crc:
                raise ValueError(f"{path}: checksum mismatch (a damaged cache: run avatargan train to rebuild it)")
        meta = json.loads(b[HEADER:HEADER + meta_len])
        if len(meta["paths"]) != count:
            raise ValueError(f"{path}: meta lists {len(meta['paths'])} paths for {count} images")
        self.path, self.size, self.count = path, size, count
        self.fingerprint = b[48:80].hex()
        self.paths = meta["paths"]
        self.pixels = np.frombuffer(b, dtype=np.uint8, count=count * img, offset=HEADER + meta_len).reshape(count, size, size, 3)

    def content_hash(self):
        """dataset.Set.ContentHash: hex SHA-256 of the image count and side (uint64 little
        endian) and the pixels; a run records it as data_content."""
        h = hashlib.sha256(struct.pack("<QQ", self.count, self.size))
        h.update(self.pixels)  # the cache bytes themselves, no copy
        return h.hexdigest()


def crc32c(data):
    """CRC-32C with numpy, 8 tables (slicing-by-8) over uint64 words: a few seconds for
    the 230 MB faces cache instead of minutes in a byte loop."""
    t = np.zeros((8, 256), dtype=np.uint32)
    t[0] = _crc32c_table()
    for k in range(1, 8):
        t[k] = (t[k - 1] >> 8) ^ t[0][t[k - 1] & 0xFF]
    crc = 0xFFFFFFFF
    n8 = len(data) // 8 * 8
    if n8:
        # The recurrence is sequential; slicing-by-8 in pure Python over the words.
        words = np.frombuffer(data, dtype="<u8", count=n8 // 8).tolist()
        t0, t1, t2, t3, t4, t5, t6, t7 = (t[k].tolist() for k in range(8))
        for w in words:
            x = crc ^ (w & 0xFFFFFFFF)
            hi = w >> 32
            crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF] ^ t4[x >> 24]
                   ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24])
    tl = t[0].tolist()
    for b in data[n8:]:
        crc = tl[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Batcher:
    """dataset.Batcher (without KeepLast): batch b of epoch e holds the images at
    positions [b*batch, (b+1)*batch) of the epoch's plan, as float32 NCHW x/127.5 - 1."""

    def __init__(self, cache, batch, seed, shuffle, flip):
        self.cache, self.batch, self.seed, self.shuffle, self.flip = cache, batch, seed, shuffle, flip
        self.per = cache.count // batch
        if self.per == 0:
            raise ValueError(f"{cache.count} images cannot fill one batch of {batch}")
        self._epoch, self._plan = -1, None
        # The same arithmetic as avatargan's lookup table: float32(v)/127.5 - 1 in float32.
        self.lut = (np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1)).astype(np.float32)

    def images(self, step, lo=0, hi=None):
        """Images lo..hi of the batch of training step `step` (0-based), NCHW float32."""
        epoch, b = divmod(step, self.per)
        if epoch != self._epoch:
            self._plan = gorand.epoch_plan(self.seed, epoch, self.cache.count, self.shuffle, self.flip)
            self._epoch = epoch
        order, flipped = self._plan
        hi = self.batch if hi is None else hi
        pos = np.arange(b * self.batch + lo, b * self.batch + hi)
        px = self.cache.pixels[order[pos]]  # [n, H, W, 3]
        px = np.where(flipped[pos][:, None, None, None], px[:, :, ::-1, :], px)
        x = self.lut[px].transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(x))
