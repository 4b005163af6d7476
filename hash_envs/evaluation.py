"""The benchmark suite's evaluation protocol and reference scores (one place for both).

Every score is a number of collisions (lower is better) and comes with the task's
reference scores and a **normalised score** ``(score - random) / (optimum - random)``:
0 for a uniformly random hash function (its exact expectation), 1 for the optimum
(no collisions while words fit; for the table-aware tasks "pick any empty bin" attains
it). The protocol of each task kind is fixed (:data:`PROTOCOL_VERSION`): see
:mod:`hash_envs.tasks`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hash_envs import corpus as corpus_lib
from hash_envs import metrics
from hash_envs.envs.hash_table import actions_to_bins, bin_layout
from hash_envs.hashing import HashFunction
from hash_envs.tasks import (
    EVAL_EPISODES,
    EVAL_SEED,
    HELD_OUT_BLOCKS,
    HELD_OUT_WORDS,
    PROTOCOL_VERSION,
    Task,
    get_task,
)

__all__ = [
    "evaluate_agent",
    "greedy_collisions",
    "held_out_words",
    "normalized_score",
    "reference_scores",
    "uniform_random_policy",
]


# -- reference scores -------------------------------------------------------------------------


def normalized_score(score: float, references: Mapping[str, Any]) -> float:
    """``(score - random) / (optimum - random)``: 0 = a uniformly random hash, 1 = optimum."""
    random, optimum = references["random_hash"], references["optimum"]
    if random == optimum:  # nothing to gain (e.g. one bin): every agent is optimal
        return 1.0
    return (score - random) / (optimum - random)


def _corpus_words(task: Task, corpus: str | None) -> list[str]:
    return corpus_lib.load(task.env_kwargs(corpus)["corpus"])


def _pool_words(task: Task, corpus: str | None) -> list[str]:
    return list(task.make(corpus).unwrapped.pool.words)


def held_out_words(task: Task, corpus: str | None = None) -> list[str]:
    """The generalisation task's held-out words (:func:`hash_envs.corpus.split`)."""
    kwargs = task.env_kwargs(corpus)
    words = corpus_lib.load(kwargs["corpus"])
    n_test = min(HELD_OUT_WORDS, len(words) - task.n_words)
    return corpus_lib.split(words, task.n_words, n_test, seed=kwargs["pool_seed"])[1]


def _eval_episode_words(task: Task, corpus: str | None, episodes: int) -> list[list[str]]:
    """The words of each evaluation episode of a table-aware task, in showing order."""
    env = task.make(corpus).unwrapped
    words = []
    for i in range(episodes):
        env.reset(seed=EVAL_SEED + i)
        words.append(env.episode_words)
    return words


def _hash_score(task: Task, hash_fn: HashFunction, corpus: str | None) -> dict[str, Any]:
    """Collisions of a stateless word -> bin map on the task's evaluation words."""
    if task.kind == "online":  # every episode has n_words words: one (episodes, words) matrix
        episodes = _eval_episode_words(task, corpus, EVAL_EPISODES)
        bins = hash_fn.hash_many([w for words in episodes for w in words])
        return _episode_stats(metrics.collisions_per_row(bins.reshape(len(episodes), -1)))
    pool_collisions = metrics.collisions(hash_fn.hash_many(_pool_words(task, corpus)), task.n_bins)
    if task.kind == "memorize":
        return {"score": float(pool_collisions), "pool_collisions": pool_collisions}
    held_out = held_out_words(task, corpus)
    bins = hash_fn.hash_many(held_out)
    blocks = np.array_split(np.arange(len(held_out)), HELD_OUT_BLOCKS)
    per_block = [metrics.collisions(bins[b], task.n_bins) for b in blocks]
    return {**_episode_stats(per_block), "pool_collisions": pool_collisions}


def _episode_stats(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    sd = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"score": float(arr.mean()), "sd": sd, "per_episode": arr.tolist()}


