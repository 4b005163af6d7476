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
  removed (ResNet, SqueezeNet, DenseNet) or the width multiplier set to 0.75 (MobileNetV2);
* ``dynamo-export``: exported with weights by the other exporter path, ``torch.export``
  (``dynamo=True``), which folds BatchNorm and spells pooling and flattening differently;
* ``qop-quantised``: static int8 quantisation in onnxruntime's QOperator format
  (``QLinearConv``, ``QLinearAdd``, ``QGemm``, ...);
* ``neuron-permuted``: the hidden channels of every block permuted, and the weights of the
  layers before and after permuted with them (the same function, other weights);
* ``sgd-fine-tuned``: three SGD steps on random data in training mode (weights and
  BatchNorm statistics changed), exported with weights.

:func:`independent_copy` is the negative that a topology-only hash cannot tell apart: the
same architecture with weights from another seed (an independently trained model).
"""

from __future__ import annotations

import copy
import io
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import torch
from torch import nn
from torchvision.models import MobileNetV2, ResNet
from torchvision.models.densenet import DenseNet, _DenseLayer
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.squeezenet import Fire

from model_hashing.ged import delete_nodes
from model_hashing.graph import export_onnx, onnx_to_graph
from model_hashing.methods import DEFAULT_BITS, EVAL_BITS, HashMethod
from model_hashing.retrieval import (
    hamming_distances,
    rank,
    retrieval_metrics,
    roc_auc,
    tpr_at_fpr,
)
from model_hashing.zoo import PAPER_MODELS, build_model, export_zoo_model, input_shape

TRANSFORMS: tuple[str, ...] = (
    "fine-tuned",
    "opset-13",
    "bn-folded",
    "qdq-quantised",
    "dynamic-quantised",
    "layer-added",
    "layer-removed",
    "channel-pruned",
    "dynamo-export",
    "qop-quantised",
    "neuron-permuted",
    "sgd-fine-tuned",
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
    if transform == "qop-quantised":
        return onnx_to_graph(_quantise(model, shape, seed, operator_format=True))
    if transform == "dynamo-export":
        return onnx_to_graph(_export_dynamo(model, shape))
    if transform == "neuron-permuted":
        return onnx_to_graph(_export(permute_neurons(model, seed), shape, params=True))
    if transform == "sgd-fine-tuned":
        return onnx_to_graph(_export(sgd_fine_tune(model, shape, seed), shape, params=True))
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


def independent_copy(name: str, seed: int = 0) -> nx.DiGraph:
    """The raw layer graph of ``name`` with other random weights (exported with them)."""
    torch.manual_seed(seed + 1)
    return onnx_to_graph(_export(build_model(name), input_shape(name), params=True))


def _export_dynamo(model: nn.Module, shape: tuple[int, ...]) -> onnx.ModelProto:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(), (torch.zeros(*shape),), dynamo=True, external_data=False, verbose=False
        )
    return program.model_proto


def _inline_shared_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy in which ``Identity`` nodes that share an initializer (the exporter's way of
    storing equal-valued weights once) are replaced by copies of it: onnxruntime's
    quantiser expects every bias to be an initializer."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = {init.name: init for init in out.graph.initializer}
    kept = []
    for node in out.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            copy_ = onnx.TensorProto()
            copy_.CopyFrom(inits[node.input[0]])
            copy_.name = node.output[0]
            out.graph.initializer.append(copy_)
        else:
            kept.append(node)
    del out.graph.node[:]
    out.graph.node.extend(kept)
    return out


def _quantise(
    model: nn.Module, shape: tuple[int, ...], seed: int, operator_format: bool = False
) -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self, input_name: str) -> None:
            rng = np.random.default_rng(seed)
            self.batches = iter(
                [{input_name: rng.standard_normal(shape).astype(np.float32)} for _ in range(2)]
            )

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    float_model = _inline_shared_weights(
        onnx.load_from_string(_export(model, shape, params=True, fold=True))
    )
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        onnx.save(float_model, src)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(
                src,
                dst,
                Reader(float_model.graph.input[0].name),
                quant_format=QuantFormat.QOperator if operator_format else QuantFormat.QDQ,
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


def _permute_hidden(
    order: torch.Tensor,
    producers: list[nn.Conv2d],
    norms: list[nn.BatchNorm2d],
    consumers: list[nn.Conv2d],
) -> None:
    """Reorder one hidden layer's channels: the output channels of its producers (for a
    depthwise convolution also its only input channels), its BatchNorms, and the input
    channels of its consumers."""
    for conv in producers:
        conv.weight.data = conv.weight.data[order]
        if conv.bias is not None:
            conv.bias.data = conv.bias.data[order]
    for bn in norms:
        for tensor in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
            tensor.data = tensor.data[order]
    for conv in consumers:
        conv.weight.data = conv.weight.data[:, order]


def permute_neurons(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy computing the same function with the hidden channels of every block in a
    seeded random order (ResNet, SqueezeNet, DenseNet, MobileNetV2 blocks); ValueError for
    architectures without a rule here."""
    model = copy.deepcopy(model).eval()
    generator = torch.Generator().manual_seed(seed)

    def hidden(producers: list, norms: list, consumers: list) -> None:
        order = torch.randperm(producers[0].out_channels, generator=generator)
        _permute_hidden(order, producers, norms, consumers)

    found = False
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BasicBlock):
                hidden([m.conv1], [m.bn1], [m.conv2])
            elif isinstance(m, Bottleneck):
                hidden([m.conv1], [m.bn1], [m.conv2])
                hidden([m.conv2], [m.bn2], [m.conv3])
            elif isinstance(m, Fire):
                hidden([m.squeeze], [], [m.expand1x1, m.expand3x3])
            elif isinstance(m, _DenseLayer):
                hidden([m.conv1], [m.norm2], [m.conv2])
            elif isinstance(m, InvertedResidual) and len(m.conv) == 4:
                expand, depthwise, project = m.conv[0], m.conv[1], m.conv[2]
                hidden([expand[0], depthwise[0]], [expand[1], depthwise[1]], [project])
            else:
                continue
            found = True
    if not found:
        raise ValueError(f"no neuron-permutation rule for {type(model).__name__}")
    return model


