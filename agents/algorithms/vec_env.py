"""Stable-Baselines3 rollouts from Gymnasium's batched ``VectorEnv`` (e.g. our native ones).

SB3 steps through its own ``VecEnv`` API: ``step`` returns ``(obs, rewards, dones,
infos)`` with one info dict per sub-env, and an episode that ends is reset *in the same
step*, its last observation kept in ``infos[i]["terminal_observation"]``. Gymnasium's
vector envs in ``SAME_STEP`` autoreset mode do the same with ``info["final_obs"]``;
:class:`VectorEnvAdapter` translates one into the other, so SB3 algorithms collect
rollouts at the speed of our numpy vector envs instead of ``DummyVecEnv``'s Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

__all__ = ["VectorEnvAdapter", "make_sb3_vec_env"]


class VectorEnvAdapter(VecEnv):
    """A Gymnasium ``VectorEnv`` in ``SAME_STEP`` autoreset mode, as an SB3 ``VecEnv``.

    Seeding follows SB3: ``seed(s)`` makes the next ``reset()`` seed sub-env ``i`` with
    ``s + i``, which is also Gymnasium's convention, so the adapter replays exactly what a
    ``DummyVecEnv`` of the single env gives. Per-step infos stay empty except on episode
    ends (terminal observation, ``TimeLimit.truncated`` and the env's final info), which
    keeps SB3's list-of-dicts format cheap.
    """

    def __init__(self, venv: gym.vector.VectorEnv) -> None:
        mode = venv.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                "VectorEnvAdapter needs a vector env in SAME_STEP autoreset mode, got "
                f"{mode}; e.g. gym.make_vec(id, num_envs, vectorization_mode="
                '"vector_entry_point", autoreset_mode="SameStep")'
            )
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    def reset(self) -> VecEnvObs:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, _ = self.venv.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.venv.action_space.shape)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            final = info.get("final_info", {})
            for key, value in final.items():
                if not key.startswith("_") and final.get(f"_{key}", np.ones(1, bool)).all():
                    infos[i][key] = value[i]
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.venv, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._indices(indices)]


def make_sb3_vec_env(
    env_id: str, n_envs: int = 1, env_kwargs: dict[str, Any] | None = None, seed: int | None = None
) -> VecEnv:
    """An SB3 ``VecEnv`` for ``env_id`` with episode statistics (``VecMonitor``).

    Uses the env's native vector implementation through :class:`VectorEnvAdapter` when it
    has one and ``n_envs > 1``; otherwise SB3's ``DummyVecEnv`` of ``gym.make``.
    """
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecMonitor

    env_kwargs = dict(env_kwargs or {})
    spec = gym.spec(env_id)
    if n_envs > 1 and spec.vector_entry_point is not None:
        venv = gym.make_vec(
            env_id,
            num_envs=n_envs,
            vectorization_mode="vector_entry_point",
            autoreset_mode=AutoresetMode.SAME_STEP,
            **env_kwargs,
        )
        vec_env: VecEnv = VecMonitor(VectorEnvAdapter(venv))
    else:
        vec_env = make_vec_env(env_id, n_envs=n_envs, env_kwargs=env_kwargs)
    if seed is not None:
        vec_env.seed(seed)
    return vec_env
