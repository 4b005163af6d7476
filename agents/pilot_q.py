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

import hashlib
import math
import struct
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np
import xxhash

from hash_envs.encoding import utf8
from hash_envs.hashing import ArtifactError, HashFunction

__all__ = [
    "EpisodeStats",
    "PilotHash",
    "PilotQ",
    "bucket_of",
    "decode_monotone",
    "decode_pilots",
    "encode_monotone",
    "encode_pilots",
    "load_pilot_hash",
    "pack_bits",
    "reduce_slots",
    "unpack_bits",
    "word_hashes",
]

_MAGIC = b"PILOTS\x00\x02"  # format 2; format 1 was an .npz archive (issue 4)
_FIELDS = struct.Struct("<8Q")  # n_bins, n_slots, n_buckets, seed, width, n_exceptions,
#                                 value_bits, remap_low_bits
_DIGEST = 32  # SHA-256 of everything before it
_HEADER = len(_MAGIC) + _FIELDS.size + _DIGEST
_UINT64 = np.uint64


def word_hashes(words: Iterable[str], seed: int) -> np.ndarray:
    """``(n, 2)`` uint64: the little-endian halves of each word's seeded XXH3-128 of its
    UTF-8 bytes; column 0 picks the bucket, column 1 the slot."""
    raw = b"".join(map(xxhash.xxh3_128_digest, map(utf8, words), repeat(seed)))
    return np.frombuffer(raw, dtype="<u8").reshape(-1, 2).astype(_UINT64, copy=False)


def bucket_of(h0: np.ndarray, n_buckets: int) -> np.ndarray:
    """PtrHash's skewed bucket function: ``x = h0 / 2^64`` goes to bucket
    ``floor(B * (x^2 (1 + x) / 2 * 255/256 + x/256))``, a cheap approximation of
    PHOBIC's optimal ``x + (1 - x) ln(1 - x)``: low buckets get many words, high ones
    few, so the large buckets are placed while the table is still empty."""
    x = (np.asarray(h0, dtype=_UINT64) >> _UINT64(11)).astype(np.float64) * 2.0**-53
    beta = x * x * (1.0 + x) * (255 / 512) + x * (1 / 256)
    return np.minimum((beta * n_buckets).astype(np.int64), n_buckets - 1)


def reduce_slots(h: np.ndarray, n_slots: int) -> np.ndarray:
    """``h -> [0, n_slots)``: multiply by an odd constant (so that words whose hashes agree
    in their high bits, which XOR with a common pilot mask keeps, still part), then
    Lemire's multiply-shift reduction of the high 32 bits, without a division
    (``n_slots < 2^32``)."""
    scrambled = (np.asarray(h, dtype=_UINT64) * _UINT64(0x9E3779B97F4A7C15)) >> _UINT64(32)
    return ((scrambled * _UINT64(n_slots)) >> _UINT64(32)).astype(np.int64)


