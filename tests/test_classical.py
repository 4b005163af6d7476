"""Tests for the classical hash-function baselines (``baselines.classical``)."""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from baselines.classical import (
    CRC32,
    FACTORIES,
    XXH3,
    XXH64,
    BLAKE2b,
    FNV1a,
    Murmur3,
    PythonSipHash13,
    fnv1a64,
    fnv1a64_many,
    python_hash,
    python_hash_many,
    python_hash_secret,
    siphash13,
    siphash13_many,
)
from hash_envs.hashing import HashFunction

# Any numpy overflow warning from the uint64 arithmetic is a bug.
pytestmark = pytest.mark.filterwarnings("error")

EXPECTED_NAMES = {"python-siphash13", "xxh64", "xxh3", "murmur3", "crc32", "fnv1a", "blake2b"}
SEEDS = [0, 1, 42, 12345, 4294967295]
MOBY_SIZE = 466_551


def _tricky_words() -> list[str]:
    """ASCII, empty, latin-1, BMP, astral and lone-surrogate words; lengths cross blocks."""
    words = ["", "a", "hello", "café", "naïve", "日本語", "𝄞x", "x𝄞", "a\x00", "\x00"]
    words += ["ÿ" * 9, "Ā", "\uffff", "\U0010ffff", "mixé日𝄞"]
    for n in range(21):  # 0..20 characters: 1-byte strings cross 8- and 16-byte blocks
        words.append("".join(chr(ord("a") + (i * 7 + n) % 26) for i in range(n)))
        words.append("é" * n)  # latin-1, 1 byte per character
        words.append("語" * n)  # BMP, 2 bytes per character
        words.append("𝄞" * (n // 2))  # astral, 4 bytes per character
    return list(dict.fromkeys(words))


def _random_words(n: int, seed: int = 0) -> list[str]:
    """About ``n`` distinct random lowercase words of 4 to 24 letters."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 25, size=n)
    letters = rng.integers(ord("a"), ord("z") + 1, size=int(lengths.sum()), dtype=np.uint8)
    flat = letters.tobytes().decode("ascii")
    ends = np.cumsum(lengths).tolist()
    words = (flat[e - k : e] for e, k in zip(ends, lengths.tolist(), strict=True))
    return list(dict.fromkeys(words))


@functools.lru_cache(maxsize=1)
def _moby_or_synthetic() -> list[str]:
    """The Moby list from ``HASH_ENVS_MOBY`` (zip or txt) if set, else synthetic words."""
    path = os.environ.get("HASH_ENVS_MOBY")
    if path and os.path.exists(path):
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                text = zf.read("words.txt").decode("utf-8")
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        return [w for w in text.splitlines() if w]
    return _random_words(MOBY_SIZE, seed=1)


WORDS = _tricky_words()
# CPython hashes a lone surrogate like any code point; UTF-8 (the other hashes) cannot encode it.
CPYTHON_WORDS = WORDS + ["\ud800x", "\udfff" * 5, "𝄞\ud800"]


# ----------------------------------------------------------------------------- CPython hash


def _builtin_hashes(words: list[str], seed: int) -> list[int]:
    """``hash(w)`` for each word, computed in a fresh interpreter with PYTHONHASHSEED=seed."""
    code = (
        "import json, sys\n"
        "words = json.loads(sys.stdin.read())\n"
        "print(json.dumps([hash(w) for w in words]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(words),
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(proc.stdout)


@pytest.mark.parametrize("seed", SEEDS)
def test_python_hash_matches_builtin(seed: int) -> None:
    words = CPYTHON_WORDS + _random_words(500, seed=seed)
    expected = _builtin_hashes(words, seed)
    assert [python_hash(w, seed) for w in words] == expected
    vectorised = python_hash_many(words, seed)
    assert vectorised.dtype == np.int64
    assert vectorised.tolist() == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_python_siphash13_bins_follow_builtin(seed: int) -> None:
    expected = _builtin_hashes(CPYTHON_WORDS, seed)
    for n_bins in (1, 7, 1000, 2**32 + 15, 2**63 - 1):
        h = PythonSipHash13(n_bins, hash_seed=seed)
        bins = [v % 2**64 % n_bins for v in expected]
        assert [h(w) for w in CPYTHON_WORDS] == bins
        assert h.hash_many(CPYTHON_WORDS).tolist() == bins


def test_python_hash_edge_cases() -> None:
    assert python_hash("", 0) == 0 and python_hash("", 42) == 0
    assert python_hash_secret(0) == (0, 0)
    k0, k1 = python_hash_secret(1)
    assert (k0, k1) != (0, 0)
    with pytest.raises(ValueError):
        python_hash_secret(-1)
    with pytest.raises(ValueError):
        python_hash_secret(2**32)
    assert python_hash_many([], 0).shape == (0,)
    assert python_hash_many(iter(["a", "b"]), 3).tolist() == [
        python_hash("a", 3),
        python_hash("b", 3),
    ]


def test_python_hash_maps_minus_one_to_minus_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython reserves -1 as an error marker; a SipHash value of 2**64 - 1 becomes -2."""
    import baselines.classical as classical

    monkeypatch.setattr(classical, "siphash13", lambda k0, k1, data: 2**64 - 1)
    monkeypatch.setattr(
        classical,
        "_siphash13_buffers",
        lambda k0, k1, buf, starts, lengths: np.full(lengths.size, 2**64 - 1, dtype=np.uint64),
    )
    assert classical.python_hash("x") == -2
    assert classical.python_hash_many(["x", ""]).tolist() == [-2, 0]
    assert PythonSipHash13(10)("x") == (2**64 - 2) % 10
    assert PythonSipHash13(10).hash_many(["x"]).tolist() == [(2**64 - 2) % 10]


def test_siphash13_scalar_and_vectorised_agree() -> None:
    rng = random.Random(0)
    data = [bytes(rng.randrange(256) for _ in range(n)) for n in range(40) for _ in range(3)]
    k0, k1 = python_hash_secret(12345)
    assert siphash13_many(k0, k1, data).tolist() == [siphash13(k0, k1, d) for d in data]


# ----------------------------------------------------------------------------- FNV-1a


def test_fnv1a_known_vectors() -> None:
    vectors = {"": 0xCBF29CE484222325, "a": 0xAF63DC4C8601EC8C, "foobar": 0x85944171F73967E8}
    for word, value in vectors.items():
        assert fnv1a64(word.encode()) == value
    assert fnv1a64_many(list(vectors)).tolist() == list(vectors.values())
    assert FNV1a(1000)("foobar") == 0x85944171F73967E8 % 1000


def test_fnv1a_scalar_and_vectorised_agree() -> None:
    words = WORDS + _random_words(2000, seed=3)
    assert fnv1a64_many(words).tolist() == [fnv1a64(w.encode("utf-8")) for w in words]


# ----------------------------------------------------------------------------- C libraries


def test_library_hashes_known_vectors() -> None:
    n_bins = 2**63 - 1
    assert XXH64(n_bins)("") == 0xEF46DB3751D8E999 % n_bins
    assert XXH3(n_bins)("") == 0x2D06800538D394C2 % n_bins
    assert CRC32(n_bins)("123456789") == 0xCBF43926
    assert Murmur3(n_bins)("hello") == 613153351
    assert Murmur3(n_bins)("") == 0
    assert BLAKE2b(n_bins)("") != BLAKE2b(n_bins, key=b"k")("")


def test_seeds_and_keys_change_the_function() -> None:
    words = _random_words(200, seed=5)
    pairs = [
        (PythonSipHash13(2**40), PythonSipHash13(2**40, hash_seed=7)),
        (XXH64(2**40), XXH64(2**40, seed=7)),
        (XXH3(2**40), XXH3(2**40, seed=7)),
        (Murmur3(2**40), Murmur3(2**40, seed=7)),
        (BLAKE2b(2**40), BLAKE2b(2**40, key=b"secret")),
    ]
    for a, b in pairs:
        assert not np.array_equal(a.hash_many(words), b.hash_many(words)), a.name
    with pytest.raises(ValueError):
        BLAKE2b(10, key=b"x" * 65)


# ----------------------------------------------------------------------------- every contender


def test_factories_cover_every_name() -> None:
    assert set(FACTORIES) == EXPECTED_NAMES
    for name, factory in FACTORIES.items():
        h = factory(64)
        assert isinstance(h, HashFunction)
        assert h.name == name and h.n_bins == 64


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_contender_contract(name: str) -> None:
    words = WORDS + _random_words(1000, seed=11)
    for n_bins in (1, 2, 97, 1 << 20, 2**63 - 1):
        h = FACTORIES[name](n_bins)
        bins = h.hash_many(words)
        assert bins.dtype == np.int64 and bins.shape == (len(words),)
        assert bins.min() >= 0 and bins.max() < n_bins
        assert bins.tolist() == [h(w) for w in words]  # vectorised == scalar
        assert np.array_equal(FACTORIES[name](n_bins).hash_many(iter(words)), bins)  # determinism
        assert all(isinstance(h(w), int) for w in words[:5])
    assert FACTORIES[name](5).hash_many([]).dtype == np.int64
    assert FACTORIES[name](5).hash_many([]).shape == (0,)
    size = FACTORIES[name](5).size_bytes
    assert isinstance(size, int) and size > 0


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
@pytest.mark.parametrize("n_bins", [0, -3])
def test_contender_rejects_bad_n_bins(name: str, n_bins: int) -> None:
    with pytest.raises(ValueError):
        FACTORIES[name](n_bins)


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_contender_spreads_words(name: str) -> None:
    """Crude uniformity check: 20,000 words over 64 bins, every bin within 30% of the mean."""
    bins = FACTORIES[name](64).hash_many(_random_words(20_000, seed=2))
    counts = np.bincount(bins, minlength=64)
    mean = 20_000 / 64
    assert counts.min() > 0.7 * mean and counts.max() < 1.3 * mean


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_hashing_moby_is_fast(name: str) -> None:
    """All of Moby (or as many synthetic words) in well under 5 s; best of 2 to avoid flakes."""
    words = _moby_or_synthetic()
    h = FACTORIES[name](1 << 20)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        bins = h.hash_many(words)
        best = min(best, time.perf_counter() - start)
        if best < 5.0:
            break
    assert bins.shape == (len(words),)
    assert best < 5.0, f"{name} took {best:.2f}s for {len(words)} words"
