"""Hash-placement environments: put words into the bins of a fixed-size hash table.

The single environments and their native batched ``VectorEnv`` live side by side, as in
Gymnasium's ``classic_control/cartpole.py``. The single env keeps its table in Python
ints (fastest for one scalar update per step); the vector env keeps one numpy row per
sub-environment. A test checks that both give identical episodes for the same seeds.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from hash_envs.encoding import EncodingName
from hash_envs.envs.pool import CorpusArg, WordPool, build_pool
from hash_envs.envs.render import render_ansi, render_rgb
from hash_envs.metrics import expected_collisions
from hash_envs.rewards import REWARD_MODES, shared_bin_total

RENDER_MODES = ["ansi", "rgb_array"]


def _check_args(
    n_words: int, n_bins: int, pool: WordPool, render_mode: str | None, reward_mode: str
) -> None:
    if reward_mode not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if int(n_words) < 1:
        raise ValueError(f"n_words must be >= 1, got {n_words}")
    if int(n_words) > len(pool):
        raise ValueError(
            f"n_words={n_words} is larger than the word pool ({len(pool)} words); "
            "lower n_words or raise pool_size"
        )
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}")


def bin_layout(n_bins: int) -> tuple[int, int]:
    """``(rows, cols)`` of a factorised table: the most square grid with ``rows * cols >=
    n_bins`` (``rows = ceil(sqrt(n_bins))``), so each part of the action stays small."""
    rows = math.isqrt(n_bins - 1) + 1 if n_bins > 1 else 1
    return rows, -(-n_bins // rows)


def _action_space(n_bins: int, factorize_bins: bool) -> spaces.Space:
    if factorize_bins:
        return spaces.MultiDiscrete(bin_layout(n_bins))
    return spaces.Discrete(n_bins)


def actions_to_bins(actions: np.ndarray, n_bins: int, factorize_bins: bool) -> np.ndarray:
    """Bins named by a batch of actions: ``(batch,)`` bins, or ``(batch, 2)`` factorised
    ``(row, col)`` cells mapped to ``(row * cols + col) % n_bins`` (:func:`bin_layout`)."""
    actions = np.asarray(actions)
    if not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
    if not factorize_bins:
        if actions.ndim != 1:
            raise ValueError(f"actions must be a batch of bins, got shape {actions.shape}")
        if actions.size and _out_of_range(actions, n_bins):
            raise ValueError(f"actions must lie in the table's bins 0..{n_bins - 1}")
        return actions.astype(np.int64, copy=False)
    rows, cols = bin_layout(n_bins)
    if actions.ndim != 2 or actions.shape[1] != 2:
        raise ValueError(f"factorised actions must be (row, col) pairs, got shape {actions.shape}")
    cells = actions.astype(np.int64)
    if cells.size:
        unsigned = cells.view(np.uint64)  # negatives read as huge: one max per column
        if unsigned[:, 0].max() >= rows or unsigned[:, 1].max() >= cols:
            raise ValueError(f"factorised actions must lie in MultiDiscrete([{rows}, {cols}])")
    bins = cells[:, 0] * cols
    bins += cells[:, 1]
    if rows * cols > n_bins:  # otherwise every cell already names its own bin
        np.remainder(bins, n_bins, out=bins)
    return bins


def _out_of_range(actions: np.ndarray, n_bins: int) -> bool:
    """Whether any integer action lies outside ``0 .. n_bins - 1`` (``actions`` non-empty).

    For signed actions whose type holds ``n_bins``, one pass over the bits read as unsigned
    (negatives become values ``>= 2**(bits - 1) >= n_bins``) replaces a min and a max."""
    if actions.dtype.kind == "i" and n_bins <= np.iinfo(actions.dtype).max:
        return bool(actions.view(actions.dtype.str.replace("i", "u")).max() >= n_bins)
    return bool(actions.min() < 0 or actions.max() >= n_bins)


def _autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """Accept the enum, its value (``"SameStep"``) or its name (``"same_step"``)."""
    if isinstance(mode, AutoresetMode):
        return mode
    for candidate in AutoresetMode:
        if mode in (candidate.value, candidate.name, candidate.name.lower()):
            return candidate
    raise ValueError(f"unknown autoreset_mode {mode!r}; use NEXT_STEP or SAME_STEP")


def _row(batch: Any, i: int) -> Any:
    """Sub-env ``i``'s part of a batched observation (an array or a dict of arrays)."""
    if isinstance(batch, dict):
        return {key: value[i] for key, value in batch.items()}
    return batch[i]


