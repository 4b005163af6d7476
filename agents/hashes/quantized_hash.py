"""A hash network quantised to small integers, so that every operation is exact.

Why: a float network's argmax can flip on a near-tie between batch sizes, kernels and
runtimes, so :class:`agents.PolicyHash` certifies each float32 argmax and rescores the
near-ties in float64 -- for the paper's 1000-way 2x300 network one word in eight,
and a certified decision for every one. A :class:`QuantizedHash` computes with integers
only: int8 weights, 7-bit activations and integer biases, every partial sum below
``2**24`` in magnitude, so that int32 and float32 arithmetic both hold it exactly. Its
scores are exact whatever the summation order, hence its bins are the same in any batch
size, order, process and kernel -- oneDNN's int8 GEMM where torch has it, a float32 GEMM
elsewhere, and :meth:`QuantizedHash.reference_bins`, plain numpy ``int64`` -- with no
tie rule beyond "the lowest index wins".

It is a *different hash function* from the float policy: quantisation moves the scores
slightly, so the argmax changes where two scores were close (:meth:`QuantizedHash.agreement`
measures how often; ``experiments/exp7_inference_time.py`` reports it with the speed).

The integer network, from a :class:`~agents.hashes.hash_network.HashNetwork` of linear layers
with tanh or sine activations (bounded by 1) between them and none after the last:

* first layer, from the bytes of the word (XOR-folded beyond ``max_len``):
  ``z = sum_p T[256 p + byte_p] + t``, with ``T = round(table / s)`` the first-layer table
  of :func:`~agents.hashes.hash_network.first_layer_rows` in int8 (``s = max |table| / 127``)
  and ``t = round(bias / s)``;
* activation: ``q = LUT[clip(z - lo, 0, len(LUT) - 1)]``, where
  ``LUT[k] = 64 + round(63 * act(s * (lo + k)))`` (in ``1 .. 127``) is computed once, in
  float64, when quantising, and trimmed of the constant runs at both ends (where tanh
  saturates);
* later layers: ``z = W q + c`` with ``W = round(weight / w)`` in int8
  (``w = max |weight| / 127``) and ``c = round(bias / s) - 64 * W.sum(1)``, ``s = w / 63``:
  the activations read as ``(q - 64) / 63``;
* bin: the argmax of the last ``z`` (lowest index on ties), or for a factorised head
  ``(argmax of the rows) * cols + argmax of the columns``, modulo ``n_bins``.

A network whose sums could reach ``2**24`` (an input of more than ~1,000 units at full
weight scale), or with ReLU or other unbounded activations, is refused with a
``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch as th
from torch import nn
from torch.nn import functional as F

from agents.hashes.hash_network import HashNetwork, first_layer_rows, table_rows, tail_rows
from hash_envs.encoding import encode_bytes, utf8_batch
from hash_envs.hashing import HashFunction

__all__ = ["IntLayer", "QuantizedHash", "quantise"]

Kernel = Literal["auto", "onednn", "float32"]

#: Activations a quantised network can have: bounded by 1, tabulated in float64.
_BOUNDED_ACTIVATIONS = {"Tanh": np.tanh, "Sin": np.sin}
_EXACT = 2**24  # float32 holds every integer of smaller magnitude
_ZERO = 64  # activation q in 1 .. 127 reads as (q - 64) / 63
_LEVELS = 63
_MAX_LUT = 2**25


@dataclass
class IntLayer:
    """One layer of the integer network: ``z = W q + c`` (the first: byte rows of a table,
    ``z = sum_p W[256 p + byte_p] + c``), then the activation table (``None`` after the
    output layer): ``q = lut[clip(z - lut_low, 0, len(lut) - 1)]``."""

    weight: np.ndarray  # int64 holding int8 values: (out, in), the first layer (256 L, out)
    bias: np.ndarray  # int64 (out,)
    lut: np.ndarray | None = None  # uint8 in 1 .. 127
    lut_low: int = 0


def _output_range(layer: IntLayer, max_len: int, first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds ``(low, high)`` of each output of ``layer`` over all its inputs: for the
    first layer each position's extreme rows, for the others activations in 1 .. 127."""
    if first:
        by_position = layer.weight.reshape(max_len, 256, -1)
        low = by_position.min(axis=1).sum(axis=0) + layer.bias
        return low, by_position.max(axis=1).sum(axis=0) + layer.bias
    reach = 127 * np.abs(layer.weight).sum(axis=1)
    return layer.bias - reach, layer.bias + reach


