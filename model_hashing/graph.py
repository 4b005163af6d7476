"""Graph generator: a network (PyTorch module or ONNX file) -> a layer graph with features.

Why ONNX: it is the one format every framework exports to, so a hash computed from the
ONNX graph does not care where a model came from. The steps follow the paper's "graph
generator":

1. export to ONNX without weights (``export_params=False``; the shapes are all we need,
   and the file stays tiny) and *without* constant folding, because folding fuses
   BatchNormalization into the preceding Conv in eval mode and the merge rules must see it;
2. ONNX shape inference gives every tensor's shape;
3. one graph node per layer. Bookkeeping nodes are not layers and are dropped:
   ``Constant``; ``Identity`` (bypassed: the exporter uses it to share equal-valued
   weights); ``QuantizeLinear``, ``DequantizeLinear``, ``DynamicQuantizeLinear`` and
   ``Cast`` (bypassed: a quantised copy has the same layers; ``ConvInteger`` and
   ``MatMulInteger`` count as ``Conv`` and ``MatMul``, and their rescaling ``Mul`` and
   bias ``Add`` are bypassed); scalar arithmetic (multiplying quantisation scales); and
   the shape arithmetic that dynamic reshapes compute (nodes all of whose outputs are
   integer tensors, e.g. ``Shape -> Gather -> Concat`` feeding a ``Reshape``);
4. per node: FLOPs and parameter count from the shapes, counted as torchvision counts
   them for its published "GFLOPS" and "params" (multiply-accumulates of Conv,
   ConvTranspose, Gemm and MatMul; learnable tensors only, so BatchNorm's running
   statistics are not parameters);
5. optional merge rules (:func:`merge_layers`): Conv-ReLU, Conv-BN, Conv-BN-ReLU and
   Conv-Conv-BN-ReLU chains become one node;
6. node features (:func:`node_features`): one-hot operator type, and one-hot of the number
   of decimal digits of the node's FLOPs and of its parameter count, clipped to 0..10.

Quantised operators of onnxruntime's "QOperator" format (``QLinearConv``, ``QLinearMatMul``,
``QGemm``, ``QLinearAdd``, ...) count as their float operators, read from their data and
weight inputs only. :func:`canonicalize` (applied before every hash) then removes what
exporters and optimisers change without changing the architecture.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import torch
from onnx import shape_inference

#: Operator vocabulary of the one-hot feature. It covers what torchvision's classification
#: models export to (plus the merged types); anything else maps to ``"Other"``. Fixed, so
#: that a model hashed later gets the same feature layout as the training set.
OP_TYPES: tuple[str, ...] = (
    "Conv",
    "ConvTranspose",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Mul",
    "Add",
    "Div",
    "Sub",
    "Concat",
    "Split",
    "Slice",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "Flatten",
    "Reshape",
    "Transpose",
    "Gemm",
    "MatMul",
    "Dropout",
    "Pad",
    "Softmax",
    "LayerNormalization",
    "Gelu",
    "Erf",
    "Sqrt",
    "Pow",
    "Conv+ReLU",
    "Conv+BN",
    "Conv+BN+ReLU",
    "Conv+Conv+BN+ReLU",
    "Other",
)
OP_INDEX: dict[str, int] = {op: i for i, op in enumerate(OP_TYPES)}
N_DIGIT_BINS = 11  # digit counts 0..10
N_FEATURES = len(OP_TYPES) + 2 * N_DIGIT_BINS

#: Merge rules, longest first so that Conv-BN-ReLU is not taken as Conv-BN plus a ReLU.
MERGE_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Conv", "Conv", "BatchNormalization", "Relu"), "Conv+Conv+BN+ReLU"),
    (("Conv", "BatchNormalization", "Relu"), "Conv+BN+ReLU"),
    (("Conv", "BatchNormalization"), "Conv+BN"),
    (("Conv", "Relu"), "Conv+ReLU"),
)

# Input positions that hold learnable weights, by operator; every other position of these
# operators (e.g. BatchNormalization's running mean and variance) holds data or buffers.
_WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "Gemm": (1, 2),
    "BatchNormalization": (1, 2),
    "InstanceNormalization": (1, 2),
    "LayerNormalization": (1, 2),
    "PRelu": (1,),
    "ConvInteger": (1,),
    "MatMulInteger": (1,),
}
_TRANSPARENT = ("Identity", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Cast")
# Integer kernels of dynamically quantised models are the same layers as their float ones.
_CANONICAL = {"ConvInteger": "Conv", "MatMulInteger": "MatMul"}
# QOperator-format kernels (static quantisation): float operator and the input positions
# of its data, weight and bias (the rest are scales and zero points).
_QLINEAR: dict[str, tuple[str, tuple[int, ...]]] = {
    "QLinearConv": ("Conv", (0, 3, 8)),
    "QLinearMatMul": ("MatMul", (0, 3)),
    "QGemm": ("Gemm", (0, 3, 6)),
    "QLinearAdd": ("Add", (0, 3)),
    "QLinearMul": ("Mul", (0, 3)),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", (0,)),
    "QLinearAveragePool": ("AveragePool", (0,)),
    "QLinearSigmoid": ("Sigmoid", (0,)),
    "QLinearConcat": ("Concat", ()),  # inputs: y scale, y zero point, (x, scale, zp)...
}
# Input positions of a bias: not counted in canonical graphs, since folding a BatchNorm
# into a bias-free convolution adds one.
_BIAS_INPUT = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2}
_INT_TYPES = {
    onnx.TensorProto.INT8,
    onnx.TensorProto.INT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.UINT16,
    onnx.TensorProto.UINT32,
    onnx.TensorProto.UINT64,
    onnx.TensorProto.BOOL,
}


def export_onnx(
    model: torch.nn.Module,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    opset: int | None = None,
) -> onnx.ModelProto:
    """Export ``model`` (in eval mode) to an ONNX ``ModelProto`` without weights.

    The TorchScript exporter (``dynamo=False``) is used because it keeps BatchNormalization
    as its own node when constant folding is off. The multi-head-attention fast path is
    switched off during the export (it has no ONNX form) and restored afterwards.
    """
    model = model.eval()
    buffer = io.BytesIO()
    kwargs = {} if opset is None else {"opset_version": opset}
    # nn.MultiheadAttention's inference fast path (``_native_multi_head_attention``, taken
    # in eval mode under no_grad) has no ONNX symbolic; the ordinary path exports the same
    # computation as MatMul/Softmax layers (torchvision's ViTs need this).
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.zeros(*input_shape),),
                buffer,
                dynamo=False,
                export_params=False,
                do_constant_folding=False,
                **kwargs,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return onnx.load_from_string(buffer.getvalue())


def load_onnx(source: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """An ONNX model from a path, raw bytes or a ``ModelProto``; ValueError if it is not one."""
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        label = "the given bytes" if isinstance(source, bytes) else str(source)
        try:
            if isinstance(source, bytes):
                model = onnx.load_from_string(source)
            else:
                path = Path(source)
                if not path.is_file():
                    raise ValueError(f"no such file: {path}")
                model = onnx.load(str(path), load_external_data=False)
        except ValueError:
            raise
        except Exception as err:  # protobuf raises DecodeError, RuntimeWarning-like errors
            raise ValueError(f"{label} is not an ONNX model ({type(err).__name__})") from None
        if not model.graph.node:
            raise ValueError(f"{label} is not an ONNX model (no graph nodes)")
    return model


def _fix_input_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with symbolic input dimensions (a dynamic batch size, say) set to 1, so that
    shape inference yields concrete sizes and FLOPs for models exported as dynamic."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    return fixed


def _dims(value: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims = []
    for dim in tensor_type.shape.dim:
        if not dim.HasField("dim_value"):
            return None
        dims.append(dim.dim_value)
    return tuple(dims)


_FLOP_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _runtime_shapes(model: onnx.ModelProto, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Shapes that static inference could not derive, measured by running the model once on
    zeros with onnxruntime.

    Needed when a model computes a reshape from its input's runtime size (ShuffleNet's
    channel shuffle): ONNX's data propagation does not follow ``Div`` on shapes, so the
    convolutions after it have unknown sizes and their FLOPs would be lost.
    """
    import onnxruntime

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    feeds = {}
    initializers = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = _dims(value)
        if shape is None:
            raise ValueError(f"input {value.name!r} has no static shape; cannot count FLOPs")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        feeds[value.name] = np.zeros(shape, dtype=dtype)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return {n: tuple(a.shape) for n, a in zip(names, session.run(names, feeds), strict=True)}


