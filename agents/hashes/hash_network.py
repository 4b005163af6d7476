"""A policy's scoring layers as a hash network, and the certified float32 fast path.

:class:`HashNetwork` holds the action-scoring layers (logits, Q-values or quantiles) of a
policy over a word observation and evaluates them in float64, so that the argmax does not
flip between batch sizes, processes or runtimes (torch vs onnxruntime) on near-ties; the
weights themselves stay float32 (that is what is stored and counted). That float64
network is the *reference*.

:class:`FastScorer` is the fast path: the words' bytes encoded as one batch, the same
layers in float32 (the input layer as a gather of only the real bytes), and a certified
tie rule -- a rigorous bound ``E`` on the float32 rounding error of each word's scores
(from its length, the weights' absolute row sums and row norms, and the norms of the
word's activations); a word whose top two scores are closer than ``2.5 E`` is rescored in
float64 with the same rule and float64 bounds (for a head of over 256 actions only its
*candidates*, the actions within ``2.5 E`` of the max: no other can be the reference's
argmax), and what that cannot decide either (exact ties, in practice) by the reference.
Every other word's float32 argmax provably equals the reference's, so the fast bins are
the reference bins in any batch size, order, process or runtime.

A policy over ``MultiDiscrete([rows, cols])`` (the envs' ``factorize_bins=True``) is a
*factorised* hash: its head scores ``rows + cols`` actions, and the bin is
``(argmax_row * cols + argmax_col) % n_bins`` -- two small argmaxes instead of one over
``n_bins``.

This module needs torch but not Stable-Baselines3 (only :meth:`HashNetwork.from_policy`
imports it), so an exported artifact can be loaded onto the fast path
(:func:`agents.load_hash`) without it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from agents.common.layers import Sin, score_words
from hash_envs.encoding import WordEncoder, utf8_batch

if TYPE_CHECKING:
    from stable_baselines3.common.policies import BasePolicy

__all__ = ["FastScorer", "HashNetwork", "first_layer_rows", "table_rows", "tail_rows"]


#: The activations a :class:`HashNetwork` can be rebuilt with from an artifact's spec.
_ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"Tanh": nn.Tanh, "ReLU": nn.ReLU, "Sin": Sin}


def first_layer_rows(
    weight: th.Tensor, bias: th.Tensor, encoding: str, max_len: int
) -> tuple[th.Tensor, th.Tensor]:
    """The first layer as rows to add up: ``(table, tail)``.

    ``table[256 p + b]`` (``(256 * max_len, out)``) is what byte ``b`` at position ``p``
    adds to the layer's outputs: the byte's weight column (``bytes``), or position ``p``'s
    column times the code point input of byte ``b`` (``codepoints``, exactly the float
    value :class:`~hash_envs.encoding.WordEncoder` gives). ``tail[n]`` (``(max_len + 1,
    out)``) is the bias plus the padding (byte 0) rows of positions ``n .. max_len - 1``,
    so a word of ``n`` bytes is the sum of its ``n`` byte rows and ``tail[n]``. Computed in
    the dtype of ``weight`` (a float64 weight: float32 weights are exact in it).
    """
    columns = weight.t()  # (256 * L or L, out)
    if encoding == "bytes":
        table = columns
    else:
        values = WordEncoder("codepoints", 1).from_bytes(np.arange(256, dtype=np.uint8)[:, None])
        values = th.from_numpy(values[:, 0]).to(weight.dtype)
        table = (columns[:, None, :] * values[None, :, None]).reshape(256 * max_len, -1)
    return table, tail_rows(table, bias, max_len)


def tail_rows(table: th.Tensor, bias: th.Tensor, max_len: int) -> th.Tensor:
    """``tail[n]``, ``n = 0 .. max_len``: ``bias`` plus the padding (byte 0) rows of
    ``table`` (laid out as :func:`first_layer_rows`'s) at positions ``n .. max_len - 1``."""
    pad = table[256 * th.arange(max_len)]  # (L, out); zero rows for codepoints
    tail = th.cat([th.flip(th.cumsum(th.flip(pad, [0]), 0), [0]), th.zeros_like(bias[None])])
    return tail + bias


def table_rows(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bags of rows of a first-layer table laid out as :func:`first_layer_rows`'s byte
    rows (``256 * max_len``), one zero row, then its ``max_len + 1`` tail rows: for each
    word of :func:`hash_envs.encoding.utf8_batch`'s buffer, from ``starts[i]``, the row of
    each byte (``256 * position + byte``), then, in the separator's place, the word's tail
    row. Words longer than ``max_len`` (also returned) read the zero row; the caller
    replaces their outputs."""
    zero_row = 256 * max_len
    dtype = np.int32 if data.size < 2**31 - 1 else np.int64
    sizes = lengths + 1  # each word, and the slot after it (separator, or one past the end)
    rows = np.arange(data.size + 1, dtype=dtype)
    rows -= np.repeat(starts.astype(dtype), sizes)  # position in the word
    rows <<= 8
    rows[:-1] += data
    rows[starts + lengths] = zero_row + 1 + np.minimum(lengths, max_len)
    long = lengths > max_len
    if long.any():
        rows[np.repeat(long, sizes)] = zero_row
    return rows, np.flatnonzero(long)


def _plain(layer: nn.Module) -> nn.Module:
    """A copy of ``layer``; a subclass of ``nn.Linear`` (e.g. a policy's layer that also
    reads byte codes) as a plain ``nn.Linear`` with its parameters: the network is the
    dense function, which the exporters and fast paths know by its type."""
    if not isinstance(layer, nn.Linear) or type(layer) is nn.Linear:
        return copy.deepcopy(layer)
    plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    plain.load_state_dict(layer.state_dict())
    return plain


class HashNetwork(nn.Module):
    """Encoded words -> bins: an MLP's argmax, computed in float64.

    ``grid=(rows, cols)`` for a factorised head (scores ``rows + cols`` actions).
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        encoder: WordEncoder,
        n_bins: int,
        n_quantiles: int = 1,
        grid: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_plain(layer) for layer in layers).float()
        self.encoding = encoder.kind
        self.max_len = encoder.max_len
        self.n_bins = n_bins
        self.n_quantiles = n_quantiles
        self.grid = grid
        self.n_actions = n_bins if grid is None else grid[0] + grid[1]

    def scores(self, obs: th.Tensor) -> th.Tensor:
        """Action scores (logits, Q-values or mean quantiles), shape ``(batch, n_actions)``."""
        x = score_words(self.layers, obs, self.encoding, th.float64)
        if self.n_quantiles > 1:
            x = x.view(-1, self.n_quantiles, self.n_actions).mean(dim=1)
        return x

    def bins(self, scores: th.Tensor) -> th.Tensor:
        """Bins from action scores: one argmax, or the factorised ``(row, col)`` pair."""
        if self.grid is None:
            return scores.argmax(dim=1)
        rows, cols = self.grid
        row = scores[:, :rows].argmax(dim=1)
        col = scores[:, rows:].argmax(dim=1)
        return (row * cols + col) % self.n_bins

    def forward(self, obs: th.Tensor) -> th.Tensor:
        return self.bins(self.scores(obs))

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def spec(self) -> dict[str, Any] | None:
        """The layer structure, JSON-serialisable, for :meth:`from_spec` (``None`` for a
        layer it cannot name). Parameters are named by their state-dict keys
        (``layers.<i>.weight`` / ``.bias``): the initializer names of the exported graph."""
        layers: list[dict[str, Any]] = []
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                layers.append({"linear": [int(layer.in_features), int(layer.out_features)],
                               "bias": layer.bias is not None})  # fmt: skip
            elif type(layer).__name__ in _ACTIVATION_MODULES:
                layers.append({"activation": type(layer).__name__})
            else:
                return None
        return {
            "layers": layers,
            "n_quantiles": int(self.n_quantiles),
            "grid": None if self.grid is None else [int(n) for n in self.grid],
        }

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, Any],
        parameters: Mapping[str, np.ndarray],
        encoder: WordEncoder,
        n_bins: int,
    ) -> HashNetwork:
        """The network :meth:`spec` describes, with float32 ``parameters`` by name
        (raises ``ValueError`` for a missing, misshapen or non-float32 one)."""
        layers: list[nn.Module] = []
        for i, entry in enumerate(spec["layers"]):
            if "activation" in entry:
                if entry["activation"] not in _ACTIVATION_MODULES:
                    raise ValueError(f"unknown activation {entry['activation']!r}")
                layers.append(_ACTIVATION_MODULES[entry["activation"]]())
                continue
            n_in, n_out = (int(n) for n in entry["linear"])
            linear = nn.Linear(n_in, n_out, bias=bool(entry["bias"]))
            for name, shape in (("weight", (n_out, n_in)), ("bias", (n_out,))):
                if name == "bias" and not entry["bias"]:
                    continue
                value = parameters.get(f"layers.{i}.{name}")
                if value is None or value.dtype != np.float32 or value.shape != shape:
                    raise ValueError(f"layers.{i}.{name}: no float32 tensor of shape {shape}")
                getattr(linear, name).data = th.from_numpy(value.copy())
            layers.append(linear)
        grid = spec.get("grid")
        return cls(layers, encoder, n_bins, int(spec.get("n_quantiles", 1)),
                   None if grid is None else (int(grid[0]), int(grid[1])))  # fmt: skip

    @classmethod
    def from_policy(cls, policy: BasePolicy, n_bins: int | None = None) -> HashNetwork:
        """The scoring layers of an SB3 policy over a word observation.

        ``n_bins`` is needed for a factorised (``MultiDiscrete([rows, cols])``) policy,
        whose grid may hold a few more cells than bins.
        """
        from stable_baselines3.common.policies import ActorCriticPolicy
        from stable_baselines3.common.torch_layers import FlattenExtractor

        if isinstance(policy.observation_space, spaces.Dict):
            raise ValueError(
                "PolicyHash needs a stateless policy (observation = the word only); this one "
                "also observes the table, so its answer would depend on what was hashed before"
            )
        space = policy.action_space
        grid = None
        if isinstance(space, spaces.MultiDiscrete) and space.nvec.shape == (2,):
            if not isinstance(policy, ActorCriticPolicy):
                raise ValueError("factorised bins need an actor-critic policy (PG, A2C, PPO)")
            grid = (int(space.nvec[0]), int(space.nvec[1]))
            if n_bins is None or not 0 < int(n_bins) <= grid[0] * grid[1]:
                raise ValueError(
                    f"a factorised policy over {grid[0]}x{grid[1]} cells needs n_bins in "
                    f"1 .. {grid[0] * grid[1]} (the env's n_bins), got {n_bins}"
                )
            n_bins = int(n_bins)
        elif isinstance(space, spaces.Discrete):
            n_bins = int(space.n)
        else:
            raise ValueError(
                f"PolicyHash needs Discrete or MultiDiscrete([rows, cols]) actions, got {space}"
            )
        encoder = WordEncoder.from_space(policy.observation_space)
        layers, quantiles, extractor = _scoring_layers(policy)
        if not isinstance(extractor, FlattenExtractor):
            raise ValueError(
                f"PolicyHash supports the default flatten features extractor, got "
                f"{type(extractor).__name__}"
            )
        return cls(layers, encoder, n_bins, quantiles, grid)


