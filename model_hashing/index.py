"""Model-hash index: hash models with a trained HNN-Net and look up near copies.

A model hub would hash every uploaded model and, for a suspected pirated copy, list the
stored models at the smallest Hamming distance. Codes and metadata live in an SQLite
database (no server, one file); the search is a linear Hamming scan, ample for the tens
of thousands of models a hub holds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_hashing.dataset import to_data
from model_hashing.graph import merge_layers, onnx_to_graph, total_flops, total_params
from model_hashing.nn import HNNNet
from model_hashing.train import encode, load_checkpoint
from model_hashing.zoo import classification_models, export_zoo_model


def default_dir() -> Path:
    """``<hash_envs cache>/model_hashing`` (``$HASH_ENVS_CACHE`` moves it)."""
    from hash_envs.corpus import cache_dir

    return cache_dir() / "model_hashing"


def default_db() -> Path:
    return default_dir() / "index.sqlite"


def default_checkpoint() -> Path:
    """Where ``hash-envs model-hash reproduce`` leaves the merged-data, Q = 32 HNN-Net."""
    return default_dir() / "hnn_q32_merged.pt"


class ModelHasher:
    """``hasher(model) -> (code, info)`` for an ONNX file or a torchvision model name."""

    def __init__(self, checkpoint: str | Path | None = None) -> None:
        path = Path(checkpoint) if checkpoint else default_checkpoint()
        if not path.is_file():
            raise ValueError(
                f"no trained HNN-Net at {path}; run `hash-envs model-hash reproduce` "
                "(or pass --checkpoint)"
            )
        self.net: HNNNet
        self.net, self.meta = load_checkpoint(path)
        self.n_bits = self.net.n_bits

    def __call__(self, model: str | Path) -> tuple[np.ndarray, dict]:
        start = time.perf_counter()
        source = str(model)
        if Path(source).exists() or source.endswith(".onnx"):
            g = onnx_to_graph(source)
        elif source in classification_models():
            g = onnx_to_graph(export_zoo_model(source))
        else:
            raise ValueError(f"{source!r} is neither an ONNX file nor a torchvision model name")
        if self.meta["merged"]:
            g = merge_layers(g)
        with torch.no_grad():
            code = encode(self.net, [to_data(g)])[0]
        info = {
            "nodes": g.number_of_nodes(),
            "gflops": total_flops(g) / 1e9,
            "params": total_params(g),
            "seconds": time.perf_counter() - start,
        }
        return code, info


@dataclass
class Match:
    name: str
    distance: int
    code: str
    meta: dict


def code_to_hex(code: np.ndarray) -> str:
    return np.packbits(np.asarray(code, dtype=np.uint8)).tobytes().hex()


def hex_to_code(text: str, n_bits: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n_bits]


class ModelHashIndex:
    """SQLite table ``models(name, n_bits, code, meta)``; ``name`` is unique (re-adding
    replaces the entry)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path)
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS models ("
                "name TEXT PRIMARY KEY, n_bits INTEGER NOT NULL, code TEXT NOT NULL, "
                "meta TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as err:
            raise ValueError(f"{self.path} is not a model-hash database ({err})") from None

    def add(self, name: str, code: np.ndarray, meta: dict | None = None) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?)",
                (name, len(code), code_to_hex(code), json.dumps(meta or {})),
            )

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM models").fetchone()[0])

    def query(self, code: np.ndarray, top: int = 5) -> list[Match]:
        """The ``top`` stored models of the same code length nearest in Hamming distance."""
        if top <= 0:
            raise ValueError(f"top must be positive, got {top}")
        rows = self.conn.execute(
            "SELECT name, code, meta FROM models WHERE n_bits = ?", (len(code),)
        ).fetchall()
        matches = []
        for name, text, meta in rows:
            stored = hex_to_code(text, len(code))
            distance = int((stored != np.asarray(code, dtype=np.uint8)).sum())
            matches.append(Match(name, distance, text, json.loads(meta)))
        matches.sort(key=lambda m: (m.distance, m.name))
        return matches[:top]

    def close(self) -> None:
        self.conn.close()
