"""Fuzzed artifacts (issue #20): every file loader, fed foreign, truncated and bit-flipped
files, raises its package's own error naming the file -- or, where the damage leaves the
content intact, loads exactly the original -- never crashes the interpreter and never
writes anything.

Loaders: ``.onnx`` (:func:`agents.load_hash`), ``.pilots``, ``.phobic``, ``.bbhash``
(:func:`hash_envs.hashing.load_artifact`; :class:`~hash_envs.hashing.ArtifactError`), the
HNN-Net checkpoint (:func:`model_hashing.train.load_checkpoint`) and the SQLite model-hash
index (:class:`model_hashing.index.ModelHashIndex`; both
:class:`~model_hashing.ModelHashError`), and an SB3 checkpoint given to ``hash-envs
evaluate`` (exit status 2, ``hash-envs: error: <path> ...``; the CLI loads hash artifacts
only and has no ``export`` command).

Native code reads these files (onnxruntime, phobic, bbhash's C++ reader, torch), so the
loads run in a subprocess per loader (this file run as a script): a segfault or an abort
shows as a return code below 0 and names the case it happened in; the remaining cases are
then run in a fresh subprocess. Cases are fixed (seeded RNG): foreign files, truncations
and single bit flips at fixed relative offsets (plus, for ONNX, flips inside the
metadata values, which the graph checksum does not cover).

Two documented exceptions to "raise or load the original": SQLite keeps no checksums, so
a flip inside a stored row's bytes reads back as a different row (the index opens and
answers, or raises ``ModelHashError``); and an empty file is, to SQLite, an empty
database, which the index initialises as a new index (the same as a path that does not
exist yet) -- the only case that writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORDS = [f"w{i}" for i in range(50)]
PROBE = [*WORDS, "", "\0", "\ud800x", "café", "x" * 300, "unknown"]
#: A 1x1 PNG's signature and header chunk.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
SEED = 20
#: loader -> (source file, expected error class as "module:name")
LOADERS = {
    "onnx": ("h.onnx", "hash_envs.hashing:ArtifactError"),
    "pilots": ("h.pilots", "hash_envs.hashing:ArtifactError"),
    "phobic": ("h.phobic", "hash_envs.hashing:ArtifactError"),
    "bbhash": ("h.bbhash", "hash_envs.hashing:ArtifactError"),
    "checkpoint": ("hnn.pt", "model_hashing:ModelHashError"),
    "index": ("index.sqlite", "model_hashing:ModelHashError"),
    "cli": ("model.zip", None),  # an SB3 checkpoint, which is not a hash artifact
    "cli-onnx": ("h.onnx", None),
}
#: Formats with a checksum (or CRC): every foreign file and truncation is refused.
CHECKED = ("onnx", "pilots", "phobic", "bbhash", "checkpoint")
FRACTIONS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


# ------------------------------------------------------------------------ the artifacts
def build_artifacts(out: Path) -> None:
    """Tiny real artifacts of every kind, into ``out``."""
    import gymnasium as gym
    import numpy as np
    import torch

    import hash_envs  # noqa: F401  (registers the envs)
    from agents import PG, PolicyHash
    from agents.algorithms.pilot_q import PilotQ
    from baselines.mphf import BBHash, PhobicHash
    from model_hashing.graph import N_FEATURES
    from model_hashing.index import ModelHashIndex
    from model_hashing.nn import HNNNet
    from model_hashing.train import TrainConfig, save_checkpoint

    torch.manual_seed(0)
    env = gym.make(
        "hash_envs/StatelessHash-v0", corpus=WORDS, n_words=10, n_bins=16, encoding="bytes"
    )
    model = PG("MlpPolicy", env, n_steps=10, seed=0, policy_kwargs={"net_arch": [8]})
    PolicyHash(model).export_onnx(out / "h.onnx")
    model.save(out / "model.zip")
    PilotQ(WORDS, seed=0).learn().save(out / "h.pilots")
    PhobicHash.build(WORDS).save(out / "h.phobic")
    BBHash.build(WORDS).save(out / "h.bbhash")
    net = HNNNet(N_FEATURES, n_bits=16, n_classes=3)
    save_checkpoint(net, out / "hnn.pt", ["a", "b", "c"], merged=True, config=TrainConfig(16))
    index = ModelHashIndex(out / "index.sqlite")
    for i in range(3):
        code = np.array([(i >> b) & 1 for b in range(16)], dtype=np.uint8)
        index.add(f"model-{i}", code, {"method": "ophist", "version": "1"})
    index.close()


def _foreign_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes.txt", "not an artifact\n" * 20)
    return buf.getvalue()


def mutations(loader: str, data: bytes) -> dict[str, bytes]:
    """The fixed damaged versions of ``data``: name -> bytes."""
    rng = random.Random(f"{SEED}-{loader}")
    cases = {
        "empty": b"",
        "png": PNG,
        "zip": _foreign_zip(),
        "random": rng.randbytes(len(data)),
    }
    n = len(data)
    for frac in FRACTIONS:
        keep = max(1, min(n - 1, round(frac * n)))
        cases[f"truncate-{frac}"] = data[:keep]
        offset = min(n - 1, int(frac * n))
        flipped = bytearray(data)
        flipped[offset] ^= 1 << rng.randrange(8)
        cases[f"flip-{frac}"] = bytes(flipped)
    if loader.endswith("onnx"):  # inside the metadata values (the graph checksum covers none)
        for key in ("n_bins", "max_len", "encoding", "size_bytes"):
            at = data.rfind(f"hash_envs.{key}".encode()) + len(f"hash_envs.{key}") + 2
            flipped = bytearray(data)
            flipped[at] ^= 1 << rng.randrange(8)
            cases[f"flip-meta-{key}"] = bytes(flipped)
    return cases


# ------------------------------------------------------------------------ the worker
def _error_class(spec: str) -> type:
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _fingerprint(loader: str, path: Path) -> Any:
    """What the loader read, comparable across files (raises what the loader raises)."""
    if loader == "onnx":
        from agents import load_hash

        h = load_hash(path)
        return [h.n_bins, h.hash_many(PROBE).tolist()]
    if loader in ("pilots", "phobic", "bbhash"):
        from hash_envs.hashing import load_artifact

        h = load_artifact(path)
        return [h.n_bins, h.hash_many(PROBE).tolist()]
    if loader == "checkpoint":
        from model_hashing.train import load_checkpoint

        net, meta = load_checkpoint(path)
        digest = hashlib.sha256()
        for name, tensor in sorted(net.state_dict().items()):
            digest.update(name.encode() + tensor.numpy().tobytes())
        return [digest.hexdigest(), json.dumps(meta, sort_keys=True)]
    if loader == "index":
        import numpy as np

        from model_hashing.index import ModelHashIndex

        index = ModelHashIndex(path)
        try:
            matches = index.query(np.zeros(16, dtype=np.uint8), top=10)
            return [len(index), [(m.name, m.distance, m.meta) for m in matches]]
        finally:
            index.close()
    if loader.startswith("cli"):
        from hash_envs.cli import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["evaluate", str(path), "--corpus", "web2", "--no-progress"])
        return [rc, err.getvalue()]
    raise AssertionError(loader)


def worker(spec_path: str) -> None:
    """Run the cases; one JSON line per case on stdout ("start" first, so that a crash
    names its case)."""
    cases = json.loads(Path(spec_path).read_text())
    for key, loader, path in cases:
        expected = LOADERS[loader][1]
        error = _error_class(expected) if expected else None
        print(json.dumps({"start": key}), flush=True)
        result: dict[str, Any] = {"case": key}
        try:
            result["value"] = _fingerprint(loader, Path(path))
            result["status"] = "ok"
        except Exception as err:  # what the loader raised, judged by the parent
            result["status"] = "error"
            result["type"] = f"{type(err).__module__}.{type(err).__qualname__}"
            result["expected"] = error is not None and isinstance(err, error)
            result["message"] = str(err)
        print(json.dumps(result), flush=True)


def _snapshot(*dirs: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for d in dirs for p in sorted(d.rglob("*"))
    }


def run_cases(cases: list[tuple[str, str, str]], tmp: Path) -> dict[str, dict]:
    """Results by case key, from as few subprocesses as crashes allow; a crashed case gets
    ``{"status": "crashed", "returncode": rc, "stderr": ...}``."""
    results: dict[str, dict] = {}
    todo = list(cases)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HASH_ENVS_CACHE": str(tmp / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    while todo:
        spec = tmp / "spec.json"
        spec.write_text(json.dumps(todo))
        proc = subprocess.run(
            [sys.executable, __file__, "worker", str(spec)],
            capture_output=True,
            text=True,
            cwd=tmp / "cwd",
            env=env,
            timeout=600,
        )
        started = None
        for line in proc.stdout.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
            else:
                results[record["case"]] = record
                started = None
        if proc.returncode == 0:
            break
        results[started or todo[0][0]] = {  # died in a case (or before the first one)
            "status": "crashed",
            "returncode": proc.returncode,
            "stderr": proc.stderr[-2000:],
        }
        todo = [c for c in todo if c[0] not in results]
    spec.unlink()
    return results


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    build_artifacts(out)
    return out


@pytest.fixture(scope="module")
def outcomes(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case's result, and the file listings before and after the subprocesses."""
    tmp = tmp_path_factory.mktemp("fuzz")
    for sub in ("cwd", "cache", *LOADERS):
        (tmp / sub).mkdir()
    cases = []
    for loader, (source, _) in LOADERS.items():
        cases.append((f"{loader}/original", loader, str(artifacts / source)))
        for name, blob in mutations(loader, (artifacts / source).read_bytes()).items():
            path = tmp / loader / f"{name}{Path(source).suffix}"
            path.write_bytes(blob)
            cases.append((f"{loader}/{name}", loader, str(path)))
    watched = [tmp / sub for sub in ("cwd", "cache", *LOADERS)] + [artifacts]
    before = _snapshot(*watched)
    results = run_cases(cases, tmp)
    return {"results": results, "before": before, "after": _snapshot(*watched), "tmp": tmp}


