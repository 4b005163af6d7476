"""SMHasher-style quality tests for any hash function, ported to words (Python strings).

A contender (:class:`Contender`) is anything that turns words into output bits: a
:class:`~hash_envs.hashing.HashFunction`, a digest function such as SHA-256, or the weight
hash's rounded weights. :func:`contender_for` resolves what ``hash-envs quality`` is given:
a :data:`BUILTIN` name (``weight-hash``, ``weight-hash-digest``, ``sha256``), a registered
hash name, or a trained hash artifact such as ``hash.onnx`` (whatever
:func:`hash_envs.hashing.load_artifact` can load); :func:`run_quality` runs every test
and :func:`to_markdown` makes the table. A test a contender cannot serve (a trained policy
refuses words longer than its input) is reported as n/a, not failed.

**Output bits.** A contender's ``digest(words)`` returns an ``(n, n_bytes)`` ``uint8``
matrix, big-endian; its last ``bits`` bits are the output. A ``HashFunction`` only exposes
bins, so a *registered* one (a factory ``n_bins -> HashFunction``) is tested on
``hash_many`` with ``n_bins = 2**32``: its value mod 2**32, i.e. the low 32 bits of a
classical hash's 64-bit value -- the bits a table of up to 4 billion bins uses. A
``HashFunction`` *instance* fixed to its own ``n_bins`` (a trained policy) is tested on its
bin index, ``ceil(log2(n_bins))`` bits (for ``n_bins`` not a power of two the top bit is
slightly biased even for an ideal function: at most ~0.1% for 1000 bins). The weight
hash's leaderboard contender spreads its digest with xxh64, so ``weight-hash-digest`` --
the 36 rounded weights themselves, 2304 bits -- is what tests the method.

**Tests** (SMHasher's criteria, with a statistical floor where our sample is smaller):

* ``avalanche`` -- random ``key_chars``-letter keys (``a``..``z``); flip each of the 8 low
  bits of each character's code point (so keys stay in U+0001..U+00FF, never U+0000);
  each output bit must flip with probability 1/2. Bias = ``|2 p - 1|`` per (input bit,
  output bit); SMHasher fails a worst bias above 1%.
* ``substitution`` -- the strict avalanche criterion for text: replace one character by
  another random letter; same bias and threshold, per (position, output bit).
* ``bic`` -- bit independence, from the same flips: for each input bit and each pair of
  (up to ``bic_bits``, evenly spaced) output bits, the four joint flip outcomes must
  each have probability 1/4; bias = ``max |4 n / reps - 1|``; SMHasher fails above 5%.
* ``sparse``, ``two-char``, ``text``, ``perm-K`` -- keyset collision tests (the keysets
  are :func:`sparse_keys`, :func:`two_char_keys`, :func:`text_keys`,
  :func:`permutation_keys`): collisions of the full output against a uniformly random
  function's expectation; SMHasher fails more than twice the expected count.
* ``chi2`` -- Pearson's chi-squared of the bin loads of the corpus words
  (:func:`hash_envs.metrics.chi_square`).
* ``distinct`` -- distinct digests over the corpus words, scored like a keyset.

A bias threshold is SMHasher's (1% or 5%) unless the sample is too small to resolve it;
then it is the largest bias an ideal hash would show with probability ``1 - alpha`` over
all cells (normal approximation, Bonferroni), and the table shows the threshold used. A
collision count fails only if it is more than twice the expectation *and* that many
collisions have probability below ``alpha`` under a uniformly random function (Poisson),
so a 0.2-expected, 1-observed count is not a failure.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from hash_envs import hashing, metrics
from hash_envs.hashing import HashFunction

__all__ = [
    "BUILTIN",
    "WEIGHT_HASH_REPS",
    "Contender",
    "QualityConfig",
    "QualityReport",
    "TestResult",
    "TESTS",
    "avalanche_and_bic",
    "chi_square_test",
    "contender_for",
    "default_targets",
    "digest_contender",
    "distinct_digests",
    "hash_function_contender",
    "instance_contender",
    "keyset_collisions",
    "permutation_keys",
    "run_quality",
    "sha256_contender",
    "sparse_keys",
    "substitution",
    "text_keys",
    "to_markdown",
    "two_char_keys",
    "weight_digest_contender",
    "weight_hash_contender",
]

Digest = Callable[[list[str]], np.ndarray]
Bins = Callable[[list[str], int], np.ndarray]


@dataclass(frozen=True)
class Contender:
    """A hash under test.

    ``digest(words)`` gives ``(n, n_bytes)`` big-endian bytes whose last ``bits`` bits
    are the output; ``space`` is the number of possible outputs (``2**bits``, or the
    number of bins of a fixed-size hash). ``bins(words, n_bins)`` gives table bins for
    the chi-squared test; ``n_bins`` is set when the hash only has one table size.
    ``max_reps`` caps the keys per input bit for a slow hash (the table reports it).
    """

    name: str
    digest: Digest
    bits: int
    space: int
    bins: Bins
    n_bins: int | None = None
    max_reps: int | None = None
    source: str = ""


def _values_to_bytes(values: np.ndarray, n_bytes: int) -> np.ndarray:
    """Non-negative integers -> ``(n, n_bytes)`` big-endian bytes."""
    big = np.asarray(values).astype(f">u{n_bytes}")
    return big.view(np.uint8).reshape(len(big), n_bytes)


def hash_function_contender(
    name: str,
    factory: Callable[[int], HashFunction] | None = None,
    bits: int = 32,
    max_reps: int | None = None,
) -> Contender:
    """A registered contender (or ``factory``), tested on ``hash_many`` with
    ``n_bins = 2**bits``: the low ``bits`` bits of its value (``bits`` <= 32)."""
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in 1..32, got {bits}")
    if factory is None:

        def factory(n_bins: int) -> HashFunction:
            return hashing.make_hash_function(name, n_bins)

    wide = factory(2**bits)
    return Contender(
        name=name,
        digest=lambda words: _values_to_bytes(wide.hash_many(words), 4),
        bits=bits,
        space=2**bits,
        bins=lambda words, n_bins: factory(n_bins).hash_many(words),
        max_reps=max_reps,
        source=f"hash_many with n_bins = 2**{bits}",
    )


def instance_contender(h: HashFunction, name: str | None = None) -> Contender:
    """A ``HashFunction`` fixed to its own ``n_bins`` (e.g. a trained policy), tested on
    its bin index: ``ceil(log2(n_bins))`` bits."""
    bits = max(1, math.ceil(math.log2(h.n_bins)))
    n_bytes = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8

    def bins(words: list[str], n_bins: int) -> np.ndarray:
        if n_bins != h.n_bins:
            raise ValueError(f"{h.name} has {h.n_bins} bins, not {n_bins}")
        return h.hash_many(words)

    return Contender(
        name=name or h.name,
        digest=lambda words: _values_to_bytes(h.hash_many(words), n_bytes),
        bits=bits,
        space=h.n_bins,
        bins=bins,
        n_bins=h.n_bins,
        source=f"bin index of {h.n_bins} bins",
    )


def _leading_u64_bins(digest: Digest) -> Bins:
    def bins(words: list[str], n_bins: int) -> np.ndarray:
        raw = digest(words)[:, :8]
        values = np.zeros(len(raw), dtype=np.uint64)
        for column in raw.T:
            values = (values << np.uint64(8)) | column
        return (values % np.uint64(n_bins)).astype(np.int64)

    return bins


def digest_contender(
    name: str, digest: Digest, n_bytes: int, bins: Bins | None = None, **kwargs: Any
) -> Contender:
    """A digest function of ``n_bytes`` bytes; unless ``bins`` is given, a word's bin is
    its leading 8 bytes, read big-endian, mod ``n_bins``."""
    return Contender(
        name=name,
        digest=digest,
        bits=8 * n_bytes,
        space=2 ** (8 * n_bytes),
        bins=bins or _leading_u64_bins(digest),
        **kwargs,
    )


def sha256_contender() -> Contender:
    """SHA-256 of the UTF-8 bytes: the cryptographic reference."""

    def digest(words: list[str]) -> np.ndarray:
        raw = b"".join(hashlib.sha256(w.encode("utf-8", "surrogatepass")).digest() for w in words)
        return np.frombuffer(raw, dtype=np.uint8).reshape(len(words), 32)

    return digest_contender("sha256", digest, 32, source="SHA-256 digest, 256 bits")


#: Keys per input bit for the weight hash: at ~30,000 hashes/s, SMHasher's 300,000
#: would take 11 minutes per avalanche test.
WEIGHT_HASH_REPS = 20_000


def weight_hash_contender(**config: Any) -> Contender:
    """The weight hash as the leaderboard sees it (:class:`~baselines.weight_hash.WeightHash`,
    xxh64 of the digest), at 32 bits like every registered contender."""
    from baselines.weight_hash import WeightHash

    return hash_function_contender(
        WeightHash.name,
        lambda n_bins: WeightHash(n_bins, **config),
        max_reps=WEIGHT_HASH_REPS,
    )


def weight_digest_contender(**config: Any) -> Contender:
    """The weight hash's raw digest -- its 36 rounded weights, 2304 bits -- with the
    leaderboard contender's bins (:class:`~baselines.weight_hash.WeightHash`)."""
    from baselines.weight_hash import WeightHash, WeightHashConfig, weight_hash_many

    settings = WeightHashConfig(**config)
    n_bytes = settings.width**2 * 8

    def digest(words: list[str]) -> np.ndarray:
        raw = bytes.fromhex("".join(weight_hash_many(words, settings)))
        return np.frombuffer(raw, dtype=np.uint8).reshape(len(words), n_bytes)

    return digest_contender(
        f"{WeightHash.name}-digest",
        digest,
        n_bytes,
        bins=lambda words, n_bins: WeightHash(n_bins, **config).hash_many(words),
        max_reps=WEIGHT_HASH_REPS,
        source=f"rounded weights, {8 * n_bytes} bits",
    )


