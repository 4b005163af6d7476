"""The model zoo: the paper's torchvision models, their families, and how to export them.

No weights are needed (``weights=None``): the hash depends on the graph and its shapes
only. The published GFLOPS and parameter counts are read from torchvision's weight
metadata, which ships with the package (nothing is downloaded).
"""

from __future__ import annotations

import networkx as nx
import onnx
import torch
import torchvision

from model_hashing.graph import export_onnx, merge_layers, onnx_to_graph

#: The paper's 21 models (it counts 22) and their 10 families.
PAPER_MODELS: dict[str, str] = {
    "vgg11": "vgg",
    "vgg13": "vgg",
    "vgg16": "vgg",
    "resnet18": "resnet",
    "resnet34": "resnet",
    "resnet101": "resnet",
    "mnasnet0_75": "mnasnet",
    "mnasnet1_0": "mnasnet",
    "mnasnet1_3": "mnasnet",
    "densenet121": "densenet",
    "densenet161": "densenet",
    "densenet201": "densenet",
    "squeezenet1_0": "squeezenet",
    "squeezenet1_1": "squeezenet",
    "shufflenet_v2_x0_5": "shufflenet",
    "shufflenet_v2_x1_5": "shufflenet",
    "shufflenet_v2_x2_0": "shufflenet",
    "alexnet": "alexnet",
    "inception_v3": "inception",
    "mobilenet_v2": "mobilenet",
    "googlenet": "googlenet",
}

# Models whose constructors run an expensive weight initialisation we do not need.
_NO_INIT = {"googlenet", "inception_v3"}


def classification_models() -> list[str]:
    """All torchvision classification model names (the "larger zoo")."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def input_shape(name: str) -> tuple[int, int, int, int]:
    """The input size torchvision uses for the model's published numbers."""
    return (1, 3, 299, 299) if name == "inception_v3" else (1, 3, 224, 224)


def build_model(name: str) -> torch.nn.Module:
    """A torchvision classification model without weights; ValueError for unknown names."""
    if name not in classification_models():
        raise ValueError(
            f"unknown torchvision model {name!r}; expected one of "
            f"torchvision.models.list_models(module=torchvision.models)"
        )
    kwargs: dict[str, object] = {"weights": None}
    if name in _NO_INIT:
        kwargs["init_weights"] = False
    return torchvision.models.get_model(name, **kwargs).eval()


def export_zoo_model(name: str, opset: int | None = None) -> onnx.ModelProto:
    return export_onnx(build_model(name), input_shape(name), opset=opset)


def zoo_graph(name: str, merged: bool = True) -> nx.DiGraph:
    """The (merged) layer graph of a torchvision model."""
    g = onnx_to_graph(export_zoo_model(name))
    return merge_layers(g) if merged else g


def published_stats(name: str) -> tuple[float, int]:
    """torchvision's published (GFLOPS, parameter count) of a model's first weights."""
    weights = torchvision.models.get_model_weights(name)
    meta = next(iter(weights)).meta
    return float(meta["_ops"]), int(meta["num_params"])
