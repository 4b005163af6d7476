"""The model zoo: the paper's torchvision models, their families, and how to export them.

Two zoos: ``"paper"`` (:data:`PAPER_MODELS`, the paper's 21 models in 10 families) and
``"all"`` (every classification model of ``torchvision.models.list_models``, about 80,
grouped into families by name with :data:`FAMILY_RULES`).

No weights are needed (``weights=None``): the hash depends on the graph and its shapes
only. The published GFLOPS and parameter counts are read from torchvision's weight
metadata, which ships with the package (nothing is downloaded).
"""

from __future__ import annotations

import re

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

#: The family of a torchvision classification model, by its name: ``(family, pattern)``,
#: where the pattern must match the whole name. Every listed model matches exactly one rule
#: (tested), so a new torchvision model without a rule is an error, not a silent guess.
#: Variants that differ only in width, depth, resolution or BatchNorm (``vgg11_bn``) share
#: a family; a new version with a changed building block (EfficientNetV2's fused MBConv,
#: Swin V2's scaled cosine attention, MobileNetV3's SE and hard-swish) and the residual
#: offshoots with their own names (ResNeXt, Wide ResNet) are families of their own.
FAMILY_RULES: tuple[tuple[str, str], ...] = (
    ("alexnet", r"alexnet"),
    ("convnext", r"convnext_(tiny|small|base|large)"),
    ("densenet", r"densenet\d+"),
    ("efficientnet", r"efficientnet_b\d"),
    ("efficientnet_v2", r"efficientnet_v2_[sml]"),
    ("googlenet", r"googlenet"),
    ("inception", r"inception_v3"),
    ("maxvit", r"maxvit_t"),
    ("mnasnet", r"mnasnet\d_\d+"),
    ("mobilenet_v2", r"mobilenet_v2"),
    ("mobilenet_v3", r"mobilenet_v3_(small|large)"),
    ("regnet_x", r"regnet_x_\d+(_\d+)?(mf|gf)"),
    ("regnet_y", r"regnet_y_\d+(_\d+)?(mf|gf)"),
    ("resnet", r"resnet\d+"),
    ("resnext", r"resnext\d+_\d+x\d+d"),
    ("shufflenet", r"shufflenet_v2_x\d_\d"),
    ("squeezenet", r"squeezenet1_[01]"),
    ("swin", r"swin_[tsb]"),
    ("swin_v2", r"swin_v2_[tsb]"),
    ("vgg", r"vgg\d+(_bn)?"),
    ("vit", r"vit_[bhl]_\d+"),
    ("wide_resnet", r"wide_resnet\d+_2"),
)


def family_of(name: str) -> str:
    """The family of a torchvision model name (:data:`FAMILY_RULES`); ValueError when no
    rule or more than one matches."""
    matches = [family for family, pattern in FAMILY_RULES if re.fullmatch(pattern, name)]
    if len(matches) != 1:
        raise ValueError(
            f"{name!r} matches {len(matches)} family rules ({matches}); expected exactly one"
        )
    return matches[0]


def zoo_models(zoo: str = "paper") -> dict[str, str]:
    """Model name -> family of a zoo: ``"paper"`` (21 models) or ``"all"`` (every
    torchvision classification model, in sorted order)."""
    if zoo == "paper":
        return dict(PAPER_MODELS)
    if zoo == "all":
        return {name: family_of(name) for name in classification_models()}
    raise ValueError(f"unknown zoo {zoo!r}; expected 'paper' or 'all'")


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