def _prod(shape: Sequence[int]) -> int:
    return math.prod(shape) if shape else 1


def _node_flops(
    op: str, inputs: list[tuple[int, ...] | None], outputs: list[tuple[int, ...] | None]
) -> int:
    """Multiply-accumulates of one node, the quantity torchvision reports as "GFLOPS"."""
    out = outputs[0] if outputs else None
    if op == "Conv" and out is not None and len(inputs) > 1 and inputs[1] is not None:
        weight = inputs[1]  # (C_out, C_in / groups, k...)
        return _prod(out) * _prod(weight[1:])
    if op == "ConvTranspose" and inputs and inputs[0] is not None and inputs[1] is not None:
        weight = inputs[1]  # (C_in, C_out / groups, k...)
        return _prod(inputs[0]) * _prod(weight[1:])
    if op in ("Gemm", "MatMul") and out is not None and inputs and inputs[0] is not None:
        return _prod(out) * inputs[0][-1]
    return 0


def _layer_inputs(node: onnx.NodeProto) -> list[str]:
    """The inputs of a node as its float operator sees them (QOperator kernels: without
    their scales and zero points)."""
    if node.op_type == "QLinearConcat":
        return list(node.input[2::3])
    if node.op_type in _QLINEAR:
        return [node.input[i] for i in _QLINEAR[node.op_type][1] if i < len(node.input)]
    return list(node.input)