#: Contenders known by name without the registry: the weight hash (bins and raw digest)
#: and the cryptographic reference.
BUILTIN: dict[str, Callable[[], Contender]] = {
    "weight-hash": weight_hash_contender,
    "weight-hash-digest": weight_digest_contender,
    "sha256": sha256_contender,
}


def contender_for(target: str) -> Contender:
    """A contender from a name or a path: a :data:`BUILTIN` name, a registered hash name
    (at 32 bits), or a trained hash artifact such as ``hash.onnx`` (loaded by
    :func:`hash_envs.hashing.load_artifact`, tested on its own bins)."""
    if target in BUILTIN:
        return BUILTIN[target]()
    if target in hashing.registered_hash_functions():
        return hash_function_contender(target)
    if Path(target).suffix:
        return instance_contender(hashing.load_artifact(target), name=Path(target).name)
    known = ", ".join(sorted({*hashing.registered_hash_functions(), *BUILTIN}))
    raise ValueError(f"{target!r} is neither a known hash ({known}) nor an artifact file")


def default_targets() -> list[str]:
    """Every registered contender, then the weight hash and SHA-256."""
    return [n for n in hashing.registered_hash_functions() if n not in BUILTIN] + list(BUILTIN)


# ----------------------------------------------------------------------------- keysets


