"""Model-hash index: hash models and look up near copies.

A model hub would hash every uploaded model and, for a suspected pirated copy, list the
stored models at the smallest Hamming distance. Codes and metadata live in an SQLite
database (no server, one file); the search is a linear Hamming scan, ample for the tens
of thousands of models a hub holds.

Each code is stored with the method, version and length that made it
(:class:`~model_hashing.methods.MethodKey`); an index holds codes of one method only and
refuses to add or compare codes of another, since their distances mean nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_hashing import ModelHashError
from model_hashing.graph import OP_INDEX, onnx_to_graph, total_flops, total_params
from model_hashing.methods import DEFAULT_METHOD, HashMethod, MethodKey, make_method
from model_hashing.zoo import classification_models, export_zoo_model

#: Seconds a write waits for another process's transaction on the same index file.
BUSY_TIMEOUT_S = 60.0


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
    """``hasher(model) -> (code, info)`` for an ONNX file or a torchvision model name.

    Args:
        checkpoint: an HNN-Net checkpoint; implies ``method="hnn"``.
        method: ``"ophist"`` (default, no training), ``"wl"`` or ``"hnn"``.
        n_bits: code length of the SimHash methods (default
            :data:`~model_hashing.methods.DEFAULT_BITS`).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        method: str | None = None,
        n_bits: int | None = None,
    ) -> None:
        name = method or ("hnn" if checkpoint is not None else DEFAULT_METHOD)
        self.method: HashMethod = make_method(name, n_bits, checkpoint)
        self.n_bits = self.method.n_bits

    @property
    def key(self) -> MethodKey:
        return self.method.key

    def __call__(self, model: str | Path) -> tuple[np.ndarray, dict]:
        start = time.perf_counter()
        source = str(model)
        if Path(source).exists() or source.endswith(".onnx"):
            g = onnx_to_graph(source)
        elif source in classification_models():
            g = onnx_to_graph(export_zoo_model(source))
        else:
            raise ValueError(f"{source!r} is neither an ONNX file nor a torchvision model name")
        known = [op for _, op in g.nodes(data="op") if op in OP_INDEX and op != "Other"]
        if not known:
            ops = sorted({op for _, op in g.nodes(data="op")})
            raise ValueError(f"{source}: no layer of a type the graph generator knows ({ops})")
        code = self.method(g)
        key = self.key
        info = {
            "method": key.method,
            "version": key.version,
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


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_header(path: Path) -> None:
    """Refuse an existing file that is not an SQLite database before SQLite opens it: it
    would take a file shorter than its header for a new database and write one over it.
    An empty file is a new, empty index (as for SQLite itself)."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as err:
        raise ModelHashError(f"{path} is not a model-hash database ({err})") from None
    if head and head != _SQLITE_MAGIC:
        raise ModelHashError(f"{path} is not a model-hash database (no SQLite header)")


class ModelHashIndex:
    """SQLite table ``models(name, n_bits, code, meta, method, version)``; ``name`` is
    unique (re-adding replaces the entry). An index made before methods were recorded
    gets the columns with ``method = "hnn"``, ``version = "unknown"``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _check_header(self.path)
        try:
            # Several processes may use one index: a writer waits up to BUSY_TIMEOUT_S for
            # another's transaction instead of failing with "database is locked".
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            if self._missing_columns() == []:  # an up-to-date index is only read here
                return
            with self.conn:
                # One writer at a time re-checks and creates / migrates, so two processes
                # opening a new or an old index at once do not both CREATE or ALTER it.
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS models ("
                    "name TEXT PRIMARY KEY, n_bits INTEGER NOT NULL, code TEXT NOT NULL, "
                    "meta TEXT NOT NULL, method TEXT NOT NULL, version TEXT NOT NULL)"
                )
                for column, default in self._missing_columns() or []:
                    self.conn.execute(
                        f"ALTER TABLE models ADD COLUMN {column} TEXT NOT NULL DEFAULT '{default}'"
                    )
        except sqlite3.DatabaseError as err:
            raise ModelHashError(f"{self.path} is not a model-hash database ({err})") from None

    def _missing_columns(self) -> list[tuple[str, str]] | None:
        """``(column, default)`` of the columns an older index lacks; None without a table."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(models)")}
        if not columns:
            return None
        return [(c, d) for c, d in (("method", "hnn"), ("version", "unknown")) if c not in columns]

    def method_key(self) -> MethodKey | None:
        """The method of the stored codes (None while empty); ValueError if the file holds
        several (written by something else than this class)."""
        rows = self.conn.execute("SELECT DISTINCT method, version, n_bits FROM models").fetchall()
        if len(rows) > 1:
            raise ValueError(f"{self.path} mixes codes of {len(rows)} methods: {rows}")
        return MethodKey(*rows[0]) if rows else None

    def check_method(self, key: MethodKey, what: str = "compare") -> None:
        """ValueError unless the index is empty or holds codes of ``key``'s method."""
        stored = self.method_key()
        if stored is not None and stored != key:
            raise ValueError(
                f"{self.path} holds codes of {stored}; refusing to {what} codes of {key} "
                "(use another --db, or the index's method)"
            )

    def add(
        self,
        name: str,
        code: np.ndarray,
        meta: dict | None = None,
        key: MethodKey | None = None,
    ) -> None:
        """Store one code; ``key`` defaults to ``meta["method"]`` / ``meta["version"]``."""
        self.add_many([(name, code, meta or {})], key)

    def add_many(
        self, entries: Sequence[tuple[str, np.ndarray, dict]], key: MethodKey | None = None
    ) -> None:
        """Store ``(name, code, meta)`` entries in one transaction: all or none.

        The method check and the insert share one write transaction, so two processes
        adding codes of different methods to an empty index cannot both succeed."""
        rows = []
        keys = []
        for name, code, meta in entries:
            entry_key = key or MethodKey(
                meta.get("method", "hnn"), meta.get("version", "unknown"), len(code)
            )
            if entry_key.n_bits != len(code):
                raise ValueError(f"{name}: code of {len(code)} bits, method says {entry_key}")
            if keys and keys[-1] != entry_key:
                raise ValueError("entries of one add must come from one method")
            rows.append(
                (
                    name,
                    len(code),
                    code_to_hex(code),
                    json.dumps(meta),
                    entry_key.method,
                    entry_key.version,
                )
            )
            keys.append(entry_key)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # holds the write lock from the check on
            if keys:
                self.check_method(keys[0], "add")
            self.conn.executemany(
                "INSERT OR REPLACE INTO models (name, n_bits, code, meta, method, version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM models").fetchone()[0])

    def query(self, code: np.ndarray, top: int = 5, key: MethodKey | None = None) -> list[Match]:
        """The ``top`` stored models nearest in Hamming distance. With ``key``, ValueError
        if the index holds codes of another method; without, only codes of the same
        length are compared."""
        if top <= 0:
            raise ValueError(f"top must be positive, got {top}")
        if key is not None:
            if key.n_bits != len(code):
                raise ValueError(f"code of {len(code)} bits, method says {key}")
            self.check_method(key, "compare")
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