def _op_name(node: onnx.NodeProto) -> str:
    if node.op_type in _QLINEAR:
        return _QLINEAR[node.op_type][0]
    return _CANONICAL.get(node.op_type, node.op_type)


def onnx_to_graph(source: str | Path | bytes | onnx.ModelProto) -> nx.DiGraph:
    """The layer graph of an ONNX model: nodes ``0..n-1`` in ONNX order with attributes
    ``op``, ``name``, ``flops``, ``params``, ``bias`` (the parameters of a Conv or Gemm
    bias, included in ``params``) and ``same_shape`` (output shape = data input shape);
    an edge for every tensor passed between layers.
    """
    model = shape_inference.infer_shapes(_fix_input_dims(load_onnx(source)), data_prop=True)
    graph = model.graph
    shapes: dict[str, tuple[int, ...] | None] = {}
    int_tensors: set[str] = set()
    for value in [*graph.input, *graph.value_info, *graph.output]:
        shapes[value.name] = _dims(value)
        if value.type.tensor_type.elem_type in _INT_TYPES:
            int_tensors.add(value.name)
    initializer_names = {init.name for init in graph.initializer}
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
        if init.data_type in _INT_TYPES:
            int_tensors.add(init.name)
    # FLOPs need the output and the data input of each FLOP operator.
    unknown = [
        name
        for node in graph.node
        if _op_name(node) in _FLOP_OPS
        for name in [*node.output, *_layer_inputs(node)[:1]]
        if name and shapes.get(name) is None and name not in initializer_names
    ]
    if unknown:
        shapes.update(_runtime_shapes(model, unknown))

    # Identity only renames a tensor, and a (De)QuantizeLinear pair only changes its number
    # format: follow them back to the source, so a quantised copy keeps its layer graph.
    # The rescaling Mul by a scalar and the bias Add after an integer kernel (dynamic
    # quantisation) are part of that kernel too.
    initializers = {init.name for init in graph.initializer}
    # Tensors computed from initializers and constants alone (a reshaped bias, say) are
    # constants too; the nodes computing them are not layers.
    constants = set(initializers)
    alias: dict[str, str] = {}
    integer_outputs: set[str] = set()
    bypassed: set[int] = set()

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for position, node in enumerate(graph.node):
        if node.op_type in _TRANSPARENT:
            alias[node.output[0]] = node.input[0]
        elif node.op_type == "Constant" or all(resolve(i) in constants for i in node.input if i):
            constants.update(node.output)
            bypassed.add(position)
        elif node.op_type in _CANONICAL:
            integer_outputs.add(node.output[0])
        elif node.op_type in ("Mul", "Add"):
            for data, other in (node.input, reversed(node.input)):
                if resolve(data) not in integer_outputs:
                    continue
                other_shape = shapes.get(other)
                is_scale = other_shape is not None and _prod(other_shape) == 1
                if (node.op_type == "Mul" and is_scale) or (
                    node.op_type == "Add" and resolve(other) in constants
                ):
                    alias[node.output[0]] = data
                    bypassed.add(position)
                    break

    # A tensor is a weight when it is an initializer, or a graph input that no layer reads
    # as its data operand (with export_params=False the weights become graph inputs).
    data_use: set[str] = set()
    for position, node in enumerate(graph.node):
        if node.op_type in _TRANSPARENT or node.op_type == "Constant" or position in bypassed:
            continue
        if node.input and node.input[0]:
            data_use.add(resolve(node.input[0]))
    weights = initializers | {value.name for value in graph.input if value.name not in data_use}

    g = nx.DiGraph()
    producer: dict[str, int] = {}
    # Integer tensors that carry quantised activations (QOperator format), not shapes.
    quantised: set[str] = set()
    for position, node in enumerate(graph.node):
        op = _op_name(node)
        if node.op_type in _TRANSPARENT or node.op_type == "Constant" or position in bypassed:
            continue
        outputs = [out for out in node.output if out]
        out_shapes = [shapes.get(name) for name in node.output]
        inputs = [resolve(name) for name in _layer_inputs(node)]
        if node.op_type in _QLINEAR or (inputs and inputs[0] in quantised):
            quantised.update(outputs)
        elif op not in _FLOP_OPS and outputs and all(out in int_tensors for out in outputs):
            continue  # shape arithmetic
        if out_shapes and all(shape is not None and _prod(shape) == 1 for shape in out_shapes):
            continue  # scalar arithmetic, e.g. multiplying quantisation scales
        in_shapes = [shapes.get(name) for name in inputs]
        slots = _WEIGHT_INPUTS.get(node.op_type, _WEIGHT_INPUTS.get(op))
        params = bias = 0
        for slot, name in enumerate(inputs):
            # integer constants of operators without weight slots are axes and shapes
            if name in weights and (slots is None or slot in slots):
                if slots is None and name in int_tensors:
                    continue
                shape = shapes.get(name)
                size = _prod(shape) if shape is not None else 0
                params += size
                bias += size if _BIAS_INPUT.get(op) == slot else 0
        index = g.number_of_nodes()
        g.add_node(
            index,
            op=op,
            name=node.name or f"{node.op_type}_{index}",
            flops=_node_flops(op, in_shapes, out_shapes),
            params=params,
            bias=bias,
            same_shape=(op == "Concat" and len(inputs) == 1)
            or (bool(in_shapes and out_shapes) and in_shapes[0] == out_shapes[0] is not None),
        )
        for name in inputs:
            if name in producer:
                g.add_edge(producer[name], index)
        for name in node.output:
            producer[name] = index
    if g.number_of_nodes() == 0:
        raise ValueError("the ONNX model has no layers after dropping constants and shapes")
    return g


