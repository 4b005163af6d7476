"""Classical (non-learned) hash functions as :class:`~hash_envs.hashing.HashFunction` contenders.

Every contender maps a word to ``h(word) mod n_bins``, where ``h`` is the hash's unsigned
output (64-bit, or 32-bit for CRC32 and MurmurHash3), returned as ``int64``. Words are
hashed as their UTF-8 bytes (:func:`hash_envs.encoding.utf8`: lone surrogates such as
``"\ud800"`` pass through as their 3 generalised-UTF-8 bytes, so every ``str`` hashes),
except :class:`PythonSipHash13`, which reproduces CPython
3.11's built-in ``hash(str)`` bit for bit and therefore hashes CPython's internal
(PEP 393) representation of the string.

``size_bytes`` counts the key, seed and table bytes needed to reproduce each function;
each class says what it counts. Code and the algorithm's fixed mixing constants are not
counted.

:class:`PythonSipHash13` and :class:`FNV1a` are vectorised in numpy (all words advance
through the algorithm together, one 8-byte block or one byte at a time), so hashing the
466,551 Moby words takes a fraction of a second. The others call a C library once per
word, which is about as fast.

:data:`FACTORIES` maps each contender's leaderboard name to a factory ``(n_bins) ->
HashFunction`` (the classes themselves, with default keys), for the
``hash_envs.hash_functions`` entry-point group.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence

import mmh3
import numpy as np
import xxhash

from hash_envs.encoding import utf8
from hash_envs.hashing import HashFunction

__all__ = [
    "FACTORIES",
    "BLAKE2b",
    "CRC32",
    "FNV1a",
    "Murmur3",
    "PythonSipHash13",
    "XXH3",
    "XXH64",
    "fnv1a64",
    "fnv1a64_many",
    "python_hash",
    "python_hash_many",
    "python_hash_secret",
    "siphash13",
    "siphash13_many",
]

_MASK64 = (1 << 64) - 1
_U64 = np.uint64


# ----------------------------------------------------------------------------- helpers


def _as_list(words: Sequence[str] | Iterable[str]) -> list[str]:
    return words if isinstance(words, list) else list(words)


def _concat_bytes(
    words: list[str], encode: Callable[[str], bytes]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode ``words`` and lay the bytes end to end.

    Returns ``(buf, starts, lengths)``: ``buf`` is one flat ``uint8`` array, and word ``i``
    is ``buf[starts[i] : starts[i] + lengths[i]]`` (``int64`` offsets and lengths). A flat
    layout, rather than a matrix padded to the longest word, keeps memory proportional to
    the total bytes even when one word is very long.

    For all-ASCII input (the usual case) UTF-8, latin-1 and CPython's 1-byte
    representation coincide, so the whole list is encoded in one call.
    """
    n = len(words)
    joined = "".join(words)  # raises TypeError for a non-str word
    if joined.isascii():
        buf = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=n)
    else:
        raw = [encode(w) for w in words]
        buf = np.frombuffer(b"".join(raw), dtype=np.uint8)
        lengths = np.fromiter(map(len, raw), dtype=np.int64, count=n)
    starts = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return buf, starts, lengths


