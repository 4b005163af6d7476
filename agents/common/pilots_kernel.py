"""Compiled kernels of the pilot hash (numba), with the same results as the NumPy code.

:mod:`agents.common.pilots` defines the function (word hash, bucket, pilot mask, slot,
remap) in NumPy; this module compiles the same arithmetic with numba when it is
installed (``pip install 'hash-envs[fast]'``), for three loops NumPy can only express as
many passes over temporary arrays:

* :func:`word_hashes` -- both 64-bit word hashes from one UTF-8 buffer;
* :func:`query` -- a word's bin in one pass: hash, bucket, pilot mask, slot, remap;
* :func:`search` -- PTHash's pilot search over a range of buckets in placement order,
  each bucket against every earlier one (what :class:`agents.PilotQ` learns).

Without numba (or with ``HASH_ENVS_NO_NUMBA=1``), :func:`available` is ``False`` and the
callers use their NumPy code; ``tests/test_pilot_q.py`` checks that both give the same
hashes, bins and pilots. The kernels are compiled on first use and cached on disk
(numba's ``cache=True``), so a fresh process pays the compile once per installation.
"""

from __future__ import annotations

import os
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["available", "kernels", "query", "search", "word_hashes"]

# Constants shared with agents.common.pilots (the NumPy definition of the same function).
GOLDEN = 0x9E3779B97F4A7C15
LANE_A = 0xC2B2AE3D27D4EB4F
LANE_B = 0x165667B19E3779F9
FMIX_1 = 0xFF51AFD7ED558CCD
FMIX_2 = 0xC4CEB9FE1A85EC53
SPLIT_1 = 0xBF58476D1CE4E5B9
SPLIT_2 = 0x94D049BB133111EB
SCRAMBLE = 0x9E3779B97F4A7C15


_u64 = np.uint64
golden, lane_a, lane_b = _u64(GOLDEN), _u64(LANE_A), _u64(LANE_B)
fmix_1, fmix_2, scramble = _u64(FMIX_1), _u64(FMIX_2), _u64(SCRAMBLE)
split_1, split_2 = _u64(SPLIT_1), _u64(SPLIT_2)
s29, s32, s33, s30, s27, s31, s11 = (_u64(s) for s in (29, 32, 33, 30, 27, 31, 11))
u64 = _u64

# The kernels, as plain Python at module level: kernels() compiles them in place (the
# module's globals become numba dispatchers, callees first), so numba's on-disk cache
# finds them again in the next process.


def fmix(z):
    z = (z ^ (z >> s33)) * fmix_1
    z = (z ^ (z >> s33)) * fmix_2
    return z ^ (z >> s33)


def mix(p):
    z = u64(p) + golden
    z = (z ^ (z >> s30)) * split_1
    z = (z ^ (z >> s27)) * split_2
    return z ^ (z >> s31)


def reduce(h, n_slots):
    return ((h * scramble) >> s32) * n_slots >> s32


def hash_one(data, start, length, seed_a, seed_b):
    n = u64(length)
    a = seed_a ^ (n * golden)
    b = seed_b ^ (n * lane_a)
    p = start
    full = length >> 3
    for _ in range(full):
        c = (
            u64(data[p])
            | (u64(data[p + 1]) << u64(8))
            | (u64(data[p + 2]) << u64(16))
            | (u64(data[p + 3]) << u64(24))
            | (u64(data[p + 4]) << u64(32))
            | (u64(data[p + 5]) << u64(40))
            | (u64(data[p + 6]) << u64(48))
            | (u64(data[p + 7]) << u64(56))
        )
        a = (a ^ c) * lane_a
        a ^= a >> s29
        b = (b ^ c) * lane_b
        b ^= b >> s32
        p += 8
    rest = length & 7
    if rest:
        c = u64(0)
        for j in range(rest):
            c |= u64(data[p + j]) << u64(8 * j)
        a = (a ^ c) * lane_a
        a ^= a >> s29
        b = (b ^ c) * lane_b
        b ^= b >> s32
    return fmix(a), fmix(b)


