"""Words as fixed-length arrays: the observation of every hash environment.

One place for the word encoding, so environments, agents and exported hash functions
agree byte for byte. A word is taken as its UTF-8 bytes (ASCII words: one byte per
character, so the bytes *are* the code points), zero-padded to ``max_len``:

* ``"codepoints"`` -- the RL hash-function paper's "characters of the word": a
  ``float32`` vector of byte values times ``float32(1/255)``, in ``Box(0, 1, (max_len,))``.
* ``"bytes"`` -- the raw ``uint8`` bytes, in ``MultiDiscrete([256] * max_len)``, for
  embedding layers.

Two rules make the encoding total over ``str``, so that a trained hash accepts any word:

* **Lone surrogates** (``"\ud800"``, which strict UTF-8 cannot encode) are encoded with
  ``surrogatepass``: the 3 bytes generalised UTF-8 gives the code point. Every ``str`` has
  one byte string, and valid strings keep their ordinary UTF-8 bytes. :func:`utf8` is the
  one place for this; the classical hashes use it too.
* **Words longer than** ``max_len`` are **XOR-folded** (``overflow="fold"``): byte ``j``
  of the word is XORed into position ``j % max_len``, i.e. the bytes are cut into rows of
  ``max_len`` (the last zero-padded) and the rows XORed together. Words that fit are
  unchanged, so a policy sees its training words exactly as in training. The rule is
  applied before the network, so torch, the ONNX artifact and any runtime reading the
  artifact agree. Environments keep the strict default (``overflow="raise"``): a pool
  word that does not fit is a configuration error there, not an input to reduce.

Encoding is vectorised: the padding and conversion happen in numpy, never in a
per-character Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from gymnasium import spaces

__all__ = [
    "ENCODINGS",
    "EncodingName",
    "Overflow",
    "WordEncoder",
    "encode_bytes",
    "encoded_lengths",
    "max_encoded_len",
    "utf8",
    "utf8_batch",
]

EncodingName = Literal["codepoints", "bytes"]
ENCODINGS: tuple[str, ...] = ("codepoints", "bytes")
Overflow = Literal["raise", "fold"]
_INV_255 = np.float32(1.0 / 255.0)


def utf8(word: str) -> bytes:
    """The bytes of ``word`` every hash here reads: UTF-8, lone surrogates passed through.

    Raises ``TypeError`` for a non-``str``.
    """
    try:
        return word.encode("utf-8", "surrogatepass")
    except AttributeError:
        raise TypeError(f"words must be str, got {type(word).__name__}: {word!r}") from None


def _utf8(words: Sequence[str]) -> list[bytes]:
    try:
        return [w.encode("utf-8", "surrogatepass") for w in words]
    except AttributeError:
        bad = next(w for w in words if not isinstance(w, str))
        raise TypeError(f"words must be str, got {type(bad).__name__}: {bad!r}") from None


def utf8_batch(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bytes of many words (as :func:`utf8`) in one buffer: ``(data, starts, lengths)``.

    Word ``i`` is ``data[starts[i] : starts[i] + lengths[i]]`` (``uint8``; ``starts`` and
    ``lengths`` are ``int64``), and one separator byte follows every word but the last,
    so ``starts[i + 1] == starts[i] + lengths[i] + 1``. One ``"\\n".join`` and one
    ``encode`` for the whole batch instead of one per word: no Python-level loop, unless a
    word contains ``"\\n"`` itself (the separator count tells), which takes the per-word
    path. Raises ``TypeError`` for a non-``str``, as :func:`utf8`.
    """
    n = len(words)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint8), empty, empty.copy()
    try:
        joined = "\n".join(words)
    except TypeError:
        _utf8(words)  # raises the TypeError naming the offending item
        raise
    starts = np.zeros(n, dtype=np.int64)
    lengths = np.empty(n, dtype=np.int64)
    # UTF-8 (generalised, for surrogates) never uses byte 10 inside a longer sequence, so
    # the 10s are the separators, unless a word holds "\n" itself (then there are more)
    data = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if ends.size == n - 1:
        starts[1:] = ends + 1
        lengths[:-1] = ends - starts[:-1]
        lengths[-1] = data.size - starts[-1]
    else:
        raw = _utf8(words)
        lengths[:] = np.fromiter(map(len, raw), dtype=np.int64, count=n)
        data = np.frombuffer(b"\n".join(raw), dtype=np.uint8)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
    return data, starts, lengths


def _pad(raw: list[bytes], width: int) -> np.ndarray:
    """Byte strings of at most ``width`` bytes, zero-padded: ``uint8`` ``(len(raw), width)``."""
    if not raw:
        return np.zeros((0, width), dtype=np.uint8)
    return np.array(raw, dtype=f"S{width}").view(np.uint8).reshape(len(raw), width)


