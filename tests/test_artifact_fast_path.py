"""A loaded artifact hashes on the certified float32 fast path, with the graph's bins.

``load_hash`` rebuilds the network from the graph's float32 parameters (named by the
artifact's ``network`` spec) where torch is installed; the bins must be the graph's
(onnxruntime, float64) on every web2 word, for both encodings and factorised heads. An
artifact without a spec (written before it had one) falls back to onnxruntime; a spec
that names no tensor is damage; a spec that disagrees with the graph is caught by the
probe words at load and falls back with a warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from test_fast_inference import build

from agents import ArtifactError, PolicyHash, load_hash
from agents.hashes.container import stamp_metadata
from hash_envs import corpus


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


def restamped(path: Path, out: Path, edit) -> Path:
    """``path``'s artifact with its metadata edited by ``edit(dict)`` and the checksums
    recomputed: a well-formed file whose metadata says something else."""
    model = onnx.load(str(path))
    meta = {p.key.removeprefix("hash_envs."): p.value for p in model.metadata_props}
    for key in ("format", "graph_sha256", "metadata_sha256"):
        del meta[key]
    edit(meta)
    stamp_metadata(model, meta)
    onnx.save(model, str(out))
    return out


@pytest.mark.parametrize("factorize", [False, True])
@pytest.mark.parametrize("encoding", ["bytes", "codepoints"])
def test_loaded_artifact_hashes_on_the_fast_path_with_the_graphs_bins(
    tmp_path: Path, web2: list[str], encoding: str, factorize: bool
) -> None:
    h: PolicyHash = build(encoding, factorize)
    loaded = load_hash(h.export_onnx(tmp_path / "hash.onnx"))
    assert loaded.fast is not None
    bins = loaded.hash_many(web2)
    np.testing.assert_array_equal(bins, loaded.graph_bins(web2))
    np.testing.assert_array_equal(bins, h.hash_many(web2))
    loaded.chunk_size = 7  # any batch size
    np.testing.assert_array_equal(loaded.hash_many(web2[:3000]), bins[:3000])


def test_fast_false_and_old_artifacts_hash_with_onnxruntime(
    tmp_path: Path, web2: list[str]
) -> None:
    h = build("bytes", True)
    path = h.export_onnx(tmp_path / "hash.onnx")
    words = web2[::7]
    expected = h.hash_many(words)
    plain = load_hash(path, fast=False)
    assert plain.fast is None
    np.testing.assert_array_equal(plain.hash_many(words), expected)
    old = load_hash(restamped(path, tmp_path / "old.onnx", lambda meta: meta.pop("network")))
    assert old.fast is None
    np.testing.assert_array_equal(old.hash_many(words), expected)


def test_a_spec_naming_no_tensor_is_damage(tmp_path: Path) -> None:
    path = build("codepoints", False).export_onnx(tmp_path / "hash.onnx")

    def widen(meta: dict) -> None:
        spec = json.loads(meta["network"])
        spec["layers"][0]["linear"][1] += 1  # no layers.0.weight of that shape
        meta["network"] = json.dumps(spec)

    with pytest.raises(ArtifactError, match="network spec"):
        load_hash(restamped(path, tmp_path / "bad.onnx", widen))


def test_a_spec_that_disagrees_with_the_graph_falls_back_with_a_warning(
    tmp_path: Path, web2: list[str]
) -> None:
    h = build("bytes", False)
    path = h.export_onnx(tmp_path / "hash.onnx")

    def relu(meta: dict) -> None:  # the graph computes sin
        meta["network"] = meta["network"].replace('"Sin"', '"ReLU"')

    with pytest.warns(RuntimeWarning, match="disagrees with the graph"):
        loaded = load_hash(restamped(path, tmp_path / "relu.onnx", relu))
    assert loaded.fast is None
    np.testing.assert_array_equal(loaded.hash_many(web2[:5000]), h.hash_many(web2[:5000]))
