"""A trained stateless policy as a deterministic hash function: bin = argmax.

:class:`HashNetwork` extracts the policy's action-scoring layers (logits, Q-values or
quantiles) from a Stable-Baselines3 policy and evaluates them in float64, so that the
argmax does not flip between batch sizes, processes or runtimes (torch vs onnxruntime)
on near-ties; the weights themselves stay float32 (that is what is stored and counted).
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn
from torch.nn import functional as F

from agents.artifact import stamp_metadata
from hash_envs.encoding import WordEncoder
from hash_envs.hashing import HashFunction

__all__ = ["HashNetwork", "PolicyHash"]


def one_hot_linear(layer: nn.Linear, byte_obs: th.Tensor, dtype: th.dtype) -> th.Tensor:
    """``layer(one_hot(bytes))`` without building the one-hot matrix.

    SB3 feeds a ``MultiDiscrete([256] * L)`` observation to its MLP as ``L`` concatenated
    one-hot vectors, so the first linear layer only ever adds up ``L`` of its weight
    columns: one per position, picked by the byte there. Gathering them is ~256x cheaper
    than the dense product and gives the same function.
    """
    length = byte_obs.shape[1]
    columns = byte_obs.long() + 256 * th.arange(length, device=byte_obs.device)
    picked = layer.weight.to(dtype).t()[columns]  # (batch, L, out)
    out = picked.sum(dim=1)
    return out if layer.bias is None else out + layer.bias.to(dtype)


def score_words(
    layers: Sequence[nn.Module], obs: th.Tensor, encoding: str, dtype: th.dtype
) -> th.Tensor:
    """Run an SB3 MLP's layers on encoded words, in ``dtype``."""
    x = obs
    for i, layer in enumerate(layers):
        if i == 0 and encoding == "bytes":
            if not isinstance(layer, nn.Linear):
                raise ValueError("a bytes-encoded policy must start with a linear layer")
            x = one_hot_linear(layer, obs, dtype)
        elif isinstance(layer, nn.Linear):
            bias = None if layer.bias is None else layer.bias.to(dtype)
            x = F.linear(x.to(dtype), layer.weight.to(dtype), bias)
        else:
            x = layer(x)
    return x


class HashNetwork(nn.Module):
    """Encoded words -> bins: an MLP's argmax, computed in float64."""

    def __init__(
        self, layers: Sequence[nn.Module], encoder: WordEncoder, n_bins: int, n_quantiles: int = 1
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(list(layers))).float()
        self.encoding = encoder.kind
        self.max_len = encoder.max_len
        self.n_bins = n_bins
        self.n_quantiles = n_quantiles

    def scores(self, obs: th.Tensor) -> th.Tensor:
        """Action scores (logits, Q-values or mean quantiles), shape ``(batch, n_bins)``."""
        x = score_words(self.layers, obs, self.encoding, th.float64)
        if self.n_quantiles > 1:
            x = x.view(-1, self.n_quantiles, self.n_bins).mean(dim=1)
        return x

    def forward(self, obs: th.Tensor) -> th.Tensor:
        return self.scores(obs).argmax(dim=1)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_policy(cls, policy: BasePolicy) -> HashNetwork:
        """The scoring layers of an SB3 policy over a word observation."""
        if isinstance(policy.observation_space, spaces.Dict):
            raise ValueError(
                "PolicyHash needs a stateless policy (observation = the word only); this one "
                "also observes the table, so its answer would depend on what was hashed before"
            )
        if not isinstance(policy.action_space, spaces.Discrete):
            raise ValueError(f"PolicyHash needs Discrete actions (bins), got {policy.action_space}")
        encoder = WordEncoder.from_space(policy.observation_space)
        n_bins = int(policy.action_space.n)
        layers, quantiles, extractor = _scoring_layers(policy)
        if not isinstance(extractor, FlattenExtractor):
            raise ValueError(
                f"PolicyHash supports the default flatten features extractor, got "
                f"{type(extractor).__name__}"
            )
        return cls(layers, encoder, n_bins, quantiles)


def _scoring_layers(policy: BasePolicy) -> tuple[list[nn.Module], int, nn.Module]:
    """``(layers, n_quantiles, features_extractor)`` for the SB3 policy families we know."""
    if isinstance(policy, ActorCriticPolicy):  # PG, A2C, PPO
        layers = [*policy.mlp_extractor.policy_net, policy.action_net]
        return layers, 1, policy.pi_features_extractor
    if hasattr(policy, "quantile_net"):  # QR-DQN
        net = policy.quantile_net
        return list(net.quantile_net), net.n_quantiles, net.features_extractor
    if hasattr(policy, "q_net") and hasattr(policy.q_net, "q_net"):  # DQN
        return list(policy.q_net.q_net), 1, policy.q_net.features_extractor
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "logits_net"):  # agents.SACDiscrete
        return list(actor.logits_net), 1, actor.features_extractor
    raise ValueError(f"PolicyHash does not know how to read a {type(policy).__name__}")


class PolicyHash(HashFunction):
    """Word -> argmax of a trained stateless policy's action distribution.

    The answer depends on the word alone: the same word gets the same bin in any order,
    in any batch, in any process. Accepts an SB3 algorithm (``PG``, ``A2C``,
    ``SACDiscrete``, ``PPO``, ``DQN``, ``QRDQN``) or its policy. A table-aware policy is
    refused.
    """

    def __init__(
        self, model: BaseAlgorithm | BasePolicy, *, name: str = "policy", chunk_size: int = 65536
    ) -> None:
        policy = model.policy if isinstance(model, BaseAlgorithm) else model
        self.network = HashNetwork.from_policy(policy).eval()
        super().__init__(self.network.n_bins)
        self.name = name
        self.encoder = WordEncoder(self.network.encoding, self.network.max_len)  # type: ignore[arg-type]
        # A bytes policy gathers (chunk, max_len, width) values in its first layer.
        self.chunk_size = chunk_size if self.encoder.kind == "codepoints" else chunk_size // 16

    @property
    def size_bytes(self) -> int:
        """Stored parameter bytes (float32 weights and biases)."""
        return 4 * self.network.n_parameters

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        words = list(words)
        bins = np.empty(len(words), dtype=np.int64)
        with th.no_grad():
            for start in range(0, len(words), self.chunk_size):
                chunk = words[start : start + self.chunk_size]
                obs = th.from_numpy(self.encoder.encode(chunk, overflow="fold"))
                bins[start : start + len(chunk)] = self.network(obs).numpy()
        return bins

    def export_onnx(self, path: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the self-contained artifact; :func:`agents.load_hash` reads it back.

        ``metadata`` (JSON-serialisable) is stored beside the required fields, e.g. the
        training environment's arguments under ``"env_kwargs"``.
        """
        path = Path(path)
        example = th.from_numpy(self.encoder.encode(["hash", "function"]))
        program = th.onnx.export(
            self.network,
            (example,),
            dynamo=True,
            input_names=["words"],
            output_names=["bins"],
            dynamic_shapes=({0: th.export.Dim("batch")},),
            verbose=False,
        )
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            program.save(str(raw))
            model = onnx.load(str(raw))
        fields = {
            "encoding": self.encoder.kind,
            "max_len": self.encoder.max_len,
            "n_bins": self.n_bins,
            "size_bytes": self.size_bytes,
            "name": self.name,
        }
        stamp_metadata(model, {**{k: json.dumps(v) for k, v in (metadata or {}).items()}, **fields})
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path
