"""Hash-and-displace Q-learning: a perfect hash learned from the table's rewards alone.

Why a decomposition. A policy that picks one of ``n`` bins per word has to learn ``n``
answers from rewards that are zero-sum between the words of a colliding pair; at
10,000 words that is hours of REINFORCE (issue 4, :class:`agents.EpisodePG`). Here the
choice is made per *bucket* of words instead, as in PTHash (Pibiri & Trani, SIGIR 2021):

* a fixed seeded hash sends each word to one of ``n_buckets`` buckets (about
  ``bucket_size`` words each);
* the action for a bucket is a *pilot* ``p``; every word ``w`` of the bucket then goes to
  bin ``(h(w) XOR mix(p)) mod n_bins``, so one action moves all words of its bucket at
  once, each to its own pseudo-random bin;
* the learned function is the table of pilots: stateless (a word's bin depends on the
  word alone), stored in a few bits per word.

The environment. Episodes of ``hash_envs/StatelessHash-v0`` on the fixed pool
(``pool_size = n_words = n_bins``) with the paper's ``first_come`` reward (+10 for an
empty bin, -10 for an occupied one), the words shown in one fixed order --
:attr:`PilotQ.episode_order`, largest buckets first, PTHash's placement order -- through
the env's ``word_order`` argument. A bucket's reward is the sum of its words' rewards.

The agent. Tabular action values ``Q[bucket, pilot]``, optimistic initial values (just
below a bucket's best possible reward), the greedy policy, step size 1 (given the
policy the episode is deterministic, so one sample is the exact value). A pilot whose
words all land in bins no earlier word holds earns the maximum and stays greedy; any
other return drops its value below the initial one, and the greedy policy moves to the
lowest untried pilot (ties between untried pilots go to the lowest). Pilots are tried in
increasing order, so the table needs no storage: below a bucket's current pilot every
value is a known failure, above it every value is still the initial one.

What this is, honestly. In this deterministic setting the greedy optimistic learner's
exploration *is* PTHash's pilot search, run for all buckets in parallel, one episode
per trial. The reinforcement-learning reading adds the guarantee that the learner sees
nothing but table rewards and acts through the environment's reward rule, not an
algorithmic novelty over PTHash; it is what makes a learned perfect hash of the whole
Moby list reachable. Tables here are minimal (``n_bins == n_words``, PTHash's
``alpha = 1``), so the last free bins are found by long searches: the largest pilots
need about ``log2(n)`` bits.

Episodes are simulated incrementally: only buckets that lost a word in the previous
episode change their action, so only their words and the words they displace get new
rewards. ``tests/test_pilot_q.py`` checks every episode against scoring the whole
episode with :func:`hash_envs.rewards.first_come_rewards` and against stepping the
gym environment.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from hash_envs.hashing import HashFunction

__all__ = [
    "EpisodeStats",
    "PilotHash",
    "PilotQ",
    "decode_pilots",
    "encode_pilots",
    "load_pilot_hash",
    "pack_bits",
    "unpack_bits",
    "word_hashes",
]

_FORMAT = "hash-envs/pilot-hash/1"
_HEADER = 40  # bytes: n_bins, n_buckets, seed, n_exceptions, and the three bit widths
_UINT64 = np.uint64


def word_hashes(words: Iterable[str], seed: int) -> np.ndarray:
    """``(n, 2)`` uint64: the little-endian halves of each word's seeded XXH3-128 of its
    UTF-8 bytes; column 0 picks the bucket, column 1 the position."""
    digest = xxhash.xxh3_128_digest
    raw = b"".join(digest(w.encode("utf-8"), seed) for w in words)
    return np.frombuffer(raw, dtype="<u8").reshape(-1, 2).astype(_UINT64, copy=False)


def mix(pilots: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of each pilot: pilots 0, 1, 2... become unrelated 64-bit
    masks, so consecutive pilots send a word to unrelated bins."""
    z = np.asarray(pilots, dtype=_UINT64) + _UINT64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _UINT64(30))) * _UINT64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _UINT64(27))) * _UINT64(0x94D049BB133111EB)
    return z ^ (z >> _UINT64(31))


