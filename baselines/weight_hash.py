"""The weight hash: "the hash of a string is the weights of a network trained on it".

A faithful re-implementation of "Hashing with Neural Network Weights" (2020), as a
baseline to measure learned hashes against (its security is analysed, with measurements,
in ``docs/weight_hash.md``):

1. each character ``c`` becomes ``1 / sqrt(ord(c))``; the sequence is zero-padded into
   rows of ``width`` (6) values (:func:`to_blocks`);
2. a dense layer ``width -> width`` with ``tanh``, no bias, weights initialised to zero,
   is trained full-batch for ``epochs`` (100) steps of Adam (learning rate ``lr`` = 1,
   PyTorch's defaults beta = (0.9, 0.999), eps = 1e-8) on the mean squared error between
   ``tanh(row @ W.T)`` and ``target(row)`` (``1 - row``);
3. the trained ``width x width`` matrix ``W`` is the hash; verifying = recomputing.

**Digest.** Each weight is rounded to the nearest multiple of ``2**-fraction_bits``
(default 20), written as a big-endian signed 64-bit integer, row-major; the 36 integers
(288 bytes) in hex are the digest (576 characters). The rounding is the reproducibility
trade-off: this module computes the weights bit-identically everywhere it has been tested
(see below), so the rounding only matters to *other* implementations, whose weights
differ from ours by ~1e-14. A coarser grid makes them agree more often but merges strings
whose weights differ by less than a grid step; ``docs/weight_hash.md`` measures both
sides (agreement with a ``torch.nn`` + ``torch.optim.Adam`` reference, distinct digests
over the Moby words) for several ``fraction_bits``.

**Determinism.** Training is written out by hand in float64 with element-wise operations
only: ``+ - * /``, ``sqrt`` (all correctly rounded in IEEE 754, so a value does not depend
on where in a tensor it sits, on the SIMD width or on the thread count) and ``tanh``
(checked to give identical bits for every element position and for PyTorch's DEFAULT,
AVX2 and AVX512 kernels; it comes from the platform's maths library, the one operation
IEEE 754 leaves open, so another platform may move a weight by ~1e-14, which the rounding
absorbs unless the weight sits on a grid boundary). Every sum is spelled out as additions
in index order -- no matmul, no reduction kernel, no fused multiply-add -- so a model's
arithmetic is the same whether it is trained alone or in a batch of thousands: the
single-string path *is* a batch of one. The thread count is pinned anyway (``threads``,
restored afterwards).

**Speed.** :func:`weight_hash_many` trains up to ``batch_size`` independent models at
once, one batch per row count (strings of 7..12 characters have 2 rows, and so on), with
the models on the innermost, contiguous tensor axis so every operation is one long
vectorised loop. Adam is written in an algebraically equivalent form with 10 element-wise
operations per step instead of 13 (see :func:`_train`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from baselines.classical import XXH64
from hash_envs.hashing import HashFunction

__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "DEFAULT_CONFIG",
    "WeightHash",
    "WeightHashConfig",
    "char_values",
    "digests_from_weights",
    "one_minus",
    "to_blocks",
    "trained_weights",
    "verify",
    "weight_hash",
    "weight_hash_many",
    "weights_from_digest",
]

#: Adam's decay rates and epsilon: PyTorch's defaults, as in the paper's setup.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

Target = Callable[[torch.Tensor], torch.Tensor]


def one_minus(rows: torch.Tensor) -> torch.Tensor:
    """The paper's training target: each row ``x`` is mapped to ``1 - x``."""
    return 1.0 - rows


@dataclass(frozen=True)
class WeightHashConfig:
    """The method's knobs; the defaults are the paper's.

    ``target`` maps a ``(..., width)`` float64 tensor of rows to targets of the same shape
    and must treat each row on its own (batches stack thousands of strings' rows).
    ``fraction_bits`` sets the digest's rounding grid, ``2**-fraction_bits``.
    """

    width: int = 6
    epochs: int = 100
    lr: float = 1.0
    target: Target = one_minus
    fraction_bits: int = 20

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.fraction_bits <= 52:
            raise ValueError(f"fraction_bits must be in 0..52, got {self.fraction_bits}")


DEFAULT_CONFIG = WeightHashConfig()


# ----------------------------------------------------------------------------- encoding