def sparse_keys(length: int = 32, max_marks: int = 5) -> list[str]:
    """Every string of ``length`` ``"a"``s with at most ``max_marks`` of them turned into
    ``"b"``: sum of C(length, k) for k <= max_marks keys (242,825 for 32 and 5)."""
    keys = []
    for k in range(max_marks + 1):
        for positions in itertools.combinations(range(length), k):
            chars = ["a"] * length
            for p in positions:
                chars[p] = "b"
            keys.append("".join(chars))
    return keys


def two_char_keys() -> list[str]:
    """Every string of one or two characters from U+0001..U+00FF (65,280 keys)."""
    chars = [chr(c) for c in range(1, 256)]
    return chars + [a + b for a in chars for b in chars]


TEXT_ALPHABET = string.ascii_letters + string.digits
TEXT_VARIANTS = (("Foo", "Bar"), ("FooBar", ""), ("", "FooBar"))


def text_keys(prefix: str, suffix: str, core: int = 3, alphabet: str = TEXT_ALPHABET) -> list[str]:
    """``prefix + c + suffix`` for every ``core``-character string ``c`` over ``alphabet``
    (SMHasher's TextKeyTest: ``FooXXXBar``, ``FooBarXXX``, ``XXXFooBar``; 62**3 keys)."""
    return [prefix + "".join(c) + suffix for c in itertools.product(alphabet, repeat=core)]


