"""Program search on ``hash_envs/HashProgram-v0``: random programs, an evolutionary
search (one random edit at a time) and sb3-contrib's ``MaskablePPO``, each with the same
budget of program evaluations (:func:`train_program` picks one by name).

Kept apart from :mod:`hash_envs.program` (the instruction set, evaluators and files)
because search steps the env, and the env reads the instruction set: the program module
stays a leaf that the env and the leaderboard import.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hash_envs.envs.hash_program import HashProgramEnv
from hash_envs.program import BY_NAME, INSTRUCTIONS, Program, legal_actions

__all__ = [
    "SEARCHES",
    "SearchResult",
    "evolutionary_search",
    "maskable_ppo_search",
    "random_program",
    "random_search",
    "sb3_program_search",
    "train_program",
]


def random_program(rng: np.random.Generator, max_length: int, how: str = "lengths") -> Program:
    """A random legal program of at most ``max_length`` instructions.

    ``how="lengths"`` (random search's): body and finaliser lengths drawn uniformly
    (body 1 .. ``max_length - 2``, finaliser 0 .. what is left), then each instruction
    uniformly among those allowed there, redrawn until legal. ``how="moves"``: uniformly
    random legal moves, the env's masked random policy (long bodies, short finalisers:
    ``end_body`` is one move in about twenty).
    """
    if max_length < 3:
        raise ValueError(f"max_length must be >= 3, got {max_length}")
    if how == "moves":
        names: list[str] = []
        while not names or names[-1] != "end":
            legal = np.flatnonzero(legal_actions(names, max_length))
            names.append(INSTRUCTIONS[int(rng.choice(legal))].name)
        return Program(tuple(names))
    if how != "lengths":
        raise ValueError(f"how must be 'lengths' or 'moves', got {how!r}")
    body_ops = [i.name for i in INSTRUCTIONS if not i.is_marker]
    final_ops = [i.name for i in INSTRUCTIONS if not i.is_marker and not i.body_only]
    while True:
        n_body = int(rng.integers(1, max_length - 1))
        n_final = int(rng.integers(0, max_length - 1 - n_body))
        body = [body_ops[i] for i in rng.integers(len(body_ops), size=n_body)]
        final = [final_ops[i] for i in rng.integers(len(final_ops), size=n_final)]
        try:
            return Program((*body, "end_body", *final, "end"))
        except ValueError:
            continue


def _mutate(program: Program, rng: np.random.Generator, max_length: int) -> Program:
    """One random edit -- replace, insert, delete or swap an instruction (markers stay) --
    retried until the result is legal, within ``max_length`` and different."""
    names = list(program.instructions)
    operations = ("replace", "insert", "delete", "swap")
    ops_ok = [n for n in INSTRUCTIONS if not n.is_marker]
    for _ in range(100):
        edit = operations[int(rng.integers(len(operations)))]
        new = names.copy()
        positions = [i for i, n in enumerate(new) if not BY_NAME[n].is_marker]
        if edit == "replace" and positions:
            new[positions[int(rng.integers(len(positions)))]] = ops_ok[
                int(rng.integers(len(ops_ok)))
            ].name
        elif edit == "insert" and len(new) < max_length:
            new.insert(int(rng.integers(len(new))), ops_ok[int(rng.integers(len(ops_ok)))].name)
        elif edit == "delete" and positions:
            del new[positions[int(rng.integers(len(positions)))]]
        elif edit == "swap" and len(positions) >= 2:
            i, j = rng.choice(positions, size=2, replace=False)
            new[i], new[j] = new[j], new[i]
        else:
            continue
        if new == names:
            continue
        try:
            return Program(tuple(new))
        except ValueError:
            continue
    return random_program(rng, max_length)


@dataclass
class SearchResult:
    """Best program of a search, its reward, and the best reward after each evaluation
    (``curve[i]`` = best of the first ``i + 1`` evaluations); ``info["top"]`` holds the
    50 best distinct programs seen, ``(reward, instruction names)``, best first."""

    algo: str
    seed: int
    program: Program
    reward: float
    curve: np.ndarray
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


class _Tracker:
    """Counts evaluations and keeps the best program (first found wins ties)."""

    def __init__(self, evaluate: Callable[[Program], float], budget: int) -> None:
        self.evaluate_fn, self.budget = evaluate, budget
        self.best: Program | None = None
        self.best_reward = -math.inf
        self.curve: list[float] = []
        self.seen: dict[tuple[str, ...], float] = {}

    @property
    def done(self) -> bool:
        return len(self.curve) >= self.budget

    def record(self, program: Program, reward: float) -> None:
        self.seen[program.instructions] = reward
        if reward > self.best_reward:
            self.best, self.best_reward = program, reward
        self.curve.append(self.best_reward)

    def top(self, k: int) -> list[tuple[float, tuple[str, ...]]]:
        """The ``k`` best distinct programs seen, best first (ties: first seen)."""
        order = sorted(self.seen.items(), key=lambda kv: -kv[1])[:k]
        return [(reward, names) for names, reward in order]

    def __call__(self, program: Program) -> float:
        reward = self.evaluate_fn(program)
        self.record(program, reward)
        return reward


def _make_env(env_kwargs: dict[str, Any] | None) -> HashProgramEnv:
    return HashProgramEnv(**(env_kwargs or {}))


def random_search(
    evaluations: int, seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> SearchResult:
    """``evaluations`` programs drawn by :func:`random_program`; the best one."""
    env = _make_env(env_kwargs)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    track = _Tracker(env.evaluate_reward, evaluations)
    while not track.done:
        track(random_program(rng, env.max_instructions))
    return _result("random", seed, track, start)


def evolutionary_search(
    evaluations: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    population: int = 32,
    tournament: int = 4,
) -> SearchResult:
    """A steady-state evolutionary search: ``population`` random programs, then each
    evaluation mutates (replace / insert / delete / swap) the winner of a ``tournament``
    and replaces the population's worst if the child is at least as good."""
    env = _make_env(env_kwargs)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    track = _Tracker(env.evaluate_reward, evaluations)
    pool: list[tuple[float, Program]] = []
    while len(pool) < population and not track.done:
        program = random_program(rng, env.max_instructions)
        pool.append((track(program), program))
    while not track.done:
        picks = rng.choice(len(pool), size=min(tournament, len(pool)), replace=False)
        parent = max((pool[i] for i in picks), key=lambda rp: rp[0])[1]
        child = _mutate(parent, rng, env.max_instructions)
        reward = track(child)
        worst = min(range(len(pool)), key=lambda i: pool[i][0])
        if reward >= pool[worst][0]:
            pool[worst] = (reward, child)
    return _result("evolution", seed, track, start)


