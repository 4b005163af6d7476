"""Hash-and-displace Q-learning: a perfect hash learned from the table's rewards alone.

Why a decomposition. A policy that picks one of ``n`` bins per word has to learn ``n``
answers from rewards that are zero-sum between the words of a colliding pair; at
10,000 words that is hours of REINFORCE (issue 4, :class:`agents.EpisodePG`). Here the
choice is made per *bucket* of words instead, as in PTHash (Pibiri & Trani, SIGIR 2021):

* a fixed seeded hash sends each word to one of ``n_buckets`` buckets (about
  ``bucket_size`` words each on average) through PtrHash's skewed bucket function, so a
  few buckets are large and many small (PHOBIC, PtrHash);
* the action for a bucket is a *pilot* ``p``; every word ``w`` of the bucket then goes to
  slot ``reduce(h(w) XOR mix(p), n_slots)``, so one action moves all words of its bucket
  at once, each to its own pseudo-random slot;
* the learned function is the table of pilots: stateless (a word's bin depends on the
  word alone), stored in a few bits per word.

The environment. Episodes of ``hash_envs/StatelessHash-v0`` on the fixed pool
(``pool_size = n_words``, ``n_bins = n_slots``) with the paper's ``first_come`` reward
(+10 for an empty bin, -10 for an occupied one), the words shown in one fixed order --
:attr:`PilotQ.episode_order`, largest buckets first, PTHash's placement order -- through
the env's ``word_order`` argument. A bucket's reward is the sum of its words' rewards.
``n_slots = ceil(n_words / alpha)``: at ``alpha < 1`` the agent learns a perfect hash
into slightly more slots than words (PTHash/PtrHash use alpha = 0.99), and
:meth:`PilotQ.hash_function` makes it minimal by PTHash's remap: the words of the
``n_slots - n_bins`` last slots go to the free bins below ``n_bins``, a non-decreasing
table stored as Elias-Fano. The remap needs no reward and no learning; it lives in the
artifact, not in the env.

The agent. Tabular action values ``Q[bucket, pilot]``, optimistic initial values (just
below a bucket's best possible reward), the greedy policy, step size 1 (given the
others' policy the episode is deterministic, so one sample is the exact value). A pilot
whose words all land in free slots earns the maximum and stays greedy; any other return
drops its value below the initial one. Pilots are tried in increasing order, so the
table needs no storage: below a bucket's pilot every value is a known failure, above it
every value is still the initial one.

*Which* values are estimated when. Under first-come rewards a word's reward depends only
on the words before it in the episode order, so a bucket's values only mean something
once every earlier bucket's policy is fixed. The learner therefore estimates a bucket's
values only against a fixed prefix: it updates the buckets in *waves* along the episode
order (a wave holds buckets whose words fill at most ``wave_fraction`` of the
still-free slots; every bucket is still played in every greedy episode, those beyond the
waves with pilot 0), and within a wave each bucket learns against every earlier bucket's
final pilot. One learning step is one wave followed by one greedy episode; after it,
every word of the waves so far earns ``reward_empty``. (Issue 16's learner let the
buckets of a wave move at once and re-learn the ones that displaced each other; that
pushed pilots up and took more steps. Issue 34 made the prefix exact.)

Two engines compute the same values and so the same pilots (``tests/test_pilot_q.py``):

* the compiled kernel (:mod:`agents.common.pilots_kernel`, numba), which tries one
  pilot of one bucket at a time in wave order: this *is* PTHash's pilot search;
* a NumPy engine (no numba, or ``HASH_ENVS_NO_NUMBA=1``) that plays ``k`` exploratory
  episodes at once, like a vectorised env: in copy ``j`` every bucket of the wave plays
  its ``j``-th untried pilot against the settled prefix, then the buckets are accepted in
  order up to the first one that found no maximum-reward pilot or that shares a slot
  with an earlier accepted one; the others keep only what is certain (every pilot below
  their first maximum is a failure against any larger prefix) and try again.

What this is, honestly. In this deterministic setting the greedy optimistic learner's
exploration *is* PTHash's pilot search in PTHash's order, one candidate per exploratory
evaluation. The reinforcement-learning reading adds the guarantee that the learner sees
nothing but table rewards and acts through the environment's reward rule, not an
algorithmic novelty over PTHash/PtrHash/PHOBIC.

``tests/test_pilot_q.py`` checks every greedy episode against scoring the whole episode
with :func:`hash_envs.rewards.first_come_rewards` and against stepping the gym
environment, and the two engines against each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.common import pilots_kernel
from agents.common.pilots import (
    PilotHash,
    bucket_of,
    hash_buffer,
    mix,
    reduce_slots,
)
from hash_envs.encoding import utf8_batch

__all__ = ["EpisodeStats", "PilotQ"]


@dataclass
class EpisodeStats:
    """State of the greedy policy after ``episode`` learning steps (greedy episodes)."""

    episode: int
    elapsed_s: float
    collisions: int
    moving_buckets: int  # non-empty buckets not yet learned (beyond the waves so far)
    pilots_tried: int  # exploratory evaluations (bucket, pilot) so far
    learned_buckets: int  # buckets of the waves so far


class PilotQ:
    """Greedy optimistic Q-learning of one pilot per bucket (see the module docstring).

    Arguments:
        words: the pool to memorise (distinct ``str``).
        n_bins: bins of the final table (default: as many as words, a minimal perfect hash).
        bucket_size: mean words per bucket (PTHash's lambda): larger buckets store fewer
            bits per word and need longer searches.
        alpha: load of the learning env's table, ``n_slots = max(n_bins, ceil(n / alpha))``;
            1 learns the minimal table directly (issue 4), below 1 learns a slightly
            larger one and remaps its last slots (PTHash's alpha and remap).
        seed: seed of the word hashes (bucket and slot).
        wave_fraction: a wave's words fill at most this fraction of the free slots (one
            learning step per wave); ``inf`` learns every bucket in one step. The pilots
            do not depend on it, only the steps do.
        batch_words: word placements per round of the NumPy engine's exploration; ``k =
            batch_words // wave words`` exploratory episodes (at least 1, at most
            ``max_parallel``).
        max_parallel: the most exploratory episodes per round (1: one pilot per round).
        max_pilot: a bucket with no maximum-reward pilot below this raises (two of its
            words would share every slot: take another seed).
        reward_empty / reward_occupied: the env's rewards (+10 / -10).
    """

    def __init__(
        self,
        words: Sequence[str],
        n_bins: int | None = None,
        bucket_size: float = 5.0,
        alpha: float = 0.99,
        seed: int = 0,
        wave_fraction: float = 1 / 32,
        batch_words: int = 2**15,
        max_parallel: int = 4096,
        max_pilot: int = 2**20,
        reward_empty: float = 10.0,
        reward_occupied: float = -10.0,
    ) -> None:
        if isinstance(words, (str, bytes)):
            raise TypeError("words must be a sequence of str, not a single string")
        words = list(words)
        if not words:
            raise ValueError("words is empty")
        n_bins = len(words) if n_bins is None else int(n_bins)
        if n_bins < len(words):
            raise ValueError(f"{len(words)} words cannot go into {n_bins} bins without collision")
        if not bucket_size > 0:
            raise ValueError(f"bucket_size must be > 0, got {bucket_size}")
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if not wave_fraction > 0 or batch_words < 1 or max_parallel < 1 or max_pilot < 1:
            raise ValueError(
                "wave_fraction, batch_words, max_parallel and max_pilot must be positive"
            )
        if not reward_empty > reward_occupied:
            raise ValueError("reward_empty must be larger than reward_occupied")
        buffer = utf8_batch(words)  # a non-str word is a TypeError naming it
        if len(set(words)) != len(words):
            raise ValueError("words must be distinct (a repeated word cannot get its own bin)")
        self.n_bins, self.seed = n_bins, int(seed)
        self.n_slots = max(n_bins, math.ceil(len(words) / alpha))
        self.reward_empty, self.reward_occupied = float(reward_empty), float(reward_occupied)
        self.wave_fraction, self.batch_words = float(wave_fraction), int(batch_words)
        self.max_parallel, self.max_pilot = int(max_parallel), int(max_pilot)
        self.n_buckets = max(1, math.ceil(len(words) / bucket_size))

        hashes = hash_buffer(*buffer, self.seed)
        bucket = bucket_of(hashes[:, 0], self.n_buckets)
        self.bucket_sizes = np.bincount(bucket, minlength=self.n_buckets)
        # Episode order: largest buckets first (ties by bucket id), then input order.
        self._by_rank = np.lexsort((np.arange(self.n_buckets), -self.bucket_sizes))
        self._bucket_rank = np.empty(self.n_buckets, np.int64)
        self._bucket_rank[self._by_rank] = np.arange(self.n_buckets)
        order = np.lexsort((np.arange(len(words)), self._bucket_rank[bucket]))
        self._order = order
        self._words = words
        self._episode_order: list[str] | None = None
        # Everything below is indexed by rank: a word's or a bucket's place in the order.
        self._bucket = bucket[order]
        self._position = np.ascontiguousarray(hashes[order, 1])
        self._size_r = self.bucket_sizes[self._by_rank].astype(np.int64)
        self._words_before = np.r_[0, np.cumsum(self._size_r)]
        self._start_r = self._words_before[:-1].copy()
        self._nonempty = int(np.count_nonzero(self._size_r))  # empty buckets rank last
        self._frontier = 0  # buckets of rank < frontier are learned
        self._pilot_r = np.zeros(self.n_buckets, np.int64)  # greedy pilot by bucket rank
        self._taken = np.zeros(self.n_slots, np.bool_)  # slots of learned buckets' words
        self.pilots = np.zeros(self.n_buckets, np.int64)  # greedy action per bucket id
        self._bins = np.zeros(len(words), np.int64)  # greedy episode's slots, by rank
        self.episodes = 0
        self.pilots_tried = 0
        self.elapsed_s = 0.0
        self.history: list[EpisodeStats] = []

    # -- state ---------------------------------------------------------------------
    @property
    def n_words(self) -> int:
        return len(self._words)

    @property
    def episode_order(self) -> list[str]:
        """The pool in the env's episode order (largest buckets first)."""
        if self._episode_order is None:
            self._episode_order = [self._words[i] for i in self._order]
        return self._episode_order

    @property
    def collisions(self) -> int:
        """Collisions of the greedy policy's last episode (= of its hash function): under
        first come each used slot has exactly one winner."""
        return self.n_words - int(np.count_nonzero(np.bincount(self._bins, minlength=self.n_slots)))

    @property
    def moving_buckets(self) -> int:
        """Non-empty buckets whose values are not learned yet (beyond the waves so far)."""
        return max(0, self._nonempty - self._frontier)

    @property
    def learned(self) -> bool:
        """Whether every bucket is learned (then the greedy policy is collision-free)."""
        return self.episodes > 0 and self._frontier >= self._nonempty

    # -- one learning step ---------------------------------------------------------
    def _wave_end(self) -> int:
        free = max(1, self.n_slots - int(self._words_before[self._frontier]))
        first = max(1, int(self._size_r[self._frontier]))
        size = self.wave_fraction * free / first
        return min(self._nonempty, self._frontier + max(1, int(min(size, self.n_buckets))))

    def _ranks(self, lo: int, hi: int) -> np.ndarray:
        return np.arange(self._words_before[lo], self._words_before[hi])

    def _learn_numpy(self, lo: int, hi: int) -> int:
        """The NumPy engine: buckets ``lo..hi-1`` (ranks) learn against the settled
        prefix by rounds of ``k`` exploratory episodes; returns the pilots tried."""
        tried, r = 0, lo
        while r < hi:
            end = int(np.searchsorted(self._words_before, self._words_before[r] + self.batch_words))
            end = min(hi, max(r + 1, end - 1))
            sizes = self._size_r[r:end]
            ranks = self._ranks(r, end)
            k = int(np.clip(self.batch_words // ranks.size, 1, self.max_parallel))
            nb = end - r
            candidates = self._pilot_r[r:end, None] + np.arange(k)
            word_bucket = np.repeat(np.arange(nb), sizes)
            slots = reduce_slots(
                self._position[ranks][:, None] ^ mix(candidates[word_bucket]), self.n_slots
            )
            ok = ~self._taken[slots]
            # Two words of one bucket in one slot: that candidate fails too.
            key = (word_bucket[:, None] * k + np.arange(k)) * self.n_slots + slots
            flat = np.sort(key.ravel())
            clash = np.unique(flat[1:][flat[1:] == flat[:-1]] // self.n_slots)
            bad = np.zeros(nb * k, np.bool_)
            bad[clash] = True
            good = np.logical_and.reduceat(ok, self._start_r[r:end] - self._start_r[r])
            good &= ~bad.reshape(nb, k)
            found = good.any(axis=1)
            first = np.where(found, good.argmax(axis=1), k)
            # Accept in order up to the first bucket without a maximum or sharing a slot
            # with an earlier accepted bucket.
            stop = int(np.argmin(found)) if not found.all() else nb
            chosen = slots[np.arange(ranks.size), np.minimum(first, k - 1)[word_bucket]]
            within = word_bucket < stop
            c_slots, c_owner = chosen[within], word_bucket[within]
            by_slot = np.lexsort((c_owner, c_slots))
            dup = by_slot[1:][c_slots[by_slot[1:]] == c_slots[by_slot[:-1]]]
            if dup.size:
                stop = min(stop, int(c_owner[dup].min()))
            accepted = word_bucket < stop
            self._taken[chosen[accepted]] = True
            self._bins[ranks[accepted]] = chosen[accepted]
            tried += int(np.where(found, first + 1, k).sum())
            self._pilot_r[r:end] += first  # exact: every pilot below is a known failure
            if (self._pilot_r[r:end] >= self.max_pilot).any():
                self._unsolvable(r + int(np.argmax(self._pilot_r[r:end] >= self.max_pilot)))
            r += stop
        return tried

    def _unsolvable(self, rank: int) -> None:
        raise RuntimeError(
            f"bucket {int(self._by_rank[rank])} found no pilot below max_pilot="
            f"{self.max_pilot}: two of its words' hashes coincide; try another seed"
        )

    def step(self) -> int:
        """One learning step: a wave of buckets learns its pilots (none in the first
        step, where every bucket plays pilot 0), then one greedy episode; returns the
        number of buckets it learned (0: every bucket is learned and the greedy policy
        is a perfect hash)."""
        if self.episodes == 0:
            self._bins = reduce_slots(self._position ^ mix(np.zeros(1, np.int64)), self.n_slots)
            self.episodes = 1
            return self._nonempty
        if self._frontier >= self._nonempty:
            return 0
        lo, hi = self._frontier, self._wave_end()
        if pilots_kernel.available():
            tried = pilots_kernel.search(
                self._start_r, self._size_r, self._position, self._pilot_r, self._taken,
                self._bins, lo, hi, self.n_slots, self.max_pilot,
            )  # fmt: skip
            if tried < 0:
                self._unsolvable(-1 - tried)
        else:
            tried = self._learn_numpy(lo, hi)
        self.pilots[self._by_rank[lo:hi]] = self._pilot_r[lo:hi]
        self._frontier = hi
        self.pilots_tried += tried
        self.episodes += 1
        return hi - lo

    def episode_rewards(self) -> np.ndarray:
        """Per-word rewards of the last greedy episode, in :attr:`episode_order`, scored
        afresh from the words' slots."""
        owner = np.full(self.n_slots, self.n_words, np.int64)
        ranks = np.arange(self.n_words)
        np.minimum.at(owner, self._bins, ranks)
        return np.where(owner[self._bins] == ranks, self.reward_empty, self.reward_occupied)

    def slot_function(self) -> PilotHash:
        """The greedy policy as the learning env sees it: words to ``n_slots`` slots."""
        return PilotHash(self.pilots.copy(), self.n_slots, self.seed)

    def hash_function(self) -> PilotHash:
        """The greedy policy as a hash into ``n_bins``: the used slots at or above
        ``n_bins``, in increasing order, go to the free bins below it in increasing
        order (PTHash's remap; unused ones repeat the previous entry, so the table is
        non-decreasing). Collision-free once the policy is; a copy of the pilots."""
        used = np.zeros(self.n_slots, np.bool_)
        used[self._bins] = True
        high = np.flatnonzero(used[self.n_bins :])
        remap = np.zeros(self.n_slots - self.n_bins, np.int64)
        remap[high] = np.flatnonzero(~used[: self.n_bins])[: high.size]
        remap = np.maximum.accumulate(remap) if remap.size else remap
        return PilotHash(self.pilots.copy(), self.n_bins, self.seed, self.n_slots, remap)

    # -- training loop -------------------------------------------------------------
    def learn(
        self,
        max_episodes: int | None = None,
        time_budget_s: float | None = None,
        callback: Callable[[EpisodeStats], bool | None] | None = None,
        log_interval_s: float = 1.0,
    ) -> PilotHash:
        """Take learning steps until the greedy policy is a perfect hash, ``max_episodes``
        steps or ``time_budget_s`` (training time). Every ``log_interval_s`` (and at the
        end) the state is appended to :attr:`history` and passed to ``callback``; a
        callback returning ``False`` stops training."""
        start = time.perf_counter() - self.elapsed_s
        next_log = self.elapsed_s
        done = False
        while not done:
            if max_episodes is not None and self.episodes >= max_episodes:
                break
            self.elapsed_s = time.perf_counter() - start
            if time_budget_s is not None and self.elapsed_s >= time_budget_s:
                break
            done = self.step() == 0
            if self.elapsed_s >= next_log or done:
                next_log = self.elapsed_s + log_interval_s
                if self._record(callback) is False:
                    break
        self.elapsed_s = time.perf_counter() - start
        if not self.history or self.history[-1].episode != self.episodes:
            self._record(callback)
        return self.hash_function()

    def _record(self, callback: Callable[[EpisodeStats], bool | None] | None) -> bool | None:
        stats = EpisodeStats(
            self.episodes,
            self.elapsed_s,
            0 if self.learned else self.collisions,  # learned: collision-free by construction
            self.moving_buckets,
            self.pilots_tried,
            int(self._frontier),
        )
        self.history.append(stats)
        return callback(stats) if callback is not None else None