def permutation_keys(n_blocks: int = 8, block_length: int = 4) -> list[str]:
    """Every ordering of ``n_blocks`` distinct blocks of ``block_length`` letters
    (``n_blocks!`` keys); block ``k`` is letters ``k * block_length ...`` cycling a..z."""
    letters = string.ascii_lowercase
    blocks = [
        "".join(letters[(k * block_length + i) % 26] for i in range(block_length))
        for k in range(n_blocks)
    ]
    return ["".join(p) for p in itertools.permutations(blocks)]


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class QualityConfig:
    """Sample sizes of one quality run; :meth:`quick` is a seconds-long smoke run."""

    key_chars: int = 8
    reps: int = 300_000  # keys per input bit (SMHasher: 300,000)
    bic_bits: int = 64
    sparse_length: int = 32
    sparse_marks: int = 5
    text_core: int = 3
    perm_blocks: int = 8
    perm_block_lengths: tuple[int, ...] = (4, 6)
    chi2_bins: int = 2**16
    alpha: float = 1e-3
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> QualityConfig:
        sizes = {"reps": 2_000, "sparse_length": 16, "sparse_marks": 3, "text_core": 2}
        return cls(**{**sizes, "perm_blocks": 6, "chi2_bins": 1024, **overrides})


@dataclass
class TestResult:
    """One test of one contender: the measured ``value`` against ``threshold``."""

    value: float | None
    threshold: float | None
    passed: bool
    kind: str  # "bias", "collisions", "distinct", "p", or "n/a" (the hash cannot serve it)
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, error: Exception) -> TestResult:
        return cls(None, None, False, "n/a", {"error": str(error)})

    def cell(self) -> str:
        if self.kind == "n/a":
            return "n/a"
        mark = "✓" if self.passed else "✗"
        if self.kind == "bias":
            return f"{100 * self.value:.2f}% {mark}"
        if self.kind == "p":
            return f"{self.value:.3f} {mark}"
        if self.kind == "distinct":
            return f"{self.detail['distinct']:,} {mark}"
        expected = self.detail["expected"]
        shown = f"{expected:,.0f}" if expected >= 100 else f"{expected:.2g}"
        return f"{self.value:,.0f} / {shown} {mark}"


def _z(alpha: float, cells: int) -> float:
    """Two-sided normal quantile for a family-wise ``alpha`` over ``cells`` cells."""
    return float(stats.norm.isf(alpha / (2 * cells)))


def _bias_result(bias: np.ndarray, reps: int, floor: float, sd: float, alpha: float) -> TestResult:
    threshold = max(floor, _z(alpha, bias.size) * sd)
    worst = float(bias.max())
    at = np.unravel_index(int(bias.argmax()), bias.shape)
    return TestResult(
        worst,
        threshold,
        worst <= threshold,
        "bias",
        {"reps": reps, "cells": int(bias.size), "worst_at": [int(i) for i in at]},
    )