def _copy_obs(batch: Any) -> Any:
    """A copy of a batched observation (an array or a dict of arrays)."""
    if isinstance(batch, dict):
        return {key: value.copy() for key, value in batch.items()}
    return batch.copy()


def _draw_episode(rng: np.random.Generator, pool: WordPool, n_words: int) -> np.ndarray:
    """Indices of the ``n_words`` distinct pool words of one episode, in showing order."""
    return rng.choice(len(pool), size=n_words, replace=False)


def _pool_indices(pool: WordPool, words: Sequence[str]) -> list[int]:
    """Pool indices of ``words``, which must be distinct pool words."""
    if isinstance(words, str):
        raise TypeError("word_order must be a sequence of words, not a single string")
    index = {word: i for i, word in enumerate(pool.words)}
    missing = [w for w in words if w not in index]
    if missing:
        raise ValueError(
            f"word_order has {len(missing)} words not in the pool, e.g. {missing[0]!r}"
        )
    indices = [index[w] for w in words]
    if len(set(indices)) != len(indices):
        raise ValueError("word_order repeats a word")
    return indices


class StatelessHashEnv(gym.Env[np.ndarray, np.int64]):
    """Place words into hash-table bins; the agent sees only the word.

    ## Description
    Each episode shows ``n_words`` distinct words, one per step, drawn from a word pool
    (by default the 466,551-word Moby list) with the env's seeded random generator. The
    agent chooses a bin for each word. Because the observation is the word alone, a
    deterministic policy *is* a hash function: its answer cannot depend on what was
    hashed before. With ``pool_size == n_words`` every episode shows the same words (in
    a new order), which is the memorisation setting of the RL hash-function paper: a
    policy with zero collisions is a perfect hash of the pool.

    ## Action Space
    ``Discrete(n_bins)``: the bin to put the current word into. With
    ``factorize_bins=True``: ``MultiDiscrete([rows, cols])`` (:func:`bin_layout`, the most
    square grid with at least ``n_bins`` cells) and the bin is ``(row * cols + col) %
    n_bins``; the few cells past ``n_bins`` wrap onto the first bins. An agent then scores
    ``rows + cols`` actions instead of ``n_bins`` (about 1,366 instead of 466,551 for the
    whole Moby list), and its argmax is two small argmaxes.

    ## Observation Space
    The encoded word (see :mod:`hash_envs.encoding`), zero-padded to ``max_len`` bytes:

    * ``encoding="codepoints"`` (default): ``Box(0, 1, (max_len,), float32)``, the
      UTF-8 byte values / 255;
    * ``encoding="bytes"``: ``MultiDiscrete([256] * max_len)``.

    After the last word the observation is all zeros ("no word left").

    ## Rewards
    ``reward_mode="first_come"`` (default, the paper's rule): ``reward_empty`` (+10) if
    the chosen bin held no word yet in this episode, ``reward_occupied`` (-10)
    otherwise. The episode return is therefore ``10 * (n_words - 2 * collisions)`` with
    the default values.

    ``reward_mode="shared_bin"``: every step pays 0 and the last one pays, for every word
    of the episode, ``reward_empty`` if it ended alone in its bin and ``reward_occupied``
    if it shares it (both words of a collision are penalised). See
    :mod:`hash_envs.rewards` for why, and for the per-word rewards.

    ## Episode End
    The episode terminates after the ``n_words``-th word is placed. There is no
    truncation. Stepping a finished episode raises ``RuntimeError``.

    ## Info
    Every step: ``collisions`` (words placed minus occupied bins), ``occupied_bins`` and
    ``max_load``. The final step adds ``episode_return`` and ``expected_collisions``, the
    mean collisions of a uniformly random hash function for the same sizes.

    ## Arguments
    * ``corpus``: ``"moby"`` (default), ``"web2"``, a path to a word list, or a sequence
      of words; see :func:`hash_envs.corpus.load`.
    * ``n_words``: words per episode (default 1000).
    * ``n_bins``: bins in the table (default 1000).
    * ``pool_size``: ``None`` draws from the whole corpus; an integer keeps a fixed,
      seeded subset of that many words (:func:`hash_envs.corpus.subset`).
    * ``pool_seed``: seed of that subset (default 0).
    * ``encoding``: ``"codepoints"`` or ``"bytes"``.
    * ``max_len``: encoded length; defaults to the longest word of the pool.
    * ``reward_empty`` / ``reward_occupied``: the two rewards (+10 / -10).
    * ``reward_mode``: ``"first_come"`` (default) or ``"shared_bin"``.
    * ``word_order``: ``None`` (default) draws each episode's words in a new random
      order; a sequence of ``n_words`` distinct pool words shows exactly these words, in
      this order, in every episode -- a fixed placement priority under ``first_come``
      (e.g. :attr:`agents.PilotQ.episode_order`, largest buckets first).
    * ``factorize_bins``: ``False`` (default) or ``True`` for the factorised action space
      above.
    * ``render_mode``: ``None``, ``"ansi"`` (a text summary with a load histogram) or
      ``"rgb_array"`` (one cell per bin, brighter = more words).

    ## Version History
    * v0: initial version (``factorize_bins`` added without a version bump: its default
      leaves the env unchanged).

    ```python
    import gymnasium as gym
    import hash_envs  # registers the environments

    env = gym.make("hash_envs/StatelessHash-v0", n_words=1000, n_bins=1000)
    obs, info = env.reset(seed=0)
    ```
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 30}

    def __init__(
        self,
        corpus: CorpusArg = "moby",
        n_words: int = 1000,
        n_bins: int = 1000,
        pool_size: int | None = None,
        pool_seed: int = 0,
        encoding: EncodingName = "codepoints",
        max_len: int | None = None,
        reward_empty: float = 10.0,
        reward_occupied: float = -10.0,
        reward_mode: str = "first_come",
        render_mode: str | None = None,
        word_order: Sequence[str] | None = None,
        factorize_bins: bool = False,
    ) -> None:
        self.pool = build_pool(corpus, pool_size, pool_seed, encoding, max_len)
        _check_args(n_words, n_bins, self.pool, render_mode, reward_mode)
        self._fixed_order = None if word_order is None else _pool_indices(self.pool, word_order)
        if self._fixed_order is not None and len(self._fixed_order) != n_words:
            raise ValueError(
                f"word_order has {len(self._fixed_order)} words, not n_words={n_words}"
            )
        self.reward_mode = reward_mode
        self.n_words = int(n_words)
        self.n_bins = int(n_bins)
        self.reward_empty = float(reward_empty)
        self.reward_occupied = float(reward_occupied)
        self.render_mode = render_mode
        self.factorize_bins = bool(factorize_bins)
        self.action_space = _action_space(self.n_bins, self.factorize_bins)
        self.observation_space = self.pool.encoder.space
        self._order: list[int] = []
        self._loads: list[int] = [0] * self.n_bins
        self._t = self.n_words  # no episode yet: step() asks for reset()
        self._occupied = 0
        self._max_load = 0
        self._return = 0.0

    # -- episode state ------------------------------------------------------------
    @property
    def current_word(self) -> str | None:
        """The word the agent must place now (``None`` once the episode is over)."""
        return self.pool.words[self._order[self._t]] if self._t < self.n_words else None

    @property
    def episode_words(self) -> list[str]:
        """The words of the current episode, in showing order."""
        return [self.pool.words[i] for i in self._order[: self.n_words]]

    @property
    def loads(self) -> np.ndarray:
        """Words per bin in the current episode."""
        return np.asarray(self._loads, dtype=np.int64)

    def _word_obs(self) -> np.ndarray:
        return self.pool.observe_one(self._order[self._t])

    def _get_obs(self) -> Any:
        return self._word_obs()

    def _shared_bin_reward(self) -> float:
        """0 until the last word; then the episode's sum of alone/shared rewards."""
        if self._t < self.n_words:
            return 0.0
        return float(shared_bin_total(self.loads, self.reward_empty, self.reward_occupied))

    def _on_place(self, action: int, was_empty: bool) -> None:
        """Hook for subclasses that track more table state."""

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "collisions": self._t - self._occupied,
            "occupied_bins": self._occupied,
            "max_load": self._max_load,
        }
        if self._t == self.n_words:
            info["episode_return"] = self._return
            info["expected_collisions"] = expected_collisions(self.n_words, self.n_bins)
        return info

    def action_to_bin(self, action: Any) -> int:
        """The bin an action names (checked; factorised actions are ``(row, col)``)."""
        if not self.factorize_bins:
            try:
                bin_ = operator.index(action)
            except TypeError:
                raise TypeError(f"action must be an integer bin, got {action!r}") from None
            if not 0 <= bin_ < self.n_bins:
                raise ValueError(f"action {bin_} is outside the table's bins 0..{self.n_bins - 1}")
            return bin_
        cell = np.asarray(action)
        if cell.shape != (2,) or not np.issubdtype(cell.dtype, np.integer):
            raise TypeError(f"action must be a (row, col) pair of integers, got {action!r}")
        return int(actions_to_bins(cell[None], self.n_bins, True)[0])

    # -- Gymnasium API -------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if self._fixed_order is None:
            order = _draw_episode(self.np_random, self.pool, self.n_words).tolist()
        else:
            order = self._fixed_order
        self._order = [*order, self.pool.end_index]
        self._loads = [0] * self.n_bins
        self._t = 0
        self._occupied = 0
        self._max_load = 0
        self._return = 0.0
        return self._get_obs(), self._info()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._t >= self.n_words:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        bin_ = self.action_to_bin(action)
        load = self._loads[bin_] + 1
        self._loads[bin_] = load
        if load == 1:
            reward = self.reward_empty
            self._occupied += 1
        else:
            reward = self.reward_occupied
        if load > self._max_load:
            self._max_load = load
        self._on_place(bin_, load == 1)
        self._t += 1
        if self.reward_mode == "shared_bin":
            reward = self._shared_bin_reward()
        self._return += reward
        return self._get_obs(), reward, self._t == self.n_words, False, self._info()

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode to make()")
            return None
        if self.render_mode == "ansi":
            return render_ansi(self.loads, self.n_words, word=self.current_word)
        return render_rgb(self.loads)