def _longest_first(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order rows by ``steps`` (descending) so the rows still active form a prefix.

    Returns ``(order, active)``: after sorting by ``order``, the rows that need step ``k``
    are the first ``active[k]`` rows, for ``k`` in ``0 .. steps.max() - 1``.
    """
    order = np.argsort(-steps, kind="stable")
    if steps.size == 0:
        return order, np.zeros(0, dtype=np.int64)
    counts = np.bincount(steps)  # counts[s] = rows needing exactly s steps
    active = steps.size - np.cumsum(counts)[:-1]  # rows needing more than k steps
    return order, active


def _bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """``uint64`` hash values -> ``int64`` bins ``values mod n_bins``."""
    return (values % _U64(n_bins)).astype(np.int64)


# ----------------------------------------------------------------------------- SipHash-1-3

# "somepseudorandomlygeneratedbytes", XORed with the key to initialise the state.
_SIP_C0 = 0x736F6D6570736575
_SIP_C1 = 0x646F72616E646F6D
_SIP_C2 = 0x6C7967656E657261
_SIP_C3 = 0x7465646279746573


def python_hash_secret(hash_seed: int = 0) -> tuple[int, int]:
    """The SipHash key ``(k0, k1)`` CPython 3.11 uses under ``PYTHONHASHSEED=hash_seed``.

    Seed 0 disables randomisation and leaves the 24-byte ``_Py_HashSecret`` all zeros. A
    seed ``N`` in ``1 .. 2**32 - 1`` fills it with ``lcg_urandom(N)`` (Python/bootstrap_hash.c:
    ``x = x * 214013 + 2531011`` modulo ``2**32``, byte ``(x >> 16) & 0xff``); the SipHash
    key is its first 16 bytes, read as two little-endian 64-bit words.
    """
    hash_seed = int(hash_seed)
    if not 0 <= hash_seed <= 0xFFFFFFFF:
        raise ValueError(f"hash_seed must be in 0 .. 4294967295, got {hash_seed}")
    secret = bytearray(16)
    if hash_seed:
        x = hash_seed
        for i in range(16):
            x = (x * 214013 + 2531011) & 0xFFFFFFFF
            secret[i] = (x >> 16) & 0xFF
    return int.from_bytes(secret[:8], "little"), int.from_bytes(secret[8:], "little")


def _cpython_str_bytes(word: str) -> bytes:
    """The bytes CPython hashes for ``word``: its PEP 393 representation.

    1 byte per character if every code point is below 256, else 2 (UTF-16-LE) if every
    code point is below 65536, else 4 (UTF-32-LE). ``surrogatepass`` keeps lone
    surrogates, which CPython stores as plain 2- or 4-byte code units.
    """
    try:
        return word.encode("latin-1")
    except UnicodeEncodeError:
        pass
    if max(word) <= "\uffff":
        return word.encode("utf-16-le", "surrogatepass")
    return word.encode("utf-32-le", "surrogatepass")


def _rotl(x: int, s: int) -> int:
    return ((x << s) | (x >> (64 - s))) & _MASK64


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK64
    v2 = (v2 + v3) & _MASK64
    v1 = _rotl(v1, 13) ^ v0
    v3 = _rotl(v3, 16) ^ v2
    v0 = _rotl(v0, 32)
    v2 = (v2 + v1) & _MASK64
    v0 = (v0 + v3) & _MASK64
    v1 = _rotl(v1, 17) ^ v2
    v3 = _rotl(v3, 21) ^ v0
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash13(k0: int, k1: int, data: bytes) -> int:
    """SipHash-1-3 of ``data`` under key ``(k0, k1)``, as CPython computes it (unsigned).

    CPython's variant (Python/pyhash.c) returns ``v0 ^ v1 ^ v2 ^ v3`` after one
    compression round per 8-byte block and three finalisation rounds.
    """
    v0, v1, v2, v3 = k0 ^ _SIP_C0, k1 ^ _SIP_C1, k0 ^ _SIP_C2, k1 ^ _SIP_C3
    n = len(data)
    full = n - n % 8
    for i in range(0, full, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    b = ((n & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    v3 ^= b
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def _rotl_np(x: np.ndarray, s: int) -> np.ndarray:
    return (x << _U64(s)) | (x >> _U64(64 - s))


def _sipround_np(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray) -> None:
    """One SipRound on equal-length ``uint64`` arrays, in place (wrapping arithmetic)."""
    v0 += v1
    v2 += v3
    v1[...] = _rotl_np(v1, 13)
    v1 ^= v0
    v3[...] = _rotl_np(v3, 16)
    v3 ^= v2
    v0[...] = _rotl_np(v0, 32)
    v2 += v1
    v0 += v3
    v1[...] = _rotl_np(v1, 17)
    v1 ^= v2
    v3[...] = _rotl_np(v3, 21)
    v3 ^= v0
    v2[...] = _rotl_np(v2, 32)


def _siphash13_buffers(
    k0: int, k1: int, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Vectorised :func:`siphash13` over words laid out by :func:`_concat_bytes` (``uint64``)."""
    n = lengths.size
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    # Re-lay each word as whole 8-byte blocks: its data zero-padded, then CPython's last
    # block holds the trailing bytes with the length (mod 256) in its top byte.
    n_blocks = lengths // 8 + 1
    first = np.zeros(n, dtype=np.int64)
    np.cumsum(n_blocks[:-1], out=first[1:])
    padded = np.zeros(int(n_blocks.sum()) * 8, dtype=np.uint8)
    shift = np.repeat(first * 8 - starts, lengths)
    padded[np.arange(buf.size, dtype=np.int64) + shift] = buf
    blocks = padded.view("<u8").astype(np.uint64, copy=False)
    blocks[first + n_blocks - 1] |= (lengths.astype(np.uint64) & _U64(0xFF)) << _U64(56)

    order, active = _longest_first(n_blocks)
    first = first[order]
    v0 = np.full(n, k0 ^ _SIP_C0, dtype=np.uint64)
    v1 = np.full(n, k1 ^ _SIP_C1, dtype=np.uint64)
    v2 = np.full(n, k0 ^ _SIP_C2, dtype=np.uint64)
    v3 = np.full(n, k1 ^ _SIP_C3, dtype=np.uint64)
    for k, r in enumerate(active.tolist()):
        m = blocks[first[:r] + k]
        a0, a1, a2, a3 = v0[:r], v1[:r], v2[:r], v3[:r]
        a3 ^= m
        _sipround_np(a0, a1, a2, a3)
        a0 ^= m
    v2 ^= _U64(0xFF)
    for _ in range(3):
        _sipround_np(v0, v1, v2, v3)
    out = np.empty(n, dtype=np.uint64)
    out[order] = v0 ^ v1 ^ v2 ^ v3
    return out


def siphash13_many(k0: int, k1: int, data: Sequence[bytes]) -> np.ndarray:
    """:func:`siphash13` of each byte string in ``data``, vectorised (``uint64``)."""
    n = len(data)
    buf = np.frombuffer(b"".join(data), dtype=np.uint8)
    lengths = np.fromiter(map(len, data), dtype=np.int64, count=n)
    starts = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return _siphash13_buffers(k0, k1, buf, starts, lengths)


def python_hash(word: str, hash_seed: int = 0) -> int:
    """CPython 3.11's ``hash(word)`` under ``PYTHONHASHSEED=hash_seed`` (signed 64-bit).

    The empty string hashes to 0, and -1 (CPython's error marker) becomes -2. A non-``str``
    raises ``TypeError``.
    """
    if not isinstance(word, str):
        raise TypeError(f"words must be str, got {type(word).__name__}: {word!r}")
    if not word:
        return 0
    k0, k1 = python_hash_secret(hash_seed)
    h = siphash13(k0, k1, _cpython_str_bytes(word))
    if h >= 1 << 63:
        h -= 1 << 64
    return -2 if h == -1 else h


def _python_hash_unsigned(words: list[str], hash_seed: int) -> np.ndarray:
    k0, k1 = python_hash_secret(hash_seed)
    buf, starts, lengths = _concat_bytes(words, _cpython_str_bytes)
    h = _siphash13_buffers(k0, k1, buf, starts, lengths)
    h[lengths == 0] = 0
    h[h == _U64(_MASK64)] = _U64(_MASK64 - 1)  # -1 -> -2
    return h


def python_hash_many(words: Sequence[str] | Iterable[str], hash_seed: int = 0) -> np.ndarray:
    """:func:`python_hash` of every word, vectorised: signed ``int64``, equal to ``hash()``."""
    return _python_hash_unsigned(_as_list(words), hash_seed).view(np.int64)


class PythonSipHash13(HashFunction):
    """Python 3.11's built-in ``hash(str)`` (SipHash-1-3), made reproducible.

    ``hash_seed`` plays the role of ``PYTHONHASHSEED``: the bin of a word is
    ``hash(word) % 2**64 % n_bins`` in an interpreter started with that seed.

    ``size_bytes`` = 16: the SipHash key ``(k0, k1)`` (derived here from the 4-byte seed).
    """

    name = "python-siphash13"

    def __init__(self, n_bins: int, hash_seed: int = 0) -> None:
        super().__init__(n_bins)
        self.hash_seed = int(hash_seed)
        self._k0, self._k1 = python_hash_secret(self.hash_seed)

    @property
    def size_bytes(self) -> int:
        return 16

    def __call__(self, word: str) -> int:
        return (python_hash(word, self.hash_seed) & _MASK64) % self.n_bins

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return _bins(_python_hash_unsigned(_as_list(words), self.hash_seed), self.n_bins)


# ----------------------------------------------------------------------------- FNV-1a

FNV64_OFFSET_BASIS = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3


def fnv1a64(data: bytes) -> int:
    """64-bit FNV-1a of ``data`` (unsigned)."""
    h = FNV64_OFFSET_BASIS
    for byte in data:
        h = ((h ^ byte) * FNV64_PRIME) & _MASK64
    return h


def _fnv1a64_buffers(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Vectorised :func:`fnv1a64`, one byte position of every word at a time (``uint64``)."""
    n = lengths.size
    order, active = _longest_first(lengths)
    starts = starts[order]
    h = np.full(n, FNV64_OFFSET_BASIS, dtype=np.uint64)
    prime = _U64(FNV64_PRIME)
    for j, r in enumerate(active.tolist()):
        a = h[:r]
        a ^= buf[starts[:r] + j]
        a *= prime
    out = np.empty(n, dtype=np.uint64)
    out[order] = h
    return out


def fnv1a64_many(words: Sequence[str] | Iterable[str]) -> np.ndarray:
    """:func:`fnv1a64` of every word's UTF-8 bytes, vectorised (``uint64``)."""
    return _fnv1a64_buffers(*_concat_bytes(_as_list(words), utf8))


class FNV1a(HashFunction):
    """64-bit FNV-1a over the word's UTF-8 bytes.

    ``size_bytes`` = 16: the 64-bit offset basis and the 64-bit FNV prime.
    """

    name = "fnv1a"

    @property
    def size_bytes(self) -> int:
        return 16

    def __call__(self, word: str) -> int:
        return fnv1a64(utf8(word)) % self.n_bins

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return _bins(fnv1a64_many(words), self.n_bins)


# ----------------------------------------------------------------------------- C libraries


class _BytesHash(HashFunction):
    """A hash computed by a C library on the word's UTF-8 bytes, one call per word."""

    def _digest(self, data: bytes) -> int:
        """The unsigned hash value of ``data``."""
        raise NotImplementedError

    def __call__(self, word: str) -> int:
        return self._digest(utf8(word)) % self.n_bins

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        words = _as_list(words)
        digest = self._digest
        values = np.fromiter((digest(utf8(w)) for w in words), dtype=np.uint64, count=len(words))
        return _bins(values, self.n_bins)


class XXH64(_BytesHash):
    """xxHash64 (``xxhash.xxh64_intdigest``) of the word's UTF-8 bytes.

    ``size_bytes`` = 8: the 64-bit seed.
    """

    name = "xxh64"

    def __init__(self, n_bins: int, seed: int = 0) -> None:
        super().__init__(n_bins)
        self.seed = int(seed) & _MASK64

    @property
    def size_bytes(self) -> int:
        return 8

    def _digest(self, data: bytes) -> int:
        return xxhash.xxh64_intdigest(data, self.seed)


class XXH3(_BytesHash):
    """XXH3 64-bit (``xxhash.xxh3_64_intdigest``) of the word's UTF-8 bytes.

    ``size_bytes`` = 200: the 64-bit seed plus XXH3's 192-byte default secret, the key
    material it mixes the input with.
    """

    name = "xxh3"

    def __init__(self, n_bins: int, seed: int = 0) -> None:
        super().__init__(n_bins)
        self.seed = int(seed) & _MASK64

    @property
    def size_bytes(self) -> int:
        return 8 + 192

    def _digest(self, data: bytes) -> int:
        return xxhash.xxh3_64_intdigest(data, self.seed)


class Murmur3(_BytesHash):
    """MurmurHash3 x86_32 (``mmh3.hash(data, seed, signed=False)``) of the UTF-8 bytes.

    The 32-bit variant is the canonical "MurmurHash3"; its 32-bit output is ample for
    any table size used here (bins are ``h mod n_bins`` of the unsigned 32-bit value).

    ``size_bytes`` = 4: the 32-bit seed.
    """

    name = "murmur3"

    def __init__(self, n_bins: int, seed: int = 0) -> None:
        super().__init__(n_bins)
        self.seed = int(seed) & 0xFFFFFFFF

    @property
    def size_bytes(self) -> int:
        return 4

    def _digest(self, data: bytes) -> int:
        return mmh3.hash(data, self.seed, signed=False)


class CRC32(_BytesHash):
    """CRC-32 (IEEE 802.3, ``zlib.crc32``) of the word's UTF-8 bytes; 32-bit output.

    ``size_bytes`` = 1024: the 256-entry table of 32-bit remainders that table-driven
    CRC-32 looks bytes up in.
    """

    name = "crc32"

    @property
    def size_bytes(self) -> int:
        return 256 * 4

    def _digest(self, data: bytes) -> int:
        return zlib.crc32(data)


class BLAKE2b(_BytesHash):
    """BLAKE2b with an 8-byte digest (``hashlib.blake2b(digest_size=8, key=key)``).

    The digest is read as a little-endian unsigned 64-bit integer. Unkeyed by default.

    ``size_bytes`` = 64 + ``len(key)``: the 64-byte parameter block (digest length, key
    length, salt, personalisation), which BLAKE2b XORs into its IV, plus the key.
    """

    name = "blake2b"

    def __init__(self, n_bins: int, key: bytes = b"") -> None:
        super().__init__(n_bins)
        key = bytes(key)
        if len(key) > hashlib.blake2b.MAX_KEY_SIZE:
            raise ValueError(f"BLAKE2b key is at most 64 bytes, got {len(key)}")
        self.key = key

    @property
    def size_bytes(self) -> int:
        return 64 + len(self.key)

    def _digest(self, data: bytes) -> int:
        digest = hashlib.blake2b(data, digest_size=8, key=self.key).digest()
        return int.from_bytes(digest, "little")


# ----------------------------------------------------------------------------- registry

#: Leaderboard name -> factory ``(n_bins) -> HashFunction`` (default keys and seeds).
FACTORIES: dict[str, Callable[[int], HashFunction]] = {
    cls.name: cls for cls in (PythonSipHash13, XXH64, XXH3, Murmur3, CRC32, FNV1a, BLAKE2b)
}
