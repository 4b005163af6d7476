"""The one training log of the suite: per-episode numbers from any SB3 algorithm.

``hash-envs benchmark`` and the paper experiments (``experiments/``) train through
:func:`agents.runs.benchmark.train_sb3` with this callback, so a learning curve means the same
thing everywhere: one point per finished episode, read from the env's final-step info.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["EpisodeLog"]


class EpisodeLog(BaseCallback):
    """Return, collisions, max load and env steps of every finished episode.

    All sub-envs of the package's vector envs share one clock, so ``n_envs`` consecutive
    episode ends form one *iteration* (for ``PG`` with ``n_steps`` = episode length: one
    update). ``probe(model)`` runs every ``probe_every`` iterations (and before training);
    its values are ``probes``: ``(iteration, wall_s, value)``. Training stops once
    ``max_iterations`` are logged or ``time_budget_s`` has passed.
    """

    def __init__(
        self,
        n_envs: int,
        *,
        probe: Callable[[Any], float] | None = None,
        probe_every: int = 10,
        time_budget_s: float | None = None,
        max_iterations: int | None = None,
        verbose_every: int = 0,
    ) -> None:
        super().__init__()
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.n_envs = n_envs
        self.probe = probe
        self.probe_every = probe_every
        self.time_budget_s = time_budget_s
        self.max_iterations = max_iterations
        self.verbose_every = verbose_every
        self.steps: list[int] = []  # env steps taken when the episode ended
        self.returns: list[float] = []
        self.collisions: list[float] = []
        self.max_loads: list[float] = []
        self.probes: list[tuple[int, float, float]] = []
        self.iteration_wall_s: list[float] = []
        self.begin = time.perf_counter()
        self._pending = 0

    @property
    def iterations(self) -> int:
        return len(self.returns) // self.n_envs

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.begin

    @property
    def budget_hit(self) -> bool:
        return self.time_budget_s is not None and self.elapsed >= self.time_budget_s

    def per_iteration(self, values: Sequence[float]) -> np.ndarray:
        """Mean of ``values`` (one per episode) over each iteration's ``n_envs`` episodes."""
        n = self.iterations * self.n_envs
        return np.asarray(values[:n], dtype=float).reshape(-1, self.n_envs).mean(axis=1)

    def curve(self) -> list[tuple[int, float]]:
        """``(env steps, collisions)`` of every finished episode."""
        return list(zip(self.steps, self.collisions, strict=True))

    def _on_training_start(self) -> None:
        self.begin = time.perf_counter()
        if self.probe is not None:
            self.probes.append((0, 0.0, self.probe(self.model)))

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if done and "collisions" in info:
                self.steps.append(int(self.num_timesteps))
                self.returns.append(float(info["episode_return"]))
                self.collisions.append(float(info["collisions"]))
                self.max_loads.append(float(info["max_load"]))
                self._pending += 1
        while self._pending >= self.n_envs:
            self._pending -= self.n_envs
            self._end_iteration()
        if self.max_iterations is not None and self.iterations >= self.max_iterations:
            return False
        return not self.budget_hit

    def _end_iteration(self) -> None:
        iteration = len(self.iteration_wall_s) + 1
        wall = self.elapsed
        self.iteration_wall_s.append(wall)
        if self.probe is not None and iteration % self.probe_every == 0:
            self.probes.append((iteration, wall, self.probe(self.model)))
        if self.verbose_every and iteration % self.verbose_every == 0:
            recent = slice(-self.n_envs, None)
            print(
                f"iteration {iteration:>5}  collisions {np.mean(self.collisions[recent]):8.1f}  "
                f"max load {np.mean(self.max_loads[recent]):5.2f}  {wall:7.1f} s",
                flush=True,
            )
