"""Soft Actor-Critic for discrete actions, as a Stable-Baselines3 algorithm.

Christodoulou, "Soft Actor-Critic for Discrete Action Settings", 2019
(https://arxiv.org/abs/1910.07207). With a finite action set the actor outputs the
whole categorical distribution pi(.|s) and each critic outputs Q(s, a) for every action
at once, so every expectation over actions is an exact sum instead of a sampled
estimate:

* soft state value (Eq. 10, "V(s_t) := pi(s_t)^T [Q(s_t) - alpha log pi(s_t)]")
  ``V(s') = sum_a pi(a|s') [min(Q1', Q2')(s', a) - alpha log pi(a|s')]``
  with the target critics Q1', Q2' (clipped double Q);
* critic loss (Eq. 2 of Haarnoja et al. 2018 with that V):
  ``J_Q = 1/2 E[(Q_i(s, a) - (r + gamma (1 - done) V(s')))^2]`` for each twin ``i``;
* actor loss (Eq. 12): ``J_pi = E_s sum_a pi(a|s) [alpha log pi(a|s) - min(Q1, Q2)(s, a)]``
  with the critics detached;
* temperature loss (Eq. 11): ``J(alpha) = E_s sum_a pi(a|s) [-alpha (log pi(a|s) + H_target)]
  = E_s alpha (H(pi(.|s)) - H_target)``, using the exact entropy H. As SB3's SAC we
  optimise ``log alpha`` (softlearning issue #37).

``SACDiscrete`` subclasses SB3's ``OffPolicyAlgorithm``, so ``learn`` (callbacks,
``progress_bar=True``, ``tensorboard_log=``), ``predict``, ``save`` / ``load``,
``VecEnv``\\s with several environments and n-step returns (``n_steps``) work as for SB3's
``SAC`` and ``DQN``. The update itself is written out top to bottom in
:meth:`SACDiscrete.train`.

Target entropy
--------------
With ``ent_coef="auto"`` the temperature alpha is tuned so that the policy's entropy
tracks ``target_entropy = target_entropy_scale * log|A|`` (``log|A|`` is the entropy of
the uniform policy). The default scale is **0.7**, chosen from these measurements with
this module (tuning seeds 10 and 11, kept apart from the benchmark's seeds 0-2; greedy
return: the mean of 20 evaluation episodes after training, of 5 along the way):

* CartPole-v1 (|A| = 2), 50k steps: scale 0.89 (CleanRL's; the paper's 0.98 asks for
  even more) makes alpha diverge: the policy cannot keep 0.62 nats of entropy, so alpha
  grows at the full rate of its optimiser (1.6, 56, 1053 at 5k, 20k, 45k steps; seed 10,
  ``net_arch=[64, 64]``) and the soft values become mostly entropy bonus. Scale 0.7 keeps
  alpha bounded (1-5) and the greedy policy good: 500 (seed 10, default network, alpha
  1.0-2.4) and 461 / 412 (seeds 10 / 11, ``net_arch=[64, 64]``). Lower scales did worse
  on CartPole: 0.5 plateaued at 242 (seed 10, ``[64, 64]``), 0.2 stayed at 170-220 for
  25k steps (seed 10, batch 256).
* ``hash_envs/StatelessHash-v0``, 100 words and 100 bins (|A| = 100): alpha stays
  bounded at 0.7 too (0.8-1.0 over 21k steps). Memorising a hash needs a near-
  deterministic policy, and there a lower scale learned faster: greedy return -840 after
  21k steps at 0.7 (seed 10) against -660 at 0.5 (seed 0, batch 256, so not a controlled
  comparison); a uniformly random hash scores about 268 and both are far from it.

So 0.7 is the largest scale tried that keeps alpha bounded at |A| = 2, and it keeps it
bounded at |A| = 100; |A| of 1000 and more was not measured long enough to say. For
memorisation tasks like the hash tables, pass a lower ``target_entropy_scale`` (0.5 or
less) or a fixed ``ent_coef``.

Defaults
--------
``learning_rate=3e-4`` (actor, critics and temperature), ``buffer_size=100_000``,
``learning_starts=1000`` uniform-random steps, ``batch_size=64``, ``tau=0.005``,
``gamma=0.99``, ``train_freq=1``, ``gradient_steps=1`` (one update per environment
step), ``target_update_interval=1``, ``ent_coef="auto"`` (alpha starts at 1.0 as in SB3's
SAC; ``"auto_0.1"`` starts it at 0.1, a float fixes it), ``target_entropy_scale=0.7``,
and for the policy ``net_arch=[256, 256]`` (actor and each critic, SB3 SAC's size), ReLU,
Adam, two critics, separate features extractors. Batch 64 (CleanRL's and Tianshou's
discrete-SAC examples) rather than SB3 SAC's 256: one update costs about 6.5 ms instead
of 10 ms on one CPU core, and CartPole reached the numbers above with it.

On CartPole-v1 pass ``learning_rate=1e-3``. With the default 3e-4 the greedy policy
balances the pole within 10k steps but learns to stop the cart drifting off the track only
at 40-50k steps. With 1e-3 it held 10 of 10 episodes of 5,000 steps from 30k or 40k steps
on: tuning seeds 10-13 (an uncommitted probe with the evaluation of
``bench/sac_cartpole_learning_curve.py``) and that script on seeds 0, 1 and 6. The peer
benchmark uses 1e-3 there for both libraries. The default stays 3e-4, because it is the
rate the hash tables above were measured with.

Only ``gymnasium.spaces.Discrete`` action spaces (starting at 0) are supported; any
other action space raises a ``ValueError`` that says so.

For the small MLPs used here on a CPU, ``torch.set_num_threads(1)`` is usually the
fastest setting; this module does not set it (it is a process-wide choice).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    create_mlp,
    get_actor_critic_arch,
)
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from torch import nn
from torch.nn import functional as F

from agents.algorithms.policies import (
    WORD_BYTES,
    CodesLinear,
    TableAwareHead,
    _peaked_init,
    equalise_rows,
    sample_categorical,
    word_byte_length,
)
from agents.common.layers import Sin

__all__ = [
    "DEFAULT_TARGET_ENTROPY_SCALE",
    "CnnPolicy",
    "DiscreteActor",
    "DiscreteCritic",
    "MlpPolicy",
    "MultiInputPolicy",
    "SACDiscrete",
    "SACDiscretePolicy",
    "TableAwareNet",
    "check_discrete_action_space",
]

SelfSACDiscrete = TypeVar("SelfSACDiscrete", bound="SACDiscrete")

#: Default ``target_entropy_scale`` (see the module docstring for the measurements).
DEFAULT_TARGET_ENTROPY_SCALE = 0.7


def check_discrete_action_space(action_space: spaces.Space) -> None:
    """Raise ``ValueError`` unless ``action_space`` is a ``Discrete`` space starting at 0."""
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(
            "SACDiscrete only supports gymnasium.spaces.Discrete action spaces, got "
            f"{action_space!r}. For continuous (Box) actions use stable_baselines3.SAC; "
            "for MultiDiscrete/MultiBinary actions flatten them into one Discrete space."
        )
    if int(action_space.start) != 0:
        raise ValueError(
            f"SACDiscrete needs a Discrete action space starting at 0, got {action_space!r}; "
            "shift the actions with a gymnasium ActionWrapper."
        )


def _activation(fn: type[nn.Module] | str) -> type[nn.Module]:
    """An activation class, or one named ``"sin"``, ``"tanh"`` or ``"relu"``."""
    if isinstance(fn, str):
        if fn.lower() not in _ACTIVATIONS:
            raise ValueError(f"activation_fn must be one of {sorted(_ACTIVATIONS)}, got {fn!r}")
        return _ACTIVATIONS[fn.lower()]
    return fn


_ACTIVATIONS: dict[str, type[nn.Module]] = {"sin": Sin, "tanh": nn.Tanh, "relu": nn.ReLU}


def _table_aware(observation_space: spaces.Space) -> bool:
    """Whether the observation is the table-aware envs' ``Dict(word, table)``."""
    return (
        isinstance(observation_space, spaces.Dict)
        and set(observation_space.spaces) == {"word", "table"}
        and isinstance(observation_space["table"], spaces.MultiBinary)
    )


