"""Learning curves in the suite's own unit: the normalised score of the argmax policy
(:func:`hash_envs.evaluation.evaluate_agent`) at fixed fractions of a run's step budget.

Why not the training episodes' collisions: those are of the *sampling* policy, which an
entropy bonus keeps spread, while the table ranks the deterministic argmax. Scoring the
argmax at fixed points makes seeds comparable point by point, so a curve over seeds is an
IQM with a bootstrap band (Agarwal et al., 2021), as the final table is
(:func:`agents.runs.benchmark.plot_score_curves`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["CURVE_FRACTIONS", "ScoreCurve", "curve_points"]

#: Where a run is scored, as fractions of its step budget (0: the untrained policy).
CURVE_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def curve_points(n_timesteps: int) -> list[int]:
    """The env steps at which a run of ``n_timesteps`` is scored (the end is scored by the
    run's final evaluation)."""
    return sorted({int(round(f * n_timesteps)) for f in CURVE_FRACTIONS})


class ScoreCurve(BaseCallback):
    """Scores the model with ``score(model)`` (a normalised score) once ``num_timesteps``
    reaches each of ``points``; ``curve`` holds ``(point, score)``. Each score also goes to
    TensorBoard as ``eval/normalized_score`` at its env step. ``on_score(point, score)``
    returning ``False`` stops training (a tuner's pruning)."""

    def __init__(
        self,
        points: Sequence[int],
        score: Callable[[Any], float],
        on_score: Callable[[int, float], bool | None] | None = None,
    ) -> None:
        super().__init__()
        self.points = sorted(points)
        self.score = score
        self.on_score = on_score
        self.curve: list[tuple[int, float]] = []
        self.stopped = False
        self._next = 0

    def _record(self, point: int) -> None:
        value = float(self.score(self.model))
        self.curve.append((point, value))
        self.logger.record("eval/normalized_score", value)
        self.logger.dump(step=self.num_timesteps)
        if self.on_score is not None and self.on_score(point, value) is False:
            self.stopped = True

    def _catch_up(self) -> bool:
        while not self.stopped and self._next < len(self.points):
            if self.num_timesteps < self.points[self._next]:
                break
            self._record(self.points[self._next])
            self._next += 1
        return not self.stopped

    def _on_training_start(self) -> None:
        self._catch_up()

    def _on_step(self) -> bool:
        return self._catch_up()