class PilotHash(HashFunction):
    """The learned hash: ``bin(w) = (h1(w) XOR mix(pilot[h0(w) mod B])) mod n_bins``.

    ``size_bytes`` counts the pilots as :func:`encode_pilots` stores them (most in a
    few bits each, the rare large ones as exceptions) plus a 40-byte header.
    :meth:`bits_per_key` reports that, the plain fixed width (every pilot at the largest
    one's width) and the pilots' empirical entropy (what an entropy coder could approach,
    without constant-time random access).
    """

    name = "pilot-q"

    def __init__(self, pilots: np.ndarray, n_bins: int, seed: int) -> None:
        super().__init__(n_bins)
        pilots = np.asarray(pilots)
        if pilots.ndim != 1 or pilots.size == 0 or pilots.dtype.kind not in "iu":
            raise ValueError("pilots must be a non-empty 1-D integer array")
        if pilots.dtype.kind == "i" and (pilots < 0).any():
            raise ValueError("pilots must be >= 0")
        self.pilots = pilots.astype(_UINT64)
        self.seed = int(seed)
        self._masks = mix(self.pilots)

    @property
    def n_buckets(self) -> int:
        return int(self.pilots.size)

    @property
    def pilot_bits(self) -> int:
        """Width of one stored pilot: the bit length of the largest."""
        return max(1, int(self.pilots.max()).bit_length())

    @property
    def size_bytes(self) -> int:
        return sum(a.nbytes for a in encode_pilots(self.pilots).values() if a.ndim) + _HEADER

    def bits_per_key(self, n_keys: int | None = None) -> dict[str, float]:
        """Bits per key: ``stored`` (``size_bytes``), ``fixed_width`` (every pilot at the
        largest one's width, plus the header) and ``entropy`` (the pilots' entropy)."""
        n_keys = self.n_bins if n_keys is None else n_keys
        _, counts = np.unique(self.pilots, return_counts=True)
        p = counts / counts.sum()
        entropy = float(-(p * np.log2(p)).sum()) * self.n_buckets
        fixed = math.ceil(self.n_buckets * self.pilot_bits / 8) + _HEADER
        return {
            "stored": 8 * self.size_bytes / n_keys,
            "fixed_width": 8 * fixed / n_keys,
            "entropy": entropy / n_keys,
        }

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        h = word_hashes(words, self.seed)
        masks = self._masks[h[:, 0] % _UINT64(self.n_buckets)]
        return ((h[:, 1] ^ masks) % _UINT64(self.n_bins)).astype(np.int64)

    def save(self, path: str | Path) -> Path:
        """Write the function to ``path``: NumPy ``.npz`` content holding
        :func:`encode_pilots`'s arrays (the bytes ``size_bytes`` counts) and a SHA-256 of
        the pilots; use the suffix ``.pilots`` so that the leaderboard loads it."""
        path = Path(path)
        buf = io.BytesIO()
        np.savez(
            buf,
            format=np.array(_FORMAT),
            **encode_pilots(self.pilots),
            n_buckets=np.int64(self.n_buckets),
            n_bins=np.int64(self.n_bins),
            seed=np.int64(self.seed),
            sha256=np.array(_checksum(self.pilots, self.n_bins, self.seed)),
        )
        path.write_bytes(buf.getvalue())
        return path


def pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """``values`` as consecutive ``width``-bit little-endian fields, in bytes."""
    shifts = np.arange(width, dtype=_UINT64)
    bits = ((np.asarray(values, dtype=_UINT64)[:, None] >> shifts) & _UINT64(1)).astype(np.uint8)
    return np.packbits(bits.ravel(), bitorder="little")


