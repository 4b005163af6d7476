"""Hash methods of the model-hash index: what turns a layer graph into a code.

The SimHash methods hash the canonical graph (:func:`~model_hashing.graph.canonicalize`,
then the merge rules), so that exporter and deployment details do not move a code. A code is
only comparable with codes of the same method, version and length: :attr:`HashMethod.key`
is what the index stores beside each code and checks before comparing.

* ``ophist`` (the default): SimHash of the operator histogram with soft half-decade
  FLOPs and parameter magnitudes (:func:`~model_hashing.baselines.soft_histogram_simhash`;
  version 1 used the digit-count labels of
  :func:`~model_hashing.baselines.op_histogram_simhash`). It needs no training and is the
  best method of the measured tables (docs/model_hashing.md), so the default works on a
  fresh install, offline, in seconds.
* ``wl``: SimHash of Weisfeiler–Lehman subtree labels.
* ``hnn``: a trained HNN-Net checkpoint; its version is a digest of the checkpoint file,
  since two trainings give unrelated codes.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import torch

from model_hashing.baselines import BINS_PER_DECADE, soft_histogram_simhash, wl_simhash
from model_hashing.dataset import to_data
from model_hashing.graph import (
    CANONICAL_VERSION,
    N_DIGIT_BINS,
    OP_TYPES,
    canonicalize,
    merge_layers,
)

DEFAULT_METHOD = "ophist"
#: Q of the default: the best of the measured 16 / 32 / 64 / 128 for the soft histogram
#: SimHash on both retrieval tables (fewer bits leave more SimHash noise, docs/model_hashing.md).
DEFAULT_BITS = 128
#: The code lengths the evaluations report.
EVAL_BITS: tuple[int, ...] = (16, 32, 64, 128)
METHODS = ("ophist", "wl", "hnn")


def _feature_digest(magnitudes: str) -> str:
    """Short digest of the node-label layout (vocabulary, magnitude bins, canonical form):
    a changed layout changes every code, so it is part of the version."""
    text = ",".join(OP_TYPES) + f"|{magnitudes}|canonical{CANONICAL_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class MethodKey:
    """What makes two codes comparable."""

    method: str
    version: str
    n_bits: int

    def __str__(self) -> str:
        return f"{self.method} (version {self.version}, Q = {self.n_bits})"


class HashMethod(ABC):
    """``method(raw_layer_graph) -> code`` (uint8 in {0, 1}, length :attr:`n_bits`)."""

    name: str
    n_bits: int

    @property
    @abstractmethod
    def version(self) -> str: ...

    @property
    def key(self) -> MethodKey:
        return MethodKey(self.name, self.version, self.n_bits)

    def prepare(self, g: nx.DiGraph) -> nx.DiGraph:
        """The graph the method hashes: canonical, then merged."""
        return merge_layers(canonicalize(g))

    @abstractmethod
    def hash_graph(self, g: nx.DiGraph) -> np.ndarray:
        """The code of a prepared graph."""

    def __call__(self, g: nx.DiGraph) -> np.ndarray:
        return self.hash_graph(self.prepare(g))


class OpHistSimHash(HashMethod):
    name = "ophist"

    def __init__(self, n_bits: int = DEFAULT_BITS) -> None:
        if n_bits <= 0:
            raise ValueError(f"n_bits must be positive, got {n_bits}")
        self.n_bits = n_bits

    @property
    def version(self) -> str:
        return f"2-{_feature_digest(f'soft{BINS_PER_DECADE}')}"

    def hash_graph(self, g: nx.DiGraph) -> np.ndarray:
        return soft_histogram_simhash(g, self.n_bits)


class WLSimHash(OpHistSimHash):
    name = "wl"

    @property
    def version(self) -> str:
        return f"1-{_feature_digest(str(N_DIGIT_BINS))}"  # as before version 2 of ophist

    def hash_graph(self, g: nx.DiGraph) -> np.ndarray:
        return wl_simhash(to_data(g), self.n_bits)


class HNNHash(HashMethod):
    """A trained HNN-Net. It hashes the graphs it was trained on: canonical if it was
    trained on canonical graphs (``reproduce --canonical``), merged if it was trained
    merged."""

    name = "hnn"

    def __init__(self, checkpoint: str | Path) -> None:
        from model_hashing.train import load_checkpoint

        path = Path(checkpoint)
        if not path.is_file():
            raise ValueError(f"no trained HNN-Net at {path} (pass --checkpoint PATH)")
        self.net, self.meta = load_checkpoint(path)
        self.n_bits = self.net.n_bits
        self._version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    @property
    def version(self) -> str:
        return self._version

    def prepare(self, g: nx.DiGraph) -> nx.DiGraph:
        g = canonicalize(g) if self.meta["canonical"] else g
        return merge_layers(g) if self.meta["merged"] else g

    def hash_graph(self, g: nx.DiGraph) -> np.ndarray:
        from model_hashing.train import encode

        with torch.no_grad():
            return encode(self.net, [to_data(g)])[0]


def make_method(
    name: str = DEFAULT_METHOD, n_bits: int | None = None, checkpoint: str | Path | None = None
) -> HashMethod:
    """A method by name; ``hnn`` needs ``checkpoint`` (its Q is the checkpoint's)."""
    if name == "hnn":
        if checkpoint is None:
            raise ValueError("--method hnn needs --checkpoint PATH (a trained HNN-Net)")
        if n_bits is not None:
            raise ValueError("--bits does not apply to hnn: Q is the checkpoint's")
        return HNNHash(checkpoint)
    if checkpoint is not None:
        raise ValueError(f"--checkpoint applies to --method hnn only, not {name!r}")
    if name == "ophist":
        return OpHistSimHash(n_bits or DEFAULT_BITS)
    if name == "wl":
        return WLSimHash(n_bits or DEFAULT_BITS)
    raise ValueError(f"unknown method {name!r}; expected one of {METHODS}")
