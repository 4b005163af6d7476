"""Collision metrics: one definition of "how good is this word -> bin map", used everywhere.

``collisions`` is words minus occupied bins: the number of words that landed in a bin
already holding a word. A uniformly random function sending ``n`` words to ``m`` bins
makes :func:`expected_collisions` ``= n - m (1 - (1 - 1/m)^n)`` on average (367.70 for
1000 words into 1000 bins) with standard deviation :func:`collisions_sd`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "bin_loads",
    "chi_square",
    "collisions",
    "collisions_per_row",
    "collisions_sd",
    "expected_collisions",
    "load_histogram",
    "max_load",
    "summarize",
]


def _as_bins(bins: Any, n_bins: int) -> np.ndarray:
    arr = np.asarray(bins, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"bins must be one-dimensional, got shape {arr.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_bins):
        raise ValueError(f"bins must lie in 0..{n_bins - 1}")
    return arr


def bin_loads(bins: Any, n_bins: int) -> np.ndarray:
    """Words per bin, length ``n_bins``."""
    return np.bincount(_as_bins(bins, n_bins), minlength=n_bins)


def collisions(bins: Any, n_bins: int) -> int:
    """Words that share a bin with an earlier word: ``len(bins) - occupied bins``."""
    loads = bin_loads(bins, n_bins)
    return int(loads.sum() - np.count_nonzero(loads))


def collisions_per_row(bins: np.ndarray) -> np.ndarray:
    """Collisions of each row of a ``(draws, words)`` bin matrix, vectorised."""
    ordered = np.sort(np.asarray(bins), axis=1)
    return np.count_nonzero(ordered[:, 1:] == ordered[:, :-1], axis=1)


def max_load(bins: Any, n_bins: int) -> int:
    """Most words in any one bin."""
    loads = bin_loads(bins, n_bins)
    return int(loads.max()) if loads.size else 0


def load_histogram(bins: Any, n_bins: int) -> np.ndarray:
    """``hist[k]`` = number of bins holding exactly ``k`` words."""
    return np.bincount(bin_loads(bins, n_bins))


def chi_square(bins: Any, n_bins: int) -> tuple[float, float]:
    """Pearson's chi-squared of the bin loads against uniform, and its p-value."""
    loads = bin_loads(bins, n_bins).astype(np.float64)
    expected = loads.sum() / n_bins
    if expected == 0 or n_bins == 1:
        return 0.0, 1.0
    statistic = float(((loads - expected) ** 2).sum() / expected)
    return statistic, float(stats.chi2.sf(statistic, df=n_bins - 1))


def _p_empty(n: int, m: int, k: int) -> float:
    """Probability that ``k`` given bins all stay empty after ``n`` uniform throws."""
    return math.exp(n * math.log1p(-k / m)) if k < m else 0.0


def expected_collisions(n_words: int, n_bins: int) -> float:
    """Mean collisions of a uniformly random function: ``n - m (1 - (1 - 1/m)^n)``.

    When keys are far fewer than bins (e.g. 720 keys into 2^32 outputs, or digests of
    thousands of bits) that difference cancels almost completely, so there it is summed
    as the alternating series ``sum_k (-1)^k C(n, k) / m^(k-1)``, k >= 2, whose terms
    shrink by a factor of at most ``n / m``.
    """
    n, m = int(n_words), int(n_bins)
    if n < 2:
        return 0.0
    if m == 1:
        return float(n - 1)
    if 1000 * n >= m:
        return n + m * math.expm1(n * math.log1p(-1.0 / m))
    total, term, k = 0.0, n * (n - 1) / (2 * m), 2  # term = C(n, k) / m^(k-1)
    while term > total * 1e-17 and k <= n:
        total += term if k % 2 == 0 else -term
        term *= (n - k) / ((k + 1) * m)
        k += 1
    return total


def collisions_sd(n_words: int, n_bins: int) -> float:
    """Standard deviation of the collisions of a uniformly random function.

    Collisions = n - m + (empty bins), so its variance is that of the empty-bin count:
    ``m p1 + m (m - 1) p2 - (m p1)^2`` with ``p1 = (1-1/m)^n``, ``p2 = (1-2/m)^n``.
    """
    n, m = int(n_words), int(n_bins)
    p1, p2 = _p_empty(n, m, 1), _p_empty(n, m, 2)
    return math.sqrt(max(m * p1 + m * (m - 1) * p2 - (m * p1) ** 2, 0.0))


def summarize(bins: Any, n_bins: int) -> dict[str, Any]:
    """Every metric of one word -> bin assignment, as a JSON-friendly dict."""
    loads = bin_loads(bins, n_bins)
    n = int(loads.sum())
    chi2, p_value = chi_square(bins, n_bins)
    return {
        "words": n,
        "bins": n_bins,
        "collisions": n - int(np.count_nonzero(loads)),
        "expected_collisions": expected_collisions(n, n_bins),
        "occupied_bins": int(np.count_nonzero(loads)),
        "max_load": int(loads.max()) if loads.size else 0,
        "chi2": chi2,
        "chi2_p": p_value,
        "load_histogram": np.bincount(loads).tolist(),
    }
