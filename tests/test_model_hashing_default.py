"""The default (non-learned) method: a fresh install, method records, and bad inputs that
must leave the index unchanged."""

from __future__ import annotations

import sqlite3
import time

import networkx as nx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from model_hashing.baselines import soft_histogram, soft_histogram_simhash
from model_hashing.cli import main
from model_hashing.index import ModelHasher, ModelHashIndex
from model_hashing.methods import DEFAULT_BITS, MethodKey, make_method
from model_hashing.piracy import pirated_copy
from model_hashing.zoo import export_zoo_model, zoo_graph


def rows(db) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM models ORDER BY name").fetchall()


def last_line(text: str) -> list[str]:
    return text.strip().splitlines()[-1].split()


def snapshot(db) -> tuple:
    """Everything that must not change when an add or a query is refused: the rows, their
    count, and the database file's bytes and modification time."""
    with sqlite3.connect(db) as conn:
        count = conn.execute("SELECT COUNT(*) FROM models").fetchone()[0]
    conn.close()
    return rows(db), count, db.read_bytes(), db.stat().st_mtime_ns


def test_fresh_install_indexes_and_retrieves_without_training(
    tmp_path, monkeypatch, capsys
) -> None:
    """Acceptance: empty cache, exported torchvision models with random weights (siblings
    of one family, and a small model of another), each retrieved at top-1 by the default
    method through the command line, in under a minute, with no training step."""
    import model_hashing.train

    def no_training(*args, **kwargs):
        raise AssertionError("the default method must not train anything")

    monkeypatch.setattr(model_hashing.train, "train_hnn", no_training)
    cache = tmp_path / "cache"
    monkeypatch.setenv("HASH_ENVS_CACHE", str(cache))
    start = time.perf_counter()
    files = []
    for name in ("resnet18", "resnet34", "mobilenet_v3_small"):
        path = tmp_path / f"{name}.onnx"
        onnx.save(export_zoo_model(name), path)
        files.append(str(path))
    assert not cache.exists()  # exporting needs no cache; the index creates it
    assert main(["index", "add", *files]) == 0
    assert "3 models in" in capsys.readouterr().out
    for path in files:
        assert main(["query", path, "--top", "2"]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        first, second = out[1].split(), out[2].split()
        assert first[0] == "0" and first[-1] == path and int(second[0]) > 0
    assert time.perf_counter() - start < 60
    db = cache / "model_hashing" / "index.sqlite"
    assert [r[0] for r in rows(db)] == sorted(files)
    assert {(r[4], r[1]) for r in rows(db)} == {("ophist", DEFAULT_BITS)}
    assert not list(cache.rglob("*.pt"))  # nothing was trained or needed


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> dict[str, str]:
    """A good model, a non-ONNX file, a truncated ONNX file and a model with no known layer."""
    folder = tmp_path_factory.mktemp("inputs")
    good = folder / "squeezenet.onnx"
    onnx.save(export_zoo_model("squeezenet1_1"), good)
    not_onnx = folder / "weights.onnx"
    not_onnx.write_bytes(b"\x89PNG not a model")
    truncated = folder / "truncated.onnx"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    node = helper.make_node("FancyOp", ["x"], ["y"], domain="example.custom")
    graph = helper.make_graph(
        [node],
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)]
    )
    unknown = folder / "custom.onnx"
    onnx.save(model, unknown)
    return {
        "good": str(good),
        "not_onnx": str(not_onnx),
        "truncated": str(truncated),
        "unknown": str(unknown),
    }


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not_onnx", "not an ONNX model"),
        ("truncated", "not an ONNX model"),
        ("unknown", "no layer of a type the graph generator knows"),
    ],
)
def test_bad_inputs_leave_the_index_unchanged(tiny_files, bad, message, tmp_path, capsys) -> None:
    db = tmp_path / "index.sqlite"
    assert main(["index", "add", "--db", str(db), tiny_files["good"]]) == 0
    before = snapshot(db)
    assert before[1] == 1
    capsys.readouterr()
    time.sleep(0.01)  # a rewrite within the same clock tick would keep the mtime
    # the good model again plus the bad one: all or nothing
    assert main(["index", "add", "--db", str(db), tiny_files["good"], tiny_files[bad]]) == 2
    err = capsys.readouterr().err
    assert message in err and tiny_files[bad] in err  # the error names the file
    assert snapshot(db) == before
    assert main(["query", "--db", str(db), tiny_files[bad]]) == 2
    err = capsys.readouterr().err
    assert message in err and tiny_files[bad] in err
    assert snapshot(db) == before


