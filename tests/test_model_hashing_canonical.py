"""Graph canonicalisation, the new piracy transforms, the piracy table and ROC metrics."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import model_hashing.piracy as piracy
from model_hashing.graph import canonicalize, export_onnx, onnx_to_graph
from model_hashing.methods import OpHistSimHash
from model_hashing.piracy import (
    _export,
    permute_neurons,
    piracy_markdown,
    piracy_table,
    pirated_copy,
)
from model_hashing.retrieval import roc_auc, tpr_at_fpr
from model_hashing.zoo import build_model, zoo_graph


def signature(g: nx.DiGraph) -> tuple:
    """Everything a hash can see, independent of node order (quantisers reorder nodes):
    the labelled nodes, the labelled edges and a Weisfeiler–Lehman hash of the graph."""
    labels = {n: f"{a['op']}|{a['flops']}|{a['params']}" for n, a in g.nodes(data=True)}
    nx.set_node_attributes(g, labels, "label")
    edges = sorted((labels[u], labels[v]) for u, v in g.edges)
    return sorted(labels.values()), edges, nx.weisfeiler_lehman_graph_hash(g, node_attr="label")


class Head(nn.Module):
    """Conv-BN-ReLU, a Dropout, a shape-keeping reshape and a reshape chain, a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)
        self.drop, self.fc = nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = self.drop(x).reshape(x.shape)
        return self.fc(x.flatten(1).reshape(1, -1))


def test_canonical_form_drops_what_does_not_change_the_architecture() -> None:
    torch.manual_seed(0)
    model = Head().eval()
    raw = onnx_to_graph(export_onnx(model, (1, 3, 8, 8)))
    canonical = canonicalize(raw)
    assert [a["op"] for _, a in sorted(canonical.nodes(data=True))] == ["Conv", "MatMul"]
    assert list(canonical.edges) == [(0, 1)]
    # conv weight only (no BN, no bias), linear weight without its bias
    assert [a["params"] for _, a in sorted(canonical.nodes(data=True))] == [108, 720]
    folded = onnx_to_graph(_export(model, (1, 3, 8, 8), params=True, fold=True))
    assert "BatchNormalization" not in {a for _, a in folded.nodes(data="op")}
    assert signature(canonicalize(folded)) == signature(canonical)


@pytest.mark.parametrize(
    ("name", "transforms"),
    [
        ("squeezenet1_1", ("qop-quantised", "dynamo-export", "neuron-permuted", "bn-folded")),
        ("resnet18", ("bn-folded", "qdq-quantised", "dynamic-quantised")),
    ],
)
def test_copies_have_the_canonical_graph_of_their_source(name: str, transforms) -> None:
    base = signature(canonicalize(zoo_graph(name, merged=False)))
    for transform in transforms:
        assert signature(canonicalize(pirated_copy(name, transform))) == base, transform


def test_neuron_permutation_keeps_the_function() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    for name in ("squeezenet1_1", "resnet18", "mobilenet_v2"):
        model = build_model(name)
        permuted = permute_neurons(model, seed=1)
        with torch.no_grad():
            assert torch.allclose(model(x), permuted(x), atol=1e-4), name
        changed = [
            not torch.equal(a, b)
            for a, b in zip(model.parameters(), permuted.parameters(), strict=True)
        ]
        assert any(changed), name
    with pytest.raises(ValueError, match="no neuron-permutation rule"):
        permute_neurons(build_model("alexnet"))


def test_qoperator_kernels_count_as_float_layers() -> None:
    g = onnx_to_graph(piracy._quantise(build_model("squeezenet1_1"), (1, 3, 224, 224), 0, True))
    plain = zoo_graph("squeezenet1_1", merged=False)
    conv = [a for _, a in g.nodes(data=True) if a["op"] == "Conv"]
    assert len(conv) == 26 and sum(a["flops"] for a in conv) == sum(
        a["flops"] for _, a in plain.nodes(data=True)
    )


def test_piracy_table_on_a_small_zoo(monkeypatch) -> None:
    zoo = {"squeezenet1_1": "squeezenet", "squeezenet1_0": "squeezenet", "alexnet": "alexnet"}
    monkeypatch.setattr(piracy, "PAPER_MODELS", zoo)
    monkeypatch.setattr(piracy, "TRANSFORMS", ("bn-folded", "neuron-permuted"))
    result = piracy_table(
        {"OpHist": OpHistSimHash},
        q_values=(16, 32),
        table_q=32,
        sources=["squeezenet1_1"],
        n_aug=2,
        k=2,
    )
    assert [s["q"] for s in result["summary"]] == [16, 32]
    (s32,) = [s for s in result["summary"] if s["q"] == 32]
    assert s32["top1"] == s32["copies"] == 2 and s32["independent_distance"] == [0]
    assert 0.5 < s32["roc_auc"] <= 1.0 and 0.0 <= s32["tpr_at_1pct_fpr"] <= 1.0
    assert [r["distance_to_original"] for r in result["rows"]] == [0, 0]
    text = piracy_markdown(result)
    assert "| OpHist | 32 | 2/2 |" in text and "| squeezenet1_1 | bn-folded | ✓ | 0 |" in text
    with pytest.raises(ValueError, match="not in the paper zoo"):
        piracy_table({"OpHist": OpHistSimHash}, sources=["vit_b_16"])


def test_roc_auc_and_tpr_at_fpr() -> None:
    scores = np.array([3.0, 2.0, 2.0, 1.0, 0.0])
    positive = np.array([True, True, False, False, False])
    # pairs (pos, neg): 3>2, 3>1, 3>0, 2=2 (half), 2>1, 2>0 -> 5.5 / 6
    assert roc_auc(scores, positive) == pytest.approx(5.5 / 6)
    # no FPR allowed: only the threshold 3 qualifies (the tie at 2 brings a negative)
    assert tpr_at_fpr(scores, positive, 0.0) == 0.5
    assert tpr_at_fpr(scores, positive, 1 / 3) == 1.0
    assert roc_auc(np.array([1.0, 0.0]), np.array([True, False])) == 1.0
    with pytest.raises(ValueError):
        roc_auc(scores, np.ones(5, dtype=bool))