CASES = [
    (loader, name)
    for loader, (source, _) in LOADERS.items()
    for name in mutations(loader, bytes(range(256)) * 4)  # the names only
]


@pytest.mark.parametrize(("loader", "case"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_damaged_file_is_refused_or_reads_as_the_original(
    outcomes: dict[str, Any], loader: str, case: str
) -> None:
    results = outcomes["results"]
    original = results[f"{loader}/original"]
    assert original["status"] == "ok", original
    if loader == "cli-onnx":  # the intact artifact is evaluated
        assert original["value"][0] == 0, original
    path = str(outcomes["tmp"] / loader / f"{case}{Path(LOADERS[loader][0]).suffix}")
    result = results[f"{loader}/{case}"]
    assert result["status"] != "crashed", f"the interpreter died: {result}"
    if loader.startswith("cli"):
        assert result["status"] == "ok", f"hash-envs raised {result['type']}: {result['message']}"
        rc, stderr = result["value"]
        assert rc == 2 and stderr.startswith("hash-envs: error: ") and path in stderr, result
        return
    if loader in CHECKED and not case.startswith("flip-"):
        assert result["status"] == "error", f"{path} loaded"
    if result["status"] == "error":
        assert result["expected"], f"{path}: {result['type']}: {result['message']}"
        assert path in result["message"], result["message"]
    elif loader == "index" and case == "empty":
        assert result["value"] == [0, []]  # SQLite's empty database: a new, empty index
    elif loader == "index" and case.startswith("flip-"):
        assert result["value"][0] <= original["value"][0]  # no checksums: rows may differ
    else:
        assert result["value"] == original["value"], f"{path} loaded as something else"


def test_loading_writes_nothing(outcomes: dict[str, Any]) -> None:
    before, after = outcomes["before"], outcomes["after"]
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    # the one documented write: SQLite initialises an empty file as a new database
    assert changed == [str(outcomes["tmp"] / "index" / "empty.sqlite")]


def test_the_mutations_damage_the_files(artifacts: Path) -> None:
    """The fuzz is real: every case differs from its original, and the original loads."""
    for loader, (source, _) in LOADERS.items():
        data = (artifacts / source).read_bytes()
        for name, blob in mutations(loader, data).items():
            assert blob != data, (loader, name)


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2])
