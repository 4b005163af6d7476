"""HNN-Net: perceptual hashes of neural networks from their ONNX graphs.

Similar networks (the same family, or a copy of a model with a few layers changed) get
binary codes at small Hamming distance, so a model hub can look up suspected copies.

Modules: :mod:`~model_hashing.graph` (ONNX -> layer graph, merge rules, features, FLOPs),
:mod:`~model_hashing.zoo` (torchvision models), :mod:`~model_hashing.ged` (augmentation and
edit-distance targets), :mod:`~model_hashing.dataset` (cached PyG dataset),
:mod:`~model_hashing.nn` and :mod:`~model_hashing.train` (HNN-Net),
:mod:`~model_hashing.baselines` (WL / histogram SimHash), :mod:`~model_hashing.retrieval`
(metrics), :mod:`~model_hashing.evaluate` (the table), :mod:`~model_hashing.zoo_eval`
(all torchvision models, held-out families), :mod:`~model_hashing.index`
(SQLite model-hash index) and :mod:`~model_hashing.cli`.

The graph functions below are imported on first use, so that ``hash-envs`` (which
registers the ``model-hash`` subcommand) starts without importing torch.
"""

from __future__ import annotations

from hash_envs.lazy import lazy_exports

_GRAPH_NAMES = (
    "MERGE_RULES",
    "OP_TYPES",
    "export_onnx",
    "load_onnx",
    "merge_layers",
    "node_features",
    "onnx_to_graph",
    "total_flops",
    "total_params",
)


class ModelHashError(ValueError):
    """A model-hash file (an HNN-Net checkpoint, an index database) is foreign, truncated,
    damaged or unreadable; the message names the file."""


__getattr__, __dir__, __all__ = lazy_exports(
    __name__, dict.fromkeys(_GRAPH_NAMES, "model_hashing.graph"), extra="graph"
)
__all__.append("ModelHashError")  # defined here, not lazily (also listed by dir())
