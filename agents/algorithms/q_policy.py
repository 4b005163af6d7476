"""SB3 DQN's policy with the hash envs' Q-network: :class:`HashQPolicy`.

SB3's ``QNetwork`` starts with every Q-value near 0, so the greedy policy of an untrained
DQN sends most words to the same few bins (Memorize100, 1,024 envs, 800k steps: -1.70,
below a random hash, and it never leaves). :class:`HashQPolicy` gives DQN the network of
one :class:`agents.SACDiscrete` critic instead: the word read as byte codes, a random-hash
start (``init_logit_std``: each bin's Q-value starts as an independent draw, so the greedy
policy starts as a random hash) and, for ``Dict(word, table)`` observations, the
table-aware head (Q = MLP(word) + c * table). DQN's update is unchanged.
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from agents.algorithms.policies import _activation
from agents.algorithms.sac_discrete import DiscreteCritic, word_net_args

__all__ = ["HashQNetwork", "HashQPolicy"]


class HashQNetwork(DiscreteCritic):
    """SB3's ``QNetwork`` interface (``forward``: Q-values ``(batch, n_actions)``,
    ``_predict``: the greedy action) over one :class:`DiscreteCritic` network."""

    def forward(self, obs: PyTorchObs) -> th.Tensor:  # type: ignore[override]
        return super().forward(obs)[0]

    def _predict(self, observation: PyTorchObs, deterministic: bool = True) -> th.Tensor:
        return self(observation).argmax(dim=1).reshape(-1)


class HashQPolicy(DQNPolicy):
    """``DQNPolicy`` whose Q-networks are :class:`HashQNetwork` s.

    :param init_logit_std: spread of every initial Q-value (``None``: SB3's default init)
    :param init_input_std: spread of the first layer's pre-activations at that start
        (3 for ``bytes`` words, about 300 for ``codepoints``)
    :param table_head: the table-aware head of
        :class:`agents.algorithms.policies.TableAwareHashPolicy` for ``Dict`` observations
    :param table_coef_init: its initial weight of a bin's occupancy
    :param table_coef_scale: how much faster than the word's weights Adam moves it
    :param activation_fn: a module class or ``"sin"``, ``"tanh"``, ``"relu"``
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] | str = nn.ReLU,
        *args: Any,
        init_logit_std: float | None = None,
        init_input_std: float = 3.0,
        table_head: bool = True,
        table_coef_init: float = 0.0,
        table_coef_scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        self.init_args = word_net_args(
            init_logit_std, init_input_std, table_head, table_coef_init, table_coef_scale
        )
        if isinstance(observation_space, spaces.Dict):
            kwargs.setdefault("features_extractor_class", CombinedExtractor)
        else:
            kwargs.setdefault("features_extractor_class", FlattenExtractor)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            _activation(activation_fn),
            *args,
            **kwargs,
        )

    def make_q_net(self) -> HashQNetwork:  # type: ignore[override]
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return HashQNetwork(n_critics=1, **net_args, **self.init_args).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), **self.init_args}
