"""Tests for hash_envs.hashing: the HashFunction interface and the contender registry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

import hash_envs
from hash_envs import hashing
from hash_envs.hashing import (
    ENTRY_POINT_GROUP,
    HashFunction,
    make_hash_function,
    register_hash_function,
    registered_hash_functions,
)

ENTRY_POINT_CONTENDERS = {
    "python-siphash13",
    "xxh64",
    "xxh3",
    "murmur3",
    "crc32",
    "fnv1a",
    "blake2b",
}


class LengthHash(HashFunction):
    """Implements only ``__call__``: the bin is the word's length modulo n_bins."""

    name = "length"

    @property
    def size_bytes(self) -> int:
        return 0

    def __call__(self, word: str) -> int:
        return len(word) % self.n_bins


class FirstByteHash(HashFunction):
    """Implements only ``hash_many``: the bin is the first byte modulo n_bins."""

    name = "first-byte"

    @property
    def size_bytes(self) -> int:
        return 1

    def hash_many(self, words: Sequence[str]) -> np.ndarray:
        return np.array([w.encode()[0] % self.n_bins for w in words], dtype=np.int64)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private copy of the registry (entry points already loaded) for one test."""
    registered_hash_functions()  # load the entry points into the real registry first
    private = dict(hashing._REGISTRY)
    monkeypatch.setattr(hashing, "_REGISTRY", private)
    return private


def test_entry_point_contenders_are_listed() -> None:
    names = registered_hash_functions()
    assert ENTRY_POINT_CONTENDERS <= set(names)
    assert names == sorted(names)
    assert hash_envs.registered_hash_functions is registered_hash_functions


@pytest.mark.parametrize("name", sorted(ENTRY_POINT_CONTENDERS))
def test_entry_point_contenders_make_hash_functions(name: str, words: list[str]) -> None:
    fn = make_hash_function(name, 97)
    assert isinstance(fn, HashFunction)
    assert fn.n_bins == 97
    bins = fn.hash_many(words)
    assert bins.dtype == np.int64 and bins.shape == (len(words),)
    assert bins.min() >= 0 and bins.max() < 97
    assert [fn(w) for w in words[:20]] == bins[:20].tolist()
    assert len(set(bins.tolist())) > 50  # spreads 400 words over many of the 97 bins
    assert isinstance(fn.size_bytes, int) and fn.size_bytes >= 0


def test_register_and_make(registry: dict) -> None:
    register_hash_function("test-length", LengthHash)
    assert "test-length" in registered_hash_functions()
    fn = make_hash_function("test-length", 4)
    assert isinstance(fn, LengthHash) and fn.n_bins == 4
    assert fn("abcdef") == 2
    # Registering the same factory again is harmless.
    register_hash_function("test-length", LengthHash)


def test_duplicate_name_raises(registry: dict) -> None:
    register_hash_function("test-dup", LengthHash)
    with pytest.raises(ValueError, match="'test-dup' is already registered"):
        register_hash_function("test-dup", FirstByteHash)
    assert isinstance(make_hash_function("test-dup", 3), LengthHash)  # unchanged
    register_hash_function("test-dup", FirstByteHash, overwrite=True)
    assert isinstance(make_hash_function("test-dup", 3), FirstByteHash)
    with pytest.raises(ValueError, match="'xxh64' is already registered"):
        register_hash_function("xxh64", LengthHash)


def test_unknown_name_lists_the_known_ones(registry: dict) -> None:
    with pytest.raises(ValueError, match="unknown hash function 'no-such-hash'") as excinfo:
        make_hash_function("no-such-hash", 8)
    message = str(excinfo.value)
    for name in ENTRY_POINT_CONTENDERS:
        assert name in message


def test_explicit_registration_wins_over_an_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "_REGISTRY", {"xxh64": LengthHash})
    monkeypatch.setattr(hashing, "_entry_points_loaded", False)
    assert isinstance(make_hash_function("xxh64", 5), LengthHash)
    assert ENTRY_POINT_CONTENDERS <= set(registered_hash_functions())
    assert ENTRY_POINT_GROUP == "hash_envs.hash_functions"


def test_default_hash_many_uses_call() -> None:
    fn = LengthHash(3)
    out = fn.hash_many(["", "a", "abcd", "abcdefgh"])
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [0, 1, 1, 2])
    np.testing.assert_array_equal(fn.hash_many(w for w in ["ab", "abc"]), [2, 0])  # iterables
    assert fn.hash_many([]).shape == (0,)


def test_default_call_uses_hash_many() -> None:
    fn = FirstByteHash(10)
    assert fn("a") == 97 % 10
    assert type(fn("z")) is int
    np.testing.assert_array_equal(fn.hash_many(["a", "b"]), [7, 8])


def test_n_bins_is_checked() -> None:
    for bad in (0, -5):
        with pytest.raises(ValueError, match=f"n_bins must be >= 1, got {bad}"):
            LengthHash(bad)
    assert LengthHash(np.int64(7)).n_bins == 7
    assert type(LengthHash(np.int64(7)).n_bins) is int
    assert repr(LengthHash(7)) == "LengthHash(name='length', n_bins=7)"


def test_size_bytes_is_abstract() -> None:
    class NoSize(HashFunction):
        def __call__(self, word: str) -> int:
            return 0

    with pytest.raises(TypeError):
        NoSize(4)  # type: ignore[abstract]