def mix(pilots: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of each pilot: pilots 0, 1, 2... become unrelated 64-bit
    masks, so consecutive pilots send a word to unrelated slots."""
    z = np.asarray(pilots, dtype=_UINT64) + _UINT64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _UINT64(30))) * _UINT64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _UINT64(27))) * _UINT64(0x94D049BB133111EB)
    return z ^ (z >> _UINT64(31))


class PilotHash(HashFunction):
    """The learned hash: ``slot(w) = reduce(h1(w) XOR mix(pilot[bucket(h0(w))]), n_slots)``,
    and ``bin(w) = slot`` below ``n_bins``, ``remap[slot - n_bins]`` above.

    ``size_bytes`` is the length of :meth:`to_bytes`, the whole stored artifact: header,
    checksum, the pilots as :func:`encode_pilots` stores them (most in a few bits each,
    the rare large ones as exceptions) and the remap as :func:`encode_monotone` stores
    it. :meth:`bits_per_key` reports that, the plain fixed width (every pilot at the
    largest one's width) and the pilots' empirical entropy (what an entropy coder could
    approach, without constant-time random access).
    """

    name = "pilot-q"

    def __init__(
        self,
        pilots: np.ndarray,
        n_bins: int,
        seed: int,
        n_slots: int | None = None,
        remap: np.ndarray | None = None,
    ) -> None:
        super().__init__(n_bins)
        pilots = np.asarray(pilots)
        if pilots.ndim != 1 or pilots.size == 0 or pilots.dtype.kind not in "iu":
            raise ValueError("pilots must be a non-empty 1-D integer array")
        if pilots.dtype.kind == "i" and (pilots < 0).any():
            raise ValueError("pilots must be >= 0")
        self.n_slots = self.n_bins if n_slots is None else int(n_slots)
        if not self.n_bins <= self.n_slots < 2**32:
            raise ValueError(f"n_slots must be in [n_bins, 2^32), got {self.n_slots}")
        remap = np.zeros(0, np.int64) if remap is None else np.asarray(remap, dtype=np.int64)
        if remap.shape != (self.n_slots - self.n_bins,):
            raise ValueError(f"remap must hold n_slots - n_bins = {self.n_slots - self.n_bins}")
        if remap.size and (
            remap.min() < 0 or remap.max() >= self.n_bins or (np.diff(remap) < 0).any()
        ):
            raise ValueError("remap must be non-decreasing bins below n_bins")
        self.pilots = pilots.astype(_UINT64)
        self.remap = remap
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
        return len(self.to_bytes())

    def bits_per_key(self, n_keys: int | None = None) -> dict[str, float]:
        """Bits per key: ``stored`` (``size_bytes``), ``pilots`` and ``remap`` (their
        shares of it), ``fixed_width`` (every pilot at the largest one's width, plus the
        rest) and ``entropy`` (the pilots' empirical entropy)."""
        n_keys = self.n_bins if n_keys is None else n_keys
        _, counts = np.unique(self.pilots, return_counts=True)
        p = counts / counts.sum()
        entropy = float(-(p * np.log2(p)).sum()) * self.n_buckets
        pilots = sum(a.nbytes for a in encode_pilots(self.pilots)[1])
        remap = sum(a.nbytes for a in encode_monotone(self.remap, self.n_bins)[1])
        fixed = math.ceil(self.n_buckets * self.pilot_bits / 8) + remap + _HEADER
        return {
            "stored": 8 * self.size_bytes / n_keys,
            "pilots": 8 * pilots / n_keys,
            "remap": 8 * remap / n_keys,
            "fixed_width": 8 * fixed / n_keys,
            "entropy": entropy / n_keys,
        }

    def slots(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """Slots in ``[0, n_slots)`` before the remap (the learning env's bins)."""
        h = word_hashes(words, self.seed)
        masks = self._masks[bucket_of(h[:, 0], self.n_buckets)]
        return reduce_slots(h[:, 1] ^ masks, self.n_slots)

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        bins = self.slots(words)
        if self.remap.size:
            high = bins >= self.n_bins
            bins[high] = self.remap[bins[high] - self.n_bins]
        return bins

    def to_bytes(self) -> bytes:
        """The artifact: magic, header, SHA-256, encoded pilots, encoded remap."""
        (width, n_exceptions, value_bits), pilot_arrays = encode_pilots(self.pilots)
        low_bits, remap_arrays = encode_monotone(self.remap, self.n_bins)
        fields = (self.n_bins, self.n_slots, self.n_buckets, self.seed, width, n_exceptions)
        head = _MAGIC + _FIELDS.pack(*fields, value_bits, low_bits)
        body = b"".join(a.tobytes() for a in (*pilot_arrays, *remap_arrays))
        return head + hashlib.sha256(head + body).digest() + body

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_bytes` to ``path``; use the suffix ``.pilots`` so that the
        leaderboard loads it."""
        path = Path(path)
        path.write_bytes(self.to_bytes())
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


def _index_bits(n_buckets: int) -> int:
    return max(1, (n_buckets - 1).bit_length())


def encode_pilots(pilots: np.ndarray) -> tuple[tuple[int, int, int], tuple[np.ndarray, ...]]:
    """Pilots as stored: ``((width, n_exceptions, value_bits), (packed, exception_buckets,
    exception_pilots))``. Every bucket's pilot takes ``width`` bits, where the all-ones
    value means "look it up among the exceptions": the buckets (sorted, ``index_bits``
    each) whose pilot does not fit, and their pilots (``value_bits`` each). ``width``
    minimises the total; a lookup stays constant time plus a binary search among the
    exceptions. Most pilots are small, the last buckets' are not."""
    pilots = np.asarray(pilots, dtype=_UINT64)
    value_bits = max(1, int(pilots.max()).bit_length())
    index_bits = _index_bits(pilots.size)
    ordered = np.sort(pilots)

    def cost(width: int) -> int:
        escapes = pilots.size - np.searchsorted(ordered, _UINT64((1 << width) - 1))
        return pilots.size * width + int(escapes) * (index_bits + value_bits)

    width = min(range(1, value_bits + 2), key=cost)
    escape = _UINT64((1 << width) - 1)
    exceptions = np.flatnonzero(pilots >= escape)
    arrays = (
        pack_bits(np.minimum(pilots, escape), width),
        pack_bits(exceptions, index_bits),
        pack_bits(pilots[exceptions], value_bits),
    )
    return (width, int(exceptions.size), value_bits), arrays


def _pilot_sizes(n_buckets: int, width: int, n_exceptions: int, value_bits: int) -> list[int]:
    counts = (n_buckets * width, n_exceptions * _index_bits(n_buckets), n_exceptions * value_bits)
    return [(c + 7) // 8 for c in counts]


def decode_pilots(
    n_buckets: int, width: int, n_exceptions: int, value_bits: int, arrays: Sequence[np.ndarray]
) -> np.ndarray:
    """Inverse of :func:`encode_pilots`."""
    packed, exception_buckets, exception_pilots = arrays
    pilots = unpack_bits(packed, width, n_buckets)
    buckets = unpack_bits(exception_buckets, _index_bits(n_buckets), n_exceptions)
    pilots[buckets.astype(np.int64)] = unpack_bits(exception_pilots, value_bits, n_exceptions)
    return pilots


def encode_monotone(values: np.ndarray, universe: int) -> tuple[int, tuple[np.ndarray, ...]]:
    """Elias-Fano code of a non-decreasing sequence of ``m`` values below ``universe``:
    ``(low_bits, (low, high))``, the ``low_bits = floor(log2(universe / m))`` low bits of
    each value packed, and the high parts as a unary bit vector of ``m + (universe >>
    low_bits) + 1`` bits; about ``2 + log2(universe / m)`` bits per value."""
    values = np.asarray(values, dtype=np.int64)
    m = values.size
    if m == 0:
        return 0, (np.zeros(0, np.uint8), np.zeros(0, np.uint8))
    low_bits = max(0, int(math.floor(math.log2(universe / m))))
    upper = np.zeros(m + (universe >> low_bits) + 1, np.uint8)
    upper[(values >> low_bits) + np.arange(m)] = 1
    low = pack_bits(values & ((1 << low_bits) - 1), low_bits) if low_bits else np.zeros(0, np.uint8)
    return low_bits, (low, np.packbits(upper, bitorder="little"))


def _monotone_sizes(m: int, universe: int, low_bits: int) -> list[int]:
    if m == 0:
        return [0, 0]
    return [(m * low_bits + 7) // 8, (m + (universe >> low_bits) + 1 + 7) // 8]


def decode_monotone(m: int, low_bits: int, arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Inverse of :func:`encode_monotone` (the ``m`` values, as int64)."""
    if m == 0:
        return np.zeros(0, np.int64)
    low, upper = arrays
    high = np.flatnonzero(np.unpackbits(upper, bitorder="little"))[:m] - np.arange(m)
    values = high.astype(np.int64) << low_bits
    if low_bits:
        values |= unpack_bits(low, low_bits, m).astype(np.int64)
    return values


def _npz_format(path: Path) -> str:
    """The ``format`` entry of an ``.npz`` archive ("" if none), as format 1 wrote it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["format"]) if "format" in data.files else ""
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return ""


def load_pilot_hash(path: str | Path) -> PilotHash:
    """Read a :meth:`PilotHash.save` file; a damaged, foreign or format-1 file raises
    :class:`~hash_envs.hashing.ArtifactError` (a ``ValueError``)."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise ArtifactError(f"{path} is not a pilot-hash file: {err}") from None
    if not blob.startswith(_MAGIC):
        if blob.startswith(b"PK") and _npz_format(path) == "hash-envs/pilot-hash/1":
            raise ArtifactError(
                f"{path} is a format-1 pilot-hash file (uniform buckets, modulo reduction, "
                "no remap); this version reads format 2 only: retrain it"
            )
        raise ArtifactError(f"{path} is not a pilot-hash file (format 2 expected)")
    if len(blob) < _HEADER:
        raise ArtifactError(f"{path} is damaged: shorter than its header")
    head, digest, body = (
        blob[: _HEADER - _DIGEST],
        blob[_HEADER - _DIGEST : _HEADER],
        blob[_HEADER:],
    )
    if hashlib.sha256(head + body).digest() != digest:
        raise ArtifactError(f"{path} is damaged: its checksum does not match its contents")
    n_bins, n_slots, n_buckets, seed, width, n_exc, value_bits, low_bits = _FIELDS.unpack(
        head[len(_MAGIC) :]
    )
    sizes = _pilot_sizes(n_buckets, width, n_exc, value_bits)
    sizes += _monotone_sizes(n_slots - n_bins, n_bins, low_bits)
    if sum(sizes) != len(body):
        raise ArtifactError(f"{path} is damaged: {len(body)} bytes of data, {sum(sizes)} expected")
    raw = np.frombuffer(body, np.uint8)
    arrays = np.split(raw, np.cumsum(sizes)[:-1])
    pilots = decode_pilots(n_buckets, width, n_exc, value_bits, arrays[:3])
    remap = decode_monotone(n_slots - n_bins, low_bits, arrays[3:])
    return PilotHash(pilots, n_bins, seed, n_slots=n_slots, remap=remap)


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