def unpack_bits(packed: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`."""
    bits = np.unpackbits(packed, count=count * width, bitorder="little").reshape(count, width)
    return (bits.astype(_UINT64) << np.arange(width, dtype=_UINT64)).sum(axis=1, dtype=_UINT64)


def encode_pilots(pilots: np.ndarray) -> dict[str, np.ndarray]:
    """Pilots as stored: every bucket's pilot in ``width`` bits, where the all-ones value
    means "look it up among the exceptions": the buckets (sorted, ``index_bits`` each)
    whose pilot does not fit, and their pilots (``value_bits`` each). ``width`` minimises
    the total; a lookup stays constant time plus a binary search among the exceptions.
    Most pilots are small, but a minimal table's last buckets need pilots near ``n``."""
    pilots = np.asarray(pilots, dtype=_UINT64)
    value_bits = max(1, int(pilots.max()).bit_length())
    index_bits = max(1, (pilots.size - 1).bit_length())
    ordered = np.sort(pilots)

    def cost(width: int) -> int:
        escapes = pilots.size - np.searchsorted(ordered, _UINT64((1 << width) - 1))
        return pilots.size * width + int(escapes) * (index_bits + value_bits)

    width = min(range(1, value_bits + 2), key=cost)
    escape = _UINT64((1 << width) - 1)
    exceptions = np.flatnonzero(pilots >= escape)
    return {
        "width": np.int64(width),
        "packed": pack_bits(np.minimum(pilots, escape), width),
        "index_bits": np.int64(index_bits),
        "value_bits": np.int64(value_bits),
        "n_exceptions": np.int64(exceptions.size),
        "exception_buckets": pack_bits(exceptions, index_bits),
        "exception_pilots": pack_bits(pilots[exceptions], value_bits),
    }


def decode_pilots(fields: dict[str, np.ndarray], n_buckets: int) -> np.ndarray:
    """Inverse of :func:`encode_pilots`."""
    width, n_exceptions = int(fields["width"]), int(fields["n_exceptions"])
    pilots = unpack_bits(fields["packed"], width, n_buckets)
    buckets = unpack_bits(fields["exception_buckets"], int(fields["index_bits"]), n_exceptions)
    pilots[buckets.astype(np.int64)] = unpack_bits(
        fields["exception_pilots"], int(fields["value_bits"]), n_exceptions
    )
    return pilots


def _checksum(pilots: np.ndarray, n_bins: int, seed: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(pilots, dtype="<u8").tobytes())
    digest.update(f"{n_bins}:{seed}".encode())
    return digest.hexdigest()


def load_pilot_hash(path: str | Path) -> PilotHash:
    """Read a :meth:`PilotHash.save` file; a damaged or foreign file raises ``ValueError``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path} is not a pilot-hash file: {err}") from None
    if str(fields.get("format", "")) != _FORMAT:
        raise ValueError(f"{path} is not a pilot-hash file (format {_FORMAT!r} expected)")
    try:
        pilots = decode_pilots(fields, int(fields["n_buckets"]))
        n_bins, seed, checksum = int(fields["n_bins"]), int(fields["seed"]), str(fields["sha256"])
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path} is damaged: {err}") from None
    if checksum != _checksum(pilots, n_bins, seed):
        raise ValueError(f"{path} is damaged: its checksum does not match its pilots")
    return PilotHash(pilots, n_bins, seed)


@dataclass
class EpisodeStats:
    """State of the greedy policy after ``episode`` episodes."""

    episode: int
    elapsed_s: float
    collisions: int
    moving_buckets: int


class PilotQ:
    """Greedy optimistic Q-learning of one pilot per bucket (see the module docstring).

    Arguments:
        words: the pool to memorise (distinct).
        n_bins: bins of the table (default: as many as words, a minimal perfect hash).
        bucket_size: mean words per bucket (PTHash's lambda): larger buckets store fewer
            bits per word and need longer searches.
        seed: seed of the word hashes (bucket and position).
        reward_empty / reward_occupied: the env's rewards (+10 / -10).
    """

    def __init__(
        self,
        words: Sequence[str],
        n_bins: int | None = None,
        bucket_size: float = 3.0,
        seed: int = 0,
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
        if not reward_empty > reward_occupied:
            raise ValueError("reward_empty must be larger than reward_occupied")
        self.n_bins, self.seed = n_bins, int(seed)
        self.reward_empty, self.reward_occupied = float(reward_empty), float(reward_occupied)
        self.n_buckets = max(1, math.ceil(len(words) / bucket_size))

        hashes = word_hashes(words, self.seed)
        bucket = (hashes[:, 0] % _UINT64(self.n_buckets)).astype(np.int64)
        self.bucket_sizes = np.bincount(bucket, minlength=self.n_buckets)
        # Episode order: largest buckets first (ties by bucket id), then input order.
        bucket_rank = np.empty(self.n_buckets, np.int64)
        bucket_rank[np.lexsort((np.arange(self.n_buckets), -self.bucket_sizes))] = np.arange(
            self.n_buckets
        )
        order = np.lexsort((np.arange(len(words)), bucket_rank[bucket]))
        self.episode_order: list[str] = [words[i] for i in order]
        # Everything below is indexed by rank r = position in the episode order.
        self._bucket = bucket[order]
        self._position = hashes[order, 1]
        first = np.r_[True, self._bucket[1:] != self._bucket[:-1]]
        self._start = np.zeros(self.n_buckets, np.int64)
        self._start[self._bucket[first]] = np.flatnonzero(first)

        self.pilots = np.zeros(self.n_buckets, np.int64)  # greedy action per bucket
        # Q of the greedy pilot; untried pilots hold q_init, just below the best return.
        gap = (self.reward_empty - self.reward_occupied) / 2
        self.q_init = self.bucket_sizes * self.reward_empty - gap
        self.q_greedy = np.where(self.bucket_sizes > 0, np.nan, 0.0)  # nan: none tried yet
        self._moving = np.flatnonzero(self.bucket_sizes > 0)  # buckets whose action changes
        self._bins = np.zeros(len(words), np.int64)
        self._won = np.zeros(len(words), bool)  # first word in its bin this episode
        self._none = len(words)  # owner sentinel: no word
        self._owner = np.full(self.n_bins, self._none, np.int64)  # rank holding each bin
        self.episodes = 0
        self.elapsed_s = 0.0
        self.history: list[EpisodeStats] = []

    # -- one episode ---------------------------------------------------------------
    @property
    def n_words(self) -> int:
        return len(self.episode_order)

    @property
    def collisions(self) -> int:
        """Collisions of the greedy policy's last episode (= of its hash function)."""
        return self.n_words - int(np.count_nonzero(self._won))

    @property
    def moving_buckets(self) -> int:
        """Buckets whose greedy pilot will change in the next episode."""
        return int(self._moving.size)

    def _ranks_of(self, buckets: np.ndarray) -> np.ndarray:
        sizes = self.bucket_sizes[buckets]
        ends = np.cumsum(sizes)
        return np.repeat(self._start[buckets] - (ends - sizes), sizes) + np.arange(ends[-1])

    def step(self) -> int:
        """Run one episode with the greedy policy and learn from it; return the number of
        buckets that changed their action (0: the policy is a perfect hash)."""
        moving = self._moving
        if moving.size == 0:
            return 0
        if self.episodes:  # every pilot played so far lost a word: the lowest untried one
            self.pilots[moving] += 1
        ranks = self._ranks_of(moving)
        # Movers leave the bins they held; the words that stay all held their bins.
        self._owner[self._bins[ranks[self._won[ranks]]]] = self._none
        mask = mix(self.pilots[self._bucket[ranks]])
        bins = ((self._position[ranks] ^ mask) % _UINT64(self.n_bins)).astype(np.int64)
        self._bins[ranks] = bins
        before = self._owner[bins]
        np.minimum.at(self._owner, bins, ranks)  # first come (lowest rank) holds the bin
        self._won[ranks] = self._owner[bins] == ranks
        displaced = np.unique(before[(before != self._none) & (self._owner[bins] < before)])
        self._won[displaced] = False
        # Step-size-1 update of the played pilots' values from their words' rewards; a
        # value below q_init makes the greedy policy move on.
        touched = np.unique(np.concatenate([moving, self._bucket[displaced]]))
        sizes = self.bucket_sizes[touched]  # all > 0: ranks_of lists each bucket in turn
        won = np.add.reduceat(self._won[self._ranks_of(touched)], np.cumsum(sizes) - sizes)
        lost = sizes - won
        self.q_greedy[touched] = won * self.reward_empty + lost * self.reward_occupied
        self._moving = touched[self.q_greedy[touched] < self.q_init[touched]]
        self.episodes += 1
        return int(moving.size)

    def episode_rewards(self) -> np.ndarray:
        """Per-word rewards of the last episode, in :attr:`episode_order`."""
        return np.where(self._won, self.reward_empty, self.reward_occupied)

    def hash_function(self) -> PilotHash:
        """The greedy policy as a hash function (a copy of the current pilots)."""
        return PilotHash(self.pilots.copy(), self.n_bins, self.seed)

    # -- training loop -------------------------------------------------------------
    def learn(
        self,
        max_episodes: int | None = None,
        time_budget_s: float | None = None,
        callback: Callable[[EpisodeStats], bool | None] | None = None,
        log_interval_s: float = 1.0,
    ) -> PilotHash:
        """Play episodes until the greedy policy is a perfect hash, ``max_episodes`` or
        ``time_budget_s`` (training time). Every ``log_interval_s`` (and at the end)
        the state is appended to :attr:`history` and passed to ``callback``; a callback
        returning ``False`` stops training."""
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
        stats = EpisodeStats(self.episodes, self.elapsed_s, self.collisions, self.moving_buckets)
        self.history.append(stats)
        return callback(stats) if callback is not None else None
