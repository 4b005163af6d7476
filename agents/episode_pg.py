"""Episode-batched REINFORCE for the stateless hash environments.

A stateless policy's action depends on the word alone, never on the table, so all the
actions of an episode -- and of many episodes -- can be sampled in one forward pass and
scored afterwards by the environment's own reward rule (:mod:`hash_envs.rewards`). That
is the same reinforcement-learning problem as stepping the env word by word, thousands
of times cheaper. Each word is credited with its own reward (the credit a word-level
"agent" gets in a cooperative game), minus a baseline: the mean reward of the same word
in the other episodes of the batch (or the batch mean for words seen once).

The policy is a Stable-Baselines3 ``ActorCriticPolicy`` (its value head unused), so
:class:`agents.PolicyHash` turns it into a hash function as for any SB3 agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn
from torch.nn import functional as F

from agents.policy_hash import score_words
from hash_envs.envs import StatelessHashEnv, TableAwareHashEnv
from hash_envs.rewards import first_come_rewards, shared_bin_rewards

__all__ = ["EpisodePG", "UpdateStats"]


@dataclass
class UpdateStats:
    """What one update saw; ``pool_collisions`` is set on evaluation updates."""

    update: int
    episodes: int
    elapsed_s: float
    mean_reward: float
    mean_collisions: float
    entropy: float
    pool_collisions: int | None = None


class EpisodePG:
    """REINFORCE over batches of whole episodes of a ``StatelessHash`` environment.

    One update:

    1. draw ``episodes_per_update`` episodes of words exactly as the env does (seeded,
       ``n_words`` distinct pool words each, in random order);
    2. one forward pass over the distinct words, then sample a bin for every word
       occurrence from the categorical policy;
    3. rewards from the env's rule (``first_come``: per step; ``shared_bin``: each word
       alone in its bin at the end or not), advantage = reward - per-word baseline;
    4. loss ``-mean(A log pi(bin|word)) - ent_coef * mean(entropy)``, one Adam step.

    Defaults (``net_arch=(256,)``, ``learning_rate=3e-3``, 32 episodes per update) were
    chosen on the 1000-word memorisation task; see ``bench/memorize.py``.
    """

    def __init__(
        self,
        env: str | gym.Env = "hash_envs/StatelessHash-v0",
        env_kwargs: dict[str, Any] | None = None,
        *,
        net_arch: Sequence[int] = (256,),
        learning_rate: float = 3e-3,
        episodes_per_update: int = 32,
        ent_coef: float = 0.0,
        init_logit_std: float | None = 2.0,
        seed: int = 0,
        tensorboard_log: str | None = None,
        verbose: int = 0,
    ) -> None:
        self.env = gym.make(env, **(env_kwargs or {})) if isinstance(env, str) else env
        base = self.env.unwrapped
        if isinstance(base, TableAwareHashEnv) or not isinstance(base, StatelessHashEnv):
            raise ValueError(
                "EpisodePG needs a stateless hash env (hash_envs/StatelessHash-v0): it samples "
                "whole episodes at once, which is only exact when actions ignore the table"
            )
        if episodes_per_update < 1:
            raise ValueError(f"episodes_per_update must be >= 1, got {episodes_per_update}")
        self.base: StatelessHashEnv = base
        self.episodes_per_update = int(episodes_per_update)
        self.ent_coef = float(ent_coef)
        self.rng = np.random.default_rng(seed)
        th.manual_seed(seed)
        self.policy = ActorCriticPolicy(
            self.env.observation_space,
            self.env.action_space,
            lr_schedule=lambda _: learning_rate,
            net_arch={"pi": list(net_arch), "vf": []},
            activation_fn=nn.ReLU,
        )
        if init_logit_std is not None:
            self._init_peaked(init_logit_std)
        self.logger: Logger = (
            configure(tensorboard_log, ["tensorboard"] if tensorboard_log else [])
            if tensorboard_log or verbose
            else configure(None, [])
        )
        self.verbose = verbose
        self.num_updates = 0
        self.num_episodes = 0

    def _init_peaked(self, logit_std: float) -> None:
        """Start from a random *hash* rather than a uniform policy.

        SB3 initialises the action head with gain 0.01, so every word starts with the
        same flat distribution and learning must first break that symmetry. Unit-variance
        hidden units and logits of standard deviation ``logit_std`` instead make the
        initial argmax a random function of the word, which RL then repairs.
        """
        layers = [*self.policy.mlp_extractor.policy_net, self.policy.action_net]
        linears = [layer for layer in layers if isinstance(layer, nn.Linear)]
        fan_in = self.base.pool.encoder.max_len  # active inputs of a one-hot bytes layer
        with th.no_grad():
            for i, layer in enumerate(linears):
                inputs = (
                    fan_in
                    if i == 0 and self.base.pool.encoder.kind == "bytes"
                    else layer.in_features
                )
                gain = logit_std if layer is linears[-1] else np.sqrt(2.0)
                layer.weight.normal_(0.0, gain / np.sqrt(inputs))
                layer.bias.zero_()

    # -- pieces of an update -------------------------------------------------------
    def logits(self, obs: th.Tensor) -> th.Tensor:
        """The policy's action logits for encoded words (float32)."""
        layers = [*self.policy.mlp_extractor.policy_net, self.policy.action_net]
        return score_words(layers, obs, self.base.pool.encoder.kind, th.float32)

    def _draw_episodes(self) -> np.ndarray:
        pool, n = len(self.base.pool), self.base.n_words
        return np.stack(
            [self.rng.choice(pool, size=n, replace=False) for _ in range(self.episodes_per_update)]
        )

    def _rewards(self, bins: np.ndarray) -> np.ndarray:
        rule = first_come_rewards if self.base.reward_mode == "first_come" else shared_bin_rewards
        return rule(bins, self.base.n_bins, self.base.reward_empty, self.base.reward_occupied)

    @staticmethod
    def _occurrence_rank(word: np.ndarray, n_words: int) -> tuple[np.ndarray, np.ndarray]:
        """For each occurrence, how many earlier occurrences of the same word; and counts."""
        counts = np.bincount(word, minlength=n_words)
        order = np.argsort(word, kind="stable")
        starts = np.cumsum(counts) - counts
        rank = np.empty_like(word)
        rank[order] = np.arange(word.size) - starts[word[order]]
        return rank, counts

    @staticmethod
    def _baseline(rewards: np.ndarray, word: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Leave-one-out mean reward of the same word in the batch (batch mean if alone)."""
        totals = np.bincount(word, weights=rewards, minlength=counts.size)
        own = counts[word]
        loo = (totals[word] - rewards) / np.maximum(own - 1, 1)
        return np.where(own > 1, loo, rewards.mean())

    def update(self) -> UpdateStats:
        start = time.perf_counter()
        episodes = self._draw_episodes()  # (E, n) pool indices in placement order
        unique, word = np.unique(episodes, return_inverse=True)
        word = word.reshape(-1)
        obs = th.from_numpy(self.base.pool.observe(unique))
        log_probs = F.log_softmax(self.logits(obs), dim=1)  # (U, n_bins)

        rank, counts = self._occurrence_rank(word, unique.size)
        with th.no_grad():
            samples = th.multinomial(log_probs.exp(), int(counts.max()), replacement=True)
        bins = samples.numpy()[word, rank]
        rewards = self._rewards(bins.reshape(episodes.shape)).reshape(-1).astype(np.float64)
        advantages = th.from_numpy(
            (rewards - self._baseline(rewards, word, counts)).astype(np.float32)
        )

        chosen = log_probs[th.from_numpy(word), th.from_numpy(bins)]
        entropy = -(log_probs.exp() * log_probs).sum(dim=1).mean()
        loss = -(advantages * chosen).mean() - self.ent_coef * entropy
        self.policy.optimizer.zero_grad()
        loss.backward()
        self.policy.optimizer.step()

        self.num_updates += 1
        self.num_episodes += episodes.shape[0]
        loads_ok = bins.reshape(episodes.shape)
        collisions = np.mean([b.size - np.unique(b).size for b in loads_ok])
        return UpdateStats(
            update=self.num_updates,
            episodes=self.num_episodes,
            elapsed_s=time.perf_counter() - start,
            mean_reward=float(rewards.mean()),
            mean_collisions=float(collisions),
            entropy=float(entropy.item()),
        )

    # -- evaluation and the training loop ------------------------------------------
    def pool_collisions(self) -> int:
        """Collisions of the argmax hash on the whole pool, into ``n_bins`` bins."""
        with th.no_grad():
            bins = self.logits(
                th.from_numpy(self.base.pool.observe(np.arange(len(self.base.pool))))
            )
            bins = bins.argmax(dim=1).numpy()
        return int(bins.size - np.unique(bins).size)

    def learn(
        self,
        max_updates: int = 10_000,
        *,
        time_budget_s: float | None = None,
        stop_at_collisions: int | None = None,
        eval_every: int = 10,
        callback: Callable[[UpdateStats], bool | None] | None = None,
    ) -> EpisodePG:
        """Train until ``max_updates``, the time budget, or the argmax hash of the pool
        reaching ``stop_at_collisions`` (checked every ``eval_every`` updates).

        ``callback(stats)`` is called after every update; returning ``False`` stops.
        """
        begin = time.perf_counter()
        for _ in range(max_updates):
            stats = self.update()
            if self.num_updates % eval_every == 0:
                stats.pool_collisions = self.pool_collisions()
                self._log(stats, time.perf_counter() - begin)
            if callback is not None and callback(stats) is False:
                break
            if stop_at_collisions is not None and stats.pool_collisions is not None:
                if stats.pool_collisions <= stop_at_collisions:
                    break
            if time_budget_s is not None and time.perf_counter() - begin > time_budget_s:
                break
        return self

    def _log(self, stats: UpdateStats, wall_s: float) -> None:
        self.logger.record("train/mean_reward", stats.mean_reward)
        self.logger.record("train/mean_collisions", stats.mean_collisions)
        self.logger.record("train/entropy", stats.entropy)
        self.logger.record("eval/pool_collisions", stats.pool_collisions)
        self.logger.record("time/wall_s", wall_s)
        self.logger.dump(step=stats.episodes)
        if self.verbose:
            print(
                f"update {stats.update:>5}  episodes {stats.episodes:>7}  "
                f"reward {stats.mean_reward:7.2f}  pool collisions {stats.pool_collisions:>5}  "
                f"entropy {stats.entropy:.3f}  {wall_s:6.1f}s",
                flush=True,
            )
