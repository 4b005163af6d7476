"""The model-zoo dataset (PyTorch Geometric ``InMemoryDataset``), built once and cached.

Every model of the zoo is exported to ONNX (``raw/``: weight-free, a few hundred kB),
turned into its layer graph (raw or merged), and augmented ``n_aug`` times by deleting a
fraction of its nodes; the originals and copies, their node features and the matrix of
``min(GED, R)`` between all of them are stored under ``processed/``. A second
instantiation with the same arguments only loads those files.

Models are built and exported one at a time and freed before the next (the largest
torchvision models have over 600M parameters). A model that cannot be exported or turned
into a graph is skipped with its reason, never silently: ``raw/<name>.skip.json`` records
a failed export (delete it to try again), and :attr:`ModelZooDataset.skipped` lists every
skipped model with its reason.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
import torch
from torch_geometric.data import Data, InMemoryDataset

from model_hashing.ged import delete_nodes, ged_matrix
from model_hashing.graph import (
    CANONICAL_VERSION,
    OP_TYPES,
    canonicalize,
    merge_layers,
    node_features,
    onnx_to_graph,
)
from model_hashing.zoo import PAPER_MODELS, export_zoo_model


def default_root() -> Path:
    """``<hash_envs cache>/model_hashing/zoo`` (``$HASH_ENVS_CACHE`` moves it)."""
    from hash_envs.corpus import cache_dir

    return cache_dir() / "model_hashing" / "zoo"


def to_data(g: nx.DiGraph) -> Data:
    """A layer graph as a PyG ``Data`` (nodes in sorted id order, edges as in the DAG)."""
    order = sorted(g.nodes)
    relabelled = nx.relabel_nodes(g, {n: i for i, n in enumerate(order)})
    x = torch.from_numpy(node_features(relabelled))
    edges = list(relabelled.edges)
    edge_index = (
        torch.tensor(edges, dtype=torch.long).t().contiguous()
        if edges
        else torch.zeros((2, 0), dtype=torch.long)
    )
    return Data(x=x, edge_index=edge_index, num_nodes=len(order))


class ModelZooDataset(InMemoryDataset):
    """Layer graphs of a torchvision model zoo and their augmented copies.

    Each item has ``x`` (node features), ``edge_index``, ``y`` (family index into
    :attr:`families`), ``model`` (index into :attr:`models`) and ``copy`` (0 for the
    original, 1..n_aug for the copies). :attr:`ged` holds ``min(GED, ged_cap)`` between all
    items, in item order.

    Args:
        root: cache directory (default :func:`default_root`).
        models: model name -> family (default: the paper's 21 models).
        merged: apply the merge rules ("merged" data) or not ("raw" data).
        canonical: canonicalise each graph first (:func:`~model_hashing.graph.canonicalize`:
            BatchNorm folded, no-op nodes dropped...), as the index's SimHash methods do, so
            that an HNN-Net trained on it hashes BN-folded or quantised copies like their
            source.
        n_aug: augmented copies per model.
        delete_fraction: fraction of nodes deleted per copy.
        seed: seed of the augmentation.
        ged_cap: ``R`` of ``min(GED, R)``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        models: dict[str, str] | None = None,
        merged: bool = True,
        n_aug: int = 10,
        delete_fraction: float = 0.1,
        seed: int = 0,
        ged_cap: int = 100,
        force_reload: bool = False,
        canonical: bool = False,
    ) -> None:
        self.model_families = dict(PAPER_MODELS if models is None else models)
        if not self.model_families:
            raise ValueError("models must name at least one model")
        self.merged, self.canonical, self.n_aug, self.seed = merged, canonical, n_aug, seed
        self.delete_fraction, self.ged_cap = delete_fraction, ged_cap
        #: every model asked for; :attr:`models` are those in the dataset
        self.requested: list[str] = list(self.model_families)
        self.models: list[str] = list(self.requested)
        #: skipped model -> reason (failed export or graph conversion)
        self.skipped: dict[str, str] = {}
        self.families: list[str] = sorted(set(self.model_families.values()))
        super().__init__(str(root or default_root()), force_reload=force_reload, log=False)
        self.load(self.processed_paths[0])
        self.ged: torch.Tensor = torch.load(self.processed_paths[1], weights_only=True)
        meta = json.loads(Path(self.processed_paths[2]).read_text())
        self.models, self.skipped = meta["models"], meta["skipped"]

    @property
    def raw_file_names(self) -> list[str]:
        """``<name>.onnx``, or ``<name>.skip.json`` where an earlier export failed."""
        raw = Path(self.raw_dir)
        return [
            f"{name}.skip.json" if (raw / f"{name}.skip.json").exists() else f"{name}.onnx"
            for name in self.requested
        ]

    @property
    def processed_file_names(self) -> list[str]:
        tag = ("merged" if self.merged else "raw") + (
            f"_canonical{CANONICAL_VERSION}" if self.canonical else ""
        )
        key = _digest(self.model_families)
        stem = (
            f"{tag}_n{len(self.requested)}_{key}_aug{self.n_aug}_del{self.delete_fraction}"
            f"_seed{self.seed}_R{self.ged_cap}"
        )
        return [f"{stem}.pt", f"{stem}_ged.pt", f"{stem}_models.json"]

    def download(self) -> None:
        """Export the models to ONNX (nothing is downloaded: ``weights=None``), one at a
        time; a failed export leaves ``<name>.skip.json`` with the reason."""
        raw = Path(self.raw_dir)
        for name in self.requested:
            path, marker = raw / f"{name}.onnx", raw / f"{name}.skip.json"
            if path.exists() or marker.exists():
                continue
            try:
                onnx.save(export_zoo_model(name), str(path))
            except Exception as err:  # any exporter failure: record it, go on
                reason = f"export failed: {type(err).__name__}: {_first_line(err)}"
                marker.write_text(json.dumps({"model": name, "reason": reason}))
            gc.collect()  # free the (possibly 600M-parameter) model before the next one

    def process(self) -> None:
        rng = np.random.default_rng(self.seed)
        graphs: list[nx.DiGraph] = []
        data_list: list[Data] = []
        origins: list[int] = []
        raw = Path(self.raw_dir)
        included: list[str] = []
        skipped: dict[str, str] = {}
        for name in self.requested:
            marker = raw / f"{name}.skip.json"
            if marker.exists():
                skipped[name] = json.loads(marker.read_text())["reason"]
                continue
            try:
                g = onnx_to_graph(raw / f"{name}.onnx")
            except Exception as err:  # shape inference or conversion failure
                skipped[name] = f"graph failed: {type(err).__name__}: {_first_line(err)}"
                continue
            index = len(included)
            included.append(name)
            if self.canonical:
                g = canonicalize(g)
            if self.merged:
                g = merge_layers(g)
            copies = [g] + [delete_nodes(g, self.delete_fraction, rng) for _ in range(self.n_aug)]
            for copy_index, copy in enumerate(copies):
                data = to_data(copy)
                data.y = torch.tensor([self.families.index(self.model_families[name])])
                data.model = torch.tensor([index])
                data.copy = torch.tensor([copy_index])
                data_list.append(data)
                graphs.append(copy)
                origins.append(index)
        if not included:
            raise ValueError(f"no model of the zoo could be exported: {skipped}")
        self.models, self.skipped = included, skipped
        self.save(data_list, self.processed_paths[0])
        ged = ged_matrix(graphs, origins, self.ged_cap)
        torch.save(torch.from_numpy(ged), self.processed_paths[1])
        meta = {"models": included, "skipped": skipped}
        Path(self.processed_paths[2]).write_text(json.dumps(meta, indent=1))

    def split(self, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Seeded train/test indices, stratified by source model (each model's original and
        copies are shuffled and ``round(test_fraction * (n_aug + 1))`` go to the test set)."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        model_of = self._data.model.numpy()
        train, test = [], []
        for index in range(len(self.models)):
            members = rng.permutation(np.flatnonzero(model_of == index))
            n_test = max(1, round(test_fraction * len(members)))
            test.extend(members[:n_test])
            train.extend(members[n_test:])
        return np.sort(np.array(train)), np.sort(np.array(test))


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message, shortened (exporter errors can hold whole
    TorchScript graphs)."""
    lines = str(err).strip().splitlines()
    return lines[0][:300] if lines else ""


def _digest(models: dict[str, str]) -> str:
    """Short stable digest of the model list and the feature layout, so a different zoo or
    operator vocabulary gets its own cache files."""
    text = ";".join(f"{k}={v}" for k, v in models.items()) + "|" + ",".join(OP_TYPES)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