def _code_points(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All code points laid end to end (``uint32``) and each string's length.

    Raises the errors :func:`char_values` documents, naming the first offending string.
    """
    for i, s in enumerate(strings):
        if not isinstance(s, str):
            raise TypeError(f"weight hash input {i} must be str, got {type(s).__name__}")
        if not s:
            raise ValueError(f"weight hash input {i} is empty: 1/sqrt(ord(c)) needs a character")
        if "\0" in s:
            raise ValueError(
                f"weight hash input {i} ({s!r}) contains U+0000, which the method maps to "
                "1/sqrt(0) = inf"
            )
    # UTF-32 is one code point per 4 bytes; surrogatepass keeps lone surrogates (any str).
    codes = np.frombuffer("".join(strings).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    return codes, lengths


def char_values(s: str) -> np.ndarray:
    """``1 / sqrt(ord(c))`` for each character of ``s`` (float64).

    Raises ``TypeError`` for a non-``str`` and ``ValueError`` for the inputs the formula
    cannot take: the empty string and any string containing ``"\\0"`` (1/sqrt(0)).
    """
    codes, _ = _code_points([s])
    return 1.0 / np.sqrt(codes.astype(np.float64))


def to_blocks(s: str, width: int = 6) -> torch.Tensor:
    """``s`` as the network's training rows: :func:`char_values` zero-padded to a
    multiple of ``width`` and cut into rows, shape ``(ceil(len(s) / width), width)``."""
    values = char_values(s)
    rows = -(-values.size // width)
    padded = np.zeros(rows * width)
    padded[: values.size] = values
    return torch.from_numpy(padded.reshape(rows, width))


# ----------------------------------------------------------------------------- training


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _sum_slices(t: torch.Tensor, dim: int, out: torch.Tensor) -> torch.Tensor:
    """``t`` summed over ``dim`` left to right into ``out`` -- a fixed order, unlike a
    reduction kernel's. A dimension of size 1 returns that slice itself."""
    if t.shape[dim] == 1:
        return t.select(dim, 0)
    torch.add(t.select(dim, 0), t.select(dim, 1), out=out)
    for k in range(2, t.shape[dim]):
        out.add_(t.select(dim, k))
    return out


def _train(x: torch.Tensor, config: WeightHashConfig) -> torch.Tensor:
    """Train one model per string; ``x`` is ``(rows, width, models)``, returns the weights
    ``(models, width, width)`` with ``W[b, i, j]`` the weight from input ``j`` to output ``i``.

    Model ``b`` sees only ``x[..., b]``: every operation below is element-wise along the
    last axis, and every sum is written out in index order. In the comments ``r`` is a
    row, ``j`` an input and ``i`` an output position; ``w[j, i]`` is ``W[i, j]``.
    """
    rows, width, models = x.shape
    beta1, beta2 = ADAM_BETAS
    f64 = {"dtype": torch.float64}
    target = config.target(x.permute(2, 0, 1)).permute(1, 2, 0).contiguous()
    w = torch.zeros(width, width, models, **f64)  # w[j, i]
    m = torch.zeros_like(w)  # m / (1 - beta1): Adam's first moment, rescaled (see below)
    v = torch.zeros_like(w)  # v / (1 - beta2): its second moment, rescaled
    grad_sum = torch.empty_like(w)
    step = torch.empty_like(w)
    prod = torch.empty(rows, width, width, models, **f64)  # products summed over one axis
    z = torch.empty(rows, width, models, **f64)
    err = torch.empty_like(z)
    err_y2 = torch.empty_like(z)
    x_j = x.unsqueeze(2)  # (rows, j, 1, models)
    grad_scale = 2.0 / (rows * width)  # d mean((y - t)^2) / dy = 2 (y - t) / #elements
    beta1_t = beta2_t = 1.0
    for _ in range(config.epochs):
        # Forward: y[r, i] = tanh(sum_j x[r, j] w[j, i]).
        torch.mul(x_j, w, out=prod)
        y = torch.tanh(_sum_slices(prod, 1, z), out=z)
        # Backward: dL/dz[r, i] = 2 (y - t) / N * (1 - y^2), computed as e - e y^2;
        # grad[j, i] = sum_r x[r, j] dL/dz[r, i].
        torch.sub(y, target, out=err).mul_(grad_scale)
        err.sub_(torch.mul(y, y, out=err_y2).mul_(err))
        torch.mul(x_j, err.unsqueeze(1), out=prod)
        grad = _sum_slices(prod, 0, grad_sum)
        # Adam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, w -= lr m^ / (sqrt(v^) + eps)
        # with m^ = m / (1 - b1^t), v^ = v / (1 - b2^t). Keeping m' = m / (1 - b1) and
        # v' = v / (1 - b2) instead moves every constant into two scalars per step:
        # w -= a_t m' / (sqrt(v') + e_t), a_t = lr (1 - b1) / (1 - b1^t) / c_t,
        # e_t = eps / c_t, c_t = sqrt((1 - b2) / (1 - b2^t)). Same maths, 3 fewer passes.
        beta1_t *= beta1  # b^t by repeated multiplication: exact IEEE, unlike pow()
        beta2_t *= beta2
        c_t = math.sqrt((1.0 - beta2) / (1.0 - beta2_t))
        a_t = config.lr * (1.0 - beta1) / (1.0 - beta1_t) / c_t
        m.mul_(beta1).add_(grad)
        v.mul_(beta2).add_(grad.mul_(grad))
        torch.sqrt(v, out=step).add_(ADAM_EPS / c_t)
        torch.div(m, step, out=step).mul_(a_t)
        w.sub_(step)
    return w.permute(2, 1, 0)


def digests_from_weights(
    weights: np.ndarray, config: WeightHashConfig = DEFAULT_CONFIG
) -> list[str]:
    """Hex digests of trained ``(n, width, width)`` weights (see the module docstring)."""
    fraction_bits = config.fraction_bits
    scaled = np.rint(weights * 2.0**fraction_bits)  # exact: a power-of-two scale; ties to even
    if scaled.size and not np.abs(scaled).max() < 2.0**63:
        raise OverflowError(
            f"trained weights reach {np.abs(weights).max():.3g}, too large for "
            f"fraction_bits={fraction_bits} in a signed 64-bit integer; lower fraction_bits"
        )
    n, width, _ = weights.shape
    raw = scaled.astype(">i8").reshape(n, width * width)
    return [row.tobytes().hex() for row in raw]


def _batches(lengths: np.ndarray, width: int, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(rows, indices)`` chunks of at most ``batch_size`` strings sharing a row count."""
    rows = -(-lengths // width)
    order = np.argsort(rows, kind="stable")
    bounds = np.flatnonzero(np.diff(rows[order])) + 1
    for group in np.split(order, bounds):
        if group.size:
            for start in range(0, group.size, batch_size):
                yield int(rows[group[0]]), group[start : start + batch_size]


def trained_weights(
    strings: Sequence[str] | Iterable[str],
    config: WeightHashConfig = DEFAULT_CONFIG,
    *,
    threads: int = 1,
    batch_size: int = 1024,
) -> np.ndarray:
    """The trained weight matrices, ``(len(strings), width, width)`` float64, in input order.

    ``threads`` is PyTorch's thread count while training (restored afterwards); the
    weights do not depend on it, nor on ``batch_size``. More than one thread pays only on
    idle cores: the operations are short, and OpenMP threads wait for each other at each.
    """
    strings = strings if isinstance(strings, list) else list(strings)
    codes, lengths = _code_points(strings)
    values = 1.0 / np.sqrt(codes.astype(np.float64))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    width = config.width
    out = np.empty((len(strings), width, width))
    with _torch_threads(threads), torch.inference_mode():
        for rows, idx in _batches(lengths, width, batch_size):
            padded = np.zeros((idx.size, rows * width))
            n = lengths[idx]
            which = np.repeat(np.arange(idx.size), n)
            pos = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
            padded[which, pos] = values[np.repeat(starts[idx], n) + pos]
            x = torch.from_numpy(padded.reshape(idx.size, rows, width).transpose(1, 2, 0).copy())
            out[idx] = _train(x, config).numpy()
    return out


def weight_hash_many(
    strings: Sequence[str] | Iterable[str],
    config: WeightHashConfig = DEFAULT_CONFIG,
    *,
    threads: int = 1,
    batch_size: int = 1024,
) -> list[str]:
    """Hex digests of many strings, training their models in batches (same digests as
    :func:`weight_hash`, one by one)."""
    weights = trained_weights(strings, config, threads=threads, batch_size=batch_size)
    return digests_from_weights(weights, config)


def weight_hash(s: str, config: WeightHashConfig = DEFAULT_CONFIG) -> str:
    """The hex digest of ``s``: its trained weights, rounded (see the module docstring)."""
    return weight_hash_many([s], config)[0]


def verify(s: str, digest: str, config: WeightHashConfig = DEFAULT_CONFIG) -> bool:
    """Whether ``digest`` is the weight hash of ``s``: the method's only check, recompute
    and compare."""
    return weight_hash(s, config) == digest


def weights_from_digest(digest: str, config: WeightHashConfig = DEFAULT_CONFIG) -> np.ndarray:
    """The rounded ``(width, width)`` weight matrix a digest encodes."""
    raw = np.frombuffer(bytes.fromhex(digest), dtype=">i8").astype(np.float64)
    return raw.reshape(config.width, config.width) / 2.0**config.fraction_bits


# ----------------------------------------------------------------------------- contender


class WeightHash(HashFunction):
    """The weight hash as a leaderboard contender: bin = xxh64(hex digest) mod ``n_bins``.

    The method defines a digest, not bins; the :class:`~baselines.classical.XXH64`
    contender spreads each digest over the bins, so two words share a bin beyond chance
    only when their digests are equal -- what the weight hash itself contributes.

    ``size_bytes`` = 0: the function is keyless. Its weights are computed per input (they
    are the output, not stored state); width, epochs, learning rate, Adam's constants and
    the fixed xxh64 seed 0 are algorithm constants, like a classical hash's mixing
    constants.
    """

    name = "weight-hash"

    def __init__(self, n_bins: int, **config: object) -> None:
        super().__init__(n_bins)
        self.config = WeightHashConfig(**config)  # type: ignore[arg-type]
        self._spread = XXH64(n_bins)

    @property
    def size_bytes(self) -> int:
        return 0

    def digests(self, words: Sequence[str] | Iterable[str]) -> list[str]:
        """Hex digests of ``words`` under this contender's configuration."""
        return weight_hash_many(words, self.config)

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        return self._spread.hash_many(self.digests(words))