def test_codes_of_another_method_are_refused(tiny_files, tmp_path, capsys) -> None:
    path = tmp_path / "index.sqlite"
    db = str(path)
    assert main(["index", "add", "--db", db, tiny_files["good"]]) == 0
    before = snapshot(path)
    capsys.readouterr()
    time.sleep(0.01)
    for other, named in ((["--method", "wl"], "wl (version"), (["--bits", "32"], "Q = 32")):
        assert main(["index", "add", "--db", db, *other, "alexnet"]) == 2
        err = capsys.readouterr().err
        # names the index file, the stored method and the refused one
        assert "refusing to add codes of" in err and db in err
        assert "holds codes of ophist (version" in err and named in err
        assert main(["query", "--db", db, *other, tiny_files["good"]]) == 2
        assert "refusing to compare codes of" in capsys.readouterr().err
        assert snapshot(path) == before
    assert main(["query", "--db", db, tiny_files["good"], "--top", "1"]) == 0
    assert last_line(capsys.readouterr().out)[0] == "0"


def test_method_records_and_options(tiny_files, tmp_path) -> None:
    hasher = ModelHasher()
    assert hasher.key == make_method().key and hasher.key.method == "ophist"
    code, info = hasher(tiny_files["good"])
    assert len(code) == DEFAULT_BITS and info["method"] == "ophist" and info["version"]
    assert ModelHasher(method="ophist", n_bits=16)(tiny_files["good"])[0].shape == (16,)
    with pytest.raises(ValueError, match="needs --checkpoint"):
        make_method("hnn")
    with pytest.raises(ValueError, match="applies to --method hnn only"):
        make_method("ophist", checkpoint="x.pt")
    with pytest.raises(ValueError, match="unknown method"):
        make_method("md5")
    index = ModelHashIndex(tmp_path / "i.sqlite")
    index.add("a", code, key=hasher.key)
    with pytest.raises(ValueError, match="code of 16 bits"):
        index.add("b", code[:16], key=hasher.key)
    other = MethodKey("wl", hasher.key.version, DEFAULT_BITS)
    with pytest.raises(ValueError, match="refusing to compare"):
        index.query(code, key=other)
    assert index.query(code, key=hasher.key)[0].name == "a"
    index.close()


def test_an_index_without_method_columns_is_migrated(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE models (name TEXT PRIMARY KEY, n_bits INTEGER NOT NULL, "
            "code TEXT NOT NULL, meta TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO models VALUES ('old', 8, 'ff', '{}')")
    conn.close()
    index = ModelHashIndex(path)
    assert index.method_key() == MethodKey("hnn", "unknown", 8)
    with pytest.raises(ValueError, match="refusing to add"):
        index.add("new", np.zeros(DEFAULT_BITS, dtype=np.uint8), key=make_method().key)
    assert len(index) == 1
    index.close()


def _layer_graph(flops: list[int], params: list[int], order: list[int] | None = None):
    """A chain of Conv layers with the given counts (nodes added in ``order``)."""
    g = nx.DiGraph()
    for i in order or range(len(flops)):
        g.add_node(i, op="Conv", name=f"conv{i}", flops=flops[i], params=params[i])
    g.add_edges_from((i, i + 1) for i in range(len(flops) - 1))
    return g


def test_soft_histogram_splits_each_node_between_the_nearest_magnitude_bins() -> None:
    # 10**3 sits on bin 6 (half-decades); 10**3.25 halfway between bins 6 and 7
    counts = soft_histogram(_layer_graph([1000, round(10**3.25), 0], [10, 10, 0]))
    assert counts == {"Conv|6|2": 1.5, "Conv|7|2": 0.5, "Conv|-|-": 1.0}
    assert sum(counts.values()) == 3
    # a 10% narrower layer moves a fifth of its weight, not its whole label as digits do
    narrower = soft_histogram(_layer_graph([900, round(10**3.25), 0], [10, 10, 0]))
    moved = sum(abs(narrower[k] - counts[k]) for k in counts | narrower) / 2
    assert 0.05 < moved < 0.2
    # exact weights: the code does not depend on the order the nodes come in
    flops, params = [3_000_000, 123_456_789, 7, 0, 45_000], [9408, 36864, 0, 0, 512]
    codes = {
        tuple(soft_histogram_simhash(_layer_graph(flops, params, order), 64))
        for order in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1], [3, 4, 1, 0, 2])
    }
    assert len(codes) == 1


def test_default_finds_a_channel_pruned_resnet18_nearest_its_source() -> None:
    """The one miss of the version-1 default's piracy table (digit labels): 25% fewer
    channels moved 13 of ResNet-18's 32 canonical nodes to another FLOPs digit."""
    method = make_method()
    pruned = method(pirated_copy("resnet18", "channel-pruned"))
    distances = {
        name: int(np.count_nonzero(method(zoo_graph(name, merged=False)) != pruned))
        for name in ("resnet18", "resnet34", "resnet101")
    }
    assert distances["resnet18"] < min(distances["resnet34"], distances["resnet101"]), distances
