"""Non-learned baselines: SimHash of Weisfeiler–Lehman subtree features, and of the
operator histogram.

:func:`wl_simhash` and :func:`op_histogram_simhash` read the same node labels the network
sees (operator, FLOPs digits, parameter digits), so the comparison with HNN-Net is about
learning, not about information. :func:`soft_histogram_simhash` (the index's default,
``ophist`` version 2) reads the layer graph's exact FLOPs and parameter counts instead, on
a half-decade scale with each node's weight split between the two nearest bins, so that a
width change (channel pruning, a width multiplier) moves a code by an amount that grows
with the change rather than by whole labels wherever a count crosses a power of ten.
SimHash (Charikar): every feature gets a pseudo-random ±1 vector of Q bits from a keyed
BLAKE2b digest; the code is the sign of the weighted sum. Similar feature multisets give
codes at small Hamming distance.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping

import networkx as nx
import numpy as np
from torch_geometric.data import Data

from model_hashing.graph import N_DIGIT_BINS, OP_INDEX, OP_TYPES

#: Bins per decade of the magnitudes of :func:`soft_histogram`: half-decades beat decades,
#: hard and soft, on both retrieval tables (``experiments/model_hashing_magnitudes.py``).
BINS_PER_DECADE = 2
#: Each node's split between two bins is rounded to a multiple of 1 / _WEIGHT_STEPS, so
#: that every sum of weights is exact and a code cannot depend on the order of the nodes.
_WEIGHT_STEPS = 256


def node_labels(data: Data) -> list[str]:
    """``"op|flops digits|params digits"`` per node, decoded from the one-hot features."""
    n_ops = len(OP_TYPES)
    x = data.x.numpy()
    ops = x[:, :n_ops].argmax(axis=1)
    flops = x[:, n_ops : n_ops + N_DIGIT_BINS].argmax(axis=1)
    params = x[:, n_ops + N_DIGIT_BINS :].argmax(axis=1)
    return [f"{OP_TYPES[o]}|{f}|{p}" for o, f, p in zip(ops, flops, params, strict=True)]


def _feature_signs(feature: str, n_bits: int) -> np.ndarray:
    digest = hashlib.blake2b(feature.encode(), digest_size=(n_bits + 7) // 8).digest()
    bits = np.unpackbits(np.frombuffer(digest, dtype=np.uint8))[:n_bits]
    return bits.astype(np.float64) * 2.0 - 1.0


def simhash(features: Mapping[str, float], n_bits: int) -> np.ndarray:
    """Q-bit SimHash (uint8 in {0, 1}) of a weighted feature multiset."""
    total = np.zeros(n_bits)
    for feature, count in features.items():
        total += count * _feature_signs(feature, n_bits)
    return (total > 0).astype(np.uint8)


def op_histogram_simhash(data: Data, n_bits: int) -> np.ndarray:
    """SimHash of the multiset of node labels (no topology)."""
    return simhash(Counter(node_labels(data)), n_bits)


def _magnitude_bins(
    value: int, bins_per_decade: float, phase: float, soft: bool
) -> tuple[tuple[str, int], ...]:
    """``(bin, weight in 1/256ths)`` of a FLOPs or parameter count: position
    ``bins_per_decade * log10(value) + phase``, split linearly between the bins on either
    side (``soft``) or all in the bin below (``"-"`` for 0)."""
    if value <= 0:
        return (("-", _WEIGHT_STEPS),)
    position = bins_per_decade * math.log10(value) + phase
    low = math.floor(position)
    upper = round((position - low) * _WEIGHT_STEPS) if soft else 0
    if upper == 0:
        return ((str(low), _WEIGHT_STEPS),)
    if upper == _WEIGHT_STEPS:
        return ((str(low + 1), _WEIGHT_STEPS),)
    return ((str(low), _WEIGHT_STEPS - upper), (str(low + 1), upper))


def soft_histogram(
    g: nx.DiGraph,
    bins_per_decade: float = BINS_PER_DECADE,
    phase: float = 0.0,
    soft: bool = True,
) -> Counter[str]:
    """Weighted labels ``"op|flops bin|params bin"`` of a layer graph's nodes: each node
    adds weight 1 in all, split over the (up to four) bin pairs nearest its magnitudes.

    The operator vocabulary is the graph features' (:data:`~model_hashing.graph.OP_TYPES`,
    ``"Other"`` for the rest). Weights are exact multiples of 1/256**2. ``phase`` shifts
    the bins (in bins) and ``soft=False`` gives hard bins: the ablations of
    ``experiments/model_hashing_magnitudes.py``; the defaults are the index's.
    """
    weights: Counter[str] = Counter()  # integer weights in 1/256**2 of a node
    for _, attrs in g.nodes(data=True):
        op = attrs["op"] if attrs["op"] in OP_INDEX else "Other"
        flops = _magnitude_bins(attrs["flops"], bins_per_decade, phase, soft)
        params = _magnitude_bins(attrs["params"], bins_per_decade, phase, soft)
        for flops_bin, wf in flops:
            for params_bin, wp in params:
                weights[f"{op}|{flops_bin}|{params_bin}"] += wf * wp
    scale = _WEIGHT_STEPS * _WEIGHT_STEPS
    return Counter({label: w / scale for label, w in weights.items()})


def soft_histogram_simhash(g: nx.DiGraph, n_bits: int, **options: float | bool) -> np.ndarray:
    """SimHash of :func:`soft_histogram` (no topology; ``options`` are its keyword
    arguments): the index's ``ophist`` codes."""
    return simhash(soft_histogram(g, **options), n_bits)  # type: ignore[arg-type]


def wl_simhash(data: Data, n_bits: int, iterations: int = 3) -> np.ndarray:
    """SimHash of the Weisfeiler–Lehman subtree labels of all nodes and iterations
    (networkx's ``weisfeiler_lehman_subgraph_hashes`` on the undirected layer graph)."""
    g = nx.Graph()
    labels = node_labels(data)
    g.add_nodes_from((i, {"label": label}) for i, label in enumerate(labels))
    g.add_edges_from(data.edge_index.t().tolist())
    subtrees = nx.weisfeiler_lehman_subgraph_hashes(g, node_attr="label", iterations=iterations)
    features: Counter[str] = Counter(labels)
    for hashes in subtrees.values():
        features.update(f"{depth}:{h}" for depth, h in enumerate(hashes, start=1))
    return simhash(features, n_bits)
