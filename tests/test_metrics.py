"""Tests for hash_envs.metrics on hand-made examples, exact enumeration and Monte Carlo."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from hash_envs import metrics
from hash_envs.metrics import (
    bin_loads,
    chi_square,
    collisions,
    collisions_per_row,
    collisions_sd,
    expected_collisions,
    load_histogram,
    max_load,
    summarize,
)

# 6 words into 5 bins: loads [2, 1, 0, 3, 0].
BINS = [3, 0, 1, 3, 0, 3]
N_BINS = 5


def test_hand_made_example() -> None:
    np.testing.assert_array_equal(bin_loads(BINS, N_BINS), [2, 1, 0, 3, 0])
    assert collisions(BINS, N_BINS) == 3  # 6 words, 3 occupied bins
    assert max_load(BINS, N_BINS) == 3
    np.testing.assert_array_equal(load_histogram(BINS, N_BINS), [2, 1, 1, 1])
    # Uniform expectation 6/5 = 1.2 per bin.
    statistic, p_value = chi_square(BINS, N_BINS)
    expected_stat = ((0.8**2) + (0.2**2) + (1.2**2) + (1.8**2) + (1.2**2)) / 1.2
    assert statistic == pytest.approx(expected_stat)
    assert p_value == pytest.approx(stats.chi2.sf(expected_stat, df=4))
    reference = stats.chisquare([2, 1, 0, 3, 0])
    assert statistic == pytest.approx(reference.statistic)
    assert p_value == pytest.approx(reference.pvalue)


def test_accepts_numpy_input_and_trailing_empty_bins() -> None:
    bins = np.array([0, 1, 2], dtype=np.uint8)
    np.testing.assert_array_equal(bin_loads(bins, 6), [1, 1, 1, 0, 0, 0])
    assert bin_loads(bins, 6).shape == (6,)
    assert collisions(bins, 6) == 0
    assert max_load(bins, 6) == 1
    np.testing.assert_array_equal(load_histogram(bins, 6), [3, 3])


def test_degenerate_cases() -> None:
    assert collisions([], 4) == 0
    assert max_load([], 4) == 0
    np.testing.assert_array_equal(bin_loads([], 4), [0, 0, 0, 0])
    np.testing.assert_array_equal(load_histogram([], 4), [4])
    assert chi_square([], 4) == (0.0, 1.0)
    assert chi_square([0, 0, 0], 1) == (0.0, 1.0)
    assert collisions([0, 0, 0], 1) == 2
    # Perfectly uniform loads: statistic 0, p-value 1.
    statistic, p_value = chi_square([0, 1, 2, 0, 1, 2], 3)
    assert statistic == 0.0 and p_value == pytest.approx(1.0)
    # All words in one of many bins: a tiny p-value.
    assert chi_square([0] * 100, 10)[1] < 1e-10


def test_summarize_agrees_with_the_single_metrics() -> None:
    summary = summarize(BINS, N_BINS)
    statistic, p_value = chi_square(BINS, N_BINS)
    assert summary == {
        "words": 6,
        "bins": 5,
        "collisions": 3,
        "expected_collisions": pytest.approx(expected_collisions(6, 5)),
        "occupied_bins": 3,
        "max_load": 3,
        "chi2": pytest.approx(statistic),
        "chi2_p": pytest.approx(p_value),
        "load_histogram": [2, 1, 1, 1],
    }
    json.loads(json.dumps(summary))  # JSON-friendly: plain Python numbers and lists


def test_expected_collisions_known_values() -> None:
    assert round(expected_collisions(1000, 1000), 2) == 367.70
    assert expected_collisions(1000, 1000) == pytest.approx(1000 * (1 - 1e-3) ** 1000)


def test_expected_collisions_keeps_precision_for_few_keys_in_many_bins() -> None:
    # birthday regime: C(n, 2) / m up to a relative O(n / m)
    exact = 720 * 719 / 2 / 2**32 - 720 * 719 * 718 / 6 / 2**64  # next term: ~1e-19
    assert expected_collisions(720, 2**32) == pytest.approx(exact, rel=1e-12, abs=0)
    assert expected_collisions(2, 2**64) == pytest.approx(2.0**-64, rel=1e-12, abs=0)
    assert expected_collisions(3, 2**2304) == 0.0  # below the smallest double, no overflow
    # both branches agree where they meet (n = m / 1000)
    assert expected_collisions(1000, 10**6) == pytest.approx(
        1000 + 10**6 * math.expm1(1000 * math.log1p(-1e-6)), rel=1e-9, abs=0
    )
    assert expected_collisions(999, 10**6) < expected_collisions(1000, 10**6)
    assert expected_collisions(5, 1) == 4.0
    assert expected_collisions(0, 10) == 0.0
    assert expected_collisions(0, 10) == 0.0
    assert expected_collisions(1, 10) == pytest.approx(0.0, abs=1e-12)
    assert expected_collisions(7, 1) == 6.0  # every word after the first collides
    assert expected_collisions(2, 2) == pytest.approx(0.5)
    # Formula n - m (1 - (1 - 1/m)^n) for a larger case.
    n, m = 466_551, 2**19
    assert expected_collisions(n, m) == pytest.approx(n - m * (1 - (1 - 1 / m) ** n), rel=1e-9)


@pytest.mark.parametrize(("n_words", "n_bins"), [(1, 3), (2, 2), (3, 3), (4, 3), (5, 4), (3, 6)])
def test_mean_and_sd_against_exact_enumeration(n_words: int, n_bins: int) -> None:
    """Every one of the n_bins ** n_words assignments, equally likely."""
    counts = [
        collisions(list(assignment), n_bins)
        for assignment in itertools.product(range(n_bins), repeat=n_words)
    ]
    assert expected_collisions(n_words, n_bins) == pytest.approx(np.mean(counts), abs=1e-12)
    assert collisions_sd(n_words, n_bins) == pytest.approx(np.std(counts), abs=1e-7)


def test_collisions_sd_edge_cases() -> None:
    assert collisions_sd(10, 1) == 0.0  # always 9 collisions
    assert collisions_sd(1, 50) == pytest.approx(0.0, abs=1e-6)  # never a collision
    assert collisions_sd(0, 50) == pytest.approx(0.0, abs=1e-6)
    assert collisions_sd(2, 2) == pytest.approx(0.5)


@pytest.mark.parametrize(("n_words", "n_bins"), [(1000, 1000), (300, 64), (50, 400)])
def test_mean_and_sd_against_monte_carlo(n_words: int, n_bins: int) -> None:
    draws = 4000
    rng = np.random.default_rng(12345)
    bins = rng.integers(0, n_bins, size=(draws, n_words))
    sample = collisions_per_row(bins)
    mean, sd = expected_collisions(n_words, n_bins), collisions_sd(n_words, n_bins)
    # Standard errors of the sample mean and of the sample SD (normal approximation);
    # 5 standard errors keeps the seeded test far from flaky and still sharp.
    se_mean = sd / math.sqrt(draws)
    se_sd = sd / math.sqrt(2 * (draws - 1))
    assert abs(sample.mean() - mean) < 5 * se_mean
    assert abs(sample.std(ddof=1) - sd) < 5 * se_sd + 1e-9
    # A wrong variance (e.g. the binomial n p (1-p) of "collides with an earlier word")
    # would not pass: the tolerance is a few percent of sd at most.
    assert 5 * se_sd < 0.06 * sd


def test_collisions_per_row_equals_a_loop() -> None:
    rng = np.random.default_rng(0)
    for n_bins, n_words in [(10, 15), (100, 30), (1, 4), (7, 1)]:
        bins = rng.integers(0, n_bins, size=(50, n_words))
        expected = [collisions(row, n_bins) for row in bins]
        got = collisions_per_row(bins)
        np.testing.assert_array_equal(got, expected)
        assert got.shape == (50,)
    # Does not sort the caller's array in place.
    bins = np.array([[3, 1, 3, 2]])
    collisions_per_row(bins)
    np.testing.assert_array_equal(bins, [[3, 1, 3, 2]])
    np.testing.assert_array_equal(collisions_per_row([[0, 0, 0], [1, 2, 3]]), [2, 0])


@pytest.mark.parametrize(
    "func", [bin_loads, collisions, max_load, load_histogram, chi_square, summarize]
)
def test_bad_inputs_raise(func) -> None:
    with pytest.raises(ValueError, match=r"bins must lie in 0\.\.4"):
        func([0, 5], 5)
    with pytest.raises(ValueError, match=r"bins must lie in 0\.\.4"):
        func([0, -1], 5)
    with pytest.raises(ValueError, match="n_bins must be >= 1, got 0"):
        func([0], 0)
    with pytest.raises(ValueError, match="n_bins must be >= 1"):
        func([], -2)
    with pytest.raises(ValueError, match=r"one-dimensional, got shape \(2, 2\)"):
        func([[0, 1], [1, 0]], 5)
    with pytest.raises(ValueError, match="one-dimensional"):
        func(3, 5)


def test_collisions_per_row_rejects_a_flat_array() -> None:
    with pytest.raises(ValueError):
        collisions_per_row(np.array([0, 1, 1]))


def test_public_names() -> None:
    for name in metrics.__all__:
        assert callable(getattr(metrics, name))
