"""Minimal perfect hashing libraries as contenders: what a user would pick instead of a
learned perfect hash (issue 16).

* :class:`PhobicHash` -- ``phobic`` (PHOBIC/PTHash-style pilots, in C), built minimal
  (``load_factor=1.0``), one thread.
* :class:`BBHash` -- ``bbhash`` (BBHash's cascade of bit arrays) over a stable 64-bit
  string hash (seeded XXH3-64 of the UTF-8 bytes), ``gamma=1``, one thread.

A minimal perfect hash is built over its key set, which a registry factory
``(n_bins) -> HashFunction`` never sees; so these contenders reach the leaderboard like
a trained :class:`agents.common.pilots.PilotHash`: build one with ``.build(words)``, ``save`` it
(``.phobic`` / ``.bbhash``) and pass the path; the ``hash_envs.artifact_loaders`` entry
points load it. Both libraries are the optional ``mphf`` extra and are imported only
when used; without them :func:`missing` says which to install.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import struct
import tempfile
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from hash_envs.encoding import utf8
from hash_envs.hashing import ArtifactError, HashFunction

__all__ = ["BBHash", "PhobicHash", "load_bbhash", "load_phobic", "missing"]

# Both files are magic, SHA-256 of the rest, then the rest: neither library checks its
# own serialisation, and bbhash's C++ reader trusts the sizes it reads (a flipped bit
# there hangs or exhausts memory), so nothing reaches a library unverified.
_BB_MAGIC = b"BBHASH\x00\x02"  # format 1 (b"BBHASH\x00\x01") had no checksum
_BB_HEADER = struct.Struct("<2Q")  # n_bins, seed
_PHOBIC_MAGIC = b"PHOBIC\x00\x01"
_DIGEST = 32


def _seal(magic: bytes, payload: bytes) -> bytes:
    return magic + hashlib.sha256(payload).digest() + payload


def _unseal(path: str | Path, magic: bytes, kind: str) -> bytes:
    """The payload of a :func:`_seal` file, or :class:`ArtifactError` naming ``path``."""
    try:
        blob = Path(path).read_bytes()
    except OSError as err:
        raise ArtifactError(f"{path} is not a {kind} file: {err}") from None
    if not blob.startswith(magic[:-1]):
        raise ArtifactError(f"{path} is not a {kind} file")
    if not blob.startswith(magic):
        raise ArtifactError(
            f"{path} is a {kind} file of another format version (this one reads "
            f"{magic[-1]}, with a checksum): rebuild it"
        )
    digest, payload = blob[len(magic) : len(magic) + _DIGEST], blob[len(magic) + _DIGEST :]
    if len(digest) < _DIGEST or hashlib.sha256(payload).digest() != digest:
        raise ArtifactError(f"{path} is damaged: its checksum does not match its contents")
    return payload


def _keys(words: Iterable[str]) -> list[bytes]:
    """Words as the UTF-8 bytes every hash here reads (lone surrogates passed through)."""
    return [utf8(w) for w in words]


def missing() -> list[str]:
    """The ``mphf`` extra's libraries that are not installed."""
    return [name for name in ("phobic", "bbhash") if importlib.util.find_spec(name) is None]


def _require(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"{name} is not installed: pip install 'hash-envs[mphf]'") from None