def hashes(data, starts, lengths, seed_a, seed_b):
    n = starts.size
    out = np.empty((n, 2), np.uint64)
    for i in range(n):
        h0, h1 = hash_one(data, starts[i], lengths[i], seed_a, seed_b)
        out[i, 0] = h0
        out[i, 1] = h1
    return out


def bucket(h0, n_buckets):
    x = np.float64(h0 >> s11) * 2.0**-53
    beta = x * x * (1.0 + x) * (255 / 512) + x * (1 / 256)
    return min(np.int64(beta * n_buckets), n_buckets - 1)


def query_kernel(data, starts, lengths, seed_a, seed_b, masks, n_slots, n_bins, remap):
    n = starts.size
    out = np.empty(n, np.int64)
    n_buckets = masks.size
    slots = u64(n_slots)
    for i in range(n):
        h0, h1 = hash_one(data, starts[i], lengths[i], seed_a, seed_b)
        s = np.int64(reduce(h1 ^ masks[bucket(h0, n_buckets)], slots))
        out[i] = remap[s - n_bins] if s >= n_bins else s
    return out


def search_kernel(start, sizes, position, pilots, taken, bins, lo, hi, n_slots, max_pilot):
    """Buckets of rank ``lo..hi-1`` in order: each takes the lowest pilot from its
    current one whose words land in distinct slots no earlier bucket holds. Returns
    the pilots tried, or ``-1 - rank`` for a bucket with no pilot below max_pilot."""
    slots = u64(n_slots)
    tried = 0
    cand = np.empty(max(1, sizes[lo:hi].max()) if hi > lo else 1, np.int64)
    for r in range(lo, hi):
        s = sizes[r]
        first = start[r]
        p = pilots[r]
        while True:
            tried += 1
            m = mix(p)
            ok = True
            for j in range(s):
                slot = np.int64(reduce(position[first + j] ^ m, slots))
                if taken[slot]:
                    ok = False
                    break
                for k in range(j):
                    if cand[k] == slot:
                        ok = False
                        break
                if not ok:
                    break
                cand[j] = slot
            if ok:
                break
            p += 1
            if p >= max_pilot:
                pilots[r] = p
                return -1 - r
        pilots[r] = p
        for j in range(s):
            taken[cand[j]] = True
            bins[first + j] = cand[j]
    return tried


_NAMES = ("fmix", "mix", "reduce", "hash_one", "bucket", "hashes", "query_kernel", "search_kernel")


@cache
def kernels() -> Any:
    """The compiled kernels, or ``None`` where numba is missing or turned off."""
    if os.environ.get("HASH_ENVS_NO_NUMBA"):
        return None
    try:
        import numba
    except ImportError:
        return None
    namespace = globals()
    for name in _NAMES:  # callees first: a caller compiles against their dispatchers
        fn = namespace[name]
        if not hasattr(fn, "py_func"):
            namespace[name] = numba.njit(cache=True, nogil=True)(fn)
    return SimpleNamespace(
        hashes=namespace["hashes"], query=namespace["query_kernel"],
        search=namespace["search_kernel"],
    )  # fmt: skip


def available() -> bool:
    """Whether the compiled kernels are in use."""
    return kernels() is not None


def word_hashes(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, seeds) -> np.ndarray:
    """``(n, 2)`` uint64 word hashes of a :func:`hash_envs.encoding.utf8_batch` buffer."""
    return kernels().hashes(data, starts, lengths, np.uint64(seeds[0]), np.uint64(seeds[1]))


def query(data, starts, lengths, seeds, masks, n_slots: int, n_bins: int, remap) -> np.ndarray:
    """Bins (int64) of a :func:`hash_envs.encoding.utf8_batch` buffer's words."""
    return kernels().query(
        data, starts, lengths, np.uint64(seeds[0]), np.uint64(seeds[1]), masks,
        n_slots, n_bins, remap,
    )  # fmt: skip


def search(start, sizes, position, pilots, taken, bins, lo, hi, n_slots, max_pilot) -> int:
    """See the kernel's docstring in :func:`_compile`."""
    return int(
        kernels().search(start, sizes, position, pilots, taken, bins, lo, hi, n_slots, max_pilot)
    )
