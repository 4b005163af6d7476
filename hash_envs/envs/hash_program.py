"""``hash_envs/HashProgram-v0``: an agent writes a hash function as a program.

The instruction set, the evaluators and :class:`~hash_envs.program.ProgramHash` live in
:mod:`hash_envs.program`; this module is the environment and its reward,
:class:`ProgramScorer`.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import hash_envs.corpus as corpus_lib
from hash_envs.envs.pool import CorpusArg
from hash_envs.metrics import collisions_sd, expected_collisions
from hash_envs.program import (
    BY_NAME,
    INSTRUCTIONS,
    MAX_PROGRAM_LENGTH,
    N_INSTRUCTIONS,
    EncodedWords,
    Program,
    legal_actions,
)

__all__ = ["SLICES", "HashProgramEnv", "ProgramScorer"]

RENDER_MODES = ["ansi", "rgb_array"]
_U64 = np.uint64

#: Output slices the collision term looks at: name -> (bins, what of the 64-bit value).
SLICES: dict[str, tuple[int, str]] = {
    "low10": (2**10, "h & 0x3FF"),
    "low16": (2**16, "h & 0xFFFF"),
    "high16": (2**16, "h >> 48"),
    "mod1000": (1000, "h % 1000"),
    "low32": (2**32, "h & 0xFFFFFFFF"),
    "full64": (2**64, "h"),
}
DEFAULT_SLICES = ("low10", "low16", "high16", "mod1000")
_LANE_SHIFTS = np.arange(8, dtype=np.uint64)
_LANES = _U64(0x0101010101010101)


def _slice(name: str, h: np.ndarray) -> np.ndarray:
    if name == "low10":
        return h & _U64(0x3FF)
    if name == "low16":
        return h & _U64(0xFFFF)
    if name == "high16":
        return h >> _U64(48)
    if name == "mod1000":
        return h % _U64(1000)
    if name == "low32":
        return h & _U64(0xFFFFFFFF)
    return h


@dataclass(frozen=True)
class _SliceSpec:
    name: str
    bins: int
    block: int  # words per block (min(bins, n))
    blocks: int
    expected: float
    sd: float


def avalanche_strings(keys: int, seed: int, length: int = 8) -> list[str]:
    """The quality harness's avalanche keys (:func:`baselines.quality.avalanche_and_bic`):
    ``keys`` random ``length``-letter keys ``a``..``z``, each followed by its ``8 *
    length`` variants with one of the 8 low bits of one character flipped."""
    rng = np.random.default_rng(seed)
    base = rng.integers(ord("a"), ord("z") + 1, size=(keys, length), dtype=np.uint8)
    in_bits = 8 * length
    masks = np.zeros((in_bits, length), dtype=np.uint8)
    masks[np.arange(in_bits), np.arange(in_bits) // 8] = 1 << (np.arange(in_bits) % 8)
    rows = np.concatenate([base[:, None, :], base[:, None, :] ^ masks], axis=1)  # (keys, 1+in, len)
    text = rows.tobytes().decode("latin-1")
    return [text[i : i + length] for i in range(0, len(text), length)]


def keyset_strings(
    sparse_length: int = 32, sparse_marks: int = 3, perm_blocks: int = 6
) -> list[str]:
    """Small versions of the quality harness's structured keysets
    (:func:`baselines.quality.sparse_keys` and :func:`~baselines.quality.permutation_keys`):
    every ``sparse_length``-letter run of ``a`` with at most ``sparse_marks`` letters
    turned into ``b`` (5,489 keys for 32 and 3), then every ordering of ``perm_blocks``
    4-letter blocks (720 for 6)."""
    keys = []
    for k in range(sparse_marks + 1):
        for positions in itertools.combinations(range(sparse_length), k):
            chars = ["a"] * sparse_length
            for p in positions:
                chars[p] = "b"
            keys.append("".join(chars))
    letters = string.ascii_lowercase
    blocks = ["".join(letters[(4 * k + i) % 26] for i in range(4)) for k in range(perm_blocks)]
    keys += ["".join(p) for p in itertools.permutations(blocks)]
    return keys


class ProgramScorer:
    """The reward of ``HashProgram-v0``: a pure, deterministic function of the program.

    ``reward = -(collision_weight * sum_s log1p(max(z_s - z_tolerance, 0)) +
    keyset_weight * log1p(max(z_k - z_tolerance, 0)) + avalanche_weight * log1p(max(a,
    0)) + latency_weight * executed)``, where

    * ``z_s = (C_s - E_s) / SD_s`` for each slice ``s`` of :data:`SLICES`: ``C_s`` the
      collisions (words minus occupied bins, the leaderboard's definition) of the sample
      words' slice values, ``E_s`` and ``SD_s`` a uniformly random function's mean and
      standard deviation. A slice of ``m`` bins with ``m <= n_words`` is scored like the
      leaderboard's random-1000 track: the sample in ``n_words // m`` blocks of ``m``
      words into ``m`` bins, collisions summed; a wider slice takes the whole sample once;
    * ``z_k`` is the same for the low 32 bits on :func:`keyset_strings` (6,209 structured
      keys: the quality harness's sparse and block-permutation keysets, smaller): a body
      that folds chunks weakly (``xor_chunk mul_k0``, FNV-1a's shape, collides on sparse
      keys) pays here, since the Moby sample alone does not show it;
    * ``a = keys * mean((2 p - 1)**2) - 1`` over the 64 x 64 (input bit, output bit)
      cells of the quality harness's avalanche test on ``avalanche_keys`` keys, ``p`` the
      fraction of keys in which flipping the input bit flips the output bit; ``a`` is 0 on
      average for an ideal hash, ``keys - 1`` for one that never mixes;
    * ``executed`` is the instructions run per word, ``len(body) * chunks +
      len(finaliser)``, averaged over the sample (markers not counted).

    ``z_tolerance`` (default 2) lets collisions within that many standard deviations of
    the expectation cost nothing: at random level the sample's luck should not pick the
    program. ``log1p`` keeps a hopeless program's penalty finite (about 6 per slice) while
    small excesses still move it. Results are cached per program.
    """

    def __init__(
        self,
        words: Sequence[str],
        slices: Sequence[str] = DEFAULT_SLICES,
        avalanche_keys: int = 128,
        avalanche_seed: int = 0,
        collision_weight: float = 1.0,
        avalanche_weight: float = 5.0,
        latency_weight: float = 0.01,
        z_tolerance: float = 2.0,
        keyset_weight: float = 1.0,
        cache_size: int = 200_000,
    ) -> None:
        self.words = list(words)
        self.sample = EncodedWords(self.words)
        n = self.sample.n
        self.slices: list[_SliceSpec] = []
        for name in slices:
            bins = SLICES[name][0]
            block = min(bins, n)
            blocks = n // block
            expected = blocks * expected_collisions(block, bins)
            sd = math.sqrt(blocks) * (
                collisions_sd(block, bins) if bins <= 2**24 else math.sqrt(expected)
            )
            self.slices.append(_SliceSpec(name, bins, block, blocks, expected, sd))
        self._offsets = {
            s.name: np.repeat(np.arange(s.blocks, dtype=np.int64) * s.bins, s.block)
            for s in self.slices
            if s.blocks > 1
        }
        self.avalanche_keys = int(avalanche_keys)
        self.avalanche = (
            EncodedWords(avalanche_strings(self.avalanche_keys, avalanche_seed))
            if self.avalanche_keys
            else None
        )
        self.weights = (float(collision_weight), float(avalanche_weight), float(latency_weight))
        self.z_tolerance = float(z_tolerance)
        self.keyset_weight = float(keyset_weight)
        self.keysets = EncodedWords(keyset_strings()) if self.keyset_weight else None
        if self.keysets is not None:
            n_keys = self.keysets.n
            self._keyset_expected = expected_collisions(n_keys, 2**32)
            self._keyset_sd = math.sqrt(self._keyset_expected)
        self._cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._cache_size = int(cache_size)
        self.evaluations = 0  # programs scored, cache hits included

    def collisions(self, h: np.ndarray) -> dict[str, dict[str, float]]:
        """Collisions, expectation and ``z`` of each slice for the values ``h``."""
        out = {}
        for s in self.slices:
            v = _slice(s.name, h[: s.blocks * s.block])
            if s.bins <= 2**17:
                keys = v.view(np.int64)
                if s.blocks > 1:
                    keys = keys + self._offsets[s.name]
                seen = np.zeros(s.blocks * s.bins, dtype=bool)
                seen[keys] = True
                occupied = np.count_nonzero(seen)
            else:
                v = np.sort(v)
                occupied = 1 + np.count_nonzero(v[1:] != v[:-1]) if v.size else 0
            c = s.blocks * s.block - int(occupied)
            out[s.name] = {
                "collisions": c,
                "expected": s.expected,
                "z": (c - s.expected) / s.sd if s.sd > 0 else 0.0,
            }
        return out

    def avalanche_excess(self, program: Program) -> float:
        """``a`` above (0 when ``avalanche_keys`` is 0)."""
        if self.avalanche is None:
            return 0.0
        keys = self.avalanche_keys
        h = self.avalanche.run(program).reshape(keys, 65)
        flips = h[:, 1:] ^ h[:, :1]  # (keys, 64 input bits): output bits that flipped
        counts = np.zeros((64, 64), dtype=np.int64)  # (input bit, output bit)
        lane_sums = np.empty((8, 64), dtype=np.uint64)
        for start in range(0, keys, 255):  # byte lanes: up to 255 keys per lane sum
            part = flips[start : start + 255]
            for r in range(8):  # byte q of lane_sums[r, i]: flips of output bit 8 q + r
                np.sum(
                    (part >> _LANE_SHIFTS[r]) & _LANES, axis=0, dtype=np.uint64, out=lane_sums[r]
                )
            counts += lane_sums.view(np.uint8).reshape(8, 64, 8).transpose(1, 2, 0).reshape(64, 64)
        p = counts / keys
        return float(keys * np.mean((2 * p - 1) ** 2) - 1)

    def keyset_collisions(self, program: Program) -> dict[str, float]:
        """Low-32-bit collisions on :func:`keyset_strings`, with expectation and ``z``."""
        if self.keysets is None:
            return {"collisions": 0, "expected": 0.0, "z": 0.0}
        v = np.sort(self.keysets.run(program) & _U64(0xFFFFFFFF))
        c = int(np.count_nonzero(v[1:] == v[:-1]))
        z = (c - self._keyset_expected) / self._keyset_sd
        return {"collisions": c, "expected": self._keyset_expected, "z": z}

    def score(self, program: Program) -> tuple[float, dict[str, Any]]:
        """``(reward, terms)`` of ``program``; ``terms`` names every part of the reward."""
        self.evaluations += 1
        key = program.instructions
        if key in self._cache:
            return self._cache[key]
        h = self.sample.run(program)
        slices = self.collisions(h)
        avalanche = self.avalanche_excess(program)
        keyset = self.keyset_collisions(program)
        executed = float(program.executed(self.sample.mean_chunks))
        wc, wa, wl = self.weights
        tol = self.z_tolerance
        collision_term = wc * sum(math.log1p(max(s["z"] - tol, 0.0)) for s in slices.values())
        avalanche_term = wa * math.log1p(max(avalanche, 0.0))
        latency_term = wl * executed
        keyset_term = self.keyset_weight * math.log1p(max(keyset["z"] - tol, 0.0))
        reward = -(collision_term + keyset_term + avalanche_term + latency_term)
        terms = {
            "slices": slices,
            "keysets": keyset,
            "avalanche_excess": avalanche,
            "executed": executed,
            "collision_term": collision_term,
            "keyset_term": keyset_term,
            "avalanche_term": avalanche_term,
            "latency_term": latency_term,
        }
        if len(self._cache) < self._cache_size:
            self._cache[key] = (reward, terms)
        return reward, terms


@functools.lru_cache(maxsize=4)
def _cached_scorer(corpus: str, n_words: int, sample_seed: int, rest: tuple) -> ProgramScorer:
    return ProgramScorer(_sample(corpus_lib.load(corpus), n_words, sample_seed), *rest)


def _sample(words: Sequence[str], n_words: int, seed: int) -> list[str]:
    if n_words > len(words):
        raise ValueError(f"n_words={n_words} is larger than the corpus ({len(words)} words)")
    rng = np.random.default_rng(seed)
    return [words[i] for i in rng.choice(len(words), size=n_words, replace=False)]


def _finite(name: str, value: float, minimum: float | None = 0.0) -> float:
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "a finite number" if minimum is None else f"finite and >= {minimum:g}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


class HashProgramEnv(gym.Env[np.ndarray, np.int64]):
    """Write a hash function as a program, one instruction per step.

    ## Description
    An episode writes a program of at most ``max_instructions`` instructions in the
    instruction set of :mod:`hash_envs.program`: a loop body that runs once per 8-byte
    chunk of a word's UTF-8 bytes, ``end_body``, a finaliser that runs once per word, and
    ``end``. Two 64-bit registers: the state ``h`` (starting as the byte length times a
    constant, so the length is folded in) and the chunk ``m``. The instructions combine
    the chunk into ``h`` (``xor_chunk``, ``add_chunk``), premix the chunk
    (``mul_chunk_k0..3``), multiply ``h`` by one of four odd constants (``mul_k0..3``),
    xor-shift it right (``xorshift_13/23/29/33``) or rotate it (``rotl_11/23/27/31``):
    the shape of FNV-1a, wyhash and xxHash. When the program ends it is scored once, on a
    fixed sample of ``n_words`` corpus words, for collisions, avalanche and speed; the
    finished program is a hash function
    (:class:`hash_envs.program.ProgramHash`) and the best one found is the leaderboard
    contender ``rl-program``.

    ## Action Space
    ``Discrete(20)``: the next instruction, ``hash_envs.program.INSTRUCTIONS[action]``.
    :meth:`action_masks` gives the legal ones (sb3-contrib's ``MaskablePPO`` uses it):
    an action is legal exactly when the program can still be completed legally within
    ``max_instructions`` (the body needs a combine before ``end_body``, no dead
    ``mul_chunk`` after the body's last combine, chunk instructions only in the body,
    ``end_body`` once, ``end`` last; room is kept for the markers). An illegal action
    ends the episode with ``illegal_reward``.

    ## Observation Space
    ``MultiDiscrete([21] * max_instructions + [max_instructions + 1])``: the instruction
    ids of the program so far (``action + 1``; 0 pads the unwritten positions), then the
    step (the number of instructions written).

    ## Rewards
    0 for every instruction but the last. When ``end`` is written the program is scored
    (:class:`ProgramScorer`)::

        reward = -(collision_weight * sum_s log1p(max(z_s - z_tolerance, 0))
                   + keyset_weight * log1p(max(z_k - z_tolerance, 0))
                   + avalanche_weight * log1p(max(a, 0))
                   + latency_weight * executed)

    ``z_s`` is how many standard deviations the collisions of the output slice ``s``
    (default ``low10``, ``low16``, ``high16``, ``mod1000``; also ``low32``, ``full64``)
    lie above a uniformly random function's expectation on the sample (blocks of as many
    words as the slice has bins, like the leaderboard's random-1000 track; collisions
    within ``z_tolerance`` = 2 standard deviations are free); ``z_k`` the same for the
    low 32 bits on 6,209 structured keys (small versions of the quality harness's sparse
    and block-permutation keysets); ``a`` the excess mean squared avalanche bias over an
    ideal hash's (the quality harness's bit-flip test
    on ``avalanche_keys`` random 8-letter keys, all 64 output bits; 0 on average for an
    ideal hash); ``executed`` the mean instructions run per sample word. A program with
    random-level collisions and full avalanche scores about ``-latency_weight *
    executed`` (-0.1 for ten instructions); one that sends most words to a few values
    about -50. An illegal action pays ``illegal_reward``.

    ## Episode End
    The episode terminates when ``end`` is written (at the latest after
    ``max_instructions`` steps: the masks force it) or on an illegal action. There is no
    truncation. Stepping a finished episode raises ``RuntimeError``.

    ## Info
    The last step of a legal program: ``program`` (the instruction names),
    ``program_reward`` and ``reward_terms`` (per-slice collisions, expectations and
    ``z``, ``keysets``, ``avalanche_excess``, ``executed`` and the four weighted terms,
    whose sum is minus the reward). An illegal
    action: ``illegal`` (the instruction's name).

    ## Arguments
    * ``corpus``: ``"moby"`` (default), ``"web2"``, a path to a word list, or a sequence
      of words; see :func:`hash_envs.corpus.load`.
    * ``n_words``: words in the scoring sample (default 10,000; at least 1,024 and at most
      the corpus), drawn once with ``sample_seed`` (default 0).
    * ``max_instructions``: the longest program, markers included (default 16; 3 to 64).
    * ``slices``: the output slices of the collision term (default the four above).
    * ``avalanche_keys``: keys of the avalanche term (default 128; 0 drops the term),
      drawn with ``avalanche_seed`` (default 0).
    * ``collision_weight`` / ``avalanche_weight`` / ``latency_weight``: the weights above
      (1, 5, 0.01; each >= 0); ``keyset_weight`` (1; 0 drops the term); ``z_tolerance``:
      the free standard deviations (default 2, >= 0).
    * ``illegal_reward``: the reward of an illegal action (default -100, below any
      program's).
    * ``render_mode``: ``None``, ``"ansi"`` (the program as text) or ``"rgb_array"``
      (one cell per instruction slot, coloured by kind).

    An argument out of range raises ``ValueError``.

    ## Version History
    * v0: initial version.

    ```python
    import gymnasium as gym
    import hash_envs  # registers the environments

    env = gym.make("hash_envs/HashProgram-v0", corpus="web2", max_instructions=16)
    obs, info = env.reset(seed=0)
    action = int(env.unwrapped.action_masks().nonzero()[0][0])  # a legal instruction
    obs, reward, terminated, truncated, info = env.step(action)
    ```
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 4}

    def __init__(
        self,
        corpus: CorpusArg = "moby",
        n_words: int = 10_000,
        sample_seed: int = 0,
        max_instructions: int = 16,
        slices: Sequence[str] = DEFAULT_SLICES,
        avalanche_keys: int = 128,
        avalanche_seed: int = 0,
        collision_weight: float = 1.0,
        avalanche_weight: float = 5.0,
        latency_weight: float = 0.01,
        z_tolerance: float = 2.0,
        keyset_weight: float = 1.0,
        illegal_reward: float = -100.0,
        render_mode: str | None = None,
    ) -> None:
        n_words, max_instructions = int(n_words), int(max_instructions)
        if n_words < 1024:
            raise ValueError(f"n_words must be >= 1024 (the low10 slice's block), got {n_words}")
        if not 3 <= max_instructions <= MAX_PROGRAM_LENGTH:
            raise ValueError(
                f"max_instructions must be between 3 and {MAX_PROGRAM_LENGTH}, "
                f"got {max_instructions}"
            )
        if isinstance(slices, str):
            slices = (slices,)
        slices = tuple(slices)
        unknown = [s for s in slices if s not in SLICES]
        if unknown or not slices or len(set(slices)) != len(slices):
            raise ValueError(
                f"slices must be distinct names from {', '.join(SLICES)}, got {list(slices)!r}"
            )
        avalanche_keys = int(avalanche_keys)
        if not 0 <= avalanche_keys <= 100_000:
            raise ValueError(f"avalanche_keys must be between 0 and 100000, got {avalanche_keys}")
        rest = (
            slices,
            avalanche_keys,
            int(avalanche_seed),
            _finite("collision_weight", collision_weight),
            _finite("avalanche_weight", avalanche_weight),
            _finite("latency_weight", latency_weight),
            _finite("z_tolerance", z_tolerance),
            _finite("keyset_weight", keyset_weight),
        )
        self.illegal_reward = _finite("illegal_reward", illegal_reward, None)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}"
            )
        if isinstance(corpus, str | os.PathLike):
            name = os.fspath(corpus)
            if name not in corpus_lib.CORPUS_NAMES and not os.path.isfile(os.path.expanduser(name)):
                raise ValueError(
                    f"corpus must be one of {', '.join(map(repr, corpus_lib.CORPUS_NAMES))}, the "
                    f"path of an existing .txt/.zip word file, or a sequence of words; got {name!r}"
                )
            words = corpus_lib.load(name)
            if n_words > len(words):
                raise ValueError(
                    f"n_words={n_words} is larger than the corpus ({len(words)} words)"
                )
            self.scorer = _cached_scorer(name, n_words, int(sample_seed), rest)
        else:
            words = sorted({w for w in corpus})
            if any(not isinstance(w, str) for w in words):
                raise TypeError("corpus words must be str")
            self.scorer = ProgramScorer(_sample(words, n_words, int(sample_seed)), *rest)
        self.n_words = n_words
        self.max_instructions = max_instructions
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(N_INSTRUCTIONS)
        self.observation_space = spaces.MultiDiscrete(
            [N_INSTRUCTIONS + 1] * max_instructions + [max_instructions + 1]
        )
        self._names: list[str] = []
        self._done = True
        self._last: dict[str, Any] = {}

    # -- program state ----------------------------------------------------------------
    @property
    def program_so_far(self) -> tuple[str, ...]:
        """The instruction names written in this episode."""
        return tuple(self._names)

    def action_masks(self) -> np.ndarray:
        """Legal actions now (``bool``, one per instruction); all ``False`` after the end."""
        if self._done:
            return np.zeros(N_INSTRUCTIONS, dtype=bool)
        return legal_actions(self._names, self.max_instructions)

    def evaluate(self, program: Program | Sequence[str]) -> tuple[float, dict[str, Any]]:
        """``(reward, terms)`` of a whole program, as the episode that writes it would
        pay (the program must fit ``max_instructions``)."""
        if not isinstance(program, Program):
            program = Program(tuple(program))
        if len(program) > self.max_instructions:
            raise ValueError(
                f"the program has {len(program)} instructions, more than "
                f"max_instructions={self.max_instructions}"
            )
        return self.scorer.score(program)

    def evaluate_reward(self, program: Program) -> float:
        return self.evaluate(program)[0]

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.max_instructions + 1, dtype=np.int64)
        ids = [BY_NAME[n].id for n in self._names]
        obs[: len(ids)] = ids
        obs[-1] = len(ids)
        return obs

    # -- Gymnasium API ------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._names = []
        self._done = False
        self._last = {}
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        try:
            a = int(np.asarray(action).item())
        except (TypeError, ValueError):
            raise TypeError(f"action must be an integer instruction, got {action!r}") from None
        if not 0 <= a < N_INSTRUCTIONS:
            raise ValueError(f"action {a} is outside 0..{N_INSTRUCTIONS - 1}")
        name = INSTRUCTIONS[a].name
        if not legal_actions(self._names, self.max_instructions)[a]:
            self._done = True
            self._last = {"illegal": name}
            return self._obs(), self.illegal_reward, True, False, {"illegal": name}
        self._names.append(name)
        if name != "end":
            return self._obs(), 0.0, False, False, {}
        self._done = True
        program = Program(tuple(self._names))
        reward, terms = self.scorer.score(program)
        info = {"program": program.instructions, "program_reward": reward, "reward_terms": terms}
        self._last = info
        return self._obs(), float(reward), True, False, info

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            text = " ".join(self._names) or "(empty)"
            if "program_reward" in self._last:
                text += f"\nreward {self._last['program_reward']:.3f}"
            elif "illegal" in self._last:
                text += f"\nillegal: {self._last['illegal']}"
            return text + "\n"
        if self.render_mode == "rgb_array":
            colours = {
                "xor_chunk": (66, 135, 245), "add_chunk": (66, 135, 245),
                "mul_chunk": (120, 80, 200), "mul": (230, 80, 60),
                "xorshift": (60, 180, 90), "rotl": (240, 190, 40),
                "end_body": (255, 255, 255), "end": (160, 160, 160),
            }  # fmt: skip
            cell = 16
            frame = np.zeros((cell, cell * self.max_instructions, 3), dtype=np.uint8)
            for i, n in enumerate(self._names):
                frame[1:-1, i * cell + 1 : (i + 1) * cell - 1] = colours[BY_NAME[n].op]
            return frame
        return None