def _result(algo: str, seed: int, track: _Tracker, start: float, **info: Any) -> SearchResult:
    assert track.best is not None
    info = {"distinct_programs": len(track.seen), "top": track.top(50), **info}
    return SearchResult(
        algo,
        seed,
        track.best,
        track.best_reward,
        np.array(track.curve),
        time.perf_counter() - start,
        info,
    )


def sb3_program_search(
    algo: str,
    build_model: Callable[[Any], Any],
    evaluations: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    n_envs: int = 8,
    wrapper: Callable[[Any], Any] | None = None,
    **info: Any,
) -> SearchResult:
    """Train a Stable-Baselines3 algorithm on ``n_envs`` copies of ``HashProgram-v0``
    (each wrapped by ``wrapper`` if given) until ``evaluations`` programs (finished
    episodes, over all envs) have been scored; the best program any episode wrote.

    ``build_model(vec_env)`` returns the untrained algorithm (seeded by the caller);
    training runs on one torch thread (small networks: fastest, and leaves the other
    cores). ``info`` is recorded in the result. Needs the ``rl`` extra."""
    try:
        import torch
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.vec_env import DummyVecEnv
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        from hash_envs.lazy import missing_extra

        raise ValueError(missing_extra(err, f"{algo} program search") or str(err)) from err

    def make_env() -> Any:
        env = _make_env(env_kwargs)
        return wrapper(env) if wrapper is not None else env

    start = time.perf_counter()
    envs = DummyVecEnv([make_env for _ in range(n_envs)])
    track = _Tracker(lambda p: 0.0, evaluations)

    class _Count(BaseCallback):
        def _on_step(self) -> bool:
            for step_info in self.locals["infos"]:
                if "program" in step_info and not track.done:
                    program = Program(tuple(step_info["program"]))
                    track.record(program, float(step_info["program_reward"]))
            return not track.done

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = build_model(envs)
        model.learn(total_timesteps=10**12, callback=_Count())
    finally:
        torch.set_num_threads(threads)
        envs.close()
    return _result(algo, seed, track, start, n_envs=n_envs, **info)


def maskable_ppo_search(
    evaluations: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    n_envs: int = 8,
    ppo_kwargs: dict[str, Any] | None = None,
) -> SearchResult:
    """Train sb3-contrib's ``MaskablePPO`` on ``HashProgram-v0`` until ``evaluations``
    programs have been scored (:func:`sb3_program_search`); the best program any episode
    wrote. Needs the ``rl`` extra (torch, sb3-contrib)."""
    try:
        from sb3_contrib import MaskablePPO
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        from hash_envs.lazy import missing_extra

        raise ValueError(missing_extra(err, "MaskablePPO program search") or str(err)) from err

    settings = {
        "n_steps": 128,
        "batch_size": 256,
        "learning_rate": 3e-4,
        "gamma": 1.0,
        "gae_lambda": 0.95,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [64, 64]},
        **(ppo_kwargs or {}),
    }
    return sb3_program_search(
        "maskable-ppo",
        lambda envs: MaskablePPO("MlpPolicy", envs, seed=seed, device="cpu", **settings),
        evaluations,
        seed=seed,
        env_kwargs=env_kwargs,
        n_envs=n_envs,
        ppo=settings,
    )


SEARCHES = {
    "random": random_search,
    "evolution": evolutionary_search,
    "maskable-ppo": maskable_ppo_search,
}


def train_program(
    algo: str,
    seed: int = 0,
    evaluations: int = 20_000,
    env_kwargs: dict[str, Any] | None = None,
    searches: Mapping[str, Callable[..., SearchResult]] = SEARCHES,
    **algo_kwargs: Any,
) -> SearchResult:
    """Find a program on ``HashProgram-v0`` with ``algo`` (``"maskable-ppo"``,
    ``"evolution"`` or ``"random"``; other ``searches`` by name, e.g. the agents of
    :mod:`agents.runs.program_search`) within ``evaluations`` program evaluations; returns
    the :class:`SearchResult` (``.program`` is the best program, ``.reward`` its reward).
    ``env_kwargs`` go to the env (e.g. ``corpus="web2"``), ``algo_kwargs`` to the search."""
    if algo not in searches:
        raise ValueError(f"unknown program search {algo!r}; choose from {', '.join(searches)}")
    if int(evaluations) < 1:
        raise ValueError(f"evaluations must be >= 1, got {evaluations}")
    return searches[algo](int(evaluations), seed=int(seed), env_kwargs=env_kwargs, **algo_kwargs)