_U32 = 2.0**-24  # unit roundoff of float32
_U64 = 2.0**-53  # unit roundoff of float64


class _Activation(NamedTuple):
    """An activation as the fast path evaluates it: in place (it only applies them to
    tensors it has just computed), float32 by a ``numpy`` ufunc where one is given, else
    (and float64) by ``torch``.

    Why numpy for float32: its SIMD sine and tanh are 2.4x and 7x faster than torch's on
    one thread (a 16,384 x 64 block: 0.56 vs 1.33 ms, 0.38 vs 2.66 ms) and as accurate --
    within 1.2 units of 2**-24 of the exact value on every input tried
    (``tests/test_fast_path.py``), where the error bound allows 8 (``_hidden_layers``).
    """

    torch: Callable[[th.Tensor], th.Tensor]
    bounded: bool  # |output| <= 1 for every input
    float32: np.ufunc | None = None

    def __call__(self, x: th.Tensor) -> th.Tensor:
        if x.dtype != th.float32 or self.float32 is None:
            return self.torch(x)
        values = x.numpy()
        self.float32(values, out=values)
        return x


_ACTIVATIONS = {
    "Tanh": _Activation(th.tanh_, True, np.tanh),
    "Sin": _Activation(th.sin_, True, np.sin),
    "ReLU": _Activation(F.relu_, False),
}


