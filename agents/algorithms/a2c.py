"""Advantage actor-critic: Stable-Baselines3's A2C with defaults and policies for the hash
envs."""

from __future__ import annotations

from typing import Any, ClassVar

from stable_baselines3 import A2C as SB3A2C
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from agents.algorithms.policies import (
    HashPolicy,
    MaskedPolicy,
    TableAwareHashPolicy,
    policy_gradient_update,
)


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
    * ``"MlpPolicy"`` / ``"MultiInputPolicy"`` are :class:`agents.algorithms.policies.HashPolicy`
      and ``TableAwareHashPolicy`` (SB3's actor-critic with fast sampling, a byte gather
      for words, an optional random-hash start and a table-aware head), and the update
      (:meth:`train`) is SB3's A2C loss computed in blocks with a closed-form softmax
      gradient: the same loss, several times faster with a thousand actions.
    * ``"MaskedPolicy"`` (:class:`agents.algorithms.policies.MaskedPolicy`) acts only on the
      legal moves of an env wrapped in :class:`hash_envs.wrappers.ActionMaskObservation`
      (``HashProgram-v0``).

    ``gamma=0.99``, ``gae_lambda=1.0``, ``ent_coef=0.0``, ``vf_coef=0.5`` and
    ``max_grad_norm=0.5`` are SB3's. Every argument can still be overridden.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": HashPolicy,
        "MultiInputPolicy": TableAwareHashPolicy,
        "MaskedPolicy": MaskedPolicy,
    }

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

    def train(self) -> None:
        """One A2C step on the rollout: ``-mean(A log pi) - ent_coef H + vf_coef MSE(V, R)``
        with ``A`` the buffer's GAE advantages (standardised if ``normalize_advantage``)
        and ``R = A + V`` its returns, one clipped optimiser step (SB3's loss)."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        stats = policy_gradient_update(
            self.policy,
            self.rollout_buffer,
            baseline_offset=None,
            normalize_advantage=self.normalize_advantage,
            uniform_coef=0.0,
            ent_coef=self.ent_coef,
            vf_coef=self.vf_coef,
            max_grad_norm=self.max_grad_norm,
            use_buffer_advantages=True,
        )
        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/policy_loss", stats["policy_loss"])
        self.logger.record("train/entropy_loss", -stats["entropy"])
        self.logger.record("train/value_loss", stats["value_loss"])


__all__ = ["A2C"]
