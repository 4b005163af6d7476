"""The reward rules of the hash environments, vectorised over whole episodes.

One definition, used by the environments and by trainers that simulate many episodes
at once (a stateless policy's actions do not depend on the table, so a whole episode can
be sampled in one forward pass and scored here):

* ``"first_come"`` (the RL hash-function paper's rule, the default): placing a word
  earns ``reward_empty`` if its bin held no word yet in this episode, else
  ``reward_occupied``. Paid at each step.
* ``"shared_bin"``: a word earns ``reward_empty`` if it is *alone* in its bin at the end
  of the episode, else ``reward_occupied`` -- both words of a colliding pair are
  penalised, not just the later one. Under first-come, two words sharing a bin have zero
  expected advantage for moving (one of them is always "first"), which stalls learning a
  few collisions short of a perfect hash; this rule removes that stall. The environment
  pays the episode's sum at its last step (the words' outcomes are not known before).
"""

from __future__ import annotations

import numpy as np

__all__ = ["REWARD_MODES", "first_come_rewards", "shared_bin_rewards", "shared_bin_total"]

REWARD_MODES: tuple[str, ...] = ("first_come", "shared_bin")


def _loads(bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Per-episode bin loads of a ``(episodes, words)`` bin matrix."""
    episodes = bins.shape[0]
    cells = bins + n_bins * np.arange(episodes)[:, None]
    return np.bincount(cells.ravel(), minlength=episodes * n_bins).reshape(episodes, n_bins)


def first_come_rewards(
    bins: np.ndarray, n_bins: int, reward_empty: float = 10.0, reward_occupied: float = -10.0
) -> np.ndarray:
    """Per-step rewards of ``(episodes, words)`` bins placed left to right."""
    bins = np.asarray(bins, dtype=np.int64)
    order = np.argsort(bins, axis=1, kind="stable")  # equal bins keep placement order
    ranked = np.take_along_axis(bins, order, axis=1)
    first_in_sorted = np.ones_like(ranked, dtype=bool)
    first_in_sorted[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    first = np.empty_like(first_in_sorted)
    np.put_along_axis(first, order, first_in_sorted, axis=1)
    return np.where(first, reward_empty, reward_occupied)


def shared_bin_rewards(
    bins: np.ndarray, n_bins: int, reward_empty: float = 10.0, reward_occupied: float = -10.0
) -> np.ndarray:
    """Per-word rewards of ``(episodes, words)`` bins: alone in the end or not."""
    bins = np.asarray(bins, dtype=np.int64)
    load_of_word = np.take_along_axis(_loads(bins, n_bins), bins, axis=1)
    return np.where(load_of_word == 1, reward_empty, reward_occupied)


def shared_bin_total(
    loads: np.ndarray, reward_empty: float = 10.0, reward_occupied: float = -10.0
) -> np.ndarray:
    """Sum of :func:`shared_bin_rewards` from the final loads (last axis = bins)."""
    alone = np.count_nonzero(loads == 1, axis=-1)
    shared = loads.sum(axis=-1) - alone
    return alone * reward_empty + shared * reward_occupied
