"""HNN-Net: shapes and binary codes, training, retrieval metrics, baselines."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from model_hashing.baselines import op_histogram_simhash, wl_simhash
from model_hashing.dataset import to_data
from model_hashing.ged import delete_nodes, ged_matrix
from model_hashing.graph import N_FEATURES
from model_hashing.nn import HNNNet
from model_hashing.retrieval import hamming_distances, retrieval_metrics
from model_hashing.train import TrainConfig, encode, hnn_loss, train_hnn


def family_graph(family: int, n: int) -> nx.DiGraph:
    """Family 0: Conv-Relu chains (10^5 FLOPs); family 1: Gemm layers with skip edges."""
    g = nx.DiGraph()
    for i in range(n):
        op = ("Conv" if i % 2 == 0 else "Relu") if family == 0 else "Gemm"
        g.add_node(i, op=op, name=str(i), flops=10**5 if op != "Relu" else 0, params=10 * i)
    g.add_edges_from((i, i + 1) for i in range(n - 1))
    if family == 1:
        g.add_edges_from((i, i + 2) for i in range(0, n - 2, 2))
    return g


def toy_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    graphs, origins, data = [], [], []
    for origin, (family, n) in enumerate([(0, 12), (0, 16), (1, 12), (1, 16)]):
        base = family_graph(family, n)
        for copy in [base] + [delete_nodes(base, 0.15, rng) for _ in range(4)]:
            d = to_data(copy)
            d.y, d.model = torch.tensor([family]), torch.tensor([origin])
            graphs.append(copy)
            origins.append(origin)
            data.append(d)
    return data, torch.from_numpy(ged_matrix(graphs, origins, cap=20))


def test_network_shapes_and_binary_codes() -> None:
    torch.manual_seed(0)
    data, _ = toy_data()
    net = HNNNet(N_FEATURES, n_bits=16, n_classes=2)
    batch = Batch.from_data_list(data[:3])
    relaxed, logits = net(batch.x, batch.edge_index, batch.batch, 3)
    assert relaxed.shape == (3, 16) and logits.shape == (3, 2)
    assert relaxed.abs().max() < 1
    codes = encode(net, data)
    assert codes.shape == (len(data), 16) and codes.dtype == np.uint8
    assert set(np.unique(codes)) <= {0, 1}
    np.testing.assert_array_equal(codes[:3], encode(net, data[:3]))  # batch-independent
    with pytest.raises(ValueError):
        HNNNet(N_FEATURES, n_bits=0, n_classes=2)


def test_loss_parts() -> None:
    codes = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])
    target = torch.tensor([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    logits = torch.tensor([[10.0, -10.0], [10.0, -10.0], [-10.0, 10.0]])
    total, parts = hnn_loss(codes, logits, torch.tensor([0, 0, 1]), target, TrainConfig())
    assert parts["topo"] == 0 and parts["quant"] == 0 and parts["class"] < 1e-6
    assert float(total) < 1e-4


def test_training_reduces_loss_and_separates_two_families() -> None:
    data, ged = toy_data()
    config = TrainConfig(n_bits=16, epochs=25, seed=0, label="family")
    net, history = train_hnn(data, ged, ged_cap=20, n_classes=2, config=config)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    codes = encode(net, data)
    family = np.array([int(d.y) for d in data])
    dist = hamming_distances(codes, codes)
    same = dist[family[:, None] == family[None, :]].mean()
    other = dist[family[:, None] != family[None, :]].mean()
    assert other > same + 4
    metrics = retrieval_metrics(codes, family, codes, family, k=5)
    assert metrics["precision"] == 1.0


def test_retrieval_metrics_on_a_hand_made_case() -> None:
    db = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 0]], dtype=np.uint8)
    db_labels = np.array([0, 0, 1, 1])
    queries = np.array([[0, 0, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(hamming_distances(queries, db), [[0, 1, 4, 3], [2, 3, 2, 1]])
    m = retrieval_metrics(queries, np.array([0, 1]), db, db_labels, k=2)
    # query 0: ranking 0, 1, 3, 2 -> top-2 both relevant; AP 1.
    # query 1 (label 1): ranking 3, then {0, 2} tied at 2, then 1; top-2 holds 3 and one of
    # the tie -> P@2 = 1/2 or 1; AP = (1 + 2/3) / 2 or 1.
    assert m["recall"] in (0.75, 1.0)
    assert m["precision"] == m["recall"]
    assert m["map"] in (pytest.approx((1 + (1 + 2 / 3) / 2) / 2), 1.0)
    with pytest.raises(ValueError):
        retrieval_metrics(queries, np.array([0, 1]), db[:, :3], db_labels, k=2)
    with pytest.raises(ValueError):
        retrieval_metrics(queries, np.array([0, 1]), db, db_labels, k=0)


def test_simhash_baselines() -> None:
    data, _ = toy_data()
    for fn in (wl_simhash, op_histogram_simhash):
        codes = np.stack([fn(d, 32) for d in data])
        assert codes.shape == (len(data), 32)
        np.testing.assert_array_equal(codes[0], fn(data[0], 32))  # deterministic
        dist = hamming_distances(codes, codes)
        assert dist[0, 5] < dist[0, 10]  # same family closer than the other family
