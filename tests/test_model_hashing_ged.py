"""Augmentation by node deletion, edit distances, and the cached zoo dataset."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from model_hashing.dataset import ModelZooDataset
from model_hashing.ged import (
    bipartite_ged,
    delete_nodes,
    ged_lower_bound,
    ged_matrix,
    shared_origin_ged,
)
from model_hashing.zoo import zoo_graph


def labelled(labels: list[str], edges: list[tuple[int, int]]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from((i, {"op": op}) for i, op in enumerate(labels))
    g.add_edges_from(edges)
    return g


def exact_ged(a: nx.DiGraph, b: nx.DiGraph) -> float:
    return nx.graph_edit_distance(a, b, node_match=lambda u, v: u["op"] == v["op"])


def random_dag(rng: np.random.Generator, n: int) -> nx.DiGraph:
    ops = ["Conv", "Relu", "Add", "Gemm"]
    edges = [(i, i + 1) for i in range(n - 1)]
    edges += [(i, j) for i in range(n) for j in range(i + 2, n) if rng.random() < 0.2]
    return labelled([ops[int(rng.integers(4))] for _ in range(n)], edges)


def test_deletion_keeps_the_graph_connected() -> None:
    g = zoo_graph("resnet18", merged=True)
    rng = np.random.default_rng(0)
    for _ in range(5):
        copy = delete_nodes(g, 0.1, rng)
        assert copy.number_of_nodes() == g.number_of_nodes() - round(0.1 * g.number_of_nodes())
        assert nx.is_weakly_connected(copy)
        assert nx.is_directed_acyclic_graph(copy)
        assert set(copy.nodes) <= set(g.nodes)
    with pytest.raises(ValueError):
        delete_nodes(g, 1.0, rng)


def test_deletion_bridges_predecessors_to_successors() -> None:
    g = labelled(["Conv", "Relu", "Conv", "Add", "Gemm"], [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)])
    copy = delete_nodes(g, 0.2, np.random.default_rng(3))  # deletes one of 1, 2, 3
    (removed,) = set(g.nodes) - set(copy.nodes)
    for p in g.predecessors(removed):
        for s in g.successors(removed):
            assert copy.has_edge(p, s)


CHAIN = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
DIAMOND = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)]


@pytest.mark.parametrize(
    ("labels", "edges", "delete", "exact"),
    [
        (["Conv", "BatchNormalization", "Relu", "Conv", "Gemm"], CHAIN[:4], [2], 4),
        (["Conv", "Relu", "Conv", "Add", "Gemm"], DIAMOND, [1], 4),
        # Two deletions: relabelling a node is cheaper than our path (8 edits).
        (["Conv", "Relu", "Conv", "Relu", "Gemm", "Softmax"], CHAIN, [1, 3], 5),
    ],
)
def test_known_edit_count_against_exact_ged(labels, edges, delete, exact) -> None:
    """Deleting k nodes costs k node deletions + their edges + the bridges. That equals the
    exact GED (networkx) for one deletion and is an upper bound in general."""
    g = labelled(labels, edges)
    copy = g.copy()
    for node in delete:
        preds, succs = list(copy.predecessors(node)), list(copy.successors(node))
        copy.remove_node(node)
        copy.add_edges_from((p, s) for p in preds for s in succs)
    assert exact_ged(g, copy) == exact
    known = shared_origin_ged(g, copy)
    assert known == exact if len(delete) == 1 else known == 8


def test_estimates_bound_the_exact_ged() -> None:
    rng = np.random.default_rng(1)
    for _ in range(6):
        a = random_dag(rng, 6)
        b = delete_nodes(a, 0.2, rng) if rng.random() < 0.5 else random_dag(rng, 5)
        exact = exact_ged(a, b)
        assert ged_lower_bound(a, b) <= exact <= bipartite_ged(a, b)
        if set(b.nodes) <= set(a.nodes) and all(a.nodes[n]["op"] == b.nodes[n]["op"] for n in b):
            assert exact <= shared_origin_ged(a, b)
    a = random_dag(rng, 8)
    shuffled = nx.relabel_nodes(a, dict(zip(a.nodes, rng.permutation(8).tolist(), strict=True)))
    assert bipartite_ged(a, shuffled) == 0


def test_ged_matrix_is_symmetric_and_capped() -> None:
    rng = np.random.default_rng(2)
    base = [random_dag(rng, 7), random_dag(rng, 30)]
    graphs = [base[0], delete_nodes(base[0], 0.3, rng), base[1]]
    m = ged_matrix(graphs, origins=[0, 0, 1], cap=10)
    np.testing.assert_array_equal(m, m.T)
    assert m[0, 1] == min(shared_origin_ged(graphs[0], graphs[1]), 10)
    assert m[0, 2] == 10  # 23 extra nodes: the lower bound alone reaches the cap
    assert np.all(np.diag(m) == 0)


def test_zoo_dataset_builds_once_and_caches(tmp_path, monkeypatch) -> None:
    models = {"squeezenet1_0": "squeezenet", "squeezenet1_1": "squeezenet", "alexnet": "alexnet"}
    ds = ModelZooDataset(tmp_path, models=models, n_aug=3, seed=0)
    assert len(ds) == 12 and ds.families == ["alexnet", "squeezenet"]
    assert ds.ged.shape == (12, 12)
    assert int(ds[0].copy) == 0 and int(ds[0].y) == 1 and int(ds[8].model) == 2
    assert ds.ged[0, 1] > 0 and 0 < ds.ged[0, 8] <= ds.ged_cap
    assert sorted((tmp_path / "raw").iterdir())[0].suffix == ".onnx"

    def fail() -> None:
        raise AssertionError("processed again")

    monkeypatch.setattr(ModelZooDataset, "process", lambda self: fail())
    again = ModelZooDataset(tmp_path, models=models, n_aug=3, seed=0)
    assert torch.equal(again.ged, ds.ged) and torch.equal(again[5].x, ds[5].x)
    train, test = again.split(test_fraction=0.25, seed=0)
    assert len(test) == 3 and len(set(train) | set(test)) == 12
    assert sorted(int(again[i].model) for i in test) == [0, 1, 2]
