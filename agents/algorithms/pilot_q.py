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

Two things make it fast, both about *which* values are estimated when:

* **Waves.** Under first-come rewards a word's reward depends only on the words before
  it in the episode order, so a bucket's values are only meaningful once every earlier
  bucket's policy is fixed. The learner updates the buckets in waves along the episode
  order (every bucket is still played in every episode): a wave holds buckets whose words
  fill at most ``wave_fraction`` of the still-free slots, and the next wave starts when
  every bucket of this one earns its maximum. Updating all buckets at once (issue 4's
  version) lets early buckets that are still moving displace later ones again and
  again, each time pushing the later ones' pilots up.
* **Vectorised exploration.** Each learning step plays ``k`` exploratory episodes at
  once (copies of the env, as in a vectorised env): in copy ``j`` every learning bucket
  plays its ``j``-th untried pilot and every other bucket its greedy one. The bucket
  moves to the lowest pilot that earned the maximum in its copy (or past all ``k``), then
  one greedy episode checks the joint policy; buckets that lost a word there learn on.
  ``k`` is as large as ``batch_words`` word placements allow.

What this is, honestly. In this deterministic setting the greedy optimistic learner's
exploration *is* PTHash's pilot search (with waves, close to its one-bucket-at-a-time
order), one candidate per exploratory episode. The reinforcement-learning reading adds
the guarantee that the learner sees nothing but table rewards and acts through the
environment's reward rule, not an algorithmic novelty over PTHash/PtrHash/PHOBIC.

Episodes are simulated incrementally: only learning buckets change their action, so
only their words and the words they displace get new rewards.
``tests/test_pilot_q.py`` checks every greedy episode against scoring the whole episode
with :func:`hash_envs.rewards.first_come_rewards` and against stepping the gym
environment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.common.pilots import (
    PilotHash,
    bucket_of,
    mix,
    reduce_slots,
    word_hashes,
)

__all__ = ["EpisodeStats", "PilotQ"]


@dataclass
class EpisodeStats:
    """State of the greedy policy after ``episode`` learning steps (greedy episodes)."""

    episode: int
    elapsed_s: float
    collisions: int
    moving_buckets: int
    env_episodes: int  # greedy plus exploratory episodes so far
    learned_buckets: int  # buckets of the waves started so far


