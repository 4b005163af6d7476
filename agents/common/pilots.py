"""The pilot table as a hash function: PTHash's hash-and-displace layout, stored compactly.

A fixed seeded hash sends each word to one of ``n_buckets`` buckets through PtrHash's
skewed bucket function; a bucket's *pilot* ``p`` sends each of its words ``w`` to slot
``reduce(h(w) XOR mix(p), n_slots)``. :class:`PilotHash` is that function for a given
table of pilots (with PTHash's remap of the slots past ``n_bins``); it is what
:class:`agents.PilotQ` learns, and what its artifact (``.pilots``) stores. The mixing
primitives live here, beside the function they define, because training and hashing
must compute them identically.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from agents.common import pilots_kernel
from agents.common.pilots_kernel import FMIX_1, FMIX_2, GOLDEN, LANE_A, LANE_B, SPLIT_1, SPLIT_2
from hash_envs.encoding import utf8_batch
from hash_envs.hashing import ArtifactError, HashFunction

__all__ = [
    "PilotHash",
    "bucket_of",
    "hash_buffer",
    "hash_seeds",
    "decode_monotone",
    "decode_pilots",
    "encode_monotone",
    "encode_pilots",
    "load_pilot_hash",
    "pack_bits",
    "reduce_slots",
    "unpack_bits",
    "word_hashes",
]

_MAGIC = b"PILOTS\x00\x03"  # format 3 (issue 34: own word hash, partitioned pilots)
_FORMAT_2 = b"PILOTS\x00\x02"  # issue 16: XXH3-128 word hashes; format 1 was an .npz
_FIELDS = struct.Struct("<8Q")  # n_bins, n_slots, n_buckets, seed, block, high_bits,
#                                 offset_width, remap_low_bits
_DIGEST = 32  # SHA-256 of everything before it
_HEADER = len(_MAGIC) + _FIELDS.size + _DIGEST
_UINT64 = np.uint64
_M64 = (1 << 64) - 1


def _splitmix(x: int) -> int:
    z = (x + GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * SPLIT_1) & _M64
    z = ((z ^ (z >> 27)) * SPLIT_2) & _M64
    return z ^ (z >> 31)


def hash_seeds(seed: int) -> tuple[int, int]:
    """The two lanes' start values for ``seed`` (SplitMix64 of it and of its complement)."""
    seed = int(seed) & _M64
    return _splitmix(seed), _splitmix(seed ^ _M64)


def _fmix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _UINT64(33))) * _UINT64(FMIX_1)
    z = (z ^ (z >> _UINT64(33))) * _UINT64(FMIX_2)
    return z ^ (z >> _UINT64(33))


_TAIL = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=_UINT64)


def hash_buffer(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, seed: int) -> np.ndarray:
    """``(n, 2)`` uint64 word hashes of a :func:`~hash_envs.encoding.utf8_batch` buffer.

    Two 64-bit lanes read the word's bytes as little-endian 8-byte chunks (the last one
    zero-padded), both started from the seed and the length: lane A ``a = (a ^ c) * KA;
    a ^= a >> 29``, lane B ``b = (b ^ c) * KB; b ^= b >> 32``, each finished by
    MurmurHash3's ``fmix64``. Each chunk step is a bijection of the lane, so words of one
    length that differ in one chunk never share a lane value. Column 0 picks the bucket,
    column 1 the slot. The compiled kernel computes the same; this is the NumPy version
    (one pass per chunk position)."""
    seeds = hash_seeds(seed)
    if pilots_kernel.available():
        return pilots_kernel.word_hashes(data, starts, lengths, seeds)
    n = starts.size
    size = lengths.astype(_UINT64)
    a = _UINT64(seeds[0]) ^ (size * _UINT64(GOLDEN))
    b = _UINT64(seeds[1]) ^ (size * _UINT64(LANE_A))
    padded = np.concatenate([data, np.zeros(8, np.uint8)])
    chunks = (lengths + 7) >> 3
    offsets = np.arange(8)
    for i in range(int(chunks.max()) if n else 0):
        idx = np.flatnonzero(chunks > i) if i else np.flatnonzero(chunks)
        pos = starts[idx] + 8 * i
        c = np.ascontiguousarray(padded[pos[:, None] + offsets]).view("<u8")[:, 0]
        c = c.astype(_UINT64) & _TAIL[np.minimum(lengths[idx] - 8 * i, 8)]
        ai = (a[idx] ^ c) * _UINT64(LANE_A)
        a[idx] = ai ^ (ai >> _UINT64(29))
        bi = (b[idx] ^ c) * _UINT64(LANE_B)
        b[idx] = bi ^ (bi >> _UINT64(32))
    return np.stack([_fmix(a), _fmix(b)], axis=1)


