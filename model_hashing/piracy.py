"""Realistic "pirated copies" of a model, for checking that the hash still finds the source.

Each transform returns the raw layer graph of the altered model:

* ``fine-tuned``: the weights changed (perturbed by 1% noise), exported *with* weights;
* ``opset-13``: re-exported at ONNX opset 13 instead of the exporter's default;
* ``bn-folded``: exported with constant folding, which folds BatchNorm into the Conv;
* ``qdq-quantised``: static int8 quantisation by onnxruntime in QDQ format;
* ``dynamic-quantised``: onnxruntime's dynamic int8 quantisation (``ConvInteger``,
  ``MatMulInteger``);
* ``layer-added``: a fully connected layer appended after the classifier;
* ``layer-removed``: one inner layer deleted from the graph (its inputs bridged);
* ``channel-pruned``: 25% of the inner channels of every residual / fire / dense block
  removed (ResNet, SqueezeNet, DenseNet) or the width multiplier set to 0.75 (MobileNetV2).
"""

from __future__ import annotations

import copy
import io
import tempfile
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import torch
from torch import nn
from torchvision.models import MobileNetV2, ResNet
from torchvision.models.densenet import DenseNet, _DenseLayer
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.squeezenet import Fire

from model_hashing.ged import delete_nodes
from model_hashing.graph import export_onnx, onnx_to_graph
from model_hashing.zoo import build_model, input_shape

TRANSFORMS: tuple[str, ...] = (
    "fine-tuned",
    "opset-13",
    "bn-folded",
    "qdq-quantised",
    "dynamic-quantised",
    "layer-added",
    "layer-removed",
    "channel-pruned",
)


def pirated_copy(name: str, transform: str, seed: int = 0) -> nx.DiGraph:
    """The raw layer graph of torchvision model ``name`` after ``transform``."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; expected one of {TRANSFORMS}")
    torch.manual_seed(seed)
    model, shape = build_model(name), input_shape(name)
    if transform == "fine-tuned":
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        return onnx_to_graph(_export(model, shape, params=True))
    if transform == "opset-13":
        return onnx_to_graph(export_onnx(model, shape, opset=13))
    if transform == "bn-folded":
        return onnx_to_graph(_export(model, shape, params=False, fold=True))
    if transform == "qdq-quantised":
        return onnx_to_graph(_quantise(model, shape, seed))
    if transform == "dynamic-quantised":
        return onnx_to_graph(_quantise_dynamic(model, shape))
    if transform == "layer-added":
        return onnx_to_graph(export_onnx(nn.Sequential(model, nn.Linear(1000, 1000)), shape))
    if transform == "layer-removed":
        g = onnx_to_graph(export_onnx(model, shape))
        return delete_nodes(g, 1.0 / g.number_of_nodes(), np.random.default_rng(seed))
    return onnx_to_graph(export_onnx(prune_channels(model, 0.75), shape))


def _export(model: nn.Module, shape: tuple[int, ...], params: bool, fold: bool = False) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (torch.zeros(*shape),),
            buffer,
            dynamo=False,
            export_params=params,
            do_constant_folding=fold,
        )
    return buffer.getvalue()


def _quantise(model: nn.Module, shape: tuple[int, ...], seed: int) -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self, input_name: str) -> None:
            rng = np.random.default_rng(seed)
            self.batches = iter(
                [{input_name: rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
            )

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    float_model = onnx.load_from_string(_export(model, shape, params=True, fold=True))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        onnx.save(float_model, src)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(
                src, dst, Reader(float_model.graph.input[0].name), quant_format=QuantFormat.QDQ
            )
        return onnx.load(dst)


def _quantise_dynamic(model: nn.Module, shape: tuple[int, ...]) -> onnx.ModelProto:
    from onnxruntime.quantization import quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "dynamic.onnx"
        src.write_bytes(_export(model, shape, params=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(src, dst)
        return onnx.load(dst)


def _conv(conv: nn.Conv2d, in_ch: int | None = None, out_ch: int | None = None) -> nn.Conv2d:
    return nn.Conv2d(
        in_ch or conv.in_channels,
        out_ch or conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
    )


def prune_channels(model: nn.Module, keep: float) -> nn.Module:
    """A structurally pruned copy: inner block channels scaled by ``keep`` (see module doc);
    ValueError for architectures without a rule here."""
    if isinstance(model, MobileNetV2):
        return MobileNetV2(width_mult=keep).eval()
    if not isinstance(model, ResNet | DenseNet) and not any(
        isinstance(m, Fire) for m in model.modules()
    ):
        raise ValueError(f"no channel-pruning rule for {type(model).__name__}")
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, BasicBlock):
            width = max(1, int(m.conv1.out_channels * keep))
            m.conv1, m.bn1 = _conv(m.conv1, out_ch=width), nn.BatchNorm2d(width)
            m.conv2 = _conv(m.conv2, in_ch=width)
        elif isinstance(m, Bottleneck):
            width = max(1, int(m.conv1.out_channels * keep))
            m.conv1, m.bn1 = _conv(m.conv1, out_ch=width), nn.BatchNorm2d(width)
            m.conv2, m.bn2 = _conv(m.conv2, in_ch=width, out_ch=width), nn.BatchNorm2d(width)
            m.conv3 = _conv(m.conv3, in_ch=width)
        elif isinstance(m, Fire):
            width = max(1, int(m.squeeze.out_channels * keep))
            m.squeeze = _conv(m.squeeze, out_ch=width)
            m.expand1x1 = _conv(m.expand1x1, in_ch=width)
            m.expand3x3 = _conv(m.expand3x3, in_ch=width)
        elif isinstance(m, _DenseLayer):
            width = max(1, int(m.conv1.out_channels * keep))
            m.conv1, m.norm2 = _conv(m.conv1, out_ch=width), nn.BatchNorm2d(width)
            m.conv2 = _conv(m.conv2, in_ch=width)
    return model.eval()
