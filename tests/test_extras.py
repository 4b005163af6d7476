"""A core install (``pip install -e .``, no extras) runs the leaderboard, and a feature used
without its extra says which extra to install.

The missing dependency is simulated with ``sys.modules[name] = None``, which makes
``import name`` raise ``ModuleNotFoundError`` as if it were not installed.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from hash_envs import hashing
from hash_envs.lazy import lazy_exports, missing_extra


class _EntryPoint:
    def __init__(self, name: str, load) -> None:
        self.name = name
        self.load = load


def _needs(module: str):
    def load():
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    return load


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "_REGISTRY", {})
    monkeypatch.setattr(hashing, "_UNAVAILABLE", {})
    monkeypatch.setattr(hashing, "_entry_points_loaded", False)


def test_contender_without_its_extra_is_skipped_with_a_note(monkeypatch, fresh_registry):
    from baselines.classical import XXH64

    points = [_EntryPoint("xxh64", lambda: XXH64), _EntryPoint("weight-hash", _needs("torch"))]
    monkeypatch.setattr(hashing, "entry_points", lambda group: points)
    assert hashing.registered_hash_functions() == ["xxh64"]
    note = hashing.unavailable_hash_functions()["weight-hash"]
    assert note == "the contender 'weight-hash' needs torch: pip install 'hash-envs[torch]'"
    with pytest.raises(ValueError, match=r"hash-envs\[torch\]"):
        hashing.make_hash_function("weight-hash", 100)
    assert hashing.make_hash_function("xxh64", 100).n_bins == 100


def test_contender_with_a_broken_import_still_fails(monkeypatch, fresh_registry):
    points = [_EntryPoint("broken", _needs("no_such_module_of_ours"))]
    monkeypatch.setattr(hashing, "entry_points", lambda group: points)
    with pytest.raises(ModuleNotFoundError, match="no_such_module_of_ours"):
        hashing.registered_hash_functions()


def test_artifact_loader_without_its_extra_names_it(monkeypatch, tmp_path: Path):
    artifact = tmp_path / "hash.onnx"
    artifact.write_bytes(b"not read: the loader cannot be imported")
    monkeypatch.setattr(
        hashing, "entry_points", lambda group: [_EntryPoint(".onnx", _needs("onnx"))]
    )
    with pytest.raises(
        ValueError, match=r"loading \.onnx files needs onnx: pip install 'hash-envs\[rl\]'"
    ):
        hashing.load_artifact(artifact)


def test_lazy_name_without_its_extra_names_it(monkeypatch, tmp_path: Path):
    (tmp_path / "_needs_torch_for_test.py").write_text("import torch\nThing = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "torch", None)  # torch is "not installed"
    monkeypatch.setitem(sys.modules, "_fake_package", types.ModuleType("_fake_package"))
    getattr_, _, names = lazy_exports("_fake_package", {"Thing": "_needs_torch_for_test"}, "rl")
    assert names == ["Thing"]
    with pytest.raises(ModuleNotFoundError) as err:
        getattr_("Thing")
    assert str(err.value) == "_fake_package.Thing needs torch: pip install 'hash-envs[rl]'"
    assert err.value.name == "torch"


def test_missing_extra_only_for_optional_modules() -> None:
    assert missing_extra(ModuleNotFoundError(name="sklearn.svm"), "x") == (
        "x needs sklearn: pip install 'hash-envs[encoders]'"
    )
    assert missing_extra(ModuleNotFoundError(name="numpy"), "x") is None  # a core dependency
    assert missing_extra(ImportError("no name"), "x") is None
