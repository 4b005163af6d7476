"""Non-learned baselines: SimHash of Weisfeiler–Lehman subtree features, and of the
operator histogram.

Both read the same node labels the network sees (operator, FLOPs digits, parameter
digits), so the comparison with HNN-Net is about learning, not about information.
SimHash (Charikar): every feature gets a pseudo-random ±1 vector of Q bits from a keyed
BLAKE2b digest; the code is the sign of the count-weighted sum. Similar feature multisets
give codes at small Hamming distance.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import networkx as nx
import numpy as np
from torch_geometric.data import Data

from model_hashing.graph import N_DIGIT_BINS, OP_TYPES


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


def simhash(features: Counter[str], n_bits: int) -> np.ndarray:
    """Q-bit SimHash (uint8 in {0, 1}) of a feature multiset."""
    total = np.zeros(n_bits)
    for feature, count in features.items():
        total += count * _feature_signs(feature, n_bits)
    return (total > 0).astype(np.uint8)


def op_histogram_simhash(data: Data, n_bits: int) -> np.ndarray:
    """SimHash of the multiset of node labels (no topology)."""
    return simhash(Counter(node_labels(data)), n_bits)


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
