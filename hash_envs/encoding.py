"""Words as fixed-length arrays: the observation of every hash environment.

One place for the word encoding, so environments, agents and exported hash functions
agree byte for byte. A word is taken as its UTF-8 bytes (ASCII words: one byte per
character, so the bytes *are* the code points), zero-padded to ``max_len``:

* ``"codepoints"`` -- the RL hash-function paper's "characters of the word": a
  ``float32`` vector of byte values times ``float32(1/255)``, in ``Box(0, 1, (max_len,))``.
* ``"bytes"`` -- the raw ``uint8`` bytes, in ``MultiDiscrete([256] * max_len)``, for
  embedding layers.

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
    "WordEncoder",
    "encode_bytes",
    "encoded_lengths",
    "max_encoded_len",
]

EncodingName = Literal["codepoints", "bytes"]
ENCODINGS: tuple[str, ...] = ("codepoints", "bytes")
_INV_255 = np.float32(1.0 / 255.0)


def _utf8(words: Sequence[str]) -> list[bytes]:
    try:
        return [w.encode("utf-8") for w in words]
    except AttributeError:
        bad = next(w for w in words if not isinstance(w, str))
        raise TypeError(f"words must be str, got {type(bad).__name__}: {bad!r}") from None


def encoded_lengths(words: Sequence[str]) -> np.ndarray:
    """UTF-8 length in bytes of each word (``int64``)."""
    return np.fromiter(map(len, _utf8(words)), dtype=np.int64, count=len(words))


def max_encoded_len(words: Sequence[str]) -> int:
    """The longest UTF-8 length in ``words``: the default ``max_len`` of a pool."""
    if len(words) == 0:
        raise ValueError("cannot derive max_len from an empty word list")
    return int(encoded_lengths(words).max())


def encode_bytes(words: Sequence[str], max_len: int | None = None) -> np.ndarray:
    """UTF-8 bytes of ``words`` zero-padded to ``max_len``: ``uint8`` of shape ``(n, max_len)``."""
    raw = _utf8(words)
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    longest = int(lengths.max()) if len(raw) else 0
    if max_len is None:
        max_len = max(longest, 1)
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if longest > max_len:
        i = int(lengths.argmax())
        raise ValueError(
            f"word {words[i]!r} is {longest} UTF-8 bytes long, longer than max_len={max_len}"
        )
    if not raw:
        return np.zeros((0, max_len), dtype=np.uint8)
    return np.array(raw, dtype=f"S{max_len}").view(np.uint8).reshape(len(raw), max_len)


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
        """An encoder whose ``max_len`` defaults to the longest word of ``words``."""
        return cls(kind, max_encoded_len(words) if max_len is None else int(max_len))

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

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """Encode many words at once: shape ``(len(words), max_len)``."""
        return self.from_bytes(encode_bytes(words, self.max_len))

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