def _gamma(k: int, u: float = _U32) -> float:
    """Higham's bound ``k u / (1 - k u)`` on the relative error of a sum of k terms
    (float32 by default; ``u`` is the unit roundoff)."""
    return k * u / (1.0 - k * u)


#: Margins of the certified argmax, in error bounds ``E``: an action whose score is more
#: than ``MARGIN * E`` below the max is not a *candidate*. Two errors of at most ``E``
#: (ours and the exact score's) need ``2 E``; the rest is slack for the reference's own
#: rounding (float64: below ``E / 4`` next to float32 scores, so 2.5; up to ``E`` next to
#: float64 scores, so 4.5), so that a non-candidate scores, exactly and in the reference,
#: below our argmax -- the reference's argmax is a candidate, and a word with a single
#: candidate has the reference's bin.
MARGIN32 = 2.5
MARGIN64 = 4.5


def _threshold(top: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """``top - margin``, lowered by two ulps of ``top`` so that the rounding of the
    subtraction (and of ``margin``) cannot raise it above the exact value."""
    eps = np.finfo(top.dtype).eps
    return top - (margin + 2 * eps * np.abs(top))


class FastScorer:
    """A :class:`HashNetwork`'s bins in float32, certified equal to its float64 bins.

    Supports MLPs of linear layers and tanh / sin / ReLU activations with a single
    quantile (else :meth:`for_network` returns ``None`` and the reference is used).

    :meth:`hash_words` is the fast path from words: the batch's UTF-8 bytes in one buffer
    (:func:`hash_envs.encoding.utf8_batch`, no per-word Python loop); the first layer as
    one ``embedding_bag`` over a float32 table whose row ``256 * position + byte`` is the
    byte's column (for ``codepoints`` inputs: the column times the byte's code point
    value), each word's bag being its bytes plus one *tail* row (bias and padding
    columns, by length); the other layers in blocks of :attr:`block` words, so that
    their activations stay in the CPU caches, the output layer transposed so that each
    head's max and top-two test run across words (vectorised) rather than along short
    rows. Words longer than ``max_len`` (XOR-folded) take the encoded-input path.

    The error bound ``E`` is per word: the first layer's rounding grows with the number
    of terms summed, so it is bounded by the word's length (at most ``max_len``).
    """

    #: Words per block of the later layers: small enough for the caches, large for BLAS.
    #: 8,192 is within 5% of the best on both CPUs we measured: on one 16,384 beat 1,024,
    #: 4,096, 8,192 and 65,536 for a 128-unit factorised net (5.8x vs 7.5x, 6.2x, 6.1x,
    #: 7.3x hash()); on an AMD EPYC with 1 MiB of L2 per core, 4,096 and 8,192 beat 16,384
    #: by a fifth for the 64-unit memorising net (4.5x, 4.7x vs 5.2x). A head of more
    #: than 256 actions takes :attr:`wide_block` (its scores of a block stay small:
    #: for the paper's 1000-way 2x300 net 4,096 gave 127x hash(), 16,384 138x; on the
    #: EPYC 1,024 to 4,096 timed the same).
    block = 8192
    wide_block = 4096

    def __init__(
        self, network: HashNetwork, reference: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> None:
        self.network = network
        #: Bins of encoded words for what float64 cannot certify either: by default the
        #: network itself; a loaded artifact passes its graph's (onnxruntime) bins.
        self.reference = reference or self._network_bins
        self.encoder = WordEncoder(network.encoding, network.max_len)  # type: ignore[arg-type]
        self.linears: list[tuple[th.Tensor, th.Tensor]] = []
        self.activations: list[_Activation | None] = []
        for layer in network.layers:
            if isinstance(layer, nn.Linear):
                bias = th.zeros(layer.out_features) if layer.bias is None else layer.bias
                self.linears.append((layer.weight.detach().float(), bias.detach().float()))
                self.activations.append(None)
            else:
                self.activations[-1] = _ACTIVATIONS[type(layer).__name__]
        weight, bias = self.linears[0]
        b64 = bias.double()
        length = network.max_len
        table, tail = first_layer_rows(weight.double(), b64, network.encoding, length)
        columns = weight.double().t()  # (256 * L or L, out)
        # Bound on the first layer's float32 error for a word of n <= L bytes: a sum of
        # n + 1 terms (gamma), each term rounded to float32 once (the tail; for codepoints
        # the products too) -- (gamma(n + 1) + 3u) times the largest sum of |terms|.
        per_position = table.abs().reshape(length, 256, -1).amax(dim=1)  # (L, out)
        reach = th.cat([th.zeros_like(per_position[:1]), th.cumsum(per_position, 0)])
        sums = (reach + tail.abs()).amax(dim=1).numpy()  # (L + 1,)
        gammas = np.array([_gamma(n + 1) for n in range(length + 1)])
        self.first_errors = (gammas + 3 * _U32) * sums
        #: the bound for any input (encoded words, folded words): all L positions
        self.first_error = (_gamma(length + 1) + 3 * _U32) * float(
            (per_position.sum(0) + b64.abs()).max()
        )
        # table rows (the layout of table_rows): L * 256 byte rows, one zero row (the bytes
        # of folded words), L + 1 tails
        self.table = th.cat([table, th.zeros_like(table[:1]), tail]).float().contiguous()
        self.tail = tail.float().contiguous()
        # the float64 tier, for the float32 near-ties: the same layers in float64 (the
        # tail's float64 cumulative sum adds another gamma)
        self.linears64 = [(w.double(), b.double()) for w, b in self.linears]
        self.table64 = columns.contiguous() if network.encoding == "bytes" else None
        self.tail64 = tail.contiguous()
        self.first_error64 = (2 * _gamma(length + 1, _U64) + 3 * _U64) * float(
            (per_position.sum(0) + b64.abs()).max()
        )
        self.row_sums = [w.double().abs().sum(dim=1).max().item() for w, _ in self.linears]
        #: the largest row norm of each layer (rounded up), for the Cauchy-Schwarz bound
        self.row_norms = [
            w.double().norm(dim=1).max().item() * (1 + 2.0**-40) for w, _ in self.linears
        ]
        self.bias_max = [b.double().abs().max().item() for _, b in self.linears]
        self._positions = 256 * np.arange(length, dtype=np.int64)
        #: Rescore a near-tie's float32 candidates only, not the whole output layer: for a
        #: head of over 256 actions (the paper's 1000-way 2x300 net: 5.5 s instead of 6.1 s
        #: for 300,000 words; a 32 + 32 factorised head is faster rescored whole).
        self.rescore_candidates = network.grid is None and network.n_bins > 256
        if self.rescore_candidates:
            self.block = self.wide_block
        #: Words scored; words rescored in float64 (float32 near-ties); words decided by the
        #: reference (float64 near-ties too: in practice exact ties), so far.
        self.scored = self.rescored = self.referred = 0

    @classmethod
    def for_network(
        cls, network: HashNetwork, reference: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> FastScorer | None:
        """The fast path of ``network``, or ``None`` if it has layers the path lacks."""
        kinds = {type(layer).__name__ for layer in network.layers} - {"Linear"}
        if network.n_quantiles != 1 or not kinds <= set(_ACTIVATIONS):
            return None
        if not isinstance(network.layers[0], nn.Linear):
            return None
        return cls(network, reference)

    def _network_bins(self, obs: np.ndarray) -> np.ndarray:
        with th.no_grad():
            return self.network(th.from_numpy(obs)).numpy()

    # -- the first layer ----------------------------------------------------------------
    def _first_layer(self, obs: np.ndarray, dtype: th.dtype = th.float32) -> th.Tensor:
        """First-layer outputs of encoded words (the encoder's output), in ``dtype``."""
        wide = dtype == th.float64
        if self.network.encoding != "bytes":
            weight, bias = (self.linears64 if wide else self.linears)[0]
            return F.linear(th.from_numpy(obs).to(dtype), weight, bias)
        nonzero = obs != 0
        length = obs.shape[1]
        real = np.where(nonzero.any(axis=1), length - np.argmax(nonzero[:, ::-1], axis=1), 0)
        flat = (obs + self._positions)[np.arange(length) < real[:, None]]
        offsets = np.zeros(len(obs), dtype=np.int64)
        np.cumsum(real[:-1], out=offsets[1:])
        table, tail = (self.table64, self.tail64) if wide else (self.table, self.tail)
        x = F.embedding_bag(th.from_numpy(flat), table, th.from_numpy(offsets), mode="sum")
        return x + tail[th.from_numpy(real)]

    # -- scores and bins ------------------------------------------------------------------
    def _hidden_layers(self, x: th.Tensor) -> tuple[th.Tensor, float, np.ndarray, float]:
        """The layers between the first and the output layer, from first-layer outputs (in
        their dtype, float32 or float64): ``(x, scale, offset, bound)``, where a word whose
        first-layer error is at most ``e`` has activations within ``scale * e + offset`` of
        the exact ones (``offset``: one per word) and ``bound`` bounds their size."""
        wide = x.dtype == th.float64
        u = _U64 if wide else _U32
        linears = self.linears64 if wide else self.linears
        scale, bound = 1.0, 0.0
        offset = np.zeros(len(x))
        for i, (act, (weight, bias)) in enumerate(zip(self.activations, linears, strict=True)):
            if i == len(linears) - 1 and i > 0:
                break
            if i > 0:
                offset = self._propagate(i, offset, x, bound, u)
                x = F.linear(x, weight, bias)
                scale *= self.row_sums[i]
            if act is not None:
                x = act(x)
                bound = 1.0 if act.bounded else float(x.abs().max()) if x.numel() else 0.0
                offset += 8 * u * bound  # the activation's own rounding (a few ulp)
        return x, scale, offset, bound

    def _propagate(
        self, i: int, offset: np.ndarray, x: th.Tensor, bound: float, u: float
    ) -> np.ndarray:
        """Layer ``i``'s offsets (one per word) from its inputs ``x`` (within ``offset`` of
        exact, of size at most ``bound``): the weights' amplification plus the layer's
        rounding, ``gamma`` times a unit's sum of ``|weight * input|``, which is at most
        both the row sums times ``bound`` and (Cauchy-Schwarz) the largest row norm times
        the word's input norm. The norm is the tighter of the two for spread-out inputs:
        half the row-sum bound for the paper's 2x300 net, whose near-ties halve with it.
        Only wide heads (:attr:`rescore_candidates`) take it: a small head has few
        near-ties (0.5% of words for the 64-unit memorising net), and the norms would
        cost it more (3% of its time) than they save."""
        weight, _ = self.linears[i]
        n = weight.shape[1]
        sizes = np.full(len(x), self.row_sums[i] * bound)
        if self.rescore_candidates:
            # the float norm of n squares, rounded up: relative error below gamma(n + 3)
            norms = th.linalg.vector_norm(x, dim=1).double().numpy() * (1 + _gamma(n + 3, u))
            np.minimum(sizes, self.row_norms[i] * norms, out=sizes)
        return self.row_sums[i] * offset + _gamma(n + 1, u) * (sizes + self.bias_max[i])

    def _later_layers(self, x: th.Tensor) -> tuple[np.ndarray, float, np.ndarray]:
        """Transposed action scores ``(n_actions, batch)`` from first-layer outputs (in
        their dtype, float32 or float64), and ``(scale, offset)``: a word whose first-layer
        error is at most ``e`` has scores within ``scale * e + offset`` of the exact ones
        (``offset``: one per word)."""
        last = len(self.linears) - 1
        if last == 0:  # a linear policy: the first layer is the output layer
            x, scale, offset, _ = self._hidden_layers(x)
            return np.ascontiguousarray(x.t().numpy()), scale, offset
        x, scale, offset, bound = self._hidden_layers(x)
        weight, bias = (self.linears64 if x.dtype == th.float64 else self.linears)[last]
        u = _U64 if x.dtype == th.float64 else _U32
        offset = self._propagate(last, offset, x, bound, u)
        x = th.addmm(bias[:, None], weight, x.t())  # the output layer, transposed
        scale *= self.row_sums[last]
        act = self.activations[last]
        if act is not None:
            x = act(x)
            offset += 8 * u * (1.0 if act.bounded else float(x.abs().max()) if x.numel() else 0.0)
        return np.ascontiguousarray(x.numpy()), scale, offset

    def _decide(
        self, scores: np.ndarray, error: np.ndarray, factor: float = MARGIN32
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Bins from transposed scores and per-word error bounds ``E``; the words where a
        head has another score within ``factor * E`` of its max (or equal to it), whose
        argmax may differ from the reference's; and, where :attr:`rescore_candidates`,
        those words' *candidates* ``(n_actions, n_unsure)``: the actions within that
        margin of the max (else ``None``). A NaN makes no score pass the threshold, so
        such a word has no candidates and goes to the reference.
        """
        grid = self.network.grid
        heads = [scores] if grid is None else [scores[: grid[0]], scores[grid[0] :]]
        unsure = np.zeros(scores.shape[1], dtype=bool)
        picks = []
        near = np.zeros((0, 0), dtype=bool)
        margin = factor * error
        for head in heads:
            width = head.shape[0]
            if width == 1:
                picks.append(np.zeros(scores.shape[1], dtype=np.int64))
                continue
            # counts and index sums in the narrowest type that holds them (a sure word
            # has count 1 and its index; an unsure one may wrap, it is rescored anyway)
            small = np.uint8 if width < 256 else np.uint16 if width < 65536 else np.int64
            near = head >= _threshold(head.max(axis=0), margin)
            unsure |= near.sum(axis=0, dtype=small) != 1
            index = np.arange(width, dtype=small)[:, None]
            picks.append((near * index).sum(axis=0, dtype=small).astype(np.int64))
        if grid is None:
            bins = picks[0]
        else:
            bins = (picks[0] * grid[1] + picks[1]) % self.network.n_bins
        words = np.flatnonzero(unsure)
        if not self.rescore_candidates:
            return bins, words, None
        # a single head; np.compress: several times faster than fancy indexing of columns
        return bins, words, np.compress(unsure, near, axis=1)

    def _errors(self, first: np.ndarray, scale: float, offset: float) -> np.ndarray:
        """Per-word float32 bounds from first-layer bounds, rounded up (the cast to
        float32 loses at most a relative 2**-24)."""
        return ((scale * first + offset) * (1 + 2.0**-20)).astype(np.float32)

    def scores(self, obs: np.ndarray) -> tuple[th.Tensor, np.ndarray]:
        """float32 action scores ``(batch, n_actions)`` of encoded words, and per word a
        bound ``E`` on their error (float32, rounded up)."""
        with th.no_grad():
            x, scale, offset = self._later_layers(self._first_layer(obs))
        error = self._errors(np.full(len(obs), self.first_error), scale, offset)
        return th.from_numpy(x.T.copy()), error

    def bins(self, obs: np.ndarray) -> np.ndarray:
        """Bins of encoded words (the output of the network's encoder)."""
        with th.no_grad():
            x, scale, offset = self._later_layers(self._first_layer(obs))
            error = self._errors(np.full(len(obs), self.first_error), scale, offset)
            bins, unsure, candidates = self._decide(x, error)
            self.scored += len(obs)
            if unsure.size:  # near-ties: float64 decides
                bins[unsure] = self._rescore(obs[unsure], candidates)
        return bins

    #: Words per block of the float64 tier, and (word, candidate) pairs per product.
    rescore_block = 4096
    rescore_pairs = 16384

    def _rescore(self, obs: np.ndarray, candidates: np.ndarray | None) -> np.ndarray:
        """Bins of encoded words by the float64 tier: the same certified test with
        float64 bounds; where :attr:`rescore_candidates`, over each word's float32
        ``candidates`` (``(n_actions, n_words)``, from :meth:`_decide`) only: the hidden
        layers in float64, then one dot product per (word, candidate) pair instead of the
        whole output layer. What it cannot certify either (exact ties, in practice), the
        reference decides."""
        self.rescored += len(obs)
        bins = np.empty(len(obs), dtype=np.int64)
        last = len(self.linears64) - 1
        for a in range(0, len(obs), self.rescore_block):
            b = min(len(obs), a + self.rescore_block)
            x = self._first_layer(obs[a:b], th.float64)
            whole = last == 0 or self.activations[last] is not None  # no separate output layer
            if whole or candidates is None:
                scores, scale, offset = self._later_layers(x)
                error = (scale * self.first_error64 + offset) * (1 + 2.0**-40)
                bins[a:b], unsure, _ = self._decide(scores, error, MARGIN64)
            else:
                bins[a:b], unsure = self._decide_candidates(x, candidates[:, a:b])
            if unsure.size:
                self.referred += unsure.size
                bins[a + unsure] = self.reference(obs[a + unsure])
        return bins

    def _decide_candidates(
        self, x: th.Tensor, candidates: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_decide` in float64 over (word, candidate) pairs of a single head, from
        first-layer outputs: per word, the candidates' max and how many are within
        ``MARGIN64 * E`` of it (``E`` the float64 bound); a word is sure when that is one."""
        h, scale, offset, bound = self._hidden_layers(x)
        last = len(self.linears64) - 1
        weight, bias = self.linears64[last]
        offset = self._propagate(last, offset, h, bound, _U64)
        error = (scale * self.row_sums[last] * self.first_error64 + offset) * (1 + 2.0**-40)
        words, actions = np.nonzero(candidates.T)  # sorted by word
        dots = np.empty(len(words))
        for c in range(0, len(words), self.rescore_pairs):
            i = th.from_numpy(words[c : c + self.rescore_pairs])
            j = th.from_numpy(actions[c : c + self.rescore_pairs])
            dots[c : c + len(i)] = (th.einsum("pk,pk->p", weight[j], h[i]) + bias[j]).numpy()
        n = candidates.shape[1]
        sure = np.zeros(n, dtype=bool)  # a word without candidates (a NaN score): not sure
        bins = np.zeros(n, dtype=np.int64)
        if len(dots):
            starts = np.flatnonzero(np.diff(words, prepend=-1))
            best = np.maximum.reduceat(dots, starts)
            margin = MARGIN64 * error[words[starts]]
            threshold = _threshold(best, margin)
            near = dots >= np.repeat(threshold, np.diff(np.append(starts, len(dots))))
            sure[words[starts]] = np.add.reduceat(near, starts) == 1
            bins[words[starts]] = np.add.reduceat(near * actions, starts)
        return bins, np.flatnonzero(~sure)

    def _word_blocks(self, words: list[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Per block of :attr:`block` words from word ``a`` on: ``(a, scores, error)``, the
        block's transposed float32 scores and their per-word bounds ``E`` (by length)."""
        n = len(words)
        data, starts, lengths = utf8_batch(words)
        rows_np, long = table_rows(data, starts, lengths, self.network.max_len)
        rows = th.from_numpy(rows_np)
        offsets = th.from_numpy(starts.astype(rows_np.dtype))
        first = self.first_errors[np.minimum(lengths, self.network.max_len)]
        first[long] = self.first_error
        ends = np.append(starts[1:], data.size + 1)  # each bag's end
        for a in range(0, n, self.block):
            b = min(n, a + self.block)
            lo, hi = int(starts[a]), int(ends[b - 1])
            with th.no_grad():  # not across the yield: the caller's grad mode is its own
                x = F.embedding_bag(rows[lo:hi], self.table, offsets[a:b] - lo, mode="sum")
                here = long[(long >= a) & (long < b)]
                if here.size:  # XOR-folded words: from their encoding
                    folded = self.encoder.encode([words[i] for i in here], overflow="fold")
                    x[th.from_numpy(here - a)] = self._first_layer(folded)
                scores, scale, offset = self._later_layers(x)
            yield a, scores, self._errors(first[a:b], scale, offset)

    def word_scores(self, words: Sequence[str]) -> tuple[th.Tensor, np.ndarray]:
        """float32 action scores ``(n_words, n_actions)`` of words as :meth:`hash_words`
        computes them, and per word the bound ``E`` on their error it decides from."""
        words = list(words)
        if not words:
            return th.zeros(0, self.network.n_actions), np.zeros(0, dtype=np.float32)
        blocks = list(self._word_blocks(words))
        scores = np.concatenate([s for _, s, _ in blocks], axis=1)
        return th.from_numpy(scores.T.copy()), np.concatenate([e for _, _, e in blocks])

    def hash_words(self, words: Sequence[str]) -> np.ndarray:
        """Bins of words: the fast path from words (see the class docstring)."""
        words = words if isinstance(words, list) else list(words)
        n = len(words)
        bins = np.empty(n, dtype=np.int64)
        if n == 0:
            return bins
        unsure: list[np.ndarray] = []
        candidates: list[np.ndarray | None] = []
        for a, scores, error in self._word_blocks(words):
            bins[a : a + scores.shape[1]], near, near_actions = self._decide(scores, error)
            unsure.append(near + a)
            candidates.append(near_actions)
        todo = np.concatenate(unsure)
        if todo.size:  # near-ties: float64 decides
            obs = self.encoder.encode([words[i] for i in todo], overflow="fold")
            near_all = np.concatenate(candidates, axis=1) if self.rescore_candidates else None
            with th.no_grad():
                bins[todo] = self._rescore(obs, near_all)
        self.scored += n
        return bins


def _scoring_layers(policy: BasePolicy) -> tuple[list[nn.Module], int, nn.Module]:
    """``(layers, n_quantiles, features_extractor)`` for the SB3 policy families we know."""
    from stable_baselines3.common.policies import ActorCriticPolicy

    if isinstance(policy, ActorCriticPolicy):  # PG, A2C, PPO
        layers = [*policy.mlp_extractor.policy_net, policy.action_net]
        return layers, 1, policy.pi_features_extractor
    if hasattr(policy, "quantile_net"):  # QR-DQN
        net = policy.quantile_net
        return list(net.quantile_net), net.n_quantiles, net.features_extractor
    if hasattr(policy, "q_net") and hasattr(policy.q_net, "q_net"):  # DQN
        return list(policy.q_net.q_net), 1, policy.q_net.features_extractor
    if hasattr(policy, "q_net") and hasattr(policy.q_net, "q_networks"):  # DQN, HashQPolicy
        return list(policy.q_net.q_networks[0]), 1, policy.q_net.features_extractor
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "logits_net"):  # agents.SACDiscrete
        return list(actor.logits_net), 1, actor.features_extractor
    raise ValueError(f"PolicyHash does not know how to read a {type(policy).__name__}")