#: Bumped whenever :func:`canonicalize` changes, so that stored codes say which form
#: they were computed from.
CANONICAL_VERSION = 1
# Nodes that compute nothing in an exported inference graph.
_NO_OPS = ("Identity", "Dropout")
_SHAPE_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
# Operators that are no-ops when they keep the shape (a Concat of a single tensor).
_SHAPE_KEEPING_NO_OPS = (*_SHAPE_OPS, "Concat")
# Activations that quantisers and inference optimisers fuse into the preceding kernel.
_FUSED_ACTIVATIONS = ("Relu", "Clip")
_FOLDS_BN = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# Equivalent spellings of one layer by different exporters (the dynamo exporter writes
# ``ReduceMean`` for adaptive average pooling to 1x1, ``Reshape`` for ``flatten``).
# Dynamic quantisation turns Gemm into MatMulInteger plus a bias Add.
_SPELLING = {"GlobalAveragePool": "ReduceMean", "Flatten": "Reshape", "Gemm": "MatMul"}


def canonicalize(g: nx.DiGraph) -> nx.DiGraph:
    """The canonical form of a raw layer graph, relabelled ``0..n-1``: equal for a model
    and its copies that differ only in how they were exported or deployed.

    * BatchNormalization that is the sole consumer of a Conv/ConvTranspose/Gemm/MatMul is
      folded into it (constant folding and the dynamo exporter do so);
    * Relu and Clip (ReLU6) are fused into their producer (static quantisers drop them);
    * no-op nodes are dropped: Identity, Dropout, Reshape/Flatten/Squeeze/Unsqueeze that
      keep the shape, a Concat of one tensor, and all but the last of a chain of reshapes;
    * ``GlobalAveragePool`` is spelled ``ReduceMean``, ``Flatten`` ``Reshape`` and
      ``Gemm`` ``MatMul``;
    * biases do not count as parameters (folding BatchNorm adds one).

    Removed nodes are bridged (their producers feed their consumers). FLOPs are kept.
    """
    out = g.copy()
    for node in list(nx.topological_sort(g)):
        attrs = out.nodes[node]
        op = attrs["op"]
        preds, succs = list(out.predecessors(node)), list(out.successors(node))
        folds = (
            op == "BatchNormalization"
            and len(preds) == 1
            and out.nodes[preds[0]]["op"] in _FOLDS_BN
            and out.out_degree(preds[0]) == 1
        )
        chained = op in _SHAPE_OPS and len(succs) == 1 and out.nodes[succs[0]]["op"] in _SHAPE_OPS
        no_op = op in _NO_OPS or (op in _SHAPE_KEEPING_NO_OPS and attrs.get("same_shape", False))
        if (folds or chained or no_op or op in _FUSED_ACTIVATIONS) and out.number_of_nodes() > 1:
            out.remove_node(node)
            out.add_edges_from((p, s) for p in preds for s in succs)
    for _, attrs in out.nodes(data=True):
        attrs["op"] = _SPELLING.get(attrs["op"], attrs["op"])
        attrs["params"] -= attrs.get("bias", 0)
        attrs["bias"] = 0
    return nx.convert_node_labels_to_integers(out, ordering="sorted")