def _corpus_fingerprint(words: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(words).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def reference_scores(
    task: Task | str,
    corpus: str | None = None,
    contenders: Sequence[str] | None = None,
    cache: bool = True,
) -> dict[str, Any]:
    """Reference scores of a task, computed (not typed in) and cached per corpus:

    * ``random_hash``: the exact expected collisions of a uniformly random hash function
      on the task's evaluation words (for ``online``, also of a uniform random policy);
    * ``random_policy``: a seeded uniform random policy scored by the protocol itself;
    * ``best_hash`` / ``best_hash_name``: the best registered (leaderboard) hash function,
      used as a table-blind policy (contenders refusing the task's ``n_bins`` are skipped);
    * ``optimum``: fewest collisions possible (``max(0, n_words - n_bins)``).
    """
    from hash_envs.hashing import make_hash_function, registered_hash_functions

    task = get_task(task) if isinstance(task, str) else task
    names = list(contenders) if contenders is not None else registered_hash_functions()
    words = _corpus_words(task, corpus)
    key = json.dumps([PROTOCOL_VERSION, task.env_id, _corpus_fingerprint(words), sorted(names)])
    cache_file = corpus_lib.cache_dir() / "suite_references.json"
    stored: dict[str, Any] = {}
    if cache and cache_file.is_file():
        try:
            stored = json.loads(cache_file.read_text())
        except (OSError, json.JSONDecodeError):
            stored = {}
        if key in stored:
            return stored[key]
    n_eval = HELD_OUT_WORDS // HELD_OUT_BLOCKS if task.kind == "generalize" else task.n_words
    refs: dict[str, Any] = {
        "random_hash": metrics.expected_collisions(n_eval, task.n_bins),
        "optimum": task.optimum,
    }
    refs["random_policy"] = evaluate_agent(
        _UniformRandomPolicy(task, seed=0), task, corpus, references=refs
    )["score"]
    best_name, best = None, math.inf
    for name in names:
        try:  # a contender made for other table sizes (e.g. a trained one) sits this out
            score = _hash_score(task, make_hash_function(name, task.n_bins), corpus)["score"]
        except ValueError:
            continue
        if score < best:
            best_name, best = name, score
    refs |= {"best_hash": best if best_name else None, "best_hash_name": best_name}
    if cache:
        stored[key] = refs
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=1))
        tmp.replace(cache_file)
    return refs


# -- the evaluation protocol ------------------------------------------------------------------


class _UniformRandomPolicy:
    """Uniformly random actions (seeded): the random-policy reference and a sanity agent."""

    def __init__(self, task: Task, seed: int) -> None:
        n = task.n_bins
        self.space = spaces.MultiDiscrete(bin_layout(n)) if task.factorized else spaces.Discrete(n)
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: Any) -> np.ndarray:
        batch = len(obs["word"] if isinstance(obs, dict) else obs)
        if isinstance(self.space, spaces.Discrete):
            return self.rng.integers(0, self.space.n, size=batch)
        return self.rng.integers(0, self.space.nvec, size=(batch, len(self.space.nvec)))


def uniform_random_policy(task: Task | str, seed: int = 0) -> Callable[[Any], np.ndarray]:
    """A seeded uniformly random policy for ``task`` (batched observations -> actions)."""
    return _UniformRandomPolicy(get_task(task) if isinstance(task, str) else task, seed)


def _policy_fn(agent: Any, env: Any) -> Callable[[Any], np.ndarray]:
    """Batched observations -> actions for an SB3-style model/policy or a callable
    (checked against the observations of ``env``, a single or vector env)."""
    space = getattr(agent, "observation_space", None)
    table_aware = isinstance(getattr(env, "single_observation_space", None), spaces.Dict) or (
        isinstance(getattr(env, "observation_space", None), spaces.Dict)
    )
    if space is not None and isinstance(space, spaces.Dict) != table_aware:
        seen = "the word and the table" if isinstance(space, spaces.Dict) else "the word only"
        raise ValueError(
            f"agent observes {seen}, but {getattr(env.spec, 'id', 'the env')} is "
            f"{'table-aware' if table_aware else 'stateless'}"
        )
    predict = getattr(agent, "predict", None)
    if callable(predict):
        return lambda obs: np.asarray(predict(obs, deterministic=True)[0])
    if callable(agent):
        return lambda obs: np.asarray(agent(obs))
    raise TypeError(
        "agent must be a HashFunction, an object with predict(obs, deterministic=True) "
        f"(a Stable-Baselines3 model or policy), or a callable; got {type(agent).__name__}"
    )


