"""HNN-Net: graph convolutions, attention pooling, and a hashing head.

Three GCN layers (256/128/64) each followed by SimGNN-style attention pooling; the three
graph vectors are concatenated (448) and mapped through FC 348 -> 256 (the embedding)
-> 128 -> Q. ``tanh`` relaxes the code during training; :meth:`HNNNet.codes` takes its
sign. A classification head on the embedding predicts the source model (or family).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import scatter, to_undirected


class AttentionPooling(nn.Module):
    """SimGNN's attention pooling: a global context ``c = tanh(mean(h) W)``, per-node weights
    ``sigmoid(h_n . c)``, and the weighted sum of the nodes.

    Why not a plain mean: the weights let a few telling layers (a rare operator, a huge
    fully connected layer) dominate the graph vector instead of being averaged away.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Linear(dim, dim, bias=False)

    def forward(self, h: torch.Tensor, batch: torch.Tensor, n_graphs: int) -> torch.Tensor:
        context = torch.tanh(self.weight(scatter(h, batch, 0, dim_size=n_graphs, reduce="mean")))
        scores = torch.sigmoid((h * context[batch]).sum(dim=-1, keepdim=True))
        return scatter(scores * h, batch, 0, dim_size=n_graphs, reduce="sum")


class HNNNet(nn.Module):
    """Graph -> relaxed Q-bit code in (-1, 1)^Q and class logits.

    Args:
        in_dim: node feature size (:data:`model_hashing.graph.N_FEATURES`).
        n_bits: code length Q.
        n_classes: number of classes of the classification head.
        gcn_dims: widths of the GCN layers.
    """

    def __init__(
        self,
        in_dim: int,
        n_bits: int,
        n_classes: int,
        gcn_dims: tuple[int, ...] = (256, 128, 64),
        fc_dims: tuple[int, ...] = (348, 256),
        hash_hidden: int = 128,
    ) -> None:
        super().__init__()
        if n_bits <= 0 or n_classes <= 0:
            raise ValueError("n_bits and n_classes must be positive")
        self.n_bits, self.n_classes = n_bits, n_classes
        dims = (in_dim, *gcn_dims)
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.pools = nn.ModuleList(AttentionPooling(d) for d in gcn_dims)
        layers: list[nn.Module] = []
        width = sum(gcn_dims)
        for d in fc_dims:
            layers += [nn.Linear(width, d), nn.ReLU()]
            width = d
        self.embed = nn.Sequential(*layers)
        self.hash = nn.Sequential(
            nn.Linear(width, hash_hidden), nn.ReLU(), nn.Linear(hash_hidden, n_bits)
        )
        self.classify = nn.Linear(width, n_classes)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, n_graphs: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(codes in (-1, 1)^(n_graphs, Q), logits (n_graphs, n_classes))``.

        Messages flow both ways along the layer DAG, so a layer sees its consumers too.
        """
        edge_index = to_undirected(edge_index, num_nodes=x.size(0))
        pooled = []
        h = x
        for conv, pool in zip(self.convs, self.pools, strict=True):
            h = torch.relu(conv(h, edge_index))
            pooled.append(pool(h, batch, n_graphs))
        embedding = self.embed(torch.cat(pooled, dim=-1))
        return torch.tanh(self.hash(embedding)), self.classify(embedding)

    @torch.no_grad()
    def codes(
        self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor, n_graphs: int
    ) -> torch.Tensor:
        """Binary codes in {0, 1}, ``(n_graphs, Q)`` uint8."""
        relaxed, _ = self(x, edge_index, batch, n_graphs)
        return (relaxed > 0).to(torch.uint8)
