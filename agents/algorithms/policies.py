"""Policies for the hash environments: the word as one-hot bytes read by a gather, a
random-hash start, a table-aware head, fast categorical sampling and a fused loss.

Why each piece exists (measured on the suite's tiers, issue 32; ``docs/benchmark.md``):

* **Sampling.** ``torch.multinomial`` (SB3's ``Categorical.sample``) draws its noise
  per logit: 30 ms for 1,024 x 1,000 logits on one core, a 34k steps/s ceiling before any
  learning. :func:`sample_categorical` inverts the CDF with one uniform per row (1.7 ms).
* **The fused loss.** ``log_softmax``'s backward over 4,096 x 1,000 logits took 41 ms;
  :func:`categorical_pg_loss` gives the same loss and its gradient in closed form from one
  softmax, in blocks that stay in cache (4 ms per 1,024 rows).
* **The word.** ``encoding="bytes"`` words are ``MultiDiscrete([256] * L)``, which SB3
  feeds to its MLP as ``L`` one-hot vectors (256 L inputs): the first linear layer only
  ever adds ``L`` of its columns. :class:`HashPolicy` gathers them (``embedding_bag``),
  the same function as SB3's dense one-hot product, so :class:`agents.PolicyHash` exports
  it unchanged.
* **A random-hash start** (``init_logit_std``). SB3's orthogonal init with gain 0.01 on
  the action layer makes every word's distribution nearly the same flat one; the argmax
  of the barely trained policy then sends most words to a few bins (the suite's table:
  -1.7, below a random hash). Starting from a confident random hash (the first layer's
  pre-activations of standard deviation ``init_input_std``, Sin units, every bin's logit
  of standard deviation ``init_logit_std``) gives an argmax that already spreads like a
  random hash, which RL then repairs -- :class:`agents.EpisodePG`'s recipe.
* **Equal output rows** (``equal_row_norms``): a bin whose output row is a few percent
  longer wins many more *unseen* words; projecting the rows back to their mean norm
  after every update keeps held-out words spread like a random hash (Generalize1k).
* **Table-aware head** (:class:`TableAwareHashPolicy`): ``logits = MLP(word) +
  table_coef * table``, one learned scalar on each bin's occupancy; with a factorised
  action ``(row, col)``, the row logits read each row's occupied fraction and the column
  logits the occupancy of the row the row head is likely to pick. A generic MLP on
  ``[word, table]`` has to learn "avoid occupied bins" once per bin, and does not.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    Distribution,
    MultiCategoricalDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy, MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import MlpExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn
from torch.distributions import Categorical
from torch.nn import functional as F

from agents.common.layers import Sin
from hash_envs.wrappers import MASK_KEY

__all__ = [
    "FastCategoricalDistribution",
    "FastMultiCategoricalDistribution",
    "HashPolicy",
    "MASKED_LOGIT",
    "MaskedPolicy",
    "TableAwareHashPolicy",
    "TableAwareHead",
    "categorical_pg_loss",
    "equalise_rows",
    "logits_and_values",
    "multi_categorical_pg_loss",
    "policy_gradient_update",
    "sample_categorical",
    "word_byte_length",
]

#: Rows of logits per block of the fused loss (4,096 x 1,000 float32 leaves the cache).
LOSS_BLOCK = 1024
#: Mean UTF-8 length of a Moby word, rounded: the fan-in of a one-hot bytes layer.
WORD_BYTES = 9.0


def sample_categorical(logits: th.Tensor, with_log_prob: bool = False) -> Any:
    """One sample per row of ``logits`` ``(batch, n)`` by inverting the CDF (one uniform
    per row); with ``with_log_prob``, ``(samples, log pi(sample))``."""
    probs = th.softmax(logits, dim=-1)
    cdf = probs.cumsum(dim=-1)
    u = th.rand(cdf.shape[:-1] + (1,), dtype=cdf.dtype, device=cdf.device) * cdf[..., -1:]
    samples = th.searchsorted(cdf, u).squeeze(-1).clamp_(max=logits.shape[-1] - 1)
    if not with_log_prob:
        return samples
    chosen = probs.gather(-1, samples.unsqueeze(-1)).squeeze(-1)
    return samples, chosen.clamp_min(th.finfo(probs.dtype).tiny).log()


def _act(
    policy: Any, obs: PyTorchObs, deterministic: bool
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """``(actions, values, log_prob)`` as SB3's ``ActorCriticPolicy.forward``, from one
    softmax per part and no ``torch.distributions`` object (the rollout's hot path)."""
    logits, values = policy.logits_and_values(obs)
    space = policy.action_space
    parts = (
        [logits]
        if isinstance(space, spaces.Discrete)
        else th.split(logits, [int(n) for n in space.nvec], dim=1)
    )
    actions, log_probs = [], []
    for part in parts:
        if deterministic:
            action = part.argmax(dim=1)
            log_prob = part.gather(1, action[:, None])[:, 0] - th.logsumexp(part, dim=1)
        else:
            action, log_prob = sample_categorical(part, with_log_prob=True)
        actions.append(action)
        log_probs.append(log_prob)
    if isinstance(space, spaces.Discrete):
        return actions[0], values.reshape(-1, 1), log_probs[0]
    return th.stack(actions, dim=1), values.reshape(-1, 1), sum(log_probs)


class FastCategoricalDistribution(CategoricalDistribution):
    """SB3's categorical distribution, sampled by :func:`sample_categorical` (the same
    distribution, another random stream) and with the mode taken on the logits."""

    def proba_distribution(self, action_logits: th.Tensor) -> FastCategoricalDistribution:
        self.distribution = Categorical(logits=action_logits, validate_args=False)
        return self

    def sample(self) -> th.Tensor:
        return sample_categorical(self.distribution.logits)

    def mode(self) -> th.Tensor:
        return th.argmax(self.distribution.logits, dim=1)


class FastMultiCategoricalDistribution(MultiCategoricalDistribution):
    """SB3's multi-categorical distribution with :func:`sample_categorical` per part."""

    def proba_distribution(self, action_logits: th.Tensor) -> FastMultiCategoricalDistribution:
        parts = th.split(action_logits, list(self.action_dims), dim=1)
        self.distribution = [Categorical(logits=p, validate_args=False) for p in parts]
        return self

    def sample(self) -> th.Tensor:
        return th.stack([sample_categorical(d.logits) for d in self.distribution], dim=1)

    def mode(self) -> th.Tensor:
        return th.stack([th.argmax(d.logits, dim=1) for d in self.distribution], dim=1)


def _fast_distribution(action_space: spaces.Space) -> Distribution | None:
    if isinstance(action_space, spaces.Discrete):
        return FastCategoricalDistribution(int(action_space.n))
    if isinstance(action_space, spaces.MultiDiscrete) and action_space.nvec.ndim == 1:
        return FastMultiCategoricalDistribution(list(action_space.nvec))
    return None


# -- the fused policy-gradient loss ---------------------------------------------------------


class _CategoricalPGLoss(th.autograd.Function):
    """``sum_i [-A_i log pi(a_i) + u KL(U || pi_i) - e H(pi_i)] / total`` over a block of
    rows; backward: ``[A (pi - 1_a) + u (pi - 1/n) + e pi (log pi + H)] / total``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        logits: th.Tensor,
        actions: th.Tensor,
        advantages: th.Tensor,
        uniform_coef: float,
        ent_coef: float,
        total: int,
        want_entropy: bool,
    ) -> th.Tensor:
        n = logits.shape[1]
        top = logits.amax(dim=1, keepdim=True)
        probs = (logits - top).exp_()
        sums = probs.sum(dim=1, keepdim=True)
        probs.div_(sums)
        log_z = top + sums.log_()  # (B, 1): log sum exp of each row
        chosen = logits.gather(1, actions[:, None]) - log_z
        loss = -(advantages * chosen[:, 0]).sum()
        if uniform_coef:  # KL(U || pi) = -mean_b log pi_b - log n
            kl = log_z[:, 0] - logits.mean(dim=1) - math.log(n)
            loss = loss + uniform_coef * kl.sum()
        entropy = (
            log_z[:, 0] - (probs * logits).sum(dim=1) if want_entropy or ent_coef else log_z[:0, 0]
        )
        if ent_coef:
            loss = loss - ent_coef * entropy.sum()
        ctx.save_for_backward(probs, actions, advantages, log_z, entropy, logits)
        ctx.coefs = (float(uniform_coef), float(ent_coef), int(n), int(total))
        ctx.mark_non_differentiable(entropy)
        return loss / total, entropy

    @staticmethod
    def backward(ctx: Any, grad_loss: th.Tensor, _grad_entropy: th.Tensor) -> tuple:  # type: ignore[override]
        probs, actions, advantages, log_z, entropy, logits = ctx.saved_tensors
        uniform_coef, ent_coef, n, total = ctx.coefs
        grad = probs * (advantages + uniform_coef)[:, None]
        if ent_coef:
            grad += ent_coef * probs * (logits - log_z + entropy[:, None])
        if uniform_coef:
            grad.sub_(uniform_coef / n)
        grad.scatter_add_(1, actions[:, None], -advantages[:, None])
        grad.mul_(grad_loss / total)
        return grad, None, None, None, None, None, None


def categorical_pg_loss(
    logits: th.Tensor,
    actions: th.Tensor,
    advantages: th.Tensor,
    uniform_coef: float = 0.0,
    ent_coef: float = 0.0,
    total: int | None = None,
    want_entropy: bool = True,
) -> tuple[th.Tensor, th.Tensor]:
    """``(loss, entropy)``: the REINFORCE loss of a categorical policy with a log-barrier
    ``uniform_coef * KL(uniform || pi)`` and an entropy bonus, summed over the rows and
    divided by ``total`` (default: the rows here; pass the rollout's size to accumulate
    blocks), with its gradient in closed form; ``entropy`` per row (no gradient; empty
    unless ``want_entropy`` or an entropy bonus asks for it)."""
    loss, entropy = _CategoricalPGLoss.apply(
        logits,
        actions.long().reshape(-1),
        advantages.detach().to(logits.dtype).reshape(-1),
        float(uniform_coef),
        float(ent_coef),
        int(total if total is not None else logits.shape[0]),
        bool(want_entropy),
    )
    return loss, entropy


def multi_categorical_pg_loss(
    logits: th.Tensor,
    actions: th.Tensor,
    advantages: th.Tensor,
    dims: list[int],
    uniform_coef: float = 0.0,
    ent_coef: float = 0.0,
    total: int | None = None,
) -> tuple[th.Tensor, th.Tensor]:
    """:func:`categorical_pg_loss` for independent parts (``MultiDiscrete``): the log
    probability of the action is the sum of the parts', the regularisers add up."""
    total = int(total if total is not None else logits.shape[0])
    log_probs = [F.log_softmax(part, dim=1) for part in th.split(logits, dims, dim=1)]
    chosen = sum(lp.gather(1, actions[:, i : i + 1].long())[:, 0] for i, lp in enumerate(log_probs))
    loss = -(advantages.detach() * chosen).sum()
    entropy = sum(-(lp.exp() * lp).sum(dim=1) for lp in log_probs)
    if uniform_coef:
        kl = sum(-lp.mean(dim=1) - math.log(lp.shape[1]) for lp in log_probs)
        loss = loss + uniform_coef * kl.sum()
    if ent_coef:
        loss = loss - ent_coef * entropy.sum()
    return loss / total, entropy.detach()


# -- the word ----------------------------------------------------------------------------------


def word_byte_length(space: spaces.Space) -> int | None:
    """``L`` for a ``bytes``-encoded word space (``MultiDiscrete([256] * L)``), else ``None``."""
    if (
        isinstance(space, spaces.MultiDiscrete)
        and space.nvec.ndim == 1
        and np.all(space.nvec == 256)
    ):
        return int(space.nvec.shape[0])
    return None


class _OneHotGather(th.autograd.Function):
    """``weight.t()[columns].sum(1)`` for ``weight`` ``(out, 256 L)`` (``nn.Linear``'s
    layout) and one-hot ``columns`` ``(batch, L)``. ``embedding_bag`` on the transposed
    view is 3-4x slower than on a contiguous copy, and its backward (a sort) 2x slower
    than ``index_add_``; one output (a value head) is a plain ``take``."""

    @staticmethod
    def forward(ctx: Any, weight: th.Tensor, columns: th.Tensor) -> th.Tensor:  # type: ignore[override]
        ctx.save_for_backward(columns)
        ctx.shape = weight.shape
        if weight.shape[0] == 1:
            return th.take(weight[0], columns).sum(dim=1, keepdim=True)
        return F.embedding_bag(columns, weight.t().contiguous(), mode="sum")

    @staticmethod
    def backward(ctx: Any, grad: th.Tensor) -> tuple[th.Tensor, None]:  # type: ignore[override]
        (columns,) = ctx.saved_tensors
        out, width = ctx.shape
        length = columns.shape[1]
        if out == 1:
            grad_w = th.zeros(width, dtype=grad.dtype, device=grad.device)
            grad_w.index_add_(0, columns.reshape(-1), grad.expand(-1, length).reshape(-1))
            return grad_w[None], None
        grad_t = th.zeros(width, out, dtype=grad.dtype, device=grad.device)
        grad_t.index_add_(0, columns.reshape(-1), grad.repeat_interleave(length, dim=0))
        return grad_t.t().contiguous(), None


def one_hot_first_layer(layer: nn.Linear, codes: th.Tensor) -> th.Tensor:
    """``layer(one_hot(codes))`` for byte codes ``(batch, L)``: a gather of ``L`` columns."""
    length = codes.shape[1]
    columns = codes.long() + 256 * th.arange(length, device=codes.device)
    out = _OneHotGather.apply(layer.weight, columns)
    return out if layer.bias is None else out + layer.bias


class CodesLinear(nn.Linear):
    """An ``nn.Linear`` over one-hot bytes that also takes the byte codes themselves:
    an integer input ``(batch, L)`` is read as ``L`` one-hot vectors of 256, by a gather
    of ``L`` weight columns (:func:`one_hot_first_layer`); a float input is the dense
    one-hot vector, as for ``nn.Linear``. Parameters and function are ``nn.Linear``'s."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        if x.is_floating_point():
            return super().forward(x)
        return one_hot_first_layer(self, x)


def _read_codes(module: nn.Module) -> None:
    """Make the first linear layer of ``module`` (a Sequential or a layer) read codes."""
    layers = list(module) if isinstance(module, nn.Sequential) else [module]
    if layers and type(layers[0]) is nn.Linear:
        layers[0].__class__ = CodesLinear


def _first_is_linear(module: nn.Module) -> bool:
    return not (isinstance(module, nn.Sequential) and len(module) == 0)


class WordMlpExtractor(MlpExtractor):
    """SB3's ``MlpExtractor`` whose nets take byte codes (``codes=True``): their first
    linear layer is a :class:`CodesLinear`. An empty net passes the codes on to the
    policy's action or value layer, which then reads them."""

    def __init__(self, *args: Any, codes: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.codes = codes
        if codes:
            _read_codes(self.policy_net)
            _read_codes(self.value_net)


def equalise_rows(weight: th.Tensor, parts: list[int] | None = None) -> None:
    """Rescale each row of ``weight`` (one per action) to the mean row norm of its part."""
    with th.no_grad():
        start = 0
        for size in parts or [weight.shape[0]]:
            rows = weight[start : start + size]
            norms = rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
            rows.mul_(norms.mean() / norms)
            start += size


def _peaked_init(
    linears: list[nn.Linear],
    logit_std: float,
    input_std: float,
    first_fan_in: float,
    n_heads: int,
    byte_len: int | None,
    disjoint_parts: list[int] | None = None,
) -> None:
    """A confident random hash: see :meth:`agents.EpisodePG._init_peaked` (the same rule).

    First layer: weights of standard deviation ``input_std / sqrt(fan_in)``; later
    hidden layers gain sqrt(2); the action rows rescaled to equal norms giving every
    bin's logit standard deviation ``logit_std`` over Sin features (split over the parts
    of a factorised head); biases zero; one-hot padding columns (byte 0) zero, so two
    words share only their real bytes at equal positions, not the padding of equal
    lengths. ``disjoint_parts`` (the sizes of a factorised head's parts) starts each part
    on its own block of hidden units, so a word's row and column are independent draws."""
    first, head = linears[0], linears[-1]
    std = logit_std / math.sqrt(n_heads)
    with th.no_grad():
        for layer in linears:
            fan = first_fan_in if layer is first else layer.in_features
            gain = input_std if layer is first else math.sqrt(2.0)
            layer.weight.normal_(0.0, gain / math.sqrt(fan))
            layer.bias.zero_()
        if head is first:  # a linear policy: logits are sums of input columns
            head.weight.normal_(0.0, std / math.sqrt(first_fan_in))
        else:  # E[sin(x)^2] = 1/2 for pre-activations of standard deviation >= 2
            if disjoint_parts:
                _split_hidden_units(head.weight, disjoint_parts)
            head.weight.mul_(std * math.sqrt(2.0) / head.weight.norm(dim=1, keepdim=True))
        if byte_len is not None:
            first.weight[:, 256 * np.arange(byte_len)] = 0.0


def _split_hidden_units(weight: th.Tensor, parts: list[int]) -> None:
    """Zero the weights from each part's rows to the hidden units of the other parts."""
    blocks = np.array_split(np.arange(weight.shape[1]), len(parts))
    start = 0
    for size, block in zip(parts, blocks, strict=True):
        keep = th.zeros(weight.shape[1], dtype=th.bool)
        keep[th.as_tensor(block)] = True
        weight[start : start + size, ~keep] = 0.0
        start += size


_ACTIVATIONS = {"sin": Sin, "tanh": nn.Tanh, "relu": nn.ReLU}


def _activation(fn: type[nn.Module] | str) -> type[nn.Module]:
    if isinstance(fn, str):
        if fn.lower() not in _ACTIVATIONS:
            raise ValueError(f"activation_fn must be one of {sorted(_ACTIVATIONS)}, got {fn!r}")
        return _ACTIVATIONS[fn.lower()]
    return fn


class HashPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (``"MlpPolicy"`` of :class:`agents.PG` and
    :class:`agents.A2C`) with fast sampling and, for the hash envs' words:

    :param init_logit_std: ``None`` (default) keeps SB3's orthogonal initialisation; a
        number starts from a confident random hash with that logit spread (see the
        module docstring; 4 is :class:`agents.EpisodePG`'s)
    :param init_input_std: spread of the first layer's pre-activations at that start
        (3 for one-hot ``bytes`` words; ``codepoints`` words, whose inputs differ by
        1/255 between neighbouring letters, need about 300 to spread like a hash)
    :param equal_row_norms: after every update (:meth:`after_update`), rescale the
        action layer's rows to their mean norm (one norm per part of a factorised head)
    :param disjoint_parts: with a factorised action and the random-hash start, each part
        (row, column) starts reading its own half of the last hidden layer. Sharing all
        64 units, the row and the column of an unseen word are correlated and
        Generalize1kFactored's untrained hash collides 15% more than a random one
    :param activation_fn: as SB3's, or a name: ``"sin"``, ``"tanh"``, ``"relu"``

    Words encoded as ``bytes`` are read as byte codes and the first linear layer of each
    net gathers its one-hot columns: the same function (and parameters) as SB3's one-hot
    input, so :class:`agents.PolicyHash` exports it unchanged.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | str = nn.Tanh,
        *args: Any,
        init_logit_std: float | None = None,
        init_input_std: float = 3.0,
        equal_row_norms: bool = False,
        disjoint_parts: bool = False,
        **kwargs: Any,
    ) -> None:
        self.init_logit_std = None if init_logit_std is None else float(init_logit_std)
        self.init_input_std = float(init_input_std)
        self.equal_row_norms = bool(equal_row_norms)
        self.disjoint_parts = bool(disjoint_parts)
        self.byte_len = word_byte_length(self._word_space(observation_space))
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            _activation(activation_fn),
            *args,
            **kwargs,
        )

    @staticmethod
    def _word_space(observation_space: spaces.Space) -> spaces.Space:
        return observation_space

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            init_logit_std=self.init_logit_std,
            init_input_std=self.init_input_std,
            equal_row_norms=self.equal_row_norms,
            disjoint_parts=self.disjoint_parts,
        )
        return data

    @property
    def _codes(self) -> bool:
        return self.byte_len is not None and isinstance(
            self.observation_space, spaces.MultiDiscrete
        )

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = WordMlpExtractor(
            self.features_dim,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            device=self.device,
            codes=self._codes,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        fast = _fast_distribution(self.action_space)
        if fast is not None:
            self.action_dist = fast
        super()._build(lr_schedule)
        if self._codes:
            if not _first_is_linear(self.mlp_extractor.policy_net):
                _read_codes(self.action_net)
            if not _first_is_linear(self.mlp_extractor.value_net):
                _read_codes(self.value_net)
        if self.init_logit_std is not None:
            self._init_peaked()
            # the optimiser was built on the same parameter objects: nothing to rebuild

    def _head_parts(self) -> list[int]:
        if isinstance(self.action_space, spaces.MultiDiscrete):
            return [int(n) for n in self.action_space.nvec]
        return [int(self.action_space.n)]  # type: ignore[attr-defined]

    def _init_peaked(self) -> None:
        layers = [*self.mlp_extractor.policy_net, self.action_net]
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        fan = WORD_BYTES if self.byte_len is not None else float(linears[0].in_features)
        parts = self._head_parts()
        _peaked_init(
            linears,
            self.init_logit_std,  # type: ignore[arg-type]
            self.init_input_std,
            fan,
            len(parts),
            self.byte_len if self._codes else None,
            parts if self.disjoint_parts and len(parts) > 1 else None,
        )

    def extract_features(  # type: ignore[override]
        self, obs: PyTorchObs, features_extractor: Any = None
    ) -> th.Tensor | tuple[th.Tensor, th.Tensor]:
        if not self._codes:
            return super().extract_features(obs, features_extractor)
        codes = obs.long()  # type: ignore[union-attr]
        return codes if self.share_features_extractor else (codes, codes)

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        if not self._codes:
            return super().get_distribution(obs)
        latent_pi = self.mlp_extractor.forward_actor(obs.long())  # type: ignore[union-attr]
        return self._get_action_dist_from_latent(latent_pi)

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        if not self._codes:
            return super().predict_values(obs)
        return self.value_net(self.mlp_extractor.forward_critic(obs.long()))  # type: ignore[union-attr]

    def logits_and_values(
        self, obs: PyTorchObs, values: bool = True
    ) -> tuple[th.Tensor, th.Tensor | None]:
        """Action logits ``(batch, n_actions)`` and state values (``None`` if not asked)."""
        features = self.extract_features(obs)
        pi_features, vf_features = (
            (features, features) if self.share_features_extractor else features
        )
        logits = self.action_net(self.mlp_extractor.forward_actor(pi_features))
        if not values:
            return logits, None
        return logits, self.value_net(self.mlp_extractor.forward_critic(vf_features)).flatten()

    def forward(
        self, obs: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        if self._fast_forward:
            return _act(self, obs, deterministic)
        return super().forward(obs, deterministic)

    @property
    def _fast_forward(self) -> bool:
        return isinstance(
            self.action_dist, (FastCategoricalDistribution, FastMultiCategoricalDistribution)
        )

    def after_update(self) -> None:
        """Called by :class:`agents.PG` / :class:`agents.A2C` after each optimiser step."""
        if self.equal_row_norms:
            equalise_rows(self.action_net.weight, self._head_parts())


# -- the table-aware policy -----------------------------------------------------------------


class TableAwareHead(nn.Module):
    """Logits from the word's latent and the table: ``word(latent) + table_coef * table``.

    The latent is ``[word latent, table]`` concatenated (so that SB3's machinery, which
    passes one tensor to the action layer, carries the table). For a factorised action
    ``(row, col)`` over a ``rows x cols`` grid whose cell ``(r, c)`` is bin
    ``(r * cols + c) % n_bins``: row logits get ``row_coef * (occupied fraction of the
    row)``, column logits ``col_coef * sum_r pi_row(r) occupied(r, c)`` -- the occupancy
    of the row the row head picks, so the greedy pair lands on an empty cell."""

    def __init__(
        self,
        latent_dim: int,
        n_bins: int,
        grid: tuple[int, int] | None,
        table_coef_init: float,
        table_coef_scale: float,
    ) -> None:
        super().__init__()
        self.latent_dim, self.n_bins, self.grid = latent_dim, n_bins, grid
        n_actions = n_bins if grid is None else grid[0] + grid[1]
        self.word = nn.Linear(latent_dim, n_actions)
        self.scale = float(table_coef_scale)
        init = float(table_coef_init) / self.scale
        self.table_coef = nn.Parameter(th.full((1 if grid is None else 2,), init))
        if grid is not None:
            rows, cols = grid
            self.register_buffer(
                "cells", th.arange(rows * cols).remainder(n_bins).reshape(rows, cols), False
            )

    def forward(self, latent: th.Tensor) -> th.Tensor:
        word, table = latent[:, : self.latent_dim], latent[:, self.latent_dim :]
        logits = self.word(word)
        coef = self.table_coef * self.scale
        if self.grid is None:
            return logits + coef[0] * table
        rows, cols = self.grid
        occupied = table[:, self.cells]  # (batch, rows, cols)
        row_logits = logits[:, :rows] + coef[0] * occupied.mean(dim=2)
        row_probs = th.softmax(row_logits, dim=1)
        col_occupied = (row_probs[:, :, None] * occupied).sum(dim=1)
        col_logits = logits[:, rows:] + coef[1] * col_occupied
        return th.cat([row_logits, col_logits], dim=1)


class _TableAwareExtractor(nn.Module):
    """``mlp_extractor`` of :class:`TableAwareHashPolicy`: the word MLP (``policy_net``
    on the word), the table appended to its latent; the critic on ``[word, table]``."""

    def __init__(
        self,
        word_dim: int,
        n_bins: int,
        net_arch: list[int] | dict[str, list[int]],
        activation_fn: type[nn.Module],
        codes: bool,
    ) -> None:
        super().__init__()
        pi = net_arch.get("pi", []) if isinstance(net_arch, dict) else list(net_arch)
        vf = net_arch.get("vf", []) if isinstance(net_arch, dict) else list(net_arch)
        self.codes, self.n_bins = codes, n_bins
        self.policy_net = _mlp(word_dim, pi, activation_fn)
        if codes:
            if not pi:
                raise ValueError(
                    "a table-aware policy over bytes words needs a hidden layer (net_arch pi)"
                )
            _read_codes(self.policy_net)
        self.value_net = _mlp(word_dim + n_bins, vf, activation_fn)
        self.word_latent_dim = pi[-1] if pi else word_dim
        self.latent_dim_pi = self.word_latent_dim + n_bins
        self.latent_dim_vf = vf[-1] if vf else word_dim + n_bins

    def _word(self, features: dict[str, th.Tensor]) -> th.Tensor:
        return self.policy_net(features["word"])

    def forward_actor(self, features: dict[str, th.Tensor]) -> th.Tensor:
        return th.cat([self._word(features), features["table"]], dim=1)

    def forward_critic(self, features: dict[str, th.Tensor]) -> th.Tensor:
        word = features["word"]
        if self.codes:
            word = word.float() / 255.0
        return self.value_net(th.cat([word, features["table"]], dim=1))

    def forward(self, features: dict[str, th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


def _mlp(n_in: int, arch: list[int], activation_fn: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in arch:
        layers += [nn.Linear(n_in, width), activation_fn()]
        n_in = width
    return nn.Sequential(*layers)


class TableAwareHashPolicy(MultiInputActorCriticPolicy):
    """``"MultiInputPolicy"`` of :class:`agents.PG` / :class:`agents.A2C`: for the
    table-aware envs' ``Dict(word, table)`` observations a :class:`TableAwareHead`
    (``table_head=True``, default) on an MLP of the word; otherwise SB3's policy
    (``CombinedExtractor``) with fast sampling.

    :param table_head: use the table-aware head (needs ``word`` and ``table`` keys)
    :param table_coef_init: initial weight of a bin's occupancy in its logit
    :param table_coef_scale: the weight is ``scale * parameter``, so Adam moves it
        ``scale`` times faster than the word's weights
    :param init_logit_std: as :class:`HashPolicy`
    :param init_input_std: as :class:`HashPolicy`
    :param activation_fn: as :class:`HashPolicy`
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | str = nn.Tanh,
        *args: Any,
        table_head: bool = True,
        table_coef_init: float = 0.0,
        table_coef_scale: float = 10.0,
        init_logit_std: float | None = None,
        init_input_std: float = 3.0,
        **kwargs: Any,
    ) -> None:
        keys = (
            set(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else set()
        )
        self.table_head = bool(table_head) and keys == {"word", "table"}
        self.table_coef_init = float(table_coef_init)
        self.table_coef_scale = float(table_coef_scale)
        self.init_logit_std = None if init_logit_std is None else float(init_logit_std)
        self.init_input_std = float(init_input_std)
        self.byte_len = word_byte_length(observation_space["word"]) if self.table_head else None
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            _activation(activation_fn),
            *args,
            **kwargs,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            table_head=self.table_head,
            table_coef_init=self.table_coef_init,
            table_coef_scale=self.table_coef_scale,
            init_logit_std=self.init_logit_std,
            init_input_std=self.init_input_std,
        )
        return data

    @property
    def n_bins(self) -> int:
        return int(self.observation_space["table"].n)  # type: ignore[index]

    @property
    def grid(self) -> tuple[int, int] | None:
        if isinstance(self.action_space, spaces.MultiDiscrete):
            rows, cols = (int(n) for n in self.action_space.nvec)
            return rows, cols
        return None

    def _build_mlp_extractor(self) -> None:
        if not self.table_head:
            return super()._build_mlp_extractor()
        word_space = self.observation_space["word"]  # type: ignore[index]
        word_dim = 256 * self.byte_len if self.byte_len else int(np.prod(word_space.shape))
        self.mlp_extractor = _TableAwareExtractor(  # type: ignore[assignment]
            word_dim, self.n_bins, self.net_arch, self.activation_fn, self.byte_len is not None
        )

    def _build(self, lr_schedule: Schedule) -> None:
        fast = _fast_distribution(self.action_space)
        if fast is not None:
            self.action_dist = fast
        if not self.table_head:
            return super()._build(lr_schedule)
        super()._build(lr_schedule)
        extractor: _TableAwareExtractor = self.mlp_extractor  # type: ignore[assignment]
        self.action_net = TableAwareHead(
            extractor.word_latent_dim,
            self.n_bins,
            self.grid,
            self.table_coef_init,
            self.table_coef_scale,
        )
        if self.ortho_init:
            self.action_net.word.apply(lambda m: self.init_weights(m, gain=0.01))
        if self.init_logit_std is not None:
            linears = [m for m in extractor.policy_net if isinstance(m, nn.Linear)]
            linears.append(self.action_net.word)
            fan = WORD_BYTES if self.byte_len else float(linears[0].in_features)
            parts = 1 if self.grid is None else 2
            _peaked_init(
                linears, self.init_logit_std, self.init_input_std, fan, parts, self.byte_len
            )
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def extract_features(  # type: ignore[override]
        self, obs: PyTorchObs, features_extractor: Any = None
    ) -> Any:
        if not self.table_head:
            return super().extract_features(obs, features_extractor)
        word = obs["word"]  # type: ignore[index]
        word = word.long() if self.byte_len else word.float()
        features = {"word": word, "table": obs["table"].float()}  # type: ignore[index]
        return features if self.share_features_extractor else (features, features)

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        if not self.table_head:
            return super().get_distribution(obs)
        latent_pi = self.mlp_extractor.forward_actor(self.extract_features(obs))  # type: ignore[arg-type]
        return self._get_action_dist_from_latent(latent_pi)

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        if not self.table_head:
            return super().predict_values(obs)
        return self.value_net(self.mlp_extractor.forward_critic(self.extract_features(obs)))  # type: ignore[arg-type]

    def logits_and_values(
        self, obs: PyTorchObs, values: bool = True
    ) -> tuple[th.Tensor, th.Tensor | None]:
        """Action logits and state values (``None`` if not asked)."""
        features = self.extract_features(obs)
        if not self.table_head:
            pi_f, vf_f = (features, features) if self.share_features_extractor else features
            logits = self.action_net(self.mlp_extractor.forward_actor(pi_f))
            v = (
                self.value_net(self.mlp_extractor.forward_critic(vf_f)).flatten()
                if values
                else None
            )
            return logits, v
        if not self.share_features_extractor:
            features = features[0]
        logits = self.action_net(self.mlp_extractor.forward_actor(features))
        if not values:
            return logits, None
        return logits, self.value_net(self.mlp_extractor.forward_critic(features)).flatten()

    def forward(
        self, obs: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        if isinstance(
            self.action_dist, (FastCategoricalDistribution, FastMultiCategoricalDistribution)
        ):
            return _act(self, obs, deterministic)
        return super().forward(obs, deterministic)

    def after_update(self) -> None:
        """Nothing to project (kept for the algorithms' uniform call)."""


# -- the action-masked policy ---------------------------------------------------------------

#: Logit of an illegal action: its probability is exactly 0 in float32, and the entropy and
#: the fused loss stay finite (``0 * MASKED_LOGIT`` is 0; ``-inf`` would give NaN).
MASKED_LOGIT = -1e9


class MaskedPolicy(MultiInputActorCriticPolicy):
    """``"MaskedPolicy"`` of :class:`agents.PG` / :class:`agents.A2C`: SB3's multi-input
    actor-critic for ``Dict(observation, action_mask)`` observations
    (:class:`hash_envs.wrappers.ActionMaskObservation`), whose illegal actions get logit
    :data:`MASKED_LOGIT`: never sampled, never the argmax, and no gradient.

    Why not MaskablePPO's way (masks passed beside the observation): PG's and A2C's
    rollouts and updates see only observations, and a mask inside the observation
    reaches every one of their calls unchanged. Both keys also feed the networks (the
    mask says, e.g., that the loop body has ended). ``Discrete`` actions only.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | str = nn.Tanh,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if (
            not isinstance(observation_space, spaces.Dict)
            or MASK_KEY not in observation_space.spaces
        ):
            raise ValueError(
                f"MaskedPolicy needs a Dict observation with an {MASK_KEY!r} key "
                "(wrap the env in hash_envs.wrappers.ActionMaskObservation)"
            )
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"MaskedPolicy needs a Discrete action space, got {action_space}")
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            _activation(activation_fn),
            *args,
            **kwargs,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        self.action_dist = FastCategoricalDistribution(int(self.action_space.n))  # type: ignore[attr-defined]
        super()._build(lr_schedule)

    def logits_and_values(
        self, obs: PyTorchObs, values: bool = True
    ) -> tuple[th.Tensor, th.Tensor | None]:
        """Masked action logits and state values (``None`` if not asked)."""
        features = self.extract_features(obs)
        pi_f, vf_f = (features, features) if self.share_features_extractor else features
        logits = self.action_net(self.mlp_extractor.forward_actor(pi_f))
        legal = obs[MASK_KEY] > 0.5  # type: ignore[index]
        logits = logits.masked_fill(~legal, MASKED_LOGIT)
        if not values:
            return logits, None
        return logits, self.value_net(self.mlp_extractor.forward_critic(vf_f)).flatten()

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        logits, _ = self.logits_and_values(obs, values=False)
        return self.action_dist.proba_distribution(action_logits=logits)

    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        logits, values = self.logits_and_values(obs)
        distribution = self.action_dist.proba_distribution(action_logits=logits)
        return values, distribution.log_prob(actions), distribution.entropy()  # type: ignore[return-value]

    def forward(
        self, obs: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        return _act(self, obs, deterministic)

    def after_update(self) -> None:
        """Nothing to project (kept for the algorithms' uniform call)."""


def logits_and_values(
    policy: ActorCriticPolicy, obs: PyTorchObs, values: bool = True
) -> tuple[th.Tensor, th.Tensor | None]:
    """Logits and values of any SB3 ``ActorCriticPolicy`` (ours answer directly)."""
    if hasattr(policy, "logits_and_values"):
        return policy.logits_and_values(obs, values)  # type: ignore[no-any-return]
    features = policy.extract_features(obs)
    pi_f, vf_f = (features, features) if policy.share_features_extractor else features
    logits = policy.action_net(policy.mlp_extractor.forward_actor(pi_f))
    v = policy.value_net(policy.mlp_extractor.forward_critic(vf_f)).flatten() if values else None
    return logits, v


def policy_gradient_update(
    policy: ActorCriticPolicy,
    buffer: Any,
    *,
    baseline_offset: float | None,
    normalize_advantage: bool,
    uniform_coef: float,
    ent_coef: float,
    vf_coef: float,
    max_grad_norm: float | None,
    use_buffer_advantages: bool = False,
    block: int = LOSS_BLOCK,
) -> dict[str, float]:
    """One optimiser step of a policy-gradient loss on a whole SB3 rollout buffer.

    Advantages: the buffer's own (``use_buffer_advantages``, A2C's GAE), the returns minus
    ``baseline_offset`` (a number: PG's ``"mean"`` / ``"none"``), or, with
    ``baseline_offset=None``, the returns minus the critic's values (PG's ``"value"``).
    With ``normalize_advantage`` they are standardised over the rollout (per block for the
    critic's, which are only known block by block). The critic is trained by MSE to the
    returns (weight ``vf_coef``) whenever its values enter. The rollout is processed in
    blocks of ``block`` rows whose gradients add up to the whole rollout's (same loss,
    fewer cache misses), then one clipped step; then the policy's ``after_update``.
    """
    total = buffer.buffer_size * buffer.n_envs
    discrete = isinstance(policy.action_space, spaces.Discrete)
    dims = None if discrete else [int(n) for n in policy.action_space.nvec]  # type: ignore[attr-defined]
    critic = use_buffer_advantages or baseline_offset is None
    shift, scale = 0.0, 1.0
    if normalize_advantage and not (baseline_offset is None and not use_buffer_advantages):
        flat = (
            buffer.advantages if use_buffer_advantages else buffer.returns - baseline_offset
        ).ravel()
        shift, scale = float(flat.mean()), float(flat.std()) + 1e-8
    policy.optimizer.zero_grad()
    policy_loss = value_loss = entropy_sum = 0.0
    entropy_rows = 0
    for batch in buffer.get(batch_size=min(block, total)):
        logits, values = logits_and_values(policy, batch.observations, values=critic)
        if use_buffer_advantages:
            advantages = batch.advantages
        elif baseline_offset is None:
            advantages = batch.returns - values.detach()  # type: ignore[union-attr]
            if normalize_advantage and advantages.numel() > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        else:
            advantages = batch.returns - baseline_offset
        if shift or scale != 1.0:
            advantages = (advantages - shift) / scale
        if discrete:
            loss, entropy = categorical_pg_loss(  # entropy: of the first block (a log)
                logits, batch.actions, advantages, uniform_coef, ent_coef, total, not entropy_rows
            )
        else:
            loss, entropy = multi_categorical_pg_loss(
                logits,
                batch.actions,
                advantages,
                dims,
                uniform_coef,
                ent_coef,
                total,  # type: ignore[arg-type]
            )
        policy_loss += float(loss.detach())
        entropy_sum += float(entropy.sum())
        entropy_rows += entropy.numel()
        if critic:
            v_loss = ((batch.returns - values) ** 2).sum() / total  # type: ignore[operator]
            loss = loss + vf_coef * v_loss
            value_loss += float(v_loss.detach())
        loss.backward()
    if max_grad_norm is not None:
        th.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
    policy.optimizer.step()
    after = getattr(policy, "after_update", None)
    if after is not None:
        after()
    stats = {"policy_loss": policy_loss, "entropy": entropy_sum / max(entropy_rows, 1)}
    if critic:
        stats["value_loss"] = value_loss
    return stats