def word_hashes(words: Iterable[str], seed: int) -> np.ndarray:
    """``(n, 2)`` uint64: :func:`hash_buffer` of the words' UTF-8 bytes (lone
    surrogates passed through); a non-``str`` word is a ``TypeError``."""
    words = words if isinstance(words, (list, tuple)) else list(words)
    return hash_buffer(*utf8_batch(words), seed)


def bucket_of(h0: np.ndarray, n_buckets: int) -> np.ndarray:
    """PtrHash's skewed bucket function: ``x = h0 / 2^64`` goes to bucket
    ``floor(B * (x^2 (1 + x) / 2 * 255/256 + x/256))``, a cheap approximation of
    PHOBIC's optimal ``x + (1 - x) ln(1 - x)``: low buckets get many words, high ones
    few, so the large buckets are placed while the table is still empty."""
    x = (np.asarray(h0, dtype=_UINT64) >> _UINT64(11)).astype(np.float64) * 2.0**-53
    beta = x * x * (1.0 + x) * (255 / 512) + x * (1 / 256)
    return np.minimum((beta * n_buckets).astype(np.int64), n_buckets - 1)


def reduce_slots(h: np.ndarray, n_slots: int) -> np.ndarray:
    """``h -> [0, n_slots)``: multiply by an odd constant (so that words whose hashes agree
    in their high bits, which XOR with a common pilot mask keeps, still part), then
    Lemire's multiply-shift reduction of the high 32 bits, without a division
    (``n_slots < 2^32``)."""
    scrambled = (np.asarray(h, dtype=_UINT64) * _UINT64(0x9E3779B97F4A7C15)) >> _UINT64(32)
    return ((scrambled * _UINT64(n_slots)) >> _UINT64(32)).astype(np.int64)


