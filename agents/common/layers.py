"""Torch building blocks shared by the algorithms that train word-scoring networks and
the hashes that run them: the sine activation and an SB3 MLP's layers applied to encoded
words (with the ``bytes`` encoding's one-hot input layer as a gather).

Both :class:`agents.EpisodePG` (training) and :class:`agents.HashNetwork` (inference)
score words through :func:`score_words`, so a trained network and its hash compute one
function by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch as th
from torch import nn
from torch.nn import functional as F

__all__ = ["Sin", "one_hot_linear", "score_words"]


class Sin(nn.Module):
    """``sin(x)``, as an activation."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        return th.sin(x)


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