def merge_layers(g: nx.DiGraph) -> nx.DiGraph:
    """Apply the merge rules (:data:`MERGE_RULES`) and relabel the nodes ``0..n-1``.

    A chain is merged only when each of its links is the sole consumer of the previous
    layer's output and has no other input layer, so merging never changes which layers
    feed which. The merged node sums the FLOPs and parameters of its parts.
    """
    merged_into: dict[int, int] = {}
    new = nx.DiGraph()
    for node in nx.topological_sort(g):
        if node in merged_into:
            continue
        chain = [node]
        label = g.nodes[node]["op"]
        for pattern, merged_label in MERGE_RULES:
            candidate = _match_chain(g, node, pattern, merged_into)
            if candidate is not None:
                chain, label = candidate, merged_label
                break
        for member in chain:
            merged_into[member] = node
        new.add_node(
            node,
            op=label,
            name="+".join(g.nodes[m]["name"] for m in chain),
            flops=sum(g.nodes[m]["flops"] for m in chain),
            params=sum(g.nodes[m]["params"] for m in chain),
        )
    for u, v in g.edges:
        a, b = merged_into[u], merged_into[v]
        if a != b:
            new.add_edge(a, b)
    return nx.convert_node_labels_to_integers(new, ordering="sorted")


def _match_chain(
    g: nx.DiGraph, start: int, pattern: tuple[str, ...], taken: dict[int, int]
) -> list[int] | None:
    chain = [start]
    if g.nodes[start]["op"] != pattern[0]:
        return None
    for op in pattern[1:]:
        last = chain[-1]
        successors = list(g.successors(last))
        if len(successors) != 1:
            return None
        nxt = successors[0]
        if g.nodes[nxt]["op"] != op or g.in_degree(nxt) != 1 or nxt in taken:
            return None
        chain.append(nxt)
    return chain


def digit_count(value: int) -> int:
    """Number of decimal digits of a non-negative integer (0 for 0), clipped to 10."""
    return min(len(str(int(value))), N_DIGIT_BINS - 1) if value > 0 else 0


def node_features(g: nx.DiGraph) -> np.ndarray:
    """``(n_nodes, N_FEATURES)`` float32: one-hot operator, one-hot digits of FLOPs and of
    parameters (the paper's encoder: magnitudes, not exact values, so that small edits to
    a layer's width barely change the features)."""
    n = g.number_of_nodes()
    x = np.zeros((n, N_FEATURES), dtype=np.float32)
    n_ops = len(OP_TYPES)
    for i in range(n):
        attrs = g.nodes[i]
        x[i, OP_INDEX.get(attrs["op"], OP_INDEX["Other"])] = 1.0
        x[i, n_ops + digit_count(attrs["flops"])] = 1.0
        x[i, n_ops + N_DIGIT_BINS + digit_count(attrs["params"])] = 1.0
    return x


def total_flops(g: nx.DiGraph) -> int:
    return sum(attrs["flops"] for _, attrs in g.nodes(data=True))


def total_params(g: nx.DiGraph) -> int:
    return sum(attrs["params"] for _, attrs in g.nodes(data=True))