class _PolicyWordHash(HashFunction):
    """A stateless policy's deterministic actions on encoded words, as a hash function."""

    def __init__(self, policy: Callable[[Any], np.ndarray], env: Any, chunk: int = 4096):
        super().__init__(env.n_bins)
        self.policy, self.env, self.chunk = policy, env, chunk

    @property
    def size_bytes(self) -> int:
        return 0

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        words = list(words)
        encoder = self.env.pool.encoder
        bins = np.empty(len(words), dtype=np.int64)
        for start in range(0, len(words), self.chunk):
            obs = encoder.encode(words[start : start + self.chunk])
            actions = self.policy(obs)
            bins[start : start + len(obs)] = actions_to_bins(
                actions, self.n_bins, self.env.factorize_bins
            )
        return bins


def greedy_collisions(
    agent: Any,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    episodes: int = EVAL_EPISODES,
    seed: int = EVAL_SEED,
) -> np.ndarray:
    """Collisions of ``episodes`` greedy episodes of ``agent`` on seeds ``seed + i``, all
    stepped together in the env's native vector env.

    ``agent`` is a Stable-Baselines3 model or policy (deterministic ``predict``) or a
    callable from batched observations to actions. (A hash function is table-blind: its
    episodes are scored without the env, see :func:`evaluate_agent`.)
    """
    venv = gym.make_vec(
        env_id, num_envs=episodes, vectorization_mode="vector_entry_point", **(env_kwargs or {})
    )
    policy = _policy_fn(agent, venv.unwrapped)
    obs, _ = venv.reset(seed=seed)
    for _ in range(venv.unwrapped.n_words):
        obs, _, terminated, _, info = venv.step(policy(obs))
    if not terminated.all():
        raise RuntimeError("evaluation episodes did not end together")
    venv.close()
    return np.asarray(info["collisions"], dtype=np.float64)


def evaluate_agent(
    agent: Any,
    task: Task | str,
    corpus: str | None = None,
    *,
    references: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``agent`` on ``task`` with the suite's fixed protocol.

    ``agent`` is a :class:`~hash_envs.hashing.HashFunction` (e.g. ``agents.PolicyHash``,
    ``agents.load_hash(...)``), a Stable-Baselines3 model or policy (its
    ``predict(obs, deterministic=True)``), or a callable from a batch of observations to
    a batch of actions. Stateless tasks score the agent's deterministic word -> bin map on
    the pool (and the held-out words); table-aware tasks run greedy episodes on fixed
    seeds. ``corpus`` replaces the task's corpus (e.g. ``"web2"``, offline). The result
    has ``score`` (collisions), ``normalized_score``, ``references`` and ``protocol``.
    """
    task = get_task(task) if isinstance(task, str) else task
    hash_fn = agent if isinstance(agent, HashFunction) else None
    if hash_fn is not None and hash_fn.n_bins != task.n_bins:
        raise ValueError(
            f"agent hashes into {hash_fn.n_bins} bins, {task.env_id} has {task.n_bins}"
        )
    if hash_fn is None and task.table_aware:
        collisions = greedy_collisions(agent, task.env_id, task.env_kwargs(corpus))
        result = _episode_stats(collisions.tolist())
    else:  # a stateless map word -> bin: hash the evaluation words directly
        if hash_fn is None:
            env = task.make(corpus).unwrapped
            hash_fn = _PolicyWordHash(_policy_fn(agent, env), env)
        result = _hash_score(task, hash_fn, corpus)
    refs = dict(references) if references is not None else reference_scores(task, corpus)
    protocol: dict[str, Any] = {"version": PROTOCOL_VERSION, "kind": task.kind}
    if task.kind == "online":
        protocol |= {"episodes": EVAL_EPISODES, "eval_seed": EVAL_SEED, "greedy": True}
    if task.kind == "generalize":
        protocol |= {"held_out_words": HELD_OUT_WORDS, "held_out_blocks": HELD_OUT_BLOCKS}
    return {
        "task": task.env_id,
        "corpus": task.env_kwargs(corpus)["corpus"],
        **result,
        "normalized_score": normalized_score(result["score"], refs),
        "references": refs,
        "protocol": protocol,
    }