def _validate(layers: Sequence[IntLayer], max_len: int) -> None:
    """Raise ``ValueError`` unless ``layers`` form an integer network whose every sum
    float32 holds exactly (< 2**24) and whose activations fit 7 bits (1 .. 127, so that
    no int8 kernel saturates)."""
    n_in = 256 * max_len
    for i, layer in enumerate(layers):
        shape = (n_in, layer.bias.size) if i == 0 else (layer.bias.size, n_in)
        if layer.weight.shape != shape or layer.bias.ndim != 1:
            raise ValueError(f"layer {i}: weights of shape {layer.weight.shape}, expected {shape}")
        if np.abs(layer.weight).max(initial=0) > 127:
            raise ValueError(f"layer {i}: weights outside the int8 range -127 .. 127")
        n_in = layer.bias.size
        low, high = _output_range(layer, max_len, first=i == 0)
        _check_exact(f"layer {i}", float(np.maximum(-low, high).max(initial=0)))
        last = i == len(layers) - 1
        if (layer.lut is None) != last:
            raise ValueError(f"layer {i}: an activation table after every layer but the last")
        if layer.lut is not None:
            if layer.lut.size == 0 or layer.lut.min() < 1 or layer.lut.max() > 127:
                raise ValueError(f"layer {i}: activation table values outside 1 .. 127")
            shifted = np.maximum(np.abs(low - layer.lut_low), np.abs(high - layer.lut_low))
            _check_exact(f"layer {i}'s activation table index", float(shifted.max(initial=0)))


def _activation_table(fn, scale: float, low: int, high: int) -> tuple[np.ndarray, int]:
    """``64 + round(63 fn(scale * z))`` for ``z = low .. high``, trimmed of the constant
    runs at both ends (``clip`` reproduces them): ``(table, its first z)``."""
    if high - low + 1 > _MAX_LUT:
        raise ValueError(
            f"a layer's outputs span {high - low + 1:,} integers, too many for an activation "
            "table; this network cannot be quantised"
        )
    z = np.arange(low, high + 1, dtype=np.float64)
    lut = (_ZERO + np.round(_LEVELS * fn(scale * z))).astype(np.uint8)
    changes = np.flatnonzero(lut[1:] != lut[:-1])
    if changes.size == 0:
        return lut[:1].copy(), low
    first, last = int(changes[0]), int(changes[-1]) + 1
    return lut[first : last + 1].copy(), low + first


def _float32(values: np.ndarray) -> th.Tensor:
    return th.from_numpy(values.astype(np.float32))


def _check_exact(name: str, bound: float) -> None:
    if bound >= _EXACT:
        raise ValueError(
            f"{name}: its sums reach {bound:,.0f}, past 2**24, where float32 stops being "
            "exact; this network cannot be quantised"
        )


def quantise(network: HashNetwork) -> list[IntLayer]:
    """The integer layers of ``network`` (module docstring); ``ValueError`` for a network
    they cannot hold."""
    modules = list(network.layers)
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    kinds = [type(m).__name__ for m in modules]
    expected = ["Linear" if i % 2 == 0 else "act" for i in range(2 * len(linears) - 1)]
    got = ["Linear" if k == "Linear" else "act" for k in kinds]
    if got != expected:
        raise ValueError(
            "a quantised hash needs linear layers with one activation between each two and "
            f"none after the last, got {kinds}"
        )
    acts = [kinds[i] for i in range(1, len(kinds), 2)]
    unknown = sorted(set(acts) - set(_BOUNDED_ACTIVATIONS))
    if unknown:
        raise ValueError(
            f"a quantised hash supports {sorted(_BOUNDED_ACTIVATIONS)} activations (bounded "
            f"by 1), not {unknown}"
        )
    params = []
    for i, lin in enumerate(linears):
        weight = lin.weight.detach().double()
        bias = th.zeros(lin.out_features, dtype=th.float64)
        if lin.bias is not None:
            bias = lin.bias.detach().double()
        if i == len(linears) - 1 and network.n_quantiles > 1:
            # the mean of the quantiles is linear in the output layer: fold it in
            k = network.n_quantiles
            weight = weight.view(k, -1, weight.shape[1]).mean(dim=0)
            bias = bias.view(k, -1).mean(dim=0)
        params.append((weight, bias))

    layers = []
    weight, bias = params[0]
    table, _ = first_layer_rows(weight, bias, network.encoding, network.max_len)
    scale = float(table.abs().max()) / 127 or 1.0
    first = IntLayer(
        np.round(table.numpy() / scale).astype(np.int64),
        np.round(bias.numpy() / scale).astype(np.int64),
    )
    low, high = _output_range(first, network.max_len, first=True)
    layers.append(first)
    for i, (weight, bias) in enumerate(params[1:], start=1):
        fn = _BOUNDED_ACTIVATIONS[acts[i - 1]]
        lut, lut_low = _activation_table(fn, scale, int(low.min()), int(high.max()))
        layers[-1].lut, layers[-1].lut_low = lut, lut_low
        w_scale = float(weight.abs().max()) / 127 or 1.0
        w = np.round(weight.numpy() / w_scale).astype(np.int64)
        scale = w_scale / _LEVELS
        c = np.round(bias.numpy() / scale).astype(np.int64) - _ZERO * w.sum(axis=1)
        layers.append(IntLayer(w, c))
        low, high = _output_range(layers[-1], network.max_len, first=False)
    _validate(layers, network.max_len)
    return layers