def _flip_result(flips: np.ndarray, reps: int, alpha: float) -> TestResult:
    """Avalanche verdict from flip counts: each output bit should flip half the time."""
    result = _bias_result(np.abs(2 * flips / reps - 1), reps, 0.01, 1 / math.sqrt(reps), alpha)
    result.detail["mean_flip"] = float(flips.mean() / reps)
    return result


def _bits(contender: Contender, words: list[str]) -> np.ndarray:
    """``(n, bits)`` output bits, 0/1 ``uint8``."""
    return np.unpackbits(contender.digest(words), axis=1)[:, -contender.bits :]


def _strings(keys: np.ndarray) -> list[str]:
    """Rows of a ``uint8`` matrix (code points < 256) as strings."""
    length = keys.shape[-1]
    text = keys.tobytes().decode("latin-1")
    return [text[i : i + length] for i in range(0, len(text), length)]


def _chunks(reps: int, per_key: int) -> Iterator[int]:
    """Key-batch sizes summing to ``reps``, each using at most ~16 MiB of flip bits."""
    size = max(1, (1 << 24) // per_key)
    for start in range(0, reps, size):
        yield min(size, reps - start)


def _reps(contender: Contender, config: QualityConfig) -> int:
    return min(config.reps, contender.max_reps or config.reps)


def _random_keys(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    return rng.integers(ord("a"), ord("z") + 1, size=(n, length), dtype=np.uint8)


def avalanche_and_bic(contender: Contender, config: QualityConfig) -> tuple[TestResult, TestResult]:
    """Flip each input bit of random keys; the avalanche and BIC results of the flips.

    One pass serves both: the avalanche counts flips per (input bit, output bit), the
    BIC counts joint flips of output-bit pairs per input bit.
    """
    reps = _reps(contender, config)
    rng = np.random.default_rng(config.seed)
    length, out_bits = config.key_chars, contender.bits
    in_bits = 8 * length
    masks = np.zeros((in_bits, length), dtype=np.uint8)
    masks[np.arange(in_bits), np.arange(in_bits) // 8] = 1 << (np.arange(in_bits) % 8)
    pick = np.unique(np.linspace(0, out_bits - 1, min(config.bic_bits, out_bits)).astype(int))
    flips = np.zeros((in_bits, out_bits), dtype=np.int64)
    joint = np.zeros((in_bits, pick.size, pick.size), dtype=np.int64)
    for n in _chunks(reps, in_bits * out_bits):
        keys = _random_keys(rng, n, length)
        flipped = keys[:, None, :] ^ masks  # (n, in_bits, length)
        base = _bits(contender, _strings(keys))
        moved = _bits(contender, _strings(flipped)).reshape(n, in_bits, out_bits)
        moved ^= base[:, None, :]
        flips += moved.sum(axis=0, dtype=np.int64)
        for k in range(in_bits):  # float32 BLAS counts exactly up to 2**24 keys a chunk
            chosen = moved[:, k, pick].astype(np.float32)
            joint[k] += np.rint(chosen.T @ chosen).astype(np.int64)
    avalanche = _flip_result(flips, reps, config.alpha)

    ones = np.diagonal(joint, axis1=1, axis2=2)  # flips of each chosen bit, per input bit
    a, b = np.triu_indices(pick.size, k=1)
    n11 = joint[:, a, b]
    n10, n01 = ones[:, a] - n11, ones[:, b] - n11
    n00 = reps - n11 - n10 - n01
    cells = np.stack([n00, n01, n10, n11])
    bic = _bias_result(np.abs(4 * cells / reps - 1), reps, 0.05, math.sqrt(3 / reps), config.alpha)
    bic.detail["output_bits"] = int(pick.size)
    return avalanche, bic


def substitution(contender: Contender, config: QualityConfig) -> TestResult:
    """Replace one character of random keys by a different random letter; each output
    bit must flip with probability 1/2 (bias per position and output bit)."""
    reps = _reps(contender, config)
    rng = np.random.default_rng([config.seed, 1])
    length, out_bits = config.key_chars, contender.bits
    flips = np.zeros((length, out_bits), dtype=np.int64)
    for n in _chunks(reps, length * out_bits):
        keys = _random_keys(rng, n, length)
        changed = np.repeat(keys[:, None, :], length, axis=1)  # (n, position, length)
        shift = rng.integers(1, 26, size=(n, length), dtype=np.uint8)
        diagonal = changed[:, np.arange(length), np.arange(length)]
        changed[:, np.arange(length), np.arange(length)] = (diagonal - 97 + shift) % 26 + 97
        base = _bits(contender, _strings(keys))
        moved = _bits(contender, _strings(changed)).reshape(n, length, out_bits)
        flips += (moved ^ base[:, None, :]).sum(axis=0, dtype=np.int64)
    return _flip_result(flips, reps, config.alpha)


def _distinct(digests: np.ndarray) -> int:
    rows = np.ascontiguousarray(digests).view(np.dtype((np.void, digests.shape[1])))
    return int(np.unique(rows).size)


def keyset_collisions(contender: Contender, keys: Sequence[str], alpha: float = 1e-3) -> TestResult:
    """Collisions of the full output over ``keys`` against a random function's."""
    keys = list(keys)
    distinct = _distinct(contender.digest(keys))  # padding bits above the output are 0
    observed = len(keys) - distinct
    expected = metrics.expected_collisions(len(keys), contender.space)
    p = float(stats.poisson.sf(observed - 1, expected)) if observed else 1.0
    passed = not (observed > 2 * expected and p < alpha)
    detail = {"keys": len(keys), "distinct": distinct, "expected": expected, "p": p}
    return TestResult(observed, 2 * expected, passed, "collisions", detail)


def distinct_digests(contender: Contender, words: Sequence[str], alpha: float = 1e-3) -> TestResult:
    """:func:`keyset_collisions` over a corpus, reported as its distinct-digest count."""
    result = keyset_collisions(contender, words, alpha)
    result.kind = "distinct"
    return result


def chi_square_test(
    contender: Contender, words: Sequence[str], n_bins: int, alpha: float = 1e-3
) -> TestResult:
    """Chi-squared of the corpus words' bin loads against uniform; fails below ``alpha``."""
    n_bins = contender.n_bins or n_bins
    bins = contender.bins(list(words), n_bins)
    statistic, p = metrics.chi_square(bins, n_bins)
    detail = {"bins": n_bins, "chi2": statistic, "max_load": metrics.max_load(bins, n_bins)}
    return TestResult(p, alpha, p >= alpha, "p", detail)


# ----------------------------------------------------------------------------- reports

#: Column order of the table: test key -> column title.
TESTS = {
    "avalanche": "avalanche (bit flip)",
    "substitution": "SAC (char substitution)",
    "bic": "BIC",
    "sparse": "sparse",
    "two-char": "two-char",
    "text": "text prefix/suffix",
    "perm-4": "perm 4-char blocks",
    "perm-6": "perm 6-char blocks",
    "chi2": "χ² p",
    "distinct": "distinct (corpus)",
}


@dataclass
class QualityReport:
    """Every test of one contender."""

    name: str
    bits: int
    source: str
    reps: int
    results: dict[str, TestResult]
    seconds: float

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results.values())

    @property
    def tested(self) -> int:
        """Tests the contender could serve (the rest are n/a)."""
        return sum(r.kind != "n/a" for r in self.results.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "tested": self.tested}


def _sum_results(parts: list[TestResult]) -> TestResult:
    """Keyset variants as one cell: summed counts, failing if any variant fails."""
    for part in parts:
        if part.kind == "n/a":
            return part
    expected = sum(r.detail["expected"] for r in parts)
    return TestResult(
        sum(r.value for r in parts),
        2 * expected,
        all(r.passed for r in parts),
        "collisions",
        {"expected": expected, "variants": [r.detail | {"observed": r.value} for r in parts]},
    )


def run_quality(
    contender: Contender,
    words: Sequence[str],
    config: QualityConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> QualityReport:
    """All tests for one contender; ``words`` is the corpus for ``chi2`` and ``distinct``."""
    config = config or QualityConfig()
    start = time.perf_counter()
    results: dict[str, TestResult] = {}

    def step(name: str) -> None:
        if progress:
            progress(f"{contender.name}: {name}")

    def attempt(test: Callable[[], TestResult]) -> TestResult:
        try:
            return test()
        except ValueError as err:  # e.g. a trained policy refusing words longer than its input
            return TestResult.unavailable(err)

    step("avalanche + BIC")
    try:
        results["avalanche"], results["bic"] = avalanche_and_bic(contender, config)
    except ValueError as err:
        results["avalanche"] = results["bic"] = TestResult.unavailable(err)
    step("substitution")
    results["substitution"] = attempt(lambda: substitution(contender, config))
    step("keysets")

    def keyset(keys: list[str]) -> TestResult:
        return attempt(lambda: keyset_collisions(contender, keys, config.alpha))

    results["sparse"] = keyset(sparse_keys(config.sparse_length, config.sparse_marks))
    results["two-char"] = keyset(two_char_keys())
    results["text"] = _sum_results(
        [keyset(text_keys(p, s, config.text_core)) for p, s in TEXT_VARIANTS]
    )
    for block in config.perm_block_lengths:
        results[f"perm-{block}"] = keyset(permutation_keys(config.perm_blocks, block))
    step("corpus")
    results["chi2"] = attempt(
        lambda: chi_square_test(contender, words, config.chi2_bins, config.alpha)
    )
    results["distinct"] = attempt(lambda: distinct_digests(contender, words, config.alpha))
    order = {key: results[key] for key in TESTS if key in results}
    elapsed = time.perf_counter() - start
    return QualityReport(
        contender.name, contender.bits, contender.source, _reps(contender, config), order, elapsed
    )


def to_markdown(reports: Sequence[QualityReport], config: QualityConfig, corpus: str = "") -> str:
    """The pass/fail table: one row per contender, the measured value in each cell."""
    keys = [k for k in TESTS if any(k in r.results for r in reports)]
    header = ["hash", "bits", "keys/bit"] + [TESTS[k] for k in keys] + ["passed"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for report in reports:
        cells = [report.name, str(report.bits), f"{report.reps:,}"]
        cells += [report.results[k].cell() if k in report.results else "" for k in keys]
        cells.append(f"{report.passed}/{report.tested}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _legend(reports, config, corpus)]
    return "\n".join(lines) + "\n"


def _legend(reports: Sequence[QualityReport], config: QualityConfig, corpus: str) -> str:
    def used(test: str) -> str:
        results = [r.results[test] for r in reports if r.results[test].kind == "bias"]
        return ", ".join(sorted({f"{100 * r.threshold:.2f}%" for r in results})) or "n/a"

    return (
        f"Bias cells: worst |2p−1| (avalanche, SAC) or worst |4n/reps−1| (BIC) over random "
        f"{config.key_chars}-letter keys; thresholds used: avalanche {used('avalanche')}, "
        f"SAC {used('substitution')}, BIC {used('bic')} (SMHasher: 1% / 5%, widened only "
        f"where keys/bit are too few to resolve them). Collision cells: observed / expected "
        f"for a random function of that many bits. sparse: {config.sparse_length} chars, "
        f"≤ {config.sparse_marks} marks; text: 3 variants × 62^{config.text_core} keys; perm: "
        f"{config.perm_blocks}! orderings of {config.perm_blocks} blocks. χ² over "
        f"{config.chi2_bins:,} bins and distinct digests on the corpus"
        f"{f' ({corpus})' if corpus else ''}. ✓ pass, ✗ fail at alpha = {config.alpha:g}; "
        "n/a: the hash cannot take those keys."
    )