class TableAwareNet(nn.Module):
    """``head([word_net(word), table])`` with a :class:`TableAwareHead`: one output per bin,
    ``Linear(word latent) + c * occupied(bin)`` with one learned scalar ``c``. Used for
    the actor's logits and each critic's Q-values on ``Dict(word, table)`` observations:
    the reward of a bin is +10 if it is empty and -10 if not, so ``Q = 10 - 20 * table``
    is one scalar away, where a generic MLP on ``[word, table]`` must learn it per bin."""

    def __init__(
        self,
        word_dim: int,
        n_bins: int,
        net_arch: list[int],
        activation_fn: type[nn.Module],
        codes: bool,
        table_coef_init: float = 0.0,
        table_coef_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if not net_arch:
            raise ValueError("a table-aware SACDiscrete network needs a hidden layer (net_arch)")
        self.word_net = nn.Sequential(*create_mlp(word_dim, -1, net_arch, activation_fn))
        if codes:
            self.word_net[0].__class__ = CodesLinear
        self.head = TableAwareHead(net_arch[-1], n_bins, None, table_coef_init, table_coef_scale)

    def forward(self, features: tuple[th.Tensor, th.Tensor]) -> th.Tensor:
        word, table = features
        return self.head(th.cat([self.word_net(word), table], dim=1))

    def taken(self, features: tuple[th.Tensor, th.Tensor], actions: th.Tensor) -> th.Tensor:
        """The output of ``actions`` ``(batch, 1)`` only: one row of the head per sample."""
        word, table = features
        latent = self.word_net(word)
        head = self.head.word
        out = (latent * head.weight[actions[:, 0]]).sum(dim=1, keepdim=True)
        coef = self.head.table_coef[0] * self.head.scale
        return out + head.bias[actions] + coef * table.gather(1, actions)

    def linears(self) -> list[nn.Linear]:
        return [*(m for m in self.word_net if isinstance(m, nn.Linear)), self.head.word]


def _mlp(
    features_dim: int,
    n_actions: int,
    net_arch: list[int],
    activation_fn: type[nn.Module],
    codes: bool,
) -> nn.Sequential:
    """SB3's MLP; with ``codes`` its first layer reads byte codes (:class:`CodesLinear`)."""
    net = nn.Sequential(*create_mlp(features_dim, n_actions, net_arch, activation_fn))
    if codes:
        net[0].__class__ = CodesLinear
    return net


def _taken(net: nn.Module, features: Any, actions: th.Tensor) -> th.Tensor:
    """``net(features).gather(1, actions)`` without computing the other outputs."""
    if isinstance(net, TableAwareNet):
        return net.taken(features, actions)
    if len(net) == 1:  # a linear network: its input is the features themselves
        return net(features).gather(1, actions)
    head = net[-1]
    latent = net[:-1](features)
    return (latent * head.weight[actions[:, 0]]).sum(dim=1, keepdim=True) + head.bias[actions]


def _linears(net: nn.Module) -> list[nn.Linear]:
    if isinstance(net, TableAwareNet):
        return net.linears()
    return [m for m in net if isinstance(m, nn.Linear)]


def word_net_args(
    init_logit_std: float | None,
    init_input_std: float,
    table_head: bool,
    table_coef_init: float,
    table_coef_scale: float,
) -> dict[str, Any]:
    """The keyword arguments a :class:`DiscreteActor` or :class:`DiscreteCritic` takes for
    its random-hash start and table-aware head, normalised (shared with
    :class:`agents.algorithms.q_policy.HashQPolicy`)."""
    return {
        "init_logit_std": None if init_logit_std is None else float(init_logit_std),
        "init_input_std": float(init_input_std),
        "table_head": bool(table_head),
        "table_coef_init": float(table_coef_init),
        "table_coef_scale": float(table_coef_scale),
    }


class _WordFeatures:
    """How an actor or critic reads its observation: SB3's features extractor, or, for
    the hash envs' words, the byte codes themselves (``MultiDiscrete([256] * L)``: the
    first layer gathers ``L`` columns instead of multiplying a one-hot vector of
    ``256 L``) and, for ``Dict(word, table)``, the pair ``(word, table)``."""

    observation_space: spaces.Space
    byte_len: int | None
    table_head: bool

    def _setup_words(self, table_head: bool) -> int | None:
        """``word_dim`` of a table-aware network (``None``: SB3's features)."""
        space = self.observation_space
        self.table_head = bool(table_head) and _table_aware(space)
        word_space = space["word"] if self.table_head else space  # type: ignore[index]
        self.byte_len = word_byte_length(word_space)
        if not self.table_head:
            return None
        return 256 * self.byte_len if self.byte_len else int(np.prod(word_space.shape))

    def _net(
        self,
        word_dim: int | None,
        features_dim: int,
        n_actions: int,
        net_arch: list[int],
        activation_fn: type[nn.Module],
        table_coef_init: float,
        table_coef_scale: float,
    ) -> nn.Module:
        """One output per action: a :class:`TableAwareNet` on the word and the table
        (``word_dim`` given), else SB3's MLP on the features."""
        codes = self.byte_len is not None
        if word_dim is not None:
            return TableAwareNet(
                word_dim,
                n_actions,
                net_arch,
                activation_fn,
                codes,
                table_coef_init,
                table_coef_scale,
            )
        return _mlp(features_dim, n_actions, net_arch, activation_fn, codes)

    def word_features(self, obs: PyTorchObs) -> Any:
        if self.table_head:
            word = obs["word"]  # type: ignore[index]
            word = word.long() if self.byte_len else word.float()
            return word, obs["table"].float()  # type: ignore[index]
        if self.byte_len is not None:
            return obs.long()  # type: ignore[union-attr]
        return self.extract_features(obs, self.features_extractor)  # type: ignore[attr-defined]


def _init_net(
    net: nn.Module,
    init_logit_std: float | None,
    init_input_std: float,
    byte_len: int | None,
    init_q: float | None = None,
) -> None:
    """A random-hash start (:func:`_peaked_init`: first layer of pre-activation spread
    ``init_input_std``, every output of spread ``init_logit_std``) and, with ``init_q``,
    an output layer of zero weights and bias ``init_q`` (every Q-value starts there)."""
    linears = _linears(net)
    if init_logit_std is not None:
        fan = WORD_BYTES if byte_len else float(linears[0].in_features)
        _peaked_init(linears, init_logit_std, init_input_std, fan, 1, byte_len)
    if init_q is not None:
        with th.no_grad():
            linears[-1].weight.zero_()
            linears[-1].bias.fill_(float(init_q))


class DiscreteActor(_WordFeatures, BasePolicy):
    """Categorical policy: features, then an MLP (``logits_net``) giving one logit per
    action; a :class:`TableAwareNet` for ``Dict(word, table)`` observations."""

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        init_logit_std: float | None = None,
        init_input_std: float = 3.0,
        table_head: bool = True,
        table_coef_init: float = 0.0,
        table_coef_scale: float = 1.0,
        equal_row_norms: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.equal_row_norms = bool(equal_row_norms)
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        n_actions = int(self.action_space.n)
        word_dim = self._setup_words(table_head)
        self.logits_net = self._net(
            word_dim,
            features_dim,
            n_actions,
            net_arch,
            activation_fn,
            table_coef_init,
            table_coef_scale,
        )
        _init_net(self.logits_net, init_logit_std, init_input_std, self.byte_len)
        self.init_args = dict(
            init_logit_std=init_logit_std,
            init_input_std=init_input_std,
            table_head=table_head,
            table_coef_init=table_coef_init,
            table_coef_scale=table_coef_scale,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
                equal_row_norms=self.equal_row_norms,
                **self.init_args,
            )
        )
        return data

    def after_update(self) -> None:
        """Called after each actor step: with ``equal_row_norms``, rescale the output
        layer's rows to their mean norm (:class:`agents.algorithms.policies.HashPolicy`'s
        rule: a longer row wins more unseen words)."""
        if self.equal_row_norms:
            equalise_rows(_linears(self.logits_net)[-1].weight)

    def logits(self, obs: PyTorchObs) -> th.Tensor:
        """Unnormalised log-probabilities, shape ``(batch, n_actions)``."""
        return self.logits_net(self.word_features(obs))

    def action_log_probs(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """``(pi(.|s), log pi(.|s))``, both ``(batch, n_actions)``; log-softmax keeps it finite."""
        log_probs = F.log_softmax(self.logits(obs), dim=-1)
        return log_probs.exp(), log_probs

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        logits = self.logits(obs)
        if deterministic:
            return logits.argmax(dim=-1)
        # inverse CDF, one uniform per row (torch.multinomial draws one per logit)
        return sample_categorical(logits)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self(observation, deterministic)


class DiscreteCritic(_WordFeatures, BaseModel):
    """``n_critics`` Q-networks, each mapping features to Q(s, a) for every action ``a``
    (a :class:`TableAwareNet` each for ``Dict(word, table)`` observations)."""

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        init_logit_std: float | None = None,
        init_input_std: float = 3.0,
        init_q: float | None = None,
        table_head: bool = True,
        table_coef_init: float = 0.0,
        table_coef_scale: float = 1.0,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        if n_critics < 1:
            raise ValueError(f"n_critics must be >= 1, got {n_critics}")
        self.share_features_extractor = share_features_extractor
        self.n_critics = n_critics
        n_actions = int(self.action_space.n)
        word_dim = self._setup_words(table_head)
        self.q_networks: list[nn.Module] = []
        for idx in range(n_critics):
            q_net = self._net(
                word_dim,
                features_dim,
                n_actions,
                net_arch,
                activation_fn,
                table_coef_init,
                table_coef_scale,
            )
            _init_net(q_net, init_logit_std, init_input_std, self.byte_len, init_q)
            self.add_module(f"qf{idx}", q_net)
            self.q_networks.append(q_net)

    def _features(self, obs: PyTorchObs) -> Any:
        # A features extractor shared with the actor is trained by the actor loss only.
        with th.set_grad_enabled(th.is_grad_enabled() and not self.share_features_extractor):
            return self.word_features(obs)

    def forward(self, obs: PyTorchObs) -> tuple[th.Tensor, ...]:
        """One ``(batch, n_actions)`` tensor of Q-values per critic."""
        features = self._features(obs)
        return tuple(q_net(features) for q_net in self.q_networks)

    def q_taken(self, obs: PyTorchObs, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        """``Q_i(s, a)`` ``(batch, 1)`` of the given actions ``(batch, 1)`` for each critic:
        ``forward(obs)[i].gather(1, actions)``, computing one output row, not ``|A|``."""
        features = self._features(obs)
        return tuple(_taken(q_net, features, actions) for q_net in self.q_networks)


class SACDiscretePolicy(BasePolicy):
    """Actor, critics and target critics of :class:`SACDiscrete`.

    :param observation_space: observation space
    :param action_space: a ``Discrete`` action space
    :param lr_schedule: learning-rate schedule (constant or a function of progress)
    :param net_arch: hidden layers, one list for actor and critics (default ``[256, 256]``)
        or ``dict(pi=[...], qf=[...])``
    :param activation_fn: activation function (default ``nn.ReLU``)
    :param features_extractor_class: features extractor (``FlattenExtractor`` for
        ``MlpPolicy``, ``CombinedExtractor`` for ``MultiInputPolicy``)
    :param features_extractor_kwargs: its keyword arguments
    :param normalize_images: divide image observations by 255
    :param optimizer_class: optimiser of actor and critics (default Adam)
    :param optimizer_kwargs: its keyword arguments, besides the learning rate
    :param n_critics: number of Q-networks (2: clipped double Q)
    :param share_features_extractor: let the critics use the actor's features extractor
        (trained by the actor loss only)
    :param init_logit_std: the random-hash start, as
        :class:`agents.algorithms.policies.HashPolicy`'s
    :param init_input_std: its first layer's pre-activation spread
    :param table_head: the table-aware head, as
        :class:`agents.algorithms.policies.TableAwareHashPolicy`'s
    :param table_coef_init: its initial occupancy weight
    :param table_coef_scale: its weight's learning-rate multiplier
    :param init_q: start every Q-value there (zero output weights, bias ``init_q``)
    :param equal_row_norms: keep the actor's output rows at equal norms after every
        update, as :class:`agents.algorithms.policies.HashPolicy`'s
    """

    action_space: spaces.Discrete
    actor: DiscreteActor
    critic: DiscreteCritic
    critic_target: DiscreteCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | str = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        init_logit_std: float | None = None,
        init_input_std: float = 3.0,
        init_q: float | None = None,
        table_head: bool = True,
        table_coef_init: float = 0.0,
        table_coef_scale: float = 1.0,
        equal_row_norms: bool = False,
    ) -> None:
        check_discrete_action_space(action_space)
        activation_fn = _activation(activation_fn)
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=normalize_images,
        )
        if net_arch is None:
            net_arch = [256, 256]
        actor_arch, critic_arch = get_actor_critic_arch(net_arch)
        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.net_args = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "activation_fn": self.activation_fn,
            "normalize_images": normalize_images,
        }
        self.init_args = word_net_args(
            init_logit_std, init_input_std, table_head, table_coef_init, table_coef_scale
        )
        self.init_q = None if init_q is None else float(init_q)
        self.equal_row_norms = bool(equal_row_norms)
        self.actor_kwargs = {
            **self.net_args,
            "net_arch": actor_arch,
            "equal_row_norms": self.equal_row_norms,
            **self.init_args,
        }
        self.critic_kwargs = {
            **self.net_args,
            "net_arch": critic_arch,
            "n_critics": n_critics,
            "share_features_extractor": share_features_extractor,
            **self.init_args,
            "init_q": self.init_q,
        }
        self.share_features_extractor = share_features_extractor
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        self.actor = self.make_actor()
        self.actor.optimizer = self.optimizer_class(
            self.actor.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )
        if self.share_features_extractor:
            self.critic = self.make_critic(features_extractor=self.actor.features_extractor)
            critic_parameters = [
                param
                for name, param in self.critic.named_parameters()
                if "features_extractor" not in name
            ]
        else:
            self.critic = self.make_critic(features_extractor=None)
            critic_parameters = list(self.critic.parameters())
        # The target critics never share a features extractor.
        self.critic_target = self.make_critic(features_extractor=None)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic.optimizer = self.optimizer_class(
            critic_parameters, lr=lr_schedule(1), **self.optimizer_kwargs
        )
        self.critic_target.set_training_mode(False)
        self.critic_target.requires_grad_(False)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.net_args["activation_fn"],
                n_critics=self.critic_kwargs["n_critics"],
                share_features_extractor=self.share_features_extractor,
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
                init_q=self.init_q,
                equal_row_norms=self.equal_row_norms,
                **self.init_args,
            )
        )
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> DiscreteActor:
        kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return DiscreteActor(**kwargs).to(self.device)

    def make_critic(
        self, features_extractor: BaseFeaturesExtractor | None = None
    ) -> DiscreteCritic:
        kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return DiscreteCritic(**kwargs).to(self.device)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.actor(observation, deterministic)

    def set_training_mode(self, mode: bool) -> None:
        self.actor.set_training_mode(mode)
        self.critic.set_training_mode(mode)
        self.training = mode


