"""Advantage actor-critic: Stable-Baselines3's A2C with defaults for the hash envs."""

from __future__ import annotations

from typing import Any

from stable_baselines3 import A2C as SB3A2C
from stable_baselines3.common.type_aliases import GymEnv, Schedule


class A2C(SB3A2C):
    """SB3's A2C, with defaults chosen for ``Discrete(n_bins)`` actions and ±10 rewards.

    What differs from SB3's defaults, and why:

    * ``use_rms_prop=False`` (Adam) and ``learning_rate=1e-3``: with hundreds to
      thousands of logits RMSprop's first steps are erratic; Adam is the stable choice
      used by our other agents.
    * ``normalize_advantage=True``: rewards are ±10 per step, so raw advantages are
      large; normalising keeps the step size independent of the reward scale.
    * ``n_steps=32``: longer rollouts than SB3's 5 give the critic's bootstrap targets
      less variance on 1000-step episodes.

    ``gamma=0.99``, ``gae_lambda=1.0``, ``ent_coef=0.0``, ``vf_coef=0.5`` and
    ``max_grad_norm=0.5`` are SB3's. Every argument can still be overridden.
    """

    def __init__(
        self,
        policy: str | type,
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_steps: int = 32,
        use_rms_prop: bool = False,
        normalize_advantage: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            use_rms_prop=use_rms_prop,
            normalize_advantage=normalize_advantage,
            **kwargs,
        )


__all__ = ["A2C"]
