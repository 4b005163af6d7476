"""REINFORCE (Monte-Carlo policy gradient) as a Stable-Baselines3 on-policy algorithm.

The RL hash-function paper trains its policies with plain policy gradient. This is that
algorithm in SB3's clothes, so ``learn``, ``predict``, ``save``/``load``, callbacks,
TensorBoard logging and ``progress_bar=True`` work as for SB3's own algorithms.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import obs_as_tensor

from agents.algorithms.policies import (
    HashPolicy,
    MaskedPolicy,
    TableAwareHashPolicy,
    policy_gradient_update,
)

Baseline = Literal["none", "mean", "value"]
BASELINES: tuple[str, ...] = ("none", "mean", "value")


def discounted_returns(
    rewards: np.ndarray,
    episode_starts: np.ndarray,
    last_dones: np.ndarray,
    bootstrap: np.ndarray,
    gamma: float,
    reward_to_go: bool = True,
) -> np.ndarray:
    """Monte-Carlo returns of a ``(steps, envs)`` rollout.

    ``episode_starts[t]`` marks the first step of an episode; ``last_dones`` says
    whether each env's episode ended at the rollout's last step, and ``bootstrap`` is the
    value credited to an episode still running there (0 for pure Monte Carlo).

    With ``reward_to_go`` step ``t`` gets ``G_t = r_t + gamma r_{t+1} + ...`` up to its
    episode's end; without it every step gets the return from its episode's first step
    in this rollout (the original REINFORCE estimator, higher variance).
    """
    steps = rewards.shape[0]
    returns = np.zeros_like(rewards, dtype=np.float32)
    running = bootstrap.astype(np.float32) * (1.0 - last_dones)
    for t in reversed(range(steps)):
        episode_continues = 1.0 - (episode_starts[t + 1] if t + 1 < steps else last_dones)
        running = rewards[t] + gamma * running * episode_continues
        returns[t] = running
    if reward_to_go:
        return returns
    whole = returns.copy()
    for t in range(1, steps):
        whole[t] = np.where(episode_starts[t] > 0, returns[t], whole[t - 1])
    return whole


class PG(OnPolicyAlgorithm):
    """REINFORCE with optional reward-to-go and baseline.

    One update per rollout of ``n_steps`` steps in each of the ``n_envs`` environments:

    1. returns ``G_t`` by :func:`discounted_returns` (Monte Carlo; an episode cut by the
       end of the rollout is bootstrapped with the critic only when ``baseline="value"``,
       so choose ``n_steps`` as a multiple of the episode length for exact returns);
    2. advantages ``A_t = G_t - b_t`` with ``b_t`` = 0 (``"none"``), the batch mean of the
       returns (``"mean"``), or a learned state value ``V(s_t)`` (``"value"``, trained by
       MSE to ``G_t`` with weight ``vf_coef``);
    3. loss ``-mean(A_t log pi(a_t|s_t)) - ent_coef * mean(entropy)
       + uniform_coef * mean(KL(uniform || pi))`` (the last a log-barrier that keeps every
       action sampled now and then), one gradient step, computed in blocks of the rollout
       with the softmax gradient in closed form
       (``agents.algorithms.policies.policy_gradient_update``).

    Defaults: ``gamma=1.0`` (the episodic return, as in the paper), ``n_steps=1000`` (one
    episode of the default hash environment), Adam with ``learning_rate=1e-3``,
    ``baseline="mean"`` and reward-to-go (both cut variance at no cost).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": HashPolicy,
        "MultiInputPolicy": TableAwareHashPolicy,
        "MaskedPolicy": MaskedPolicy,
    }

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_steps: int = 1000,
        gamma: float = 1.0,
        baseline: Baseline = "mean",
        reward_to_go: bool = True,
        normalize_advantage: bool = False,
        ent_coef: float = 0.0,
        uniform_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=1.0,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Discrete, spaces.MultiDiscrete),
        )
        self.baseline = baseline
        self.reward_to_go = reward_to_go
        self.normalize_advantage = normalize_advantage
        if float(uniform_coef) < 0:
            raise ValueError(f"uniform_coef must be >= 0, got {uniform_coef}")
        self.uniform_coef = float(uniform_coef)
        if _init_setup_model:
            self._setup_model()
            if self.uniform_coef and isinstance(self.policy, MaskedPolicy):
                raise ValueError(
                    "uniform_coef pulls every action towards 1/n, illegal ones too: "
                    "it cannot be used with MaskedPolicy"
                )

    def _bootstrap_values(self) -> np.ndarray:
        if self.baseline != "value":
            return np.zeros(self.n_envs, dtype=np.float32)
        with th.no_grad():
            last_obs = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
            return self.policy.predict_values(last_obs).cpu().numpy().flatten()

    def train(self) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        buffer = self.rollout_buffer

        # 1. Monte-Carlo returns, written into the buffer so that get() flattens them
        #    alongside the observations and actions.
        buffer.returns[:] = discounted_returns(
            buffer.rewards,
            buffer.episode_starts,
            np.asarray(self._last_episode_starts, dtype=np.float32),
            self._bootstrap_values(),
            self.gamma,
            self.reward_to_go,
        )

        # 2.-3. Advantages and the loss, accumulated over blocks of the rollout (one
        #       optimiser step for the whole rollout, as REINFORCE takes).
        if self.baseline == "mean":
            offset: float | None = float(buffer.returns.mean())
        else:
            offset = 0.0 if self.baseline == "none" else None
        stats = policy_gradient_update(
            self.policy,
            buffer,
            baseline_offset=offset,
            normalize_advantage=self.normalize_advantage,
            uniform_coef=self.uniform_coef,
            ent_coef=self.ent_coef,
            vf_coef=self.vf_coef,
            max_grad_norm=self.max_grad_norm,
        )

        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/policy_loss", stats["policy_loss"])
        self.logger.record("train/entropy_loss", -stats["entropy"])
        self.logger.record("train/mean_return", float(buffer.returns.mean()))
        if "value_loss" in stats:
            self.logger.record("train/value_loss", stats["value_loss"])

    def learn(  # type: ignore[override]
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 1,
        tb_log_name: str = "PG",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> PG:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