MlpPolicy = SACDiscretePolicy


class CnnPolicy(SACDiscretePolicy):
    """:class:`SACDiscretePolicy` with SB3's ``NatureCNN`` features extractor (images)."""

    def __init__(
        self,
        *args: Any,
        features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(SACDiscretePolicy):
    """:class:`SACDiscretePolicy` for ``Dict`` observations (SB3's ``CombinedExtractor``)."""

    def __init__(
        self,
        *args: Any,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class SACDiscrete(OffPolicyAlgorithm):
    """Soft Actor-Critic for ``Discrete`` action spaces (Christodoulou 2019).

    :param policy: ``"MlpPolicy"``, ``"MultiInputPolicy"`` (Dict observations),
        ``"CnnPolicy"`` or a :class:`SACDiscretePolicy` subclass
    :param env: environment (a Gymnasium env, a ``VecEnv`` or a registered id)
    :param learning_rate: Adam learning rate of actor, critics and temperature (or a
        schedule of the remaining progress)
    :param buffer_size: replay buffer capacity
    :param learning_starts: environment steps of uniformly random actions before learning
    :param batch_size: minibatch size of each gradient step
    :param tau: Polyak coefficient of the target critics (1.0 = hard copy)
    :param gamma: discount factor
    :param train_freq: update every ``train_freq`` steps, or ``(n, "step" | "episode")``
    :param gradient_steps: gradient steps per update (-1: as many as environment steps)
    :param replay_buffer_class: replay buffer class (default chosen by SB3 from the space)
    :param replay_buffer_kwargs: its keyword arguments
    :param optimize_memory_usage: SB3's memory-efficient replay buffer
    :param n_steps: n-step returns (SB3's ``NStepReplayBuffer``) when > 1
    :param ent_coef: the temperature alpha: a float fixes it; ``"auto"`` learns it from
        1.0, ``"auto_<x>"`` learns it from ``x``
    :param target_update_interval: update the target critics every that many gradient
        steps
    :param target_entropy: ``"auto"`` (``target_entropy_scale * log|A|``) or a number of
        nats
    :param target_entropy_scale: fraction of the uniform policy's entropy ``log|A|`` that
        the learned temperature aims at (default 0.7; see the module docstring)
    :param actor_lr_scale: the actor's learning rate is ``actor_lr_scale * learning_rate``
        (default 1). Below 1 the critics learn faster than the actor moves: on the hash
        tables, where one word's best bin depends on every other word's policy, an actor as
        fast as its critics chases stale values (see ``agents/hyperparams/sac.json``)
    :param stats_window_size: episodes averaged in the rollout logs
    :param tensorboard_log: TensorBoard log directory (``None``: no TensorBoard)
    :param policy_kwargs: keyword arguments of the policy (see :class:`SACDiscretePolicy`)
    :param verbose: 0 silent, 1 info, 2 debug
    :param seed: seed of the random generators
    :param device: ``"cpu"``, ``"cuda"`` or ``"auto"``
    :param _init_setup_model: build the networks now
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: SACDiscretePolicy
    actor: DiscreteActor
    critic: DiscreteCritic
    critic_target: DiscreteCritic

    def __init__(
        self,
        policy: str | type[SACDiscretePolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 100_000,
        learning_starts: int = 1000,
        batch_size: int = 64,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        target_entropy_scale: float = DEFAULT_TARGET_ENTROPY_SCALE,
        actor_lr_scale: float = 1.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if env is not None:
            # Make a registered id here (as SB3 would) to give a clear error before SB3's
            # assertion on the action space.
            env = maybe_make_env(env, verbose)
            check_discrete_action_space(env.action_space)
        if not float(actor_lr_scale) > 0.0:
            raise ValueError(f"actor_lr_scale must be > 0, got {actor_lr_scale}")
        if int(target_update_interval) < 1:
            raise ValueError(f"target_update_interval must be >= 1, got {target_update_interval}")
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Discrete,),
            support_multi_env=True,
        )
        self.ent_coef = ent_coef
        self.target_entropy = target_entropy
        self.target_entropy_scale = float(target_entropy_scale)
        self.actor_lr_scale = float(actor_lr_scale)
        self.target_update_interval = int(target_update_interval)
        self.log_ent_coef: th.Tensor | None = None
        self.ent_coef_optimizer: th.optim.Adam | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        check_discrete_action_space(self.action_space)
        super()._setup_model()
        self._create_aliases()
        self.batch_norm_stats = get_parameters_by_name(self.critic, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(self.critic_target, ["running_"])

        # Target entropy H_target = scale * log|A| (the uniform policy has entropy log|A|).
        if self.target_entropy == "auto":
            if not 0.0 <= self.target_entropy_scale <= 1.0:
                raise ValueError(
                    f"target_entropy_scale must lie in [0, 1], got {self.target_entropy_scale}"
                )
            n_actions = int(self.action_space.n)
            self.target_entropy = self.target_entropy_scale * float(np.log(n_actions))
        else:
            self.target_entropy = float(self.target_entropy)

        if isinstance(self.ent_coef, str):
            if not self.ent_coef.startswith("auto"):
                raise ValueError(
                    f'ent_coef must be a float, "auto" or "auto_<initial value>", '
                    f"got {self.ent_coef!r}"
                )
            init_value = 1.0
            if "_" in self.ent_coef:
                init_value = float(self.ent_coef.split("_", 1)[1])
                if init_value <= 0.0:
                    raise ValueError(f"the initial ent_coef must be > 0, got {init_value}")
            self.log_ent_coef = th.log(th.ones(1, device=self.device) * init_value).requires_grad_(
                True
            )
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1))
        else:
            if float(self.ent_coef) < 0.0:
                raise ValueError(f"a fixed ent_coef must be >= 0, got {self.ent_coef}")
            self.ent_coef_tensor = th.tensor(float(self.ent_coef), device=self.device)

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    @property
    def alpha(self) -> float:
        """The current temperature (entropy coefficient)."""
        if self.log_ent_coef is not None:
            return float(self.log_ent_coef.detach().exp().item())
        return float(self.ent_coef_tensor.item())

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)
        # two timescales: the critics track the current policy before the actor moves on
        for group in self.actor.optimizer.param_groups:
            group["lr"] *= self.actor_lr_scale

        critic_losses, actor_losses, ent_coef_losses = [], [], []
        ent_coefs, entropies, q_means = [], [], []

        for _ in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            # gamma (or gamma^k for k-step returns from SB3's NStepReplayBuffer)
            discounts = data.discounts if data.discounts is not None else self.gamma
            actions = data.actions.long().reshape(-1, 1)  # (B, 1) indices into |A|

            # alpha: the temperature, detached for the critic and actor losses
            if self.log_ent_coef is not None:
                alpha = self.log_ent_coef.detach().exp()
            else:
                alpha = self.ent_coef_tensor

            # --- Critic: soft Bellman target with the exact expectation over a' -------
            with th.no_grad():
                if self.gamma == 0.0:
                    # every reward is immediate (the hash tables): y = r, no bootstrap
                    target_q = data.rewards
                else:
                    next_pi, next_log_pi = self.actor.action_log_probs(data.next_observations)
                    next_q = th.min(
                        th.stack(self.critic_target(data.next_observations)), dim=0
                    ).values
                    # Eq. (10): V(s') = sum_a' pi(a'|s') [min_i Q_i'(s', a') - alpha log pi(a'|s')]
                    next_v = (next_pi * (next_q - alpha * next_log_pi)).sum(dim=1, keepdim=True)
                    # y = r + gamma (1 - done) V(s')
                    target_q = data.rewards + (1.0 - data.dones) * discounts * next_v

            # Q_i(s, a) for the stored action a, for every critic i (one output row each)
            current_q = self.critic.q_taken(data.observations, actions)
            # J_Q = sum_i 1/2 E[(Q_i(s, a) - y)^2]
            critic_loss = 0.5 * sum(F.mse_loss(q, target_q) for q in current_q)
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            # --- Actor: exact expectation over a of alpha log pi - min Q (Q detached) ---
            pi, log_pi = self.actor.action_log_probs(data.observations)
            with th.no_grad():
                min_q = th.min(th.stack(self.critic(data.observations)), dim=0).values
            # Eq. (12): J_pi = E_s sum_a pi(a|s) [alpha log pi(a|s) - min_i Q_i(s, a)]
            actor_loss = (pi * (alpha * log_pi - min_q)).sum(dim=1).mean()
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()
            self.actor.after_update()

            # --- Temperature: exact entropy H(pi(.|s)) = -sum_a pi log pi -------------
            entropy = -(pi.detach() * log_pi.detach()).sum(dim=1)
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                # Eq. (11): J(alpha) = E_s[alpha (H(pi(.|s)) - H_target)], optimised in log alpha
                ent_coef_loss = (self.log_ent_coef * (entropy - self.target_entropy)).mean()
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
                ent_coef_losses.append(ent_coef_loss.item())

            # --- Target critics: Polyak averaging Q' <- tau Q + (1 - tau) Q' ----------
            self._n_updates += 1
            if self._n_updates % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

            critic_losses.append(critic_loss.item())
            actor_losses.append(actor_loss.item())
            ent_coefs.append(alpha.item())
            entropies.append(entropy.mean().item())
            q_means.append(min_q.gather(1, actions).mean().item())

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", np.mean(ent_coefs))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        self.logger.record("train/entropy", np.mean(entropies))
        self.logger.record("train/target_entropy", self.target_entropy)
        self.logger.record("train/q_value", np.mean(q_means))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))

    def learn(
        self: SelfSACDiscrete,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "SACDiscrete",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfSACDiscrete:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        if self.ent_coef_optimizer is not None:
            state_dicts.append("ent_coef_optimizer")
            saved_pytorch_variables = ["log_ent_coef"]
        else:
            saved_pytorch_variables = ["ent_coef_tensor"]
        return state_dicts, saved_pytorch_variables
