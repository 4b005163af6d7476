"""The container of a hash artifact: an ONNX file with hash-envs metadata.

The format tag, a SHA-256 of the graph and one of the metadata make damage detectable
instead of silently hashing differently. Writers (:class:`agents.PolicyHash`,
:class:`agents.QuantizedHash`) stamp it; :func:`agents.load_hash` reads it. This module
knows no concrete hash class, so every writer can import it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx

from hash_envs.encoding import WordEncoder
from hash_envs.hashing import ArtifactError

__all__ = ["FORMAT", "read_artifact", "stamp_metadata"]

FORMAT = "hash-envs/policy-hash/1"
_PREFIX = "hash_envs."
_REQUIRED = ("format", "encoding", "max_len", "n_bins", "size_bytes", "name", "graph_sha256")


def _graph_digest(model: onnx.ModelProto) -> str:
    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()


def _metadata_digest(model: onnx.ModelProto, meta: Mapping[str, str]) -> str:
    """SHA-256 of what the graph checksum leaves out: the IR version, the opsets and the
    metadata entries (all but this digest's own, in key order)."""
    entries = sorted((k, v) for k, v in meta.items() if k != "metadata_sha256")
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    text = json.dumps([model.ir_version, opsets, entries])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stamp_metadata(model: onnx.ModelProto, metadata: Mapping[str, Any]) -> None:
    """Write ``metadata`` (plus the format tag, the graph checksum and a checksum of the
    metadata itself) into ``model``."""
    entries = {"format": FORMAT, **metadata, "graph_sha256": _graph_digest(model)}
    texts = {k: v if isinstance(v, str) else json.dumps(v) for k, v in entries.items()}
    texts["metadata_sha256"] = _metadata_digest(model, texts)
    del model.metadata_props[:]
    for key, text in texts.items():
        model.metadata_props.add(key=_PREFIX + key, value=text)


def read_artifact(path: Path) -> tuple[onnx.ModelProto, dict[str, str]]:
    """The model and its ``hash_envs.`` metadata entries, checked: :class:`ArtifactError`
    for a file that is not a readable, undamaged hash artifact."""
    try:
        model = onnx.load_model_from_string(path.read_bytes())
    except FileNotFoundError:
        raise
    except Exception as err:  # protobuf raises several unrelated types on garbage
        raise ArtifactError(f"{path} is not a readable ONNX file ({err})") from None
    if not all(isinstance(p.key, str) and isinstance(p.value, str) for p in model.metadata_props):
        # protobuf hands a string field that is not valid UTF-8 over as bytes
        raise ArtifactError(f"{path} is damaged: its metadata is not UTF-8 text")
    meta = {
        p.key[len(_PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(_PREFIX)
    }
    if meta.get("format") != FORMAT:
        raise ArtifactError(
            f"{path} is an ONNX file but not a hash-envs hash artifact (format tag "
            f"{meta.get('format')!r}, expected {FORMAT!r}); export one with "
            "agents.PolicyHash(model).export_onnx(path)"
        )
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        raise ArtifactError(f"{path} lacks the metadata {missing}")
    if _graph_digest(model) != meta["graph_sha256"]:
        raise ArtifactError(f"{path} is damaged: its graph does not match its SHA-256 checksum")
    # Artifacts written before the metadata had its own checksum are read without it.
    if "metadata_sha256" in meta and _metadata_digest(model, meta) != meta["metadata_sha256"]:
        raise ArtifactError(f"{path} is damaged: its metadata does not match its SHA-256 checksum")
    try:
        n_bins, max_len, size = (int(meta[k]) for k in ("n_bins", "max_len", "size_bytes"))
        WordEncoder(meta["encoding"], max_len)  # type: ignore[arg-type]
    except ValueError as err:
        raise ArtifactError(f"{path} is damaged: bad metadata ({err})") from None
    if n_bins < 1 or size < 0:
        raise ArtifactError(f"{path} is damaged: n_bins={n_bins}, size_bytes={size}")
    return model, meta
