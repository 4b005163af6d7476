"""The word pool an environment draws its episodes from, encoded once and shared."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hash_envs import corpus as corpus_lib
from hash_envs.encoding import EncodingName, WordEncoder, encode_bytes

CorpusArg = str | os.PathLike | Sequence[str]


@dataclass(frozen=True)
class WordPool:
    """Words an episode may show, and their padded UTF-8 bytes.

    ``raw`` has one extra all-zero row at index ``len(words)``: the observation shown
    after the last word of an episode ("no word left").
    """

    words: tuple[str, ...]
    encoder: WordEncoder
    raw: np.ndarray

    def observe(self, indices: np.ndarray) -> np.ndarray:
        """Encoded observations of the pool words at ``indices`` (one row each)."""
        return self.encoder.from_bytes(np.take(self.raw, indices, axis=0))

    def observe_one(self, index: int) -> np.ndarray:
        """Encoded observation of one pool word (plain indexing: the single-env hot path)."""
        return self.encoder.from_bytes(self.raw[index])

    def __len__(self) -> int:
        return len(self.words)

    @property
    def end_index(self) -> int:
        """Index of the all-zero row shown once an episode is over."""
        return len(self.words)


def build_pool(
    corpus: CorpusArg,
    pool_size: int | None,
    pool_seed: int,
    encoding: EncodingName,
    max_len: int | None,
) -> WordPool:
    """Load ``corpus``, keep the seeded ``pool_size`` subset, encode it (cached per process)."""
    if isinstance(corpus, str | os.PathLike):
        name = os.fspath(corpus)
        if name not in corpus_lib.CORPUS_NAMES and not os.path.isfile(os.path.expanduser(name)):
            raise ValueError(
                f"corpus must be one of {', '.join(map(repr, corpus_lib.CORPUS_NAMES))}, the "
                f"path of an existing .txt/.zip word file, or a sequence of words; got {name!r}"
            )
        return _cached_pool(name, pool_size, pool_seed, encoding, max_len)
    words = [corpus] if isinstance(corpus, bytes | bytearray) else list(corpus)
    bad = [w for w in words if not isinstance(w, str)][:1]
    if bad:
        raise TypeError(f"corpus words must be str, got {type(bad[0]).__name__}: {bad[0]!r}")
    return _make_pool(sorted(set(words)), pool_size, pool_seed, encoding, max_len)


@functools.lru_cache(maxsize=8)
def _cached_pool(
    corpus: str, pool_size: int | None, pool_seed: int, encoding: str, max_len: int | None
) -> WordPool:
    return _make_pool(corpus_lib.load(corpus), pool_size, pool_seed, encoding, max_len)


def _make_pool(
    words: list[str],
    pool_size: int | None,
    pool_seed: int,
    encoding: str,
    max_len: int | None,
) -> WordPool:
    if not words:
        raise ValueError("corpus holds no words")
    if pool_size is not None:
        if not 1 <= int(pool_size) <= len(words):
            raise ValueError(
                f"pool_size must be between 1 and the corpus size {len(words)}, got {pool_size}"
            )
        words = corpus_lib.subset(words, int(pool_size), seed=pool_seed)
    encoder = WordEncoder.for_words(words, encoding, max_len)  # type: ignore[arg-type]
    raw = np.zeros((len(words) + 1, encoder.max_len), dtype=np.uint8)
    raw[:-1] = encode_bytes(words, encoder.max_len)
    raw.setflags(write=False)
    return WordPool(tuple(words), encoder, raw)