class PhobicHash(HashFunction):
    """A built ``phobic`` PHF; ``size_bytes`` is the saved file: its serialised blob
    (``to_bytes``) behind a magic and a SHA-256. Keys are the words' UTF-8 bytes
    (phobic hashes a ``str`` as exactly those), so lone surrogates are keys too."""

    name = "phobic"

    def __init__(self, phf: Any) -> None:
        super().__init__(phf.range_size)
        self.phf = phf
        self._blob_size = len(_PHOBIC_MAGIC) + _DIGEST + len(phf.to_bytes())

    @classmethod
    def build(
        cls, words: Sequence[str], *, bucket_size: int = 4, load_factor: float = 1.0, seed: int = 0
    ) -> PhobicHash:
        """Build over ``words`` (distinct) with one thread; ``load_factor=1`` is minimal.
        Bucket size 4 is phobic's best minimal setting on the Moby words (its default,
        ``log2`` of the keys per shard, fails to build at load factor 1)."""
        phobic = _require("phobic")
        phf = phobic.build(
            _keys(words),
            load_factor=load_factor,
            bucket_size=bucket_size,
            seed=seed,
            num_threads=1,
        )
        return cls(phf)

    @property
    def size_bytes(self) -> int:
        return self._blob_size

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return np.asarray(self.phf.lookup(_keys(words), num_threads=1), dtype=np.int64)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(_seal(_PHOBIC_MAGIC, self.phf.to_bytes()))
        return path


def load_phobic(path: str | Path) -> PhobicHash:
    """Read a :meth:`PhobicHash.save` file (the ``.phobic`` artifact loader)."""
    phobic = _require("phobic")
    payload = _unseal(path, _PHOBIC_MAGIC, "phobic")
    try:
        return PhobicHash(phobic.from_bytes(payload))
    except ValueError as err:
        raise ArtifactError(f"{path} is not a phobic file: {err}") from None


class BBHash(HashFunction):
    """A built ``bbhash`` MPHF over seeded XXH3-64 word hashes; ``size_bytes`` is the
    saved file (``bbhash``'s own file plus a 56-byte header with its SHA-256). A word
    outside the key set gets bbhash's not-found value modulo ``n_bins``."""

    name = "bbhash"

    def __init__(self, mphf: Any, n_bins: int, seed: int, blob: bytes) -> None:
        super().__init__(n_bins)
        self.mphf, self.seed, self._blob = mphf, int(seed), blob

    @staticmethod
    def key_hashes(words: Iterable[str], seed: int) -> np.ndarray:
        raw = b"".join(map(xxhash.xxh3_64_digest, map(utf8, words), repeat(seed)))
        return np.frombuffer(raw, dtype="<u8").astype(np.uint64)

    @classmethod
    def build(cls, words: Sequence[str], *, gamma: float = 1.0, seed: int = 0) -> BBHash:
        """Build over ``words`` (distinct, and so, almost surely, their 64-bit hashes)."""
        bbhash = _require("bbhash")
        keys = cls.key_hashes(words, seed)
        mphf = bbhash.PyMPHF(keys.tolist(), keys.size, 1, float(gamma))
        return cls(mphf, keys.size, seed, _bbhash_bytes(mphf))

    @property
    def size_bytes(self) -> int:
        return len(_BB_MAGIC) + _DIGEST + _BB_HEADER.size + len(self._blob)

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        bins = np.asarray(self.mphf.lookup_many(self.key_hashes(words, self.seed)))
        return (bins.astype(np.uint64) % np.uint64(self.n_bins)).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(_seal(_BB_MAGIC, _BB_HEADER.pack(self.n_bins, self.seed) + self._blob))
        return path


def _bbhash_bytes(mphf: Any) -> bytes:
    """``bbhash`` saves only to a file name: its file's bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        name = os.path.join(tmp, "mphf")
        mphf.save(name)
        return Path(name).read_bytes()


def load_bbhash(path: str | Path) -> BBHash:
    """Read a :meth:`BBHash.save` file (the ``.bbhash`` artifact loader)."""
    bbhash = _require("bbhash")
    payload = _unseal(path, _BB_MAGIC, "bbhash")
    if len(payload) <= _BB_HEADER.size:
        raise ArtifactError(f"{path} is damaged: shorter than its header")
    (n_bins, seed), blob = _BB_HEADER.unpack(payload[: _BB_HEADER.size]), payload[_BB_HEADER.size :]
    with tempfile.TemporaryDirectory() as tmp:
        name = os.path.join(tmp, "mphf")
        Path(name).write_bytes(blob)
        mphf = bbhash.load_mphf(name)
    return BBHash(mphf, n_bins, seed, blob)
