"""Hash-function artifacts: a policy's argmax network as a self-contained ONNX file.

Loading needs only numpy, onnx and onnxruntime -- not torch, not Stable-Baselines3 -- so
a trained hash can be shipped and used anywhere. The file carries everything needed to
reproduce the function: the network (input: encoded words; output: bins), the word
encoding and its length, ``n_bins``, and a SHA-256 of the graph so that damage is
detected instead of silently hashing differently.

Where torch is installed, :func:`load_hash` also rebuilds the network from the graph's
float32 parameters (named by the ``network`` metadata entry) and hashes through the
certified float32 :class:`agents.hashes.hash_network.FastScorer` -- the same bins as the graph,
tens of times faster; ``fast=False`` keeps to onnxruntime (and never imports torch).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from agents.hashes.container import read_artifact
from hash_envs.encoding import WordEncoder
from hash_envs.hashing import ArtifactError, HashFunction

__all__ = ["ArtifactError", "OnnxHash", "load_hash"]

#: Words both paths hash at load, as a check that the fast path computes the graph's
#: function: empty, short, long (folded), non-ASCII and a lone surrogate.
_PROBE = ["", "a", "hash", "function", "Archaeopterygiformes", "naïve", "日本語", "\ud800",
          "x" * 300, *(f"probe{i}" * (1 + i % 9) for i in range(57))]  # fmt: skip


class OnnxHash(HashFunction):
    """A hash function loaded from an artifact: through the certified float32 fast path
    where torch is installed and ``fast`` (the default), else by onnxruntime."""

    def __init__(self, path: str | Path, *, chunk_size: int = 65536, fast: bool = True) -> None:
        self.path = Path(path)
        model, self.metadata = read_artifact(self.path)
        super().__init__(int(self.metadata["n_bins"]))
        self.name = self.metadata["name"]
        self.encoder = WordEncoder(self.metadata["encoding"], int(self.metadata["max_len"]))  # type: ignore[arg-type]
        self.chunk_size = chunk_size
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime's own types (Fail, InvalidGraph, ...)
            raise ArtifactError(f"{self.path} is damaged: onnxruntime refuses it ({err})") from None
        self._input = self._session.get_inputs()[0].name
        #: The fast path (an :class:`agents.hashes.hash_network.FastScorer`), or ``None``.
        self.fast = self._fast_scorer(model) if fast else None

    def _fast_scorer(self, model: onnx.ModelProto) -> Any:
        """The network rebuilt from the graph's parameters on the fast path (a quantised
        artifact: its :class:`agents.QuantizedHash`); ``None`` without torch, for an
        artifact without a ``network`` or ``quantized`` spec (written before it had one)
        or layers the fast path lacks."""
        kind = next((k for k in ("network", "quantized") if k in self.metadata), None)
        if kind is None:
            return None
        try:
            from agents.hashes.hash_network import FastScorer, HashNetwork
            from agents.hashes.quantized_hash import QuantizedHash
        except ImportError:  # torch is an optional extra: onnxruntime it is
            return None
        parameters = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
        scorer: Any
        try:
            spec = self.extra(kind)
            if kind == "quantized":
                scorer = QuantizedHash.from_artifact(
                    spec, parameters, self.encoder.max_len, self.n_bins, self.name
                )
            else:
                network = HashNetwork.from_spec(spec, parameters, self.encoder, self.n_bins)
                scorer = FastScorer.for_network(network, reference=self._graph_bins)
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{self.path} is damaged: its {kind} spec ({err})") from None
        if scorer is not None and not np.array_equal(
            scorer.hash_words(_PROBE), self.graph_bins(_PROBE)
        ):
            warnings.warn(
                f"{self.path}: the fast path disagrees with the graph on probe words; "
                "hashing with onnxruntime",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        return scorer

    def _graph_bins(self, obs: np.ndarray) -> np.ndarray:
        """Bins of encoded words by the graph (onnxruntime)."""
        (out,) = self._session.run(None, {self._input: obs})
        return np.asarray(out, dtype=np.int64)

    @property
    def size_bytes(self) -> int:
        return int(self.metadata["size_bytes"])

    def extra(self, key: str) -> Any:
        """A JSON metadata entry written at export (e.g. ``"env_kwargs"``), or ``None``."""
        value = self.metadata.get(key)
        return None if value is None else json.loads(value)

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        if self.fast is None:
            return self.graph_bins(words)
        words = list(words)
        bins = np.empty(len(words), dtype=np.int64)
        for start in range(0, len(words), self.chunk_size):
            chunk = words[start : start + self.chunk_size]
            bins[start : start + len(chunk)] = self.fast.hash_words(chunk)
        return bins

    def graph_bins(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """Bins by the graph itself (onnxruntime: float64, or a quantised artifact's exact
        float32), whatever :attr:`fast` is."""
        words = list(words)
        bins = np.empty(len(words), dtype=np.int64)
        for start in range(0, len(words), self.chunk_size):
            chunk = self.encoder.encode(words[start : start + self.chunk_size], overflow="fold")
            bins[start : start + len(chunk)] = self._graph_bins(chunk)
        return bins


def load_hash(path: str | Path, *, fast: bool = True) -> OnnxHash:
    """Load an exported hash function (raises :class:`ArtifactError` for a bad file).

    ``fast``: hash through the certified float32 fast path where torch is installed
    (the graph's bins, tens of times faster); ``False`` keeps to onnxruntime.
    """
    return OnnxHash(path, fast=fast)