def mix(pilots: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of each pilot: pilots 0, 1, 2... become unrelated 64-bit
    masks, so consecutive pilots send a word to unrelated slots."""
    z = np.asarray(pilots, dtype=_UINT64) + _UINT64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _UINT64(30))) * _UINT64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _UINT64(27))) * _UINT64(0x94D049BB133111EB)
    return z ^ (z >> _UINT64(31))


class PilotHash(HashFunction):
    """The learned hash: ``slot(w) = reduce(h1(w) XOR mix(pilot[bucket(h0(w))]), n_slots)``,
    and ``bin(w) = slot`` below ``n_bins``, ``remap[slot - n_bins]`` above.

    ``size_bytes`` is the length of :meth:`to_bytes`, the whole stored artifact: header,
    checksum, the pilots as :func:`encode_pilots` stores them (a Rice code per block of
    buckets, split into low bits and unary high parts) and the remap as
    :func:`encode_monotone` stores it. :meth:`bits_per_key` reports that, the plain
    fixed width (every pilot at the largest one's width) and the pilots' empirical
    entropy (the whole table's, one distribution: a code per block can go below it).
    """

    name = "pilot-q"

    def __init__(
        self,
        pilots: np.ndarray,
        n_bins: int,
        seed: int,
        n_slots: int | None = None,
        remap: np.ndarray | None = None,
    ) -> None:
        super().__init__(n_bins)
        pilots = np.asarray(pilots)
        if pilots.ndim != 1 or pilots.size == 0 or pilots.dtype.kind not in "iu":
            raise ValueError("pilots must be a non-empty 1-D integer array")
        if pilots.dtype.kind == "i" and (pilots < 0).any():
            raise ValueError("pilots must be >= 0")
        self.n_slots = self.n_bins if n_slots is None else int(n_slots)
        if not self.n_bins <= self.n_slots < 2**32:
            raise ValueError(f"n_slots must be in [n_bins, 2^32), got {self.n_slots}")
        remap = np.zeros(0, np.int64) if remap is None else np.asarray(remap, dtype=np.int64)
        if remap.shape != (self.n_slots - self.n_bins,):
            raise ValueError(f"remap must hold n_slots - n_bins = {self.n_slots - self.n_bins}")
        if remap.size and (
            remap.min() < 0 or remap.max() >= self.n_bins or (np.diff(remap) < 0).any()
        ):
            raise ValueError("remap must be non-decreasing bins below n_bins")
        self.pilots = pilots.astype(_UINT64)
        self.remap = remap
        self.seed = int(seed)
        self._masks = mix(self.pilots)

    @property
    def n_buckets(self) -> int:
        return int(self.pilots.size)

    @property
    def pilot_bits(self) -> int:
        """Width of one stored pilot: the bit length of the largest."""
        return max(1, int(self.pilots.max()).bit_length())

    @property
    def size_bytes(self) -> int:
        return len(self.to_bytes())

    def bits_per_key(self, n_keys: int | None = None) -> dict[str, float]:
        """Bits per key: ``stored`` (``size_bytes``), ``pilots`` and ``remap`` (their
        shares of it), ``fixed_width`` (every pilot at the largest one's width, plus the
        rest) and ``entropy`` (the pilots' empirical entropy)."""
        n_keys = self.n_bins if n_keys is None else n_keys
        _, counts = np.unique(self.pilots, return_counts=True)
        p = counts / counts.sum()
        entropy = float(-(p * np.log2(p)).sum()) * self.n_buckets
        pilots = sum(a.nbytes for a in encode_pilots(self.pilots)[1])
        remap = sum(a.nbytes for a in encode_monotone(self.remap, self.n_bins)[1])
        fixed = math.ceil(self.n_buckets * self.pilot_bits / 8) + remap + _HEADER
        return {
            "stored": 8 * self.size_bytes / n_keys,
            "pilots": 8 * pilots / n_keys,
            "remap": 8 * remap / n_keys,
            "fixed_width": 8 * fixed / n_keys,
            "entropy": entropy / n_keys,
        }

    def slots(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """Slots in ``[0, n_slots)`` before the remap (the learning env's bins)."""
        h = word_hashes(words, self.seed)
        masks = self._masks[bucket_of(h[:, 0], self.n_buckets)]
        return reduce_slots(h[:, 1] ^ masks, self.n_slots)

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """Bins of many words: one UTF-8 buffer for the batch, then (with the compiled
        kernel) one pass per word: hash, bucket, pilot mask, slot, remap."""
        words = words if isinstance(words, (list, tuple)) else list(words)
        if pilots_kernel.available():
            data, starts, lengths = utf8_batch(words)
            return pilots_kernel.query(
                data, starts, lengths, hash_seeds(self.seed), self._masks,
                self.n_slots, self.n_bins, self.remap,
            )  # fmt: skip
        bins = self.slots(words)
        if self.remap.size:
            high = bins >= self.n_bins
            bins[high] = self.remap[bins[high] - self.n_bins]
        return bins

    def to_bytes(self) -> bytes:
        """The artifact: magic, header, SHA-256, encoded pilots, encoded remap."""
        (high_bits, offset_width), pilot_arrays = encode_pilots(self.pilots)
        low_bits, remap_arrays = encode_monotone(self.remap, self.n_bins)
        fields = (self.n_bins, self.n_slots, self.n_buckets, self.seed, BLOCK, high_bits)
        head = _MAGIC + _FIELDS.pack(*fields, offset_width, low_bits)
        body = b"".join(a.tobytes() for a in (*pilot_arrays, *remap_arrays))
        return head + hashlib.sha256(head + body).digest() + body

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_bytes` to ``path``; use the suffix ``.pilots`` so that the
        leaderboard loads it."""
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path


def pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """``values`` as consecutive ``width``-bit little-endian fields, in bytes."""
    shifts = np.arange(width, dtype=_UINT64)
    bits = ((np.asarray(values, dtype=_UINT64)[:, None] >> shifts) & _UINT64(1)).astype(np.uint8)
    return np.packbits(bits.ravel(), bitorder="little")


def unpack_bits(packed: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`."""
    bits = np.unpackbits(packed, count=count * width, bitorder="little").reshape(count, width)
    return (bits.astype(_UINT64) << np.arange(width, dtype=_UINT64)).sum(axis=1, dtype=_UINT64)


BLOCK = 128  # buckets per block of the pilot code (one Rice parameter, one offset)
_K_BITS = 6  # width of a block's Rice parameter (0..63)


def _block_starts(n_buckets: int) -> np.ndarray:
    return np.arange(0, n_buckets, BLOCK)


def _bit_length(x: int) -> int:
    return max(1, int(x).bit_length())


def encode_pilots(pilots: np.ndarray) -> tuple[tuple[int, int], tuple[np.ndarray, ...]]:
    """Pilots as stored: ``((high_bits, offset_width), (ks, low, high, offsets))``, a
    Rice code split in two streams, as Elias-Fano splits its values:

    * the buckets in blocks of :data:`BLOCK`, each with its own parameter ``k`` (the one
      that minimises the block's bits; ``ks``, 6 bits each): the pilots of the first
      buckets, placed into an empty table, are small, those of the last ones large;
    * ``low``: the ``k`` low bits of every pilot, packed at its block's ``k``;
    * ``high``: ``pilot >> k`` of every pilot in unary (that many 0s, then a 1),
      ``high_bits`` bits in all;
    * ``offsets``: where each block's unary codes start in ``high`` (``offset_width``
      bits each).

    About ``1.5 + log2(mean)`` bits per pilot of a geometric block, within a few percent
    of its entropy. Random access: bucket ``b``'s low bits are at a position the ``ks``
    prefix sums give, its high part is the unary code after ``b % BLOCK`` ones from its
    block's offset (at most ``BLOCK - 1`` codes scanned, with popcounts)."""
    v = np.asarray(pilots, dtype=np.int64)
    starts = _block_starts(v.size)
    lengths = np.diff(np.r_[starts, v.size])
    max_k = _bit_length(int(v.max())) if v.size else 1
    # bits of block b at parameter k: sum(v >> k) + len * (k + 1)
    cost = np.stack(
        [np.add.reduceat(v >> k, starts) + lengths * (k + 1) for k in range(max_k + 1)], axis=1
    )
    ks = cost.argmin(axis=1).astype(np.int64)
    k_of = np.repeat(ks, lengths)
    high = v >> k_of
    ones = np.cumsum(high + 1) - 1
    high_bits = int(ones[-1] + 1) if v.size else 0
    unary = np.zeros(high_bits, np.uint8)
    unary[ones] = 1
    offsets = np.r_[0, ones + 1][starts]
    offset_width = _bit_length(high_bits)
    arrays = (
        pack_bits(ks, _K_BITS),
        _pack_varying(v & ((1 << k_of) - 1), k_of),
        np.packbits(unary, bitorder="little"),
        pack_bits(offsets, offset_width),
    )
    return (high_bits, offset_width), arrays


def _pack_varying(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """``values[i]`` in ``widths[i]`` bits each, consecutive, little-endian, in bytes."""
    total = int(widths.sum())
    first = np.cumsum(widths) - widths
    j = np.arange(total) - np.repeat(first, widths)
    bits = (np.repeat(values, widths) >> j) & 1
    return np.packbits(bits.astype(np.uint8), bitorder="little")


def _unpack_varying(packed: np.ndarray, widths: np.ndarray) -> np.ndarray:
    total = int(widths.sum())
    bits = np.unpackbits(packed, count=total, bitorder="little").astype(np.int64)
    first = np.cumsum(widths) - widths
    owner = np.repeat(np.arange(widths.size), widths)
    shifted = bits << (np.arange(total) - first[owner])
    if not widths.size or widths.max() <= 52:  # float64 sums are exact below 2^53
        return np.bincount(owner, weights=shifted, minlength=widths.size).astype(np.int64)
    out = np.zeros(widths.size, np.int64)
    np.add.at(out, owner, shifted)
    return out


def _pilot_sizes(n_buckets: int, ks: np.ndarray, high_bits: int, offset_width: int) -> list[int]:
    """Bytes of ``low``, ``high`` and ``offsets`` (``ks`` decoded first)."""
    lengths = np.diff(np.r_[_block_starts(n_buckets), n_buckets])
    low = int((ks * lengths).sum())
    return [(low + 7) // 8, (high_bits + 7) // 8, (ks.size * offset_width + 7) // 8]


def decode_pilots(
    n_buckets: int, high_bits: int, offset_width: int, arrays: Sequence[np.ndarray]
) -> np.ndarray:
    """Inverse of :func:`encode_pilots` (uint64); a code whose parts disagree is a
    ``ValueError``."""
    ks_packed, low, high, offsets = arrays
    starts = _block_starts(n_buckets)
    lengths = np.diff(np.r_[starts, n_buckets])
    ks = unpack_bits(ks_packed, _K_BITS, starts.size).astype(np.int64)
    k_of = np.repeat(ks, lengths)
    ones = np.flatnonzero(np.unpackbits(high, count=high_bits, bitorder="little"))
    if ones.size != n_buckets or (ones.size and ones[-1] != high_bits - 1):
        raise ValueError(f"the unary codes hold {ones.size} pilots, not {n_buckets}")
    stored = unpack_bits(offsets, offset_width, starts.size).astype(np.int64)
    if not np.array_equal(stored, np.r_[0, ones + 1][starts]):
        raise ValueError("the block offsets do not match the unary codes")
    q = np.diff(np.r_[-1, ones]) - 1
    return ((q << k_of) | _unpack_varying(low, k_of)).astype(_UINT64)


def encode_monotone(values: np.ndarray, universe: int) -> tuple[int, tuple[np.ndarray, ...]]:
    """Elias-Fano code of a non-decreasing sequence of ``m`` values below ``universe``:
    ``(low_bits, (low, high))``, the ``low_bits = floor(log2(universe / m))`` low bits of
    each value packed, and the high parts as a unary bit vector of ``m + (universe >>
    low_bits) + 1`` bits; about ``2 + log2(universe / m)`` bits per value."""
    values = np.asarray(values, dtype=np.int64)
    m = values.size
    if m == 0:
        return 0, (np.zeros(0, np.uint8), np.zeros(0, np.uint8))
    low_bits = max(0, int(math.floor(math.log2(universe / m))))
    upper = np.zeros(m + (universe >> low_bits) + 1, np.uint8)
    upper[(values >> low_bits) + np.arange(m)] = 1
    low = pack_bits(values & ((1 << low_bits) - 1), low_bits) if low_bits else np.zeros(0, np.uint8)
    return low_bits, (low, np.packbits(upper, bitorder="little"))


def _monotone_sizes(m: int, universe: int, low_bits: int) -> list[int]:
    if m == 0:
        return [0, 0]
    return [(m * low_bits + 7) // 8, (m + (universe >> low_bits) + 1 + 7) // 8]


def decode_monotone(m: int, low_bits: int, arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Inverse of :func:`encode_monotone` (the ``m`` values, as int64)."""
    if m == 0:
        return np.zeros(0, np.int64)
    low, upper = arrays
    high = np.flatnonzero(np.unpackbits(upper, bitorder="little"))[:m] - np.arange(m)
    values = high.astype(np.int64) << low_bits
    if low_bits:
        values |= unpack_bits(low, low_bits, m).astype(np.int64)
    return values


def _npz_format(path: Path) -> str:
    """The ``format`` entry of an ``.npz`` archive ("" if none), as format 1 wrote it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["format"]) if "format" in data.files else ""
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return ""


def load_pilot_hash(path: str | Path) -> PilotHash:
    """Read a :meth:`PilotHash.save` file; a damaged, foreign or format-1 file raises
    :class:`~hash_envs.hashing.ArtifactError` (a ``ValueError``)."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise ArtifactError(f"{path} is not a pilot-hash file: {err}") from None
    if not blob.startswith(_MAGIC):
        if blob.startswith(_FORMAT_2):
            raise ArtifactError(
                f"{path} is a format-2 pilot-hash file (XXH3-128 word hashes); this version "
                "reads format 3 only: retrain it"
            )
        if blob.startswith(b"PK") and _npz_format(path) == "hash-envs/pilot-hash/1":
            raise ArtifactError(
                f"{path} is a format-1 pilot-hash file (uniform buckets, modulo reduction, "
                "no remap); this version reads format 3 only: retrain it"
            )
        raise ArtifactError(f"{path} is not a pilot-hash file (format 3 expected)")
    if len(blob) < _HEADER:
        raise ArtifactError(f"{path} is damaged: shorter than its header")
    head, digest, body = (
        blob[: _HEADER - _DIGEST],
        blob[_HEADER - _DIGEST : _HEADER],
        blob[_HEADER:],
    )
    if hashlib.sha256(head + body).digest() != digest:
        raise ArtifactError(f"{path} is damaged: its checksum does not match its contents")
    n_bins, n_slots, n_buckets, seed, block, high_bits, offset_width, low_bits = _FIELDS.unpack(
        head[len(_MAGIC) :]
    )
    if block != BLOCK or not 1 <= n_buckets <= 2**40 or not n_bins <= n_slots < 2**32:
        raise ArtifactError(f"{path} is damaged: impossible header fields")
    if high_bits > 8 * len(body) or offset_width > 64 or low_bits > 64:
        raise ArtifactError(f"{path} is damaged: impossible header fields")
    raw = np.frombuffer(body, np.uint8)
    n_blocks = -(-n_buckets // BLOCK)
    k_bytes = (n_blocks * _K_BITS + 7) // 8
    if len(raw) < k_bytes:
        raise ArtifactError(f"{path} is damaged: {len(body)} bytes of data, too short")
    ks = unpack_bits(raw[:k_bytes], _K_BITS, n_blocks).astype(np.int64)
    sizes = [k_bytes, *_pilot_sizes(n_buckets, ks, high_bits, offset_width)]
    sizes += _monotone_sizes(n_slots - n_bins, n_bins, low_bits)
    if sum(sizes) != len(body):
        raise ArtifactError(f"{path} is damaged: {len(body)} bytes of data, {sum(sizes)} expected")
    arrays = np.split(raw, np.cumsum(sizes)[:-1])
    try:
        pilots = decode_pilots(n_buckets, high_bits, offset_width, arrays[:4])
        remap = decode_monotone(n_slots - n_bins, low_bits, arrays[4:])
        return PilotHash(pilots, n_bins, seed, n_slots=n_slots, remap=remap)
    except ValueError as err:
        raise ArtifactError(f"{path} is damaged: {err}") from None
