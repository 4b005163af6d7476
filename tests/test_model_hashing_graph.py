"""Graph generator: layer graphs, merge rules, FLOPs/params, features and bad inputs."""

from __future__ import annotations

import io

import networkx as nx
import numpy as np
import onnx
import pytest
import torch
from torch import nn

from model_hashing.graph import (
    N_FEATURES,
    OP_INDEX,
    digit_count,
    export_onnx,
    load_onnx,
    merge_layers,
    node_features,
    onnx_to_graph,
    total_flops,
    total_params,
)
from model_hashing.zoo import build_model, export_zoo_model, published_stats


def ops(g: nx.DiGraph) -> list[str]:
    return [g.nodes[n]["op"] for n in nx.topological_sort(g)]


def tiny_cnn() -> nn.Module:
    """Conv-BN-ReLU, Conv-BN, Conv-ReLU, Conv-Conv-BN-ReLU, then a linear layer."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # 0
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1),  # 3
        nn.BatchNorm2d(4),
        nn.Conv2d(4, 8, 1),  # 5
        nn.ReLU(),
        nn.Conv2d(8, 8, 1),  # 7
        nn.Conv2d(8, 8, 1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10),
    )


@pytest.fixture(scope="module")
def tiny_graph() -> nx.DiGraph:
    torch.manual_seed(0)
    return onnx_to_graph(export_onnx(tiny_cnn(), (1, 3, 8, 8)))


def test_raw_graph_has_one_node_per_layer(tiny_graph: nx.DiGraph) -> None:
    assert ops(tiny_graph) == [
        "Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization", "Conv", "Relu",
        "Conv", "Conv", "BatchNormalization", "Relu", "Flatten", "Gemm",
    ]  # fmt: skip
    assert nx.is_directed_acyclic_graph(tiny_graph)
    assert tiny_graph.number_of_edges() == tiny_graph.number_of_nodes() - 1


def test_merge_rules_on_hand_built_chain(tiny_graph: nx.DiGraph) -> None:
    merged = merge_layers(tiny_graph)
    assert ops(merged) == [
        "Conv+BN+ReLU",
        "Conv+BN",
        "Conv+ReLU",
        "Conv+Conv+BN+ReLU",
        "Flatten",
        "Gemm",
    ]
    assert total_flops(merged) == total_flops(tiny_graph)
    assert total_params(merged) == total_params(tiny_graph)
    assert sorted(merged.nodes) == list(range(6))


def test_merge_needs_a_sole_consumer() -> None:
    g = nx.DiGraph()
    for i, op in enumerate(["Conv", "BatchNormalization", "Relu", "Add"]):
        g.add_node(i, op=op, name=str(i), flops=0, params=0)
    g.add_edges_from([(0, 1), (1, 2), (0, 3), (2, 3)])  # the Conv also feeds the Add
    assert ops(merge_layers(g)) == ["Conv", "BatchNormalization", "Relu", "Add"]
    g.remove_edge(0, 3)
    g.add_edge(1, 3)  # now the BN output is read twice: only Conv-BN merges
    assert ops(merge_layers(g)) == ["Conv+BN", "Relu", "Add"]


def test_flops_and_params_of_tiny_cnn(tiny_graph: nx.DiGraph) -> None:
    nodes = [tiny_graph.nodes[n] for n in nx.topological_sort(tiny_graph)]
    by_op = [(a["op"], a["flops"], a["params"]) for a in nodes]
    assert by_op[0] == ("Conv", 64 * 4 * 3 * 9, 4 * 3 * 9 + 4)
    assert by_op[1] == ("BatchNormalization", 0, 8)  # scale and bias; running stats are buffers
    assert by_op[5] == ("Conv", 64 * 8 * 4, 8 * 4 + 8)
    assert by_op[-1] == ("Gemm", 512 * 10, 512 * 10 + 10)
    expected_params = sum(p.numel() for p in tiny_cnn().parameters())
    assert total_params(tiny_graph) == expected_params


@pytest.mark.parametrize("name", ["resnet18", "alexnet", "shufflenet_v2_x0_5"])
def test_flops_and_params_match_torchvision(name: str) -> None:
    """torchvision's published numbers (resnet18: 1.81 GFLOPS, 11.69M params). ShuffleNet
    needs the onnxruntime fallback: its reshapes hide shapes from static inference."""
    g = onnx_to_graph(export_zoo_model(name))
    gflops, params = published_stats(name)
    assert round(total_flops(g) / 1e9, 3) == pytest.approx(gflops, abs=1e-3)
    assert total_params(g) == params


def test_resnet18_published_values_are_the_known_ones() -> None:
    assert published_stats("resnet18") == (1.814, 11_689_512)


def test_batchnorm_survives_export() -> None:
    g = onnx_to_graph(export_zoo_model("squeezenet1_1"))
    assert "BatchNormalization" not in ops(g)  # squeezenet has none
    g = onnx_to_graph(export_onnx(build_model("resnet18")))
    assert ops(g).count("BatchNormalization") == 20


def test_node_features_layout(tiny_graph: nx.DiGraph) -> None:
    x = node_features(tiny_graph)
    assert x.shape == (tiny_graph.number_of_nodes(), N_FEATURES)
    np.testing.assert_array_equal(x.sum(axis=1), 3.0)
    assert x[0, OP_INDEX["Conv"]] == 1.0
    assert [digit_count(v) for v in (0, 7, 10, 999, 10**12)] == [0, 1, 2, 3, 10]


def test_weightless_export_is_small(tmp_path) -> None:
    path = tmp_path / "alexnet.onnx"
    onnx.save(export_zoo_model("alexnet"), path)
    assert path.stat().st_size < 100_000  # 61M parameters, none stored
    assert total_params(onnx_to_graph(path)) == 61_100_840


def test_bad_inputs(tmp_path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a protobuf at all \x00\x01")
    with pytest.raises(ValueError, match="not an ONNX model"):
        onnx_to_graph(text)
    with pytest.raises(ValueError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="not an ONNX model"):
        load_onnx(b"")
    with pytest.raises(ValueError, match="unknown torchvision model"):
        build_model("resnet19")


def test_dynamic_batch_export_gives_the_same_graph(tiny_graph: nx.DiGraph) -> None:
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.onnx.export(
        tiny_cnn().eval(),
        (torch.zeros(1, 3, 8, 8),),
        buffer,
        dynamo=False,
        export_params=True,
        do_constant_folding=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "batch"}},
    )
    g = onnx_to_graph(buffer.getvalue())
    assert ops(g) == ops(tiny_graph)
    assert total_flops(g) == total_flops(tiny_graph)
    assert total_params(g) == total_params(tiny_graph)
