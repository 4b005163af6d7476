"""Tests for the SMHasher-style quality harness (``baselines.quality``) and its CLI."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterable, Sequence
from math import comb
from pathlib import Path

import numpy as np
import pytest

from baselines import quality
from baselines.classical import FACTORIES, XXH64
from baselines.cli import add_quality_parser
from hash_envs import metrics
from hash_envs.hashing import HashFunction

QUICK = quality.QualityConfig.quick()


class FirstChar(HashFunction):
    """Known bad: looks only at the first character."""

    name = "first-char"
    size_bytes = 0

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return np.array([ord(w[0]) % self.n_bins for w in words], dtype=np.int64)


class Length(HashFunction):
    """Known bad: ``len(word) % n_bins``."""

    name = "length"
    size_bytes = 0

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return np.array([len(w) % self.n_bins for w in words], dtype=np.int64)


class SortedChars(HashFunction):
    """Known bad in one way only: xxh64 of the sorted characters ignores their order."""

    name = "sorted-chars"
    size_bytes = 8

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return XXH64(self.n_bins).hash_many(["".join(sorted(w)) for w in words])


def _contender(name: str) -> quality.Contender:
    bad = {"first-char": FirstChar, "length": Length, "sorted-chars": SortedChars}
    return quality.hash_function_contender(name, bad.get(name) or FACTORIES[name])


# ----------------------------------------------------------------------------- keysets


def test_sparse_keys_are_the_documented_set() -> None:
    assert quality.sparse_keys(4, 1) == ["aaaa", "baaa", "abaa", "aaba", "aaab"]
    keys = quality.sparse_keys(10, 3)
    assert len(keys) == len(set(keys)) == sum(comb(10, k) for k in range(4))
    assert all(len(k) == 10 and set(k) <= {"a", "b"} and k.count("b") <= 3 for k in keys)
    assert len(quality.sparse_keys()) == 242_825


def test_two_char_keys_are_the_documented_set() -> None:
    keys = quality.two_char_keys()
    assert len(keys) == len(set(keys)) == 255 + 255**2 == 65_280
    assert all(1 <= len(k) <= 2 and "\0" not in k and max(k) <= "\xff" for k in keys)


def test_text_keys_are_the_documented_set() -> None:
    keys = quality.text_keys("Foo", "Bar", core=2)
    assert len(keys) == len(set(keys)) == 62**2
    assert keys[0] == "FooaaBar" and keys[-1] == "Foo99Bar"
    assert all(k.startswith("Foo") and k.endswith("Bar") and len(k) == 8 for k in keys)
    assert [p + s for p, s in quality.TEXT_VARIANTS] == ["FooBar"] * 3


def test_permutation_keys_are_the_documented_set() -> None:
    keys = quality.permutation_keys(3, 2)
    expected = ["".join(p) for p in itertools.permutations(["ab", "cd", "ef"])]
    assert keys == expected
    assert len(set(quality.permutation_keys(8, 6))) == 40_320
    assert quality.permutation_keys(5, 6)[0] == "abcdefghijklmnopqrstuvwxyzabcd"


# ----------------------------------------------------------------------------- tests


def test_a_good_hash_passes_avalanche_bic_and_substitution() -> None:
    xxh64 = _contender("xxh64")
    avalanche, bic = quality.avalanche_and_bic(xxh64, QUICK)
    assert avalanche.passed and bic.passed
    assert abs(avalanche.detail["mean_flip"] - 0.5) < 0.01
    assert avalanche.detail["cells"] == 64 * 32 and avalanche.detail["reps"] == QUICK.reps
    assert quality.substitution(xxh64, QUICK).passed
    assert quality.avalanche_and_bic(quality.sha256_contender(), QUICK)[0].passed


@pytest.mark.parametrize("name", ["first-char", "length", "fnv1a"])
def test_known_bad_hashes_fail_avalanche(name: str) -> None:
    # FNV-1a's lowest output bit is the lowest bit of the last byte: flipping that input
    # bit always flips it, as SMHasher reports.
    avalanche, bic = quality.avalanche_and_bic(_contender(name), QUICK)
    assert not avalanche.passed and avalanche.value == 1.0
    assert not bic.passed


def test_ignoring_one_character_fails_substitution() -> None:
    assert not quality.substitution(_contender("first-char"), QUICK).passed


def test_thresholds_are_smhashers_when_the_sample_resolves_them() -> None:
    full = quality._bias_result(np.zeros((64, 32)), 300_000, 0.01, 1 / 300_000**0.5, 1e-3)
    small = quality._bias_result(np.zeros((64, 32)), 2_000, 0.01, 1 / 2_000**0.5, 1e-3)
    assert full.threshold == 0.01
    assert 0.05 < small.threshold < 0.2  # the noise floor of 2,000 keys


def test_keyset_collisions_against_a_random_function() -> None:
    keys = quality.permutation_keys(6, 4)
    good = quality.keyset_collisions(_contender("xxh64"), keys)
    assert good.passed and good.detail["expected"] == pytest.approx(
        720 * 719 / 2**33 - 720 * 719 * 718 / 6 / 2**64, rel=1e-9
    )
    bad = quality.keyset_collisions(_contender("sorted-chars"), keys)
    assert not bad.passed and bad.value == 719  # every ordering is the same multiset
    assert quality.keyset_collisions(_contender("sorted-chars"), quality.sparse_keys(8, 0)).passed


def test_one_collision_at_a_tiny_expectation_is_not_a_failure() -> None:
    result = quality.keyset_collisions(_contender("crc32"), quality.two_char_keys())
    assert result.detail["expected"] < 1 and result.passed


def test_chi_square_and_distinct_digests(words: list[str]) -> None:
    assert quality.chi_square_test(_contender("xxh64"), words, 64).passed
    assert not quality.chi_square_test(_contender("length"), words, 64).passed
    distinct = quality.distinct_digests(_contender("first-char"), words)
    assert not distinct.passed and distinct.detail["distinct"] == len({w[0] for w in words})
    assert quality.distinct_digests(quality.sha256_contender(), words).detail["distinct"] == len(
        words
    )


def test_fixed_size_hash_instances_are_tested_on_their_bin_index(words: list[str]) -> None:
    c = quality.instance_contender(XXH64(1000, seed=3))
    assert (c.bits, c.space, c.n_bins) == (10, 1000, 1000)
    bits = np.unpackbits(c.digest(words), axis=1)[:, -10:]
    values = bits @ (1 << np.arange(9, -1, -1))
    assert values.tolist() == XXH64(1000, seed=3).hash_many(words).tolist()
    chi2 = quality.chi_square_test(c, words, n_bins=64)
    assert chi2.detail["bins"] == 1000
    expected = quality.keyset_collisions(c, words).detail["expected"]
    assert expected == pytest.approx(metrics.expected_collisions(len(words), 1000))


def test_the_weight_hash_digest_fails_on_permuted_rows() -> None:
    c = quality.weight_digest_contender()
    assert c.bits == 2304 and c.max_reps == quality.WEIGHT_HASH_REPS
    result = quality.keyset_collisions(c, quality.permutation_keys(5, 6))
    assert not result.passed and result.value == 119  # 5! orderings, one digest


def test_run_quality_and_the_table(words: list[str]) -> None:
    config = quality.QualityConfig.quick(reps=500, perm_block_lengths=(4,))
    reports = [quality.run_quality(_contender(n), words, config) for n in ("xxh64", "length")]
    assert list(reports[0].results) == [k for k in quality.TESTS if k != "perm-6"]
    assert reports[0].passed == len(reports[0].results)
    assert reports[1].passed < reports[0].passed
    table = quality.to_markdown(reports, config)
    lines = table.splitlines()
    assert lines[0].startswith("| hash | bits | keys/bit | avalanche")
    assert lines[2].startswith("| xxh64 | 32 | 500 |") and "✗" in lines[3]
    json.dumps(reports[0].to_dict())


@pytest.fixture(scope="module")
def policy_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) PolicyHash exported as the ONNX artifact ``hash-envs train`` writes."""
    pytest.importorskip("onnxruntime")
    import gymnasium as gym

    from agents import PG, PolicyHash

    pool = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    env = gym.make(
        "hash_envs/StatelessHash-v0", corpus=pool, n_words=8, n_bins=64, pool_size=8, max_len=40
    )
    path = tmp_path_factory.mktemp("artifact") / "hash.onnx"
    return PolicyHash(PG("MlpPolicy", env, n_steps=8, seed=0)).export_onnx(path)