class TableAwareHashEnv(StatelessHashEnv):
    """Place words into hash-table bins, seeing the word *and* which bins are occupied.

    ## Description
    As :class:`StatelessHashEnv`, but the agent also sees the table, so it can learn to
    avoid occupied bins. Its policy is not a hash function (its answer depends on what
    was placed before); it measures how well an agent can fill a table online.

    ## Observation Space
    ``Dict(word=<the word space of StatelessHashEnv>, table=MultiBinary(n_bins))``,
    where ``table[b] == 1`` iff bin ``b`` holds at least one word. SB3's
    ``MultiInputPolicy`` accepts it.

    Action space, rewards, episode end, info and arguments are those of
    :class:`StatelessHashEnv`.

    ## Version History
    * v0: initial version (``factorize_bins`` added without a version bump: its default
      leaves the env unchanged).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observation_space = spaces.Dict(
            {"word": self.pool.encoder.space, "table": spaces.MultiBinary(self.n_bins)}
        )
        self._table = np.zeros(self.n_bins, dtype=np.int8)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._table = np.zeros(self.n_bins, dtype=np.int8)
        return super().reset(seed=seed, options=options)

    def _on_place(self, action: int, was_empty: bool) -> None:
        if was_empty:
            self._table[action] = 1

    def _get_obs(self) -> dict[str, np.ndarray]:
        return {"word": self._word_obs(), "table": self._table.copy()}


class StatelessHashVectorEnv(VectorEnv):
    """``num_envs`` copies of :class:`StatelessHashEnv` stepped together in numpy.

    Sub-environment ``i`` reset with ``seed`` uses ``seed + i``, so it replays exactly
    what ``SyncVectorEnv`` of the single env would. Every episode has ``n_words`` steps,
    so the sub-environments always stay in step: they share one clock ``t``, and the
    episode orders are stored time-major so that step ``t`` reads one contiguous row.

    ``autoreset_mode`` is Gymnasium's ``NEXT_STEP`` by default (the step after an episode
    ends starts a new one; its actions are ignored and its rewards are 0) or
    ``SAME_STEP`` (the final step already returns the next episode's first observation,
    with the final observation and info under ``info["final_obs"]`` /
    ``info["final_info"]``, as Stable-Baselines3 expects).

    Info arrays (with Gymnasium's ``_key`` masks): ``collisions``, ``occupied_bins``,
    ``max_load``, and on the final step of an episode ``episode_return`` and
    ``expected_collisions``.

    ``copy`` follows Gymnasium's ``SyncVectorEnv(copy=...)``: ``True`` (default) makes
    every observation returned by :meth:`reset` and :meth:`step` the caller's own array;
    ``False`` lets them return the env's buffers, which the next ``step`` / ``reset``
    overwrites in place (copy what you keep). Only :class:`TableAwareHashVectorEnv`
    has such a buffer, its ``(num_envs, n_bins)`` table, whose per-step copy is most of
    its step time at 1,024 envs; the word observation, rewards, flags and infos are new
    arrays every step either way, and ``info["final_obs"]`` (``SAME_STEP``) is always a
    copy.
    """

    metadata = {
        "render_modes": RENDER_MODES,
        "render_fps": 30,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        corpus: CorpusArg = "moby",
        n_words: int = 1000,
        n_bins: int = 1000,
        pool_size: int | None = None,
        pool_seed: int = 0,
        encoding: EncodingName = "codepoints",
        max_len: int | None = None,
        reward_empty: float = 10.0,
        reward_occupied: float = -10.0,
        reward_mode: str = "first_come",
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        factorize_bins: bool = False,
        copy: bool = True,
    ) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        autoreset_mode = _autoreset_mode(autoreset_mode)
        if autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {autoreset_mode}")
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self.pool = build_pool(corpus, pool_size, pool_seed, encoding, max_len)
        _check_args(n_words, n_bins, self.pool, render_mode, reward_mode)
        self.reward_mode = reward_mode
        self.num_envs = int(num_envs)
        self.n_words = int(n_words)
        self.n_bins = int(n_bins)
        self.reward_empty = float(reward_empty)
        self.reward_occupied = float(reward_occupied)
        self.render_mode = render_mode
        self.factorize_bins = bool(factorize_bins)
        self.copy = bool(copy)
        self.single_action_space = _action_space(self.n_bins, self.factorize_bins)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = self._single_obs_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        n = self.num_envs
        self._rngs = [seeding.np_random()[0] for _ in range(n)]
        # order[t, i]: pool index of the word sub-env i sees at step t (end marker last).
        self._order = np.full((self.n_words + 1, n), self.pool.end_index, dtype=np.int64)
        # Loads are addressed flat (row offset + bin) so that one np.take / np.put
        # replaces slower 2-D fancy indexing on the hot path.
        self._loads = np.zeros((n, self.n_bins), dtype=np.int32)
        self._loads_flat = self._loads.reshape(-1)
        self._row_offsets = np.arange(n) * self.n_bins
        self._t = self.n_words
        self._occupied = np.zeros(n, dtype=np.int64)
        self._max_load = np.zeros(n, dtype=np.int64)
        self._return = np.zeros(n, dtype=np.float64)
        self._started = False

    def _single_obs_space(self) -> spaces.Space:
        return self.pool.encoder.space

    def _get_obs(self) -> Any:
        return self.pool.observe(self._order[self._t])

    def _new_episodes(self) -> None:
        draws = np.empty((self.num_envs, self.n_words), dtype=np.int64)
        for i, rng in enumerate(self._rngs):
            draws[i] = _draw_episode(rng, self.pool, self.n_words)
        self._order[:-1] = draws.T  # one blocked transpose beats strided column writes
        self._loads.fill(0)
        self._t = 0
        self._occupied.fill(0)
        self._max_load.fill(0)
        self._return.fill(0.0)

    def _info(self) -> dict[str, Any]:
        everyone = np.ones(self.num_envs, dtype=bool)  # every sub-env reports every key
        info: dict[str, Any] = {
            "collisions": self._t - self._occupied,
            "_collisions": everyone,
            "occupied_bins": self._occupied.copy(),
            "_occupied_bins": everyone,
            "max_load": self._max_load.copy(),
            "_max_load": everyone,
        }
        if self._t == self.n_words:
            info["episode_return"] = self._return.copy()
            info["_episode_return"] = everyone
            info["expected_collisions"] = np.full(
                self.num_envs, expected_collisions(self.n_words, self.n_bins)
            )
            info["_expected_collisions"] = everyone
        return info

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        # A sub-env given no seed continues its generator, as the single env's reset does.
        self._rngs = [
            rng if s is None else seeding.np_random(s)[0]
            for rng, s in zip(self._rngs, seeds, strict=True)
        ]
        self._new_episodes()
        self._started = True
        return self._get_obs(), self._info()

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = self.actions_to_bins(actions)
        n = self.num_envs
        truncated = np.zeros(n, dtype=bool)
        if self._t == self.n_words:  # NEXT_STEP autoreset
            self._new_episodes()
            return self._get_obs(), np.zeros(n), truncated.copy(), truncated, self._info()

        cells = self._row_offsets + actions
        load = self._loads_flat[cells]
        load += 1
        self._loads_flat[cells] = load  # flat fancy indexing: faster than np.put here
        empty = load == 1
        reward = np.where(empty, self.reward_empty, self.reward_occupied)
        self._occupied += empty
        np.maximum(self._max_load, load, out=self._max_load)
        self._on_place(cells, empty)
        self._t += 1
        if self.reward_mode == "shared_bin":
            if self._t < self.n_words:
                reward = np.zeros(n)
            else:
                reward = shared_bin_total(self._loads, self.reward_empty, self.reward_occupied)
                reward = reward.astype(np.float64)
        self._return += reward
        terminated = np.full(n, self._t == self.n_words)
        obs, info = self._get_obs(), self._info()
        if self._t == self.n_words and self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            if not self.copy:  # the final observations must outlive the buffers' reset
                obs = _copy_obs(obs)
            final_obs = np.empty(n, dtype=object)
            for i in range(n):
                final_obs[i] = _row(obs, i)
            everyone = np.ones(n, dtype=bool)
            final = {"final_obs": final_obs, "_final_obs": everyone}
            final |= {"final_info": info, "_final_info": everyone.copy()}
            self._new_episodes()
            obs, info = self._get_obs(), {**self._info(), **final}
        return obs, reward, terminated, truncated, info

    @property
    def current_words(self) -> list[str | None]:
        """The word each sub-env must place now (``None`` where its episode is over)."""
        words = self.pool.words
        return [words[i] if i < len(words) else None for i in self._order[self._t]]

    def actions_to_bins(self, actions: Any) -> np.ndarray:
        """The bins a batch of ``num_envs`` actions names (checked)."""
        if (  # fast path: an int64 batch of valid bins is its own answer (as below)
            type(actions) is np.ndarray
            and actions.dtype == np.int64
            and actions.shape == (self.num_envs,)
            and not self.factorize_bins
            and actions.view(np.uint64).max() < self.n_bins  # negatives read as huge
        ):
            return actions
        actions = np.asarray(actions)
        if actions.shape != self.action_space.shape or not np.issubdtype(actions.dtype, np.integer):
            wanted = "(row, col) pairs" if self.factorize_bins else "integer bins"
            raise ValueError(
                f"actions must be {self.num_envs} {wanted}, got shape {actions.shape} "
                f"and dtype {actions.dtype}"
            )
        return actions_to_bins(actions, self.n_bins, self.factorize_bins)

    def _on_place(self, cells: np.ndarray, empty: np.ndarray) -> None:
        """Hook for subclasses that track more table state (``cells`` index the flat table)."""

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode to make()")
            return None
        if self.render_mode == "ansi":
            return tuple(render_ansi(row, self.n_words) for row in self._loads)
        return tuple(render_rgb(row) for row in self._loads)


class TableAwareHashVectorEnv(StatelessHashVectorEnv):
    """``num_envs`` copies of :class:`TableAwareHashEnv` stepped together in numpy.

    With ``copy=False`` (see :class:`StatelessHashVectorEnv`) ``obs["table"]`` is the env's
    own ``(num_envs, n_bins)`` table, updated in place by every later ``step`` and zeroed
    by a reset; the default ``copy=True`` returns a new copy of it each time.
    """

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        self._table = np.zeros((self.num_envs, self.n_bins), dtype=np.int8)
        self._table_flat = self._table.reshape(-1)

    def _single_obs_space(self) -> spaces.Space:
        return spaces.Dict(
            {"word": self.pool.encoder.space, "table": spaces.MultiBinary(self.n_bins)}
        )

    def _new_episodes(self) -> None:
        super()._new_episodes()
        self._table.fill(0)

    def _on_place(self, cells: np.ndarray, empty: np.ndarray) -> None:
        # Every chosen bin holds a word now: no need to pick out the newly occupied ones.
        self._table_flat[cells] = 1

    def _get_obs(self) -> dict[str, np.ndarray]:
        table = self._table.copy() if self.copy else self._table
        return {"word": super()._get_obs(), "table": table}