class QuantizedHash(HashFunction):
    """Word -> bin by an integer network quantised from a :class:`HashNetwork` (module
    docstring): exact arithmetic, so deterministic on every kernel, batch and process.

    ``kernel="auto"`` uses oneDNN's int8 GEMM (``torch.ops.onednn``) where this torch has
    it and it reproduces the float32 GEMM's sums on probe inputs, else the float32 GEMM;
    both give the same bins, as does :meth:`reference_bins` (numpy ``int64``).
    """

    #: Words per block of the later layers (for the paper's 1000-way 2x300 network on the
    #: 2-core test machine, 256 to 2,048 timed the same: 39.5x hash() within noise).
    block = 1024

    def __init__(
        self, network: HashNetwork, *, name: str = "quantized", kernel: Kernel = "auto"
    ) -> None:
        self._setup(quantise(network), network.max_len, network.n_bins, network.grid, name, kernel)

    @classmethod
    def from_layers(
        cls,
        layers: Sequence[IntLayer],
        *,
        max_len: int,
        n_bins: int,
        grid: tuple[int, int] | None = None,
        name: str = "quantized",
        kernel: Kernel = "auto",
    ) -> QuantizedHash:
        """The integer network of ``layers`` (as :meth:`export_onnx` stores them);
        ``ValueError`` for layers that are not one (:func:`_validate`)."""
        _validate(layers, max_len)
        self = cls.__new__(cls)
        self._setup(list(layers), max_len, n_bins, grid, name, kernel)
        return self

    def _setup(
        self,
        layers: list[IntLayer],
        max_len: int,
        n_bins: int,
        grid: tuple[int, int] | None,
        name: str,
        kernel: Kernel,
    ) -> None:
        HashFunction.__init__(self, n_bins)
        self.name = name
        self.max_len = max_len
        self.grid = grid
        self.layers = layers
        n_out = layers[-1].bias.size
        if n_out != (n_bins if grid is None else grid[0] + grid[1]):
            raise ValueError(f"{n_out} outputs for n_bins={n_bins}, grid={grid}")
        # The fast path: each layer's bias less its activation table's first z, so that
        # its sums index the table directly (exact too: _validate checks the range).
        biases = [layer.bias - (0 if layer.lut is None else layer.lut_low) for layer in self.layers]
        self._luts = [th.from_numpy(layer.lut) for layer in self.layers if layer.lut is not None]
        first = self.layers[0]
        # the first layer as float32 rows for embedding_bag (exact: small integers), laid
        # out for table_rows: byte rows, one zero row, the tails
        tails = tail_rows(th.from_numpy(first.weight), th.from_numpy(biases[0]), self.max_len)
        zero = np.zeros((1, first.weight.shape[1]), dtype=np.int64)
        self._table = th.from_numpy(
            np.concatenate([first.weight, zero, tails.numpy()]).astype(np.float32)
        )
        self._kernel_name = "float32"
        #: the later layers as float32 (exact: small integers), for the float32 GEMM
        self._float_layers = [
            (_float32(layer.weight), _float32(bias))
            for layer, bias in zip(self.layers[1:], biases[1:], strict=True)
        ]

        self._onednn: list[tuple[object, th.Tensor, th.Tensor]] | None = None
        if kernel not in ("auto", "onednn", "float32"):
            raise ValueError(f"kernel must be 'auto', 'onednn' or 'float32', got {kernel!r}")
        if kernel != "float32":
            self._onednn = self._prepack_onednn()
            if self._onednn is None and kernel == "onednn":
                raise RuntimeError("torch.ops.onednn's int8 GEMM is not usable here")
            if self._onednn is not None:
                self._kernel_name = "onednn"

    # -- kernels --------------------------------------------------------------------------
    def _prepack_onednn(self) -> list[tuple[object, th.Tensor, th.Tensor]] | None:
        """oneDNN int8 GEMMs (u8 activations x s8 weights -> float32 sums), or ``None``
        where torch lacks them or they disagree with the float32 GEMM on probe inputs."""
        try:
            packed = [
                (
                    th.ops.onednn.qlinear_prepack(
                        weight.to(th.int8), [self.block, weight.shape[1]]
                    ),
                    th.ones(weight.shape[0]),
                    th.zeros(weight.shape[0], dtype=th.int32),
                )
                for weight, _ in self._float_layers
            ]
            rng = np.random.default_rng(0)
            for batch in (1, 7, self.block):
                for i, (weight, bias) in enumerate(self._float_layers):
                    q = rng.integers(1, 128, (batch, weight.shape[1]), dtype=np.uint8)
                    q[0] = 127  # the largest sums too
                    q_t = th.from_numpy(q)
                    expect = th.addmm(bias, q_t.float(), weight.t())
                    if not th.equal(self._onednn_linear(packed[i], bias, q_t), expect):
                        return None
            return packed
        except (AttributeError, RuntimeError, NotImplementedError):
            return None

    @staticmethod
    def _onednn_linear(
        packed: tuple[object, th.Tensor, th.Tensor], bias: th.Tensor, q: th.Tensor
    ) -> th.Tensor:
        weight, ones, zeros = packed
        return th.ops.onednn.qlinear_pointwise(
            q, 1.0, 0, weight, ones, zeros, bias, 1.0, 0, th.float32, "none", [], ""
        )

    @property
    def kernel(self) -> str:
        """The GEMM in use: ``"onednn"`` (int8) or ``"float32"``."""
        return self._kernel_name

    # -- hashing --------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        """Stored bytes: int8 weights (the first layer's table included), int32 biases and
        the activation tables."""
        total = 0
        for layer in self.layers:
            total += layer.weight.size + 4 * layer.bias.size
            total += 0 if layer.lut is None else layer.lut.size
        return total

    def _activate(self, i: int, z: th.Tensor) -> th.Tensor:
        """Layer ``i``'s activations (``uint8``) from its shifted sums (float32, exact)."""
        lut = self._luts[i]
        index = z.clamp_(0, lut.numel() - 1).to(th.int32)  # clip: the saturated ends
        return lut.index_select(0, index.view(-1)).view(z.shape)

    def _bins(self, scores: np.ndarray) -> np.ndarray:
        if self.grid is None:
            return scores.argmax(axis=1)
        rows, cols = self.grid
        row = scores[:, :rows].argmax(axis=1)
        return (row * cols + scores[:, rows:].argmax(axis=1)) % self.n_bins

    def _later_layers(self, z: th.Tensor) -> np.ndarray:
        """Bins from first-layer sums (float32, exact integers)."""
        for i in range(len(self.layers) - 1):
            q = self._activate(i, z)
            weight, bias = self._float_layers[i]
            if self._onednn is not None:
                z = self._onednn_linear(self._onednn[i], bias, q)
            else:
                z = th.addmm(bias, q.float(), weight.t())
        return self._bins(z.numpy())

    def _folded_sums(self, words: Sequence[str]) -> th.Tensor:
        """First-layer sums of words longer than ``max_len``, from their folded bytes."""
        raw = encode_bytes(words, self.max_len, overflow="fold").astype(np.int64)
        raw += 256 * np.arange(self.max_len)
        tail = np.full((len(words), 1), 257 * self.max_len + 1)  # the tail of all L positions
        rows = th.from_numpy(np.concatenate([raw, tail], axis=1))
        return F.embedding_bag(rows, self._table, mode="sum")

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return self.hash_words(words if isinstance(words, list) else list(words))

    def hash_words(self, words: list[str]) -> np.ndarray:
        """Bins of a list of words: the batch's UTF-8 bytes in one buffer, the first layer
        as one ``embedding_bag`` per block, then the integer layers block by block."""
        n = len(words)
        bins = np.empty(n, dtype=np.int64)
        if n == 0:
            return bins
        data, starts, lengths = utf8_batch(words)
        rows_np, long = table_rows(data, starts, lengths, self.max_len)
        rows = th.from_numpy(rows_np)
        offsets = th.from_numpy(starts.astype(rows_np.dtype))
        ends = np.append(starts[1:], data.size + 1)  # each bag's end
        with th.no_grad():
            for a in range(0, n, self.block):
                b = min(n, a + self.block)
                lo, hi = int(starts[a]), int(ends[b - 1])
                z = F.embedding_bag(rows[lo:hi], self._table, offsets[a:b] - lo, mode="sum")
                here = long[(long >= a) & (long < b)]
                if here.size:
                    z[th.from_numpy(here - a)] = self._folded_sums([words[i] for i in here])
                bins[a:b] = self._later_layers(z)
        return bins

    def reference_bins(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """The integer network in numpy ``int64``, word by padded byte row: no table of
        tails, no float, no GEMM library -- the definition the fast path must match."""
        raw = encode_bytes(list(words), self.max_len, overflow="fold").astype(np.int64)
        bins = np.empty(len(raw), dtype=np.int64)
        positions = 256 * np.arange(self.max_len)
        first = self.layers[0]
        for a in range(0, len(raw), 256):
            z = first.weight[raw[a : a + 256] + positions].sum(axis=1) + first.bias
            for layer, following in zip(self.layers[:-1], self.layers[1:], strict=True):
                assert layer.lut is not None
                index = np.clip(z - layer.lut_low, 0, layer.lut.size - 1)
                z = layer.lut[index].astype(np.int64) @ following.weight.T + following.bias
            bins[a : a + len(z)] = self._bins(z)
        return bins

    # -- artifact -------------------------------------------------------------------------
    def export_onnx(self, path: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the integer network as a self-contained ONNX artifact (input: the words'
        ``bytes`` encoding; int8 / int32 / uint8 initializers named ``weight.<i>``,
        ``bias.<i>``, ``lut.<i>``, computed in float32 -- exact, as here), which
        :func:`agents.load_hash` reads back: onnxruntime, or where torch is installed this
        class rebuilt from the initializers (``quantized`` metadata entry)."""
        from onnx import TensorProto, helper, numpy_helper

        from agents.hashes.container import stamp_metadata

        nodes: list[Any] = []
        inits = []

        def const(name: str, values: np.ndarray, as_float: bool = True) -> str:
            inits.append(numpy_helper.from_array(values, name))
            if not as_float:
                return name
            nodes.append(helper.make_node("Cast", [name], [f"{name}.f"], to=TensorProto.FLOAT))
            return f"{name}.f"

        positions = const("positions", 256 * np.arange(self.max_len, dtype=np.int64), False)
        nodes.append(helper.make_node("Add", ["words", positions], ["rows"]))
        first = self.layers[0]
        table = const("weight.0", first.weight.astype(np.int8))
        nodes.append(helper.make_node("Gather", [table, "rows"], ["terms"], axis=0))
        axis = const("sum_axis", np.array([1], dtype=np.int64), False)
        nodes.append(helper.make_node("ReduceSum", ["terms", axis], ["sums.0"], keepdims=0))
        nodes.append(
            helper.make_node(
                "Add", ["sums.0", const("bias.0", first.bias.astype(np.int32))], ["z.0"]
            )
        )
        for i, layer in enumerate(self.layers[1:], start=1):
            prev = self.layers[i - 1]
            assert prev.lut is not None
            low = const(f"lut_low.{i - 1}", np.array(prev.lut_low, dtype=np.float32), False)
            top = const(f"lut_top.{i - 1}", np.array(prev.lut.size - 1, dtype=np.float32), False)
            zero = const(f"zero.{i - 1}", np.array(0, dtype=np.float32), False)
            nodes += [
                helper.make_node("Sub", [f"z.{i - 1}", low], [f"shifted.{i - 1}"]),
                helper.make_node("Clip", [f"shifted.{i - 1}", zero, top], [f"clipped.{i - 1}"]),
                helper.make_node(
                    "Cast", [f"clipped.{i - 1}"], [f"index.{i - 1}"], to=TensorProto.INT64
                ),
            ]
            lut = const(f"lut.{i - 1}", prev.lut)
            nodes.append(helper.make_node("Gather", [lut, f"index.{i - 1}"], [f"q.{i}"], axis=0))
            weight = const(f"weight.{i}", layer.weight.astype(np.int8))
            bias = const(f"bias.{i}", layer.bias.astype(np.int32))
            nodes.append(helper.make_node("Gemm", [f"q.{i}", weight, bias], [f"z.{i}"], transB=1))
        scores = f"z.{len(self.layers) - 1}"
        if self.grid is None:
            nodes.append(helper.make_node("ArgMax", [scores], ["bins"], axis=1, keepdims=0))
        else:
            rows, cols = self.grid
            cuts = {
                "starts.r": 0, "ends.r": rows, "starts.c": rows, "ends.c": rows + cols,
                "cols": cols, "n_bins": self.n_bins,
            }  # fmt: skip
            for name, value in cuts.items():
                const(name, np.array([value] if "." in name else value, dtype=np.int64), False)
            nodes += [
                helper.make_node("Slice", [scores, "starts.r", "ends.r", axis], ["head.r"]),
                helper.make_node("Slice", [scores, "starts.c", "ends.c", axis], ["head.c"]),
                helper.make_node("ArgMax", ["head.r"], ["row"], axis=1, keepdims=0),
                helper.make_node("ArgMax", ["head.c"], ["col"], axis=1, keepdims=0),
                helper.make_node("Mul", ["row", "cols"], ["row_cells"]),
                helper.make_node("Add", ["row_cells", "col"], ["cell"]),
                helper.make_node("Mod", ["cell", "n_bins"], ["bins"]),
            ]
        graph = helper.make_graph(
            nodes,
            self.name,
            [helper.make_tensor_value_info("words", TensorProto.INT64, ["batch", self.max_len])],
            [helper.make_tensor_value_info("bins", TensorProto.INT64, ["batch"])],
            inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 9
        onnx.checker.check_model(model)
        fields = {
            "encoding": "bytes",
            "max_len": self.max_len,
            "n_bins": self.n_bins,
            "size_bytes": self.size_bytes,
            "name": self.name,
            "quantized": {
                "n_layers": len(self.layers),
                "lut_low": [int(layer.lut_low) for layer in self.layers[:-1]],
                "grid": None if self.grid is None else [int(n) for n in self.grid],
            },
        }
        stamp_metadata(model, {**{k: json.dumps(v) for k, v in (metadata or {}).items()}, **fields})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path

    @classmethod
    def from_artifact(
        cls, spec: Mapping[str, Any], parameters: Mapping[str, np.ndarray], max_len: int,
        n_bins: int, name: str,
    ) -> QuantizedHash:  # fmt: skip
        """The hash :meth:`export_onnx` wrote, from its ``quantized`` metadata entry and
        initializers (``ValueError`` / ``KeyError`` / ``TypeError`` for damaged ones)."""
        n_layers = int(spec["n_layers"])
        lows = [int(v) for v in spec["lut_low"]]
        if n_layers < 1 or len(lows) != n_layers - 1:
            raise ValueError(f"{n_layers} layers with {len(lows)} activation tables")
        layers = []
        for i in range(n_layers):
            weight, bias = parameters[f"weight.{i}"], parameters[f"bias.{i}"]
            if weight.dtype != np.int8 or bias.dtype != np.int32:
                raise ValueError(f"layer {i}: weights not int8 or biases not int32")
            lut = parameters[f"lut.{i}"].copy() if i < n_layers - 1 else None
            if lut is not None and lut.dtype != np.uint8:
                raise ValueError(f"lut.{i} is not uint8")
            layers.append(IntLayer(weight.astype(np.int64), bias.astype(np.int64), lut,
                                   lows[i] if lut is not None else 0))  # fmt: skip
        grid = spec.get("grid")
        grid = None if grid is None else (int(grid[0]), int(grid[1]))
        return cls.from_layers(layers, max_len=max_len, n_bins=n_bins, grid=grid, name=name)

    def agreement(self, network: HashNetwork, words: Sequence[str]) -> float:
        """Share of ``words`` this hash puts where the float ``network``'s argmax does."""
        from hash_envs.encoding import WordEncoder

        words = list(words)
        encoder = WordEncoder(network.encoding, network.max_len)  # type: ignore[arg-type]
        expect = np.empty(len(words), dtype=np.int64)
        with th.no_grad():
            for a in range(0, len(words), 1024):
                obs = th.from_numpy(encoder.encode(words[a : a + 1024], overflow="fold"))
                expect[a : a + len(obs)] = network(obs).numpy()
        return float(np.mean(self.hash_many(words) == expect))