def sgd_fine_tune(model: nn.Module, shape: tuple[int, ...], seed: int, steps: int = 3) -> nn.Module:
    """A copy after ``steps`` SGD steps (lr 0.01) on random inputs and labels, in training
    mode (so BatchNorm statistics move too)."""
    model = copy.deepcopy(model).train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batch = (2, *shape[1:])
    for _ in range(steps):
        x = torch.randn(batch, generator=generator)
        logits = model(x)
        logits = logits.logits if hasattr(logits, "logits") else logits
        y = torch.randint(0, logits.size(1), (batch[0],), generator=generator)
        loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


#: Source models of the piracy table (those with pruning and permutation rules).
PIRACY_SOURCES = ("resnet18", "squeezenet1_1", "mobilenet_v2", "densenet121")


def piracy_table(
    methods: dict[str, Callable[[int], HashMethod]],
    q_values: Sequence[int] = EVAL_BITS,
    table_q: int = DEFAULT_BITS,
    sources: Sequence[str] = PIRACY_SOURCES,
    n_aug: int = 10,
    k: int = 10,
    seed: int = 0,
) -> dict:
    """Every transform of every source model, looked up among the paper zoo's 21 models
    and ``n_aug`` node-deleted copies of each (the retrieval table's database).

    ``methods`` maps a label to a factory ``Q -> HashMethod``. Per method and Q: top-1
    hits of the copies; mAP and F1@k over the copies as queries (relevant = the source's
    database graphs); ROC-AUC and TPR at 1% FPR over all (copy, database graph) pairs,
    scored by minus the Hamming distance ("is this a copy of that indexed model?"). The
    :func:`independent_copy` negatives (same architecture, other weights) are reported
    apart: a topology-only hash gives them distance 0 to the source. Rows per copy are
    kept for ``table_q``.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    names = list(PAPER_MODELS)
    unknown = set(sources) - set(names)
    if unknown:
        raise ValueError(f"sources {sorted(unknown)} are not in the paper zoo")
    raw = {name: onnx_to_graph(export_zoo_model(name)) for name in names}
    copies = [(s, t, pirated_copy(s, t, seed)) for s in sources for t in TRANSFORMS]
    negatives = [(s, independent_copy(s, seed)) for s in sources]
    build_seconds = time.perf_counter() - started
    summary, rows = [], []
    for label, factory in methods.items():
        for q in q_values:
            method = factory(q)
            db_graphs, db_models, originals = [], [], {}
            for index, name in enumerate(names):
                g = method.prepare(raw[name])
                originals[name] = len(db_graphs)
                db_graphs += [g] + [delete_nodes(g, 0.1, rng) for _ in range(n_aug)]
                db_models += [index] * (n_aug + 1)
            db = np.stack([method.hash_graph(g) for g in db_graphs])
            db_models_arr = np.array(db_models)
            codes = np.stack([method(g) for _, _, g in copies])
            truth = np.array([names.index(s) for s, _, _ in copies])
            distances = hamming_distances(codes, db)
            top = db_models_arr[rank(distances, seed)[:, 0]]
            metrics = retrieval_metrics(codes, truth, db, db_models_arr, k, seed)
            positive = db_models_arr[None, :] == truth[:, None]
            neg_codes = np.stack([method(g) for _, g in negatives])
            neg_d = hamming_distances(neg_codes, db)
            summary.append(
                {
                    "method": label,
                    "version": method.version,
                    "q": q,
                    "top1": int((top == truth).sum()),
                    "copies": len(copies),
                    "map": metrics["map"],
                    "f1": metrics["f1"],
                    "roc_auc": roc_auc(-distances.ravel(), positive.ravel()),
                    "tpr_at_1pct_fpr": tpr_at_fpr(-distances.ravel(), positive.ravel(), 0.01),
                    "independent_distance": [
                        int(neg_d[i, originals[s]]) for i, (s, _) in enumerate(negatives)
                    ],
                }
            )
            if q != table_q:
                continue
            for i, (source, transform, _) in enumerate(copies):
                rows.append(
                    {
                        "method": label,
                        "model": source,
                        "transform": transform,
                        "top1": bool(top[i] == truth[i]),
                        "top1_model": names[top[i]],
                        "distance_to_original": int(distances[i, originals[source]]),
                    }
                )
    return {
        "protocol": {
            "sources": list(sources),
            "transforms": list(TRANSFORMS),
            "database": f"{len(names)} paper-zoo models + {n_aug} copies each (10% deleted)",
            "k": k,
            "seed": seed,
            "table_q": table_q,
        },
        "summary": summary,
        "rows": rows,
        "build_seconds": round(build_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def piracy_markdown(result: dict) -> str:
    """The per-copy table (one column pair per method) and the summary at every Q."""
    p = result["protocol"]
    labels = list(dict.fromkeys(r["method"] for r in result["rows"]))
    header = "| model | transform | " + " | ".join(f"{m} top-1 | d(original)" for m in labels)
    lines = [header + " |", "|---|---|" + "---|---|" * len(labels)]
    by_copy: dict[tuple[str, str], dict[str, dict]] = {}
    for r in result["rows"]:
        by_copy.setdefault((r["model"], r["transform"]), {})[r["method"]] = r
    for (model, transform), cells in by_copy.items():
        parts = []
        for m in labels:
            c = cells[m]
            parts += [
                "✓" if c["top1"] else f"✗ ({c['top1_model']})",
                str(c["distance_to_original"]),
            ]
        lines.append(f"| {model} | {transform} | " + " | ".join(parts) + " |")
    lines += [
        "",
        f"Q = {p['table_q']}. Database: {p['database']}; top-1 ties in seeded random order.",
        "",
        f"| method | Q | top-1 | mAP | F1@{p['k']} | ROC-AUC | TPR@1%FPR | d(independent) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in result["summary"]:
        lines.append(
            f"| {s['method']} | {s['q']} | {s['top1']}/{s['copies']} | {s['map']:.3f} | "
            f"{s['f1']:.3f} | {s['roc_auc']:.3f} | {s['tpr_at_1pct_fpr']:.3f} | "
            f"{', '.join(map(str, s['independent_distance']))} |"
        )
    lines += [
        "",
        "d(independent): Hamming distance from the source to the same architecture with "
        f"weights of another seed ({', '.join(p['sources'])}): a negative that a "
        "topology-only hash cannot separate. "
        f"Wall time {result['total_seconds']:.0f} s (exports and transforms "
        f"{result['build_seconds']:.0f} s).",
    ]
    return "\n".join(lines) + "\n"
