"""A trained stateless policy as a deterministic hash function: bin = argmax.

:class:`PolicyHash` reads a Stable-Baselines3 policy's scoring layers into a
:class:`agents.hashes.hash_network.HashNetwork` (the float64 reference: what the ONNX artifact
computes) and hashes through its certified float32 :class:`agents.hashes.hash_network.FastScorer`,
which gives the reference's bins in any batch size, order, process or runtime.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy

from agents.hashes.container import stamp_metadata
from agents.hashes.hash_network import FastScorer, HashNetwork
from agents.hashes.quantized_hash import Kernel, QuantizedHash
from hash_envs.encoding import WordEncoder
from hash_envs.hashing import HashFunction

__all__ = ["FastScorer", "HashNetwork", "PolicyHash"]


class PolicyHash(HashFunction):
    """Word -> argmax of a trained stateless policy's action distribution.

    The answer depends on the word alone: the same word gets the same bin in any order,
    in any batch, in any process. Accepts an SB3 algorithm (``PG``, ``A2C``,
    ``SACDiscrete``, ``PPO``, ``DQN``, ``QRDQN``) or its policy. A table-aware policy is
    refused. A factorised policy (``MultiDiscrete([rows, cols])``) needs ``n_bins``
    (taken from the algorithm's env when there is one).

    :meth:`hash_many` takes the certified float32 :class:`FastScorer` (``fast=True``,
    where the layers allow it); :meth:`reference_bins` is the float64 network that is
    exported, and the two agree on every word.
    """

    def __init__(
        self,
        model: BaseAlgorithm | BasePolicy,
        *,
        name: str = "policy",
        n_bins: int | None = None,
        fast: bool = True,
        chunk_size: int = 65536,
    ) -> None:
        policy = model.policy if isinstance(model, BaseAlgorithm) else model
        if n_bins is None and isinstance(model, BaseAlgorithm) and model.get_env() is not None:
            env = model.get_env()
            if env.has_attr("n_bins"):
                n_bins = int(env.get_attr("n_bins")[0])
        self._use_network(HashNetwork.from_policy(policy, n_bins), name, fast, chunk_size)

    def _use_network(self, network: HashNetwork, name: str, fast: bool, chunk_size: int) -> None:
        """The set-up shared by every policy source (SB3 here, RLlib in agents.runs.rllib)."""
        self.network = network.eval()
        HashFunction.__init__(self, network.n_bins)
        self.name = name
        self.encoder = WordEncoder(network.encoding, network.max_len)  # type: ignore[arg-type]
        self.fast = FastScorer.for_network(network) if fast else None
        self.chunk_size = chunk_size

    @property
    def size_bytes(self) -> int:
        """Stored parameter bytes (float32 weights and biases)."""
        return 4 * self.network.n_parameters

    def _map(self, words: Sequence[str] | Iterable[str], fn: Any, chunk_size: int) -> np.ndarray:
        words = list(words)
        bins = np.empty(len(words), dtype=np.int64)
        with th.no_grad():
            for start in range(0, len(words), chunk_size):
                chunk = words[start : start + chunk_size]
                bins[start : start + len(chunk)] = fn(self.encoder.encode(chunk, overflow="fold"))
        return bins

    def reference_bins(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """Bins by the float64 network (what the ONNX artifact computes)."""
        # A bytes policy gathers (chunk, max_len, width) values in its first layer.
        size = self.chunk_size if self.encoder.kind == "codepoints" else self.chunk_size // 16
        return self._map(words, lambda obs: self.network(th.from_numpy(obs)).numpy(), size)

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        if self.fast is None:
            return self.reference_bins(words)
        words = words if isinstance(words, list) else list(words)
        bins = np.empty(len(words), dtype=np.int64)
        for start in range(0, len(words), self.chunk_size):
            chunk = words[start : start + self.chunk_size]
            bins[start : start + len(chunk)] = self.fast.hash_words(chunk)
        return bins

    def quantize(self, *, kernel: Kernel = "auto") -> QuantizedHash:
        """This hash's network in exact integer arithmetic (:mod:`agents.hashes.quantized_hash`):
        a *different* hash function -- bins move where two scores were close -- that is
        deterministic on every kernel without a tie rule, and several times faster for a
        wide head (the paper's 1000-way 2x300 network). Tanh and sine activations only;
        ``QuantizedHash.export_onnx`` writes an artifact :func:`agents.load_hash` reads."""
        return QuantizedHash(self.network, name=f"{self.name}-int8", kernel=kernel)

    def export_onnx(self, path: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the self-contained artifact; :func:`agents.load_hash` reads it back.

        ``metadata`` (JSON-serialisable) is stored beside the required fields, e.g. the
        training environment's arguments under ``"env_kwargs"``.
        """
        path = Path(path)
        example = th.from_numpy(self.encoder.encode(["hash", "function"], overflow="fold"))
        program = th.onnx.export(
            self.network,
            (example,),
            dynamo=True,
            input_names=["words"],
            output_names=["bins"],
            dynamic_shapes=({0: th.export.Dim("batch")},),
            verbose=False,
            # unoptimised, the graph keeps the float32 parameters as initializers named by
            # their state-dict keys, which the spec below names for load_hash's fast path
            # (onnxruntime folds the casts itself)
            optimize=False,
        )
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.onnx"
            program.save(str(raw))
            model = onnx.load(str(raw))
        fields = {
            "encoding": self.encoder.kind,
            "max_len": self.encoder.max_len,
            "n_bins": self.n_bins,
            "size_bytes": self.size_bytes,
            "name": self.name,
        }
        spec = self.network.spec()
        if spec is not None:
            fields["network"] = spec
        stamp_metadata(model, {**{k: json.dumps(v) for k, v in (metadata or {}).items()}, **fields})
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
        return path
