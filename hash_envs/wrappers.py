"""Wrappers for agents that have no action-mask API of their own.

``HashProgram-v0`` tells its legal moves through ``env.action_masks()``, the method
sb3-contrib's ``MaskablePPO`` calls. An on-policy algorithm that only sees observations
(:class:`agents.PG`, :class:`agents.A2C`, Ray RLlib's action-masking modules) needs the mask
*in* the observation instead; :class:`ActionMaskObservation` puts it there.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBSERVATION_KEY = "observation"
MASK_KEY = "action_mask"


class ActionMaskObservation(gym.ObservationWrapper):
    """Observation ``Dict(observation=<the env's>, action_mask=MultiBinary(n))``.

    The mask is the wrapped env's ``action_masks()`` after each ``reset`` and ``step``
    (``True`` = legal), so a policy can set the logits of illegal moves to a very
    negative number before it samples. The env must have a ``Discrete`` action space
    and an ``action_masks()`` method; ``action_masks()`` stays callable on the wrapper.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise TypeError(
                f"ActionMaskObservation needs a Discrete action space, got {env.action_space}"
            )
        if not callable(getattr(env.unwrapped, "action_masks", None)):
            raise TypeError(f"{env.unwrapped!r} has no action_masks() method")
        self.observation_space = spaces.Dict(
            {
                OBSERVATION_KEY: env.observation_space,
                MASK_KEY: spaces.MultiBinary(int(env.action_space.n)),
            }
        )

    def action_masks(self) -> np.ndarray:
        """The wrapped env's legal actions now (``bool``, one per action)."""
        return np.asarray(self.env.unwrapped.action_masks(), dtype=bool)  # type: ignore[attr-defined]

    def observation(self, observation: Any) -> dict[str, np.ndarray]:
        return {
            OBSERVATION_KEY: observation,
            MASK_KEY: self.action_masks().astype(np.int8),
        }


__all__ = ["MASK_KEY", "OBSERVATION_KEY", "ActionMaskObservation"]
