"""Pirated-copy transforms and the hash-envs command-line plug-in."""

from __future__ import annotations

import argparse

import pytest

from model_hashing.cli import add_model_hash_parser
from model_hashing.graph import total_flops, total_params
from model_hashing.piracy import pirated_copy, prune_channels
from model_hashing.zoo import build_model, zoo_graph


def op_count(g, op: str) -> int:
    return sum(1 for _, o in g.nodes(data="op") if o == op)


def test_bn_folding_and_quantisation_keep_the_compute() -> None:
    base = zoo_graph("resnet18", merged=False)
    folded = pirated_copy("resnet18", "bn-folded")
    assert (
        op_count(base, "BatchNormalization") == 20 and op_count(folded, "BatchNormalization") == 0
    )
    assert total_flops(folded) == total_flops(base)
    qdq = pirated_copy("squeezenet1_1", "qdq-quantised")  # Q/DQ nodes are transparent
    plain = zoo_graph("squeezenet1_1", merged=False)
    assert op_count(qdq, "Conv") == op_count(plain, "Conv") == 26
    assert total_flops(qdq) == total_flops(plain) and total_params(qdq) == total_params(plain)
    dynamic = pirated_copy("squeezenet1_1", "dynamic-quantised")  # ConvInteger -> Conv
    assert op_count(dynamic, "Conv") == 26 and total_flops(dynamic) == total_flops(plain)
    assert [op_count(dynamic, op) for op in ("Mul", "Cast", "Add")] == [0, 0, 0]


def test_weights_and_opset_do_not_change_the_graph() -> None:
    base = zoo_graph("squeezenet1_1", merged=False)
    for transform in ("fine-tuned", "opset-13"):
        copy = pirated_copy("squeezenet1_1", transform)
        assert [a for _, a in copy.nodes(data="op")] == [a for _, a in base.nodes(data="op")]


def test_layer_edits_and_pruning() -> None:
    base = zoo_graph("squeezenet1_1", merged=False)
    assert pirated_copy("squeezenet1_1", "layer-added").number_of_nodes() == 66
    assert pirated_copy("squeezenet1_1", "layer-removed").number_of_nodes() == 64
    pruned = pirated_copy("squeezenet1_1", "channel-pruned")
    assert pruned.number_of_nodes() == base.number_of_nodes()
    assert total_params(pruned) < total_params(base)
    with pytest.raises(ValueError, match="no channel-pruning rule"):
        prune_channels(build_model("alexnet"), 0.75)
    with pytest.raises(ValueError, match="unknown transform"):
        pirated_copy("squeezenet1_1", "rot13")


def test_plugs_into_the_hash_envs_command_line() -> None:
    parser = argparse.ArgumentParser(prog="hash-envs")
    add_model_hash_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["model-hash", "query", "resnet18", "--top", "3", "--db", "x.db"])
    assert args.model == "resnet18" and args.top == 3 and args.db == "x.db"
    args = parser.parse_args(["model-hash", "index", "add", "a.onnx", "b.onnx"])
    assert args.models == ["a.onnx", "b.onnx"] and callable(args.func)