class PilotQ:
    """Greedy optimistic Q-learning of one pilot per bucket (see the module docstring).

    Arguments:
        words: the pool to memorise (distinct).
        n_bins: bins of the final table (default: as many as words, a minimal perfect hash).
        bucket_size: mean words per bucket (PTHash's lambda): larger buckets store fewer
            bits per word and need longer searches.
        alpha: load of the learning env's table, ``n_slots = max(n_bins, ceil(n / alpha))``;
            1 learns the minimal table directly (issue 4), below 1 learns a slightly
            larger one and remaps its last slots (PTHash's alpha and remap).
        seed: seed of the word hashes (bucket and slot).
        wave_fraction: a wave's words fill at most this fraction of the free slots;
            ``inf`` updates every bucket at once (issue 4's schedule).
        batch_words: word placements per learning step; ``k = batch_words // learning
            words`` exploratory episodes (at least 1, at most ``max_parallel``).
        max_parallel: the most exploratory episodes per step (1: one pilot per step).
        reward_empty / reward_occupied: the env's rewards (+10 / -10).
    """

    def __init__(
        self,
        words: Sequence[str],
        n_bins: int | None = None,
        bucket_size: float = 3.5,
        alpha: float = 0.99,
        seed: int = 0,
        wave_fraction: float = 1 / 32,
        batch_words: int = 2**15,
        max_parallel: int = 4096,
        reward_empty: float = 10.0,
        reward_occupied: float = -10.0,
    ) -> None:
        words = list(words)
        if not words:
            raise ValueError("words is empty")
        if len(set(words)) != len(words):
            raise ValueError("words must be distinct (a repeated word cannot get its own bin)")
        n_bins = len(words) if n_bins is None else int(n_bins)
        if n_bins < len(words):
            raise ValueError(f"{len(words)} words cannot go into {n_bins} bins without collision")
        if not bucket_size > 0:
            raise ValueError(f"bucket_size must be > 0, got {bucket_size}")
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if not wave_fraction > 0 or batch_words < 1 or max_parallel < 1:
            raise ValueError("wave_fraction, batch_words and max_parallel must be positive")
        if not reward_empty > reward_occupied:
            raise ValueError("reward_empty must be larger than reward_occupied")
        self.n_bins, self.seed = n_bins, int(seed)
        self.n_slots = max(n_bins, math.ceil(len(words) / alpha))
        self.reward_empty, self.reward_occupied = float(reward_empty), float(reward_occupied)
        self.wave_fraction, self.batch_words = float(wave_fraction), int(batch_words)
        self.max_parallel = int(max_parallel)
        self.n_buckets = max(1, math.ceil(len(words) / bucket_size))

        hashes = word_hashes(words, self.seed)
        bucket = bucket_of(hashes[:, 0], self.n_buckets)
        self.bucket_sizes = np.bincount(bucket, minlength=self.n_buckets)
        # Episode order: largest buckets first (ties by bucket id), then input order.
        self._by_rank = np.lexsort((np.arange(self.n_buckets), -self.bucket_sizes))
        self._bucket_rank = np.empty(self.n_buckets, np.int64)
        self._bucket_rank[self._by_rank] = np.arange(self.n_buckets)
        order = np.lexsort((np.arange(len(words)), self._bucket_rank[bucket]))
        self.episode_order: list[str] = [words[i] for i in order]
        # Everything below is indexed by rank r = position in the episode order.
        self._bucket = bucket[order]
        self._position = hashes[order, 1]
        self._start = np.zeros(self.n_buckets, np.int64)
        self._start[self._by_rank] = (
            np.cumsum(self.bucket_sizes[self._by_rank]) - (self.bucket_sizes[self._by_rank])
        )
        self._words_before = np.r_[0, np.cumsum(self.bucket_sizes[self._by_rank])]
        self._frontier = 0  # buckets of rank < frontier are in started waves

        self.pilots = np.zeros(self.n_buckets, np.int64)  # greedy action per bucket
        self._moving = np.zeros(0, np.int64)  # learning buckets whose action changes
        self._bins = np.zeros(len(words), np.int64)
        self._won = np.zeros(len(words), bool)  # first word in its slot this episode
        self._none = len(words)  # owner sentinel: no word
        self._owner = np.full(self.n_slots, self._none, np.int64)  # rank holding each slot
        self.episodes = 0
        self.env_episodes = 0
        self.elapsed_s = 0.0
        self.history: list[EpisodeStats] = []

    # -- one learning step ---------------------------------------------------------
    @property
    def n_words(self) -> int:
        return len(self.episode_order)

    @property
    def collisions(self) -> int:
        """Collisions of the greedy policy's last episode (= of its hash function): under
        first come each used slot has exactly one winner."""
        return self.n_words - int(np.count_nonzero(np.bincount(self._bins, minlength=self.n_slots)))

    @property
    def moving_buckets(self) -> int:
        """Learning buckets whose greedy pilot will change in the next step."""
        return int(self._moving.size)

    def _ranks_of(self, buckets: np.ndarray) -> np.ndarray:
        sizes = self.bucket_sizes[buckets]
        ends = np.cumsum(sizes)
        return np.repeat(self._start[buckets] - (ends - sizes), sizes) + np.arange(ends[-1])

    def _losers(self, buckets: np.ndarray) -> np.ndarray:
        """The given (non-empty) buckets that lost a word in the last greedy episode."""
        buckets = buckets[self.bucket_sizes[buckets] > 0]
        if buckets.size == 0:
            return buckets
        sizes = self.bucket_sizes[buckets]
        won = np.add.reduceat(self._won[self._ranks_of(buckets)], np.cumsum(sizes) - sizes)
        return buckets[won < sizes]

    def _next_wave(self) -> None:
        """Start waves until one has a bucket that lost a word (or none is left).

        The incremental simulation keeps the words of started waves exact; a later word
        that lost to one that has since left its slot is only rescored (same pilots, no
        new episode) when its wave starts. Until then it cannot affect a started wave's
        rewards: every word it could displace comes before it."""
        while self._moving.size == 0 and self._frontier < self.n_buckets:
            free = max(1, self.n_slots - self._words_before[self._frontier])
            first = max(1, int(self.bucket_sizes[self._by_rank[self._frontier]]))
            end = self._frontier + max(
                1, int(min(self.wave_fraction * free / first, self.n_buckets))
            )
            wave = self._by_rank[self._frontier : min(end, self.n_buckets)]
            wave = wave[self.bucket_sizes[wave] > 0]
            self._frontier = min(end, self.n_buckets)
            if wave.size:
                ranks = self._ranks_of(wave)
                self._vacate(ranks)
                self._place(wave, ranks)
                self._moving = self._losers(wave)

    def _vacate(self, ranks: np.ndarray) -> None:
        """The words ``ranks`` leave the slots they held."""
        self._owner[self._bins[ranks[self._won[ranks]]]] = self._none

    def _place(self, buckets: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Place the (vacated) words ``ranks`` of ``buckets`` by their greedy pilots under
        first come; returns the buckets whose words' rewards changed."""
        mask = mix(self.pilots[self._bucket[ranks]])
        bins = reduce_slots(self._position[ranks] ^ mask, self.n_slots)
        self._bins[ranks] = bins
        before = self._owner[bins]
        np.minimum.at(self._owner, bins, ranks)  # first come (lowest rank) holds the slot
        self._won[ranks] = self._owner[bins] == ranks
        displaced = np.unique(before[(before != self._none) & (self._owner[bins] < before)])
        self._won[displaced] = False
        return np.unique(np.concatenate([buckets, self._bucket[displaced]]))

    def _explore(self, moving: np.ndarray, ranks: np.ndarray) -> None:
        """``k`` exploratory episodes: in copy ``j`` each learning bucket plays its
        ``j``-th untried pilot, every other bucket its greedy one; each learning bucket
        moves to the lowest pilot whose words all earned ``reward_empty`` there."""
        k = int(np.clip(self.batch_words // ranks.size, 1, self.max_parallel))
        sizes = self.bucket_sizes[moving]
        candidates = self.pilots[moving][:, None] + 1 + np.arange(k)
        masks = mix(np.repeat(candidates, sizes, axis=0))
        slots = reduce_slots(self._position[ranks][:, None] ^ masks, self.n_slots)
        # First come: an earlier word holds the slot (the owners are the other buckets'
        # words now), or an earlier learning word of the same copy lands there first.
        free = self._owner[slots] > ranks[:, None]
        at = np.flatnonzero(free)  # only words in free slots can hold one
        key = ((at % k) * self.n_slots + slots.ravel()[at]) * self.n_words + ranks[at // k]
        order = np.argsort(key)
        group = key[order] // self.n_words
        beaten = at[order[1:][group[1:] == group[:-1]]]
        free.ravel()[beaten] = False
        good = np.logical_and.reduceat(free, np.cumsum(sizes) - sizes)
        self.pilots[moving] += 1 + np.where(good.any(axis=1), good.argmax(axis=1), k)
        self.env_episodes += k

    def step(self) -> int:
        """One learning step: exploratory episodes for the learning buckets (none in the
        first step, where every bucket plays pilot 0), then one greedy episode; returns
        the number of buckets that changed their action (0: the policy is a perfect hash
        and every wave is done)."""
        if self.episodes == 0:
            moving = np.flatnonzero(self.bucket_sizes > 0)
        else:
            self._next_wave()
            moving = self._moving
            if moving.size == 0:
                return 0
        ranks = self._ranks_of(moving)
        self._vacate(ranks)
        if self.episodes:
            self._explore(moving, ranks)
        # Step-size-1 update of the played pilots' values from their words' rewards: a
        # bucket that lost a word drops below q_init and, if its wave has started,
        # learns on.
        losers = self._losers(self._place(moving, ranks))
        self._moving = losers[self._bucket_rank[losers] < self._frontier]
        self.episodes += 1
        self.env_episodes += 1
        return int(moving.size)

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
        used = np.unique(self._bins)
        high = used[used >= self.n_bins]
        taken = np.zeros(self.n_bins, bool)
        taken[used[used < self.n_bins]] = True
        remap = np.zeros(self.n_slots - self.n_bins, np.int64)
        remap[high - self.n_bins] = np.flatnonzero(~taken)[: high.size]
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
            self.collisions,
            self.moving_buckets,
            self.env_episodes,
            int(self._frontier),
        )
        self.history.append(stats)
        return callback(stats) if callback is not None else None