def _fold(raw: list[bytes], lengths: np.ndarray, max_len: int) -> np.ndarray:
    """XOR-fold (see the module docstring): vectorised per number of ``max_len`` rows."""
    rows = -(-lengths // max_len)  # ceil; 0 for the empty word
    out = _pad([b if len(b) <= max_len else b"" for b in raw], max_len)
    for k in np.unique(rows[rows > 1]):
        idx = np.flatnonzero(rows == k)
        block = _pad([raw[i] for i in idx], int(k) * max_len).reshape(idx.size, int(k), max_len)
        out[idx] = np.bitwise_xor.reduce(block, axis=1)
    return out


def encoded_lengths(words: Sequence[str]) -> np.ndarray:
    """UTF-8 length in bytes of each word (``int64``)."""
    return np.fromiter(map(len, _utf8(words)), dtype=np.int64, count=len(words))


def max_encoded_len(words: Sequence[str]) -> int:
    """The longest UTF-8 length in ``words``: the default ``max_len`` of a pool."""
    if len(words) == 0:
        raise ValueError("cannot derive max_len from an empty word list")
    return int(encoded_lengths(words).max())


def encode_bytes(
    words: Sequence[str], max_len: int | None = None, overflow: Overflow = "raise"
) -> np.ndarray:
    """UTF-8 bytes of ``words`` zero-padded to ``max_len``: ``uint8`` of shape ``(n, max_len)``.

    A word longer than ``max_len`` raises ``ValueError`` (``overflow="raise"``) or is
    XOR-folded onto the ``max_len`` positions (``overflow="fold"``).
    """
    raw = _utf8(words)
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    longest = int(lengths.max()) if len(raw) else 0
    if max_len is None:
        max_len = max(longest, 1)
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if overflow not in ("raise", "fold"):
        raise ValueError(f"overflow must be 'raise' or 'fold', got {overflow!r}")
    if longest > max_len:
        if overflow == "fold":
            return _fold(raw, lengths, max_len)
        i = int(lengths.argmax())
        raise ValueError(
            f"word {words[i]!r} is {longest} UTF-8 bytes long, longer than max_len={max_len}"
        )
    return _pad(raw, max_len)


@dataclass(frozen=True)
class WordEncoder:
    """Encodes words one way, and says which Gymnasium space the result lives in."""

    kind: EncodingName = "codepoints"
    max_len: int = 45

    def __post_init__(self) -> None:
        if self.kind not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {self.kind!r}")
        if int(self.max_len) < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")

    @classmethod
    def for_words(
        cls, words: Sequence[str], kind: EncodingName = "codepoints", max_len: int | None = None
    ) -> WordEncoder:
        """An encoder whose ``max_len`` defaults to the longest word of ``words`` (at least
        1, so that a pool of empty words still has an observation)."""
        longest = max(max_encoded_len(words), 1)
        return cls(kind, longest if max_len is None else int(max_len))

    @classmethod
    def from_space(cls, space: spaces.Space) -> WordEncoder:
        """The encoder whose :attr:`space` is ``space`` (e.g. a trained policy's inputs)."""
        if isinstance(space, spaces.Box) and space.shape is not None and len(space.shape) == 1:
            if space.dtype == np.float32 and np.all(space.low == 0) and np.all(space.high == 1):
                return cls("codepoints", int(space.shape[0]))
        if isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
            if np.all(space.nvec == 256):
                return cls("bytes", int(space.nvec.shape[0]))
        raise ValueError(f"{space} is not the observation space of an encoded word")

    @property
    def dtype(self) -> type[np.generic]:
        return np.float32 if self.kind == "codepoints" else np.int64

    @property
    def space(self) -> spaces.Space:
        if self.kind == "codepoints":
            return spaces.Box(0.0, 1.0, shape=(self.max_len,), dtype=np.float32)
        return spaces.MultiDiscrete(np.full(self.max_len, 256, dtype=np.int64))

    def encode(self, words: Sequence[str], overflow: Overflow = "raise") -> np.ndarray:
        """Encode many words at once: shape ``(len(words), max_len)``.

        ``overflow="fold"`` accepts any ``str`` (the rule of the module docstring): what a
        hash function, which must give every word a bin, passes.
        """
        return self.from_bytes(encode_bytes(words, self.max_len, overflow))

    def from_bytes(self, raw: np.ndarray) -> np.ndarray:
        """Observation(s) from padded UTF-8 bytes (the output of :func:`encode_bytes`).

        Environments keep their pool as bytes (4x smaller than ``float32``, so a batch of
        random words costs fewer cache misses) and convert on the way out.
        """
        if self.kind == "codepoints":
            obs = raw.astype(np.float32)
            obs *= _INV_255  # multiplying by the reciprocal is ~2x faster than dividing
            return obs
        return raw.astype(np.int64)

    def __call__(self, word: str) -> np.ndarray:
        """Encode one word: shape ``(max_len,)``."""
        return self.encode([word])[0]
