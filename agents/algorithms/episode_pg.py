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

With the env's ``factorize_bins=True`` the head scores ``rows + cols`` actions (a row
and a column, independent given the word); training uses the bin distribution this
induces (cell probabilities ``p(row) p(col)``, the cells past ``n_bins`` added to the
bins they wrap onto), so rewards, baselines and regularisers are those of the flat head,
and the exported hash is the factorised argmax :class:`agents.PolicyHash` computes.
"""

from __future__ import annotations

import math
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

from agents.common.layers import Sin, score_words
from hash_envs.envs import StatelessHashEnv, TableAwareHashEnv
from hash_envs.metrics import collisions_per_row
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
    4. loss ``-mean(A log pi(bin|word)) + uniform_coef * mean(KL(uniform || pi))
       - ent_coef * mean(entropy)``, one Adam step.

    The defaults memorise 1,000 Moby words into 1,000 bins (``reward_mode="shared_bin"``,
    ``encoding="bytes"``) with zero collisions in a few hundred updates; see
    ``bench/memorize.py``. What each one is for, as measured there (seeds not used in the
    benchmark; "updates" = updates to a collision-free argmax hash):

    * ``init_logit_std=8`` (see :meth:`_init_peaked`): start from a random *hash*, nearly
      deterministic. With 2 the policy starts almost flat, the shared output bias herds
      the argmax of most words into a few bins (collisions rose to 600-960 before
      falling) and 1,000 updates left 2 collisions; 5 and 8 fall below 20 collisions
      within 100 updates.
    * Zero-initialised padding columns (``bytes``): a word's zero padding is a feature
      every word of its length shares, so without this the words that stayed colliding
      were those differing in two or three of 21 byte positions (``Lazes``/``sanes``)
      and runs stalled at 4-5 collisions.
    * ``uniform_coef=0.3``, the log-barrier regulariser ``KL(uniform || pi)``
      (Agarwal et al., 2021): its gradient ``pi - 1/n_bins`` does not vanish for bins of
      tiny probability. A word that is happy in its bin stays nearly deterministic (the
      reward outweighs the pull), while the word of a colliding pair gains nothing by
      staying and spreads towards uniform until it hits the free bin. Without any
      regulariser the policy turns deterministic and stalls (50 collisions left after
      700 updates); an entropy bonus either collapses every word to uniform (bonus 0.5-3
      on all words: 960-998 collisions, or a floor of 3 nats: 43) or, capped at 1 nat,
      spreads colliding words only over a few occupied bins (300 to over 1,100
      updates). 1.0 already collapses to uniform; 0.1-0.3 reach zero in 250-800 updates.
    * ``activation_fn=nn.Tanh``: ReLU features are all positive, so every word shares a
      common direction and an owner's pull on its bin also raises that bin for others;
      tanh features are centred. With tanh 3-5 collisions remain after 100 updates
      (ReLU: 6-9).
    * ``learning_rate=1e-2``: 3e-3 too slow (over 350 collisions after 366 updates),
      2e-2 and above herd the argmax early on (3e-2: 960 collisions).
    * ``episodes_per_update=32``: 64 or 128 took as many updates at higher cost each.
    """

    def __init__(
        self,
        env: str | gym.Env = "hash_envs/StatelessHash-v0",
        env_kwargs: dict[str, Any] | None = None,
        *,
        net_arch: Sequence[int] = (256,),
        activation_fn: type[nn.Module] = Sin,
        learning_rate: float = 1e-2,
        episodes_per_update: int = 32,
        uniform_coef: float = 0.3,
        balance_coef: float = 0.3,
        ent_coef: float = 0.0,
        init_logit_std: float | None = 4.0,
        init_input_std: float = 3.0,
        equal_row_norms: bool = True,
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
        self.uniform_coef = float(uniform_coef)
        self.balance_coef = float(balance_coef)
        self.ent_coef = float(ent_coef)
        self.equal_row_norms = bool(equal_row_norms)
        self.rng = np.random.default_rng(seed)
        th.manual_seed(seed)
        self.policy = ActorCriticPolicy(
            self.env.observation_space,
            self.env.action_space,
            lr_schedule=lambda _: learning_rate,
            net_arch={"pi": list(net_arch), "vf": []},
            activation_fn=activation_fn,
        )
        space = self.env.action_space
        self._grid = (
            (int(space.nvec[0]), int(space.nvec[1]))
            if isinstance(space, gym.spaces.MultiDiscrete)
            else None
        )
        self._bytes = self.base.pool.encoder.kind == "bytes"
        if self._bytes:  # the one-hot columns the pool's words use (see _pool_logits)
            raw = self.base.pool.observe(np.arange(len(self.base.pool)))
            columns = raw + 256 * np.arange(raw.shape[1])
            used, inverse = np.unique(columns, return_inverse=True)
            self._used_columns = th.from_numpy(used)
            self._pool_columns = th.from_numpy(inverse.reshape(columns.shape))
            self._mean_word_bytes = float(np.count_nonzero(raw, axis=1).mean())
        if init_logit_std is not None:
            self._init_peaked(init_logit_std, init_input_std)
        # What Adam trains: the policy's layers, except that for bytes the first layer's
        # weight is trained through ``self._columns``, a compact copy of the few hundred
        # columns the pool uses (the others would only ever get zero gradients), written
        # back into the policy after every step.
        first, *rest = self._layers()
        trained = [p for layer in rest for p in layer.parameters()] + [first.bias]
        if self._bytes:
            self._columns = nn.Parameter(first.weight.detach()[:, self._used_columns].t().clone())
            trained.append(self._columns)
        else:
            trained.append(first.weight)
        # SB3's Adam settings (eps=1e-5); fused is about 3x faster on CPU
        self.optimizer = th.optim.Adam(trained, lr=learning_rate, eps=1e-5, fused=True)
        # SB3's configure(None, ...) makes a temporary folder per call; a bare Logger does not.
        self.logger: Logger = (
            configure(tensorboard_log, ["tensorboard"])
            if tensorboard_log
            else Logger(folder=None, output_formats=[])
        )
        self.verbose = verbose
        self.num_updates = 0
        self.num_episodes = 0

    def _layers(self) -> list[nn.Module]:
        return [*self.policy.mlp_extractor.policy_net, self.policy.action_net]

    def _heads(self) -> list[slice]:
        """The rows of the action head that each softmax covers (one, or row and column)."""
        if self._grid is None:
            return [slice(None)]
        return [slice(0, self._grid[0]), slice(self._grid[0], None)]

    def bin_log_probs(self, logits: th.Tensor) -> th.Tensor:
        """``log pi(bin | word)`` from action logits, shape ``(batch, n_bins)``."""
        if self._grid is None:
            return F.log_softmax(logits, dim=1)
        rows, cols = self._grid
        row = F.log_softmax(logits[:, :rows], dim=1)
        col = F.log_softmax(logits[:, rows:], dim=1)
        cells = (row[:, :, None] + col[:, None, :]).reshape(len(logits), rows * cols)
        n_bins, extra = self.base.n_bins, rows * cols - self.base.n_bins
        if extra == 0:
            return cells
        wrapped = th.logaddexp(cells[:, :extra], cells[:, n_bins:])
        return th.cat([wrapped, cells[:, extra:n_bins]], dim=1)

    def argmax_bins(self, scores: th.Tensor) -> np.ndarray:
        """The hash's bins from action scores: what :class:`agents.PolicyHash` computes."""
        if self._grid is None:
            return scores.argmax(dim=1).numpy()
        rows, cols = self._grid
        row, col = scores[:, :rows].argmax(dim=1), scores[:, rows:].argmax(dim=1)
        return ((row * cols + col) % self.base.n_bins).numpy()

    def _init_peaked(self, logit_std: float, input_std: float) -> None:
        """Start from a random *hash* rather than a uniform policy.

        SB3 initialises the action head with gain 0.01, so every word starts with the
        same flat distribution and learning must first break that symmetry. Instead the
        first layer's pre-activations get standard deviation ``input_std`` (for ``bytes``
        words: one column per real byte; the padding columns -- byte 0 at any position --
        start at zero, so two words share only their real bytes at equal positions, not
        the padding of equal lengths), later hidden layers gain sqrt(2), and every bin's
        logit standard deviation ``logit_std`` (for ``Sin`` units; rows of equal norm).
        The initial argmax is then a random, confident function of the word, which RL
        then repairs.
        """
        linears = [layer for layer in self._layers() if isinstance(layer, nn.Linear)]
        first, head = linears[0], linears[-1]
        with th.no_grad():
            for layer in linears:
                # a one-hot bytes layer sums one column per real byte of the word
                inputs = (
                    self._mean_word_bytes if layer is first and self._bytes else layer.in_features
                )
                gain = input_std if layer is first else math.sqrt(2.0)
                layer.weight.normal_(0.0, gain / math.sqrt(inputs))
                layer.bias.zero_()
            # a factorised head's row and column logits share the spread: 1/sqrt(2) each
            std = logit_std if self._grid is None else logit_std / math.sqrt(2.0)
            if head is first:  # a linear policy: the logits are the sums of byte columns
                inputs = self._mean_word_bytes if self._bytes else first.in_features
                head.weight.normal_(0.0, std / math.sqrt(inputs))
            else:  # E[sin(x)^2] = 1/2 for x of standard deviation >= 2
                head.weight.mul_(std * math.sqrt(2.0) / head.weight.norm(dim=1, keepdim=True))
            if self._bytes:
                first.weight[:, 256 * np.arange(self.base.pool.encoder.max_len)] = 0.0

    # -- pieces of an update -------------------------------------------------------
    def logits(self, obs: th.Tensor) -> th.Tensor:
        """The policy's action logits for encoded words (float32)."""
        return score_words(self._layers(), obs, self.base.pool.encoder.kind, th.float32)

    def _pool_logits(self, indices: np.ndarray) -> th.Tensor:
        """Logits of pool words; for bytes, the first layer sums only the columns in use.

        A pool of words uses a few hundred of the ``256 * max_len`` one-hot columns, so
        the first layer reads them from ``self._columns`` with ``embedding_bag`` -- the
        same sums as :func:`agents.common.layers.one_hot_linear`, several times faster
        forward and backward.
        """
        if not self._bytes:
            return self.logits(th.from_numpy(self.base.pool.observe(indices)))
        first, *rest = self._layers()
        x = F.embedding_bag(self._pool_columns[indices], self._columns, mode="sum") + first.bias
        for layer in rest:
            x = layer(x)
        return x

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
        log_probs = self.bin_log_probs(self._pool_logits(unique))  # (U, n_bins)

        rank, counts = self._occurrence_rank(word, unique.size)
        with th.no_grad():
            samples = th.multinomial(log_probs.exp(), int(counts.max()), replacement=True)
        bins = samples.numpy()[word, rank]
        rewards = self._rewards(bins.reshape(episodes.shape)).reshape(-1).astype(np.float64)
        advantages = th.from_numpy(
            (rewards - self._baseline(rewards, word, counts)).astype(np.float32)
        )

        chosen = log_probs[th.from_numpy(word), th.from_numpy(bins)]
        n_bins = log_probs.shape[1]
        with th.set_grad_enabled(self.ent_coef != 0.0):  # else only reported
            entropy = -(log_probs.exp() * log_probs).sum(dim=1).mean()
        uniform_kl = -log_probs.mean(dim=1).mean() - math.log(n_bins)
        # the pool's mean policy over bins, in logs: log(mean_w pi(bin | w))
        mean_policy = th.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])
        balance_kl = -mean_policy.mean() - math.log(n_bins)
        loss = (
            -(advantages * chosen).mean()
            + self.uniform_coef * uniform_kl
            + self.balance_coef * balance_kl
            - self.ent_coef * entropy
        )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self._bytes:
            with th.no_grad():
                self._layers()[0].weight[:, self._used_columns] = self._columns.t()

        self.num_updates += 1
        self.num_episodes += episodes.shape[0]
        collisions = collisions_per_row(bins.reshape(episodes.shape)).mean()
        return UpdateStats(
            update=self.num_updates,
            episodes=self.num_episodes,
            elapsed_s=time.perf_counter() - start,
            mean_reward=float(rewards.mean()),
            mean_collisions=float(collisions),
            entropy=float(entropy.item()),
        )

    # -- evaluation and the training loop ------------------------------------------
    def pool_collisions(self, exact: bool = True) -> int:
        """Collisions of the argmax hash on the whole pool, into ``n_bins`` bins.

        ``exact`` scores in float64 exactly as :class:`agents.PolicyHash` does (the hash
        that gets exported); otherwise the cheaper float32 training forward pass, which
        can disagree on a near-tie.
        """
        indices = np.arange(len(self.base.pool))
        with th.no_grad():
            if exact:
                obs = th.from_numpy(self.base.pool.observe(indices))
                kind = self.base.pool.encoder.kind
                scores = score_words(self._layers(), obs, kind, th.float64)
            else:
                scores = self._pool_logits(indices)
        return int(collisions_per_row(self.argmax_bins(scores)[None])[0])

    def equalise_row_norms(self) -> None:
        """Rescale the output layer's rows (one per bin) to their mean norm.

        The argmax over many bins is very sensitive to how widely each bin's logit
        varies over words: a bin whose row is 5% longer wins far more unseen words.
        Training leaves the row norms a few percent apart, which is harmless on the pool
        but skews the hash on other words; equal rows restore a random-like spread.
        """
        with th.no_grad():
            for head in self._heads():  # a factorised head: rows and columns apart
                weight = self.policy.action_net.weight[head]
                norms = weight.norm(dim=1, keepdim=True)
                weight.mul_(norms.mean() / norms)

    def _finish(self, target: int) -> int:
        """Exact pool collisions of the hash to export, once training reached ``target``.

        With ``equal_row_norms`` that is the hash with equalised rows if it still meets
        the target; otherwise the rows are put back (the trained hash meets it).
        """
        if self.equal_row_norms:
            weight = self.policy.action_net.weight
            saved = weight.detach().clone()
            self.equalise_row_norms()
            collisions = self.pool_collisions()
            if collisions <= target:
                return collisions
            with th.no_grad():
                weight.copy_(saved)
        return self.pool_collisions()

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
        reaching ``stop_at_collisions`` (checked every ``eval_every`` updates, and
        confirmed with :meth:`pool_collisions` ``(exact=True)`` before stopping).

        ``callback(stats)`` is called after every update; returning ``False`` stops.
        """
        begin = time.perf_counter()
        for _ in range(max_updates):
            stats = self.update()
            if self.num_updates % eval_every == 0:
                stats.pool_collisions = self.pool_collisions(exact=False)
                if stop_at_collisions is not None and stats.pool_collisions <= stop_at_collisions:
                    stats.pool_collisions = self._finish(stop_at_collisions)
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