def test_contender_for_resolves_names_and_artifacts(policy_artifact: Path, tmp_path) -> None:
    assert quality.contender_for("xxh64").bits == 32
    assert quality.contender_for("sha256").bits == 256
    assert quality.contender_for("weight-hash").max_reps == quality.WEIGHT_HASH_REPS
    policy = quality.contender_for(str(policy_artifact))
    assert (policy.name, policy.bits, policy.space, policy.n_bins) == ("hash.onnx", 6, 64, 64)
    with pytest.raises(ValueError, match="no loader"):
        quality.contender_for(str(tmp_path / "policy.pkl"))
    with pytest.raises(ValueError, match="does not exist"):
        quality.contender_for(str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="neither"):
        quality.contender_for("no-such-hash")
    targets = quality.default_targets()
    assert set(FACTORIES) <= set(targets) and targets[-3:] == list(quality.BUILTIN)


class ShortWordsOnly(HashFunction):
    """Like a trained policy, refuses words longer than its input (12 characters)."""

    name = "short-only"
    size_bytes = 8

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        words = list(words)
        if max(map(len, words)) > 12:
            raise ValueError("a word is longer than max_len=12")
        return XXH64(self.n_bins).hash_many(words)


def test_tests_a_hash_cannot_serve_are_not_applicable(words: list[str]) -> None:
    config = quality.QualityConfig.quick(reps=300)
    report = quality.run_quality(quality.instance_contender(ShortWordsOnly(256)), words, config)
    unavailable = {k for k, r in report.results.items() if r.kind == "n/a"}
    assert unavailable == {"sparse", "perm-4", "perm-6"}  # 16, 24 and 36 characters
    assert report.tested == len(report.results) - 3 and report.passed == report.tested
    row = quality.to_markdown([report], config).splitlines()[2]
    assert row.count("| n/a ") == 3 and row.endswith(f"| {report.passed}/{report.tested} |")


def test_quality_command(policy_artifact: Path, tmp_path, capsys) -> None:
    corpus = tmp_path / "words.txt"
    corpus.write_text("\n".join(f"word{i}" for i in range(300)))
    parser = argparse.ArgumentParser()
    add_quality_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["quality", "xxh64", str(policy_artifact), "--quick", "--reps", "300"]
        + ["--corpus", str(corpus), "--out", str(tmp_path / "out"), "--no-progress"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "| xxh64 | 32 | 300 |" in out and "| hash.onnx | 6 | 300 |" in out
    saved = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert [r["name"] for r in saved["results"]] == ["xxh64", "hash.onnx"]
    assert (tmp_path / "out" / "quality.md").read_text().startswith("| hash |")
