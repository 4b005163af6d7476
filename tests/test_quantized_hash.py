"""The quantised (integer) hash network: exact arithmetic, so the same bins everywhere.

Its fast path (oneDNN int8 or float32 GEMMs over small integers) gives the numpy
``int64`` reference's bins on every web2 word, in any batch size and order, on either
kernel, in fresh processes with different ``PYTHONHASHSEED``; it is total over ``str``;
it stays close to the float network it quantises; networks it cannot hold exactly are
refused with a ``ValueError``. Its ONNX artifact gives the same bins through
onnxruntime and, loaded, on the fast path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch as th
from onnx import numpy_helper
from torch import nn

from agents import ArtifactError, QuantizedHash, load_hash
from agents.common.layers import Sin
from agents.hashes.container import stamp_metadata
from agents.hashes.hash_network import HashNetwork
from hash_envs import corpus
from hash_envs.encoding import WordEncoder

#: Builds the seeded networks; run here and in the fresh processes.
BUILD = """
import torch as th
from torch import nn
from agents.common.layers import Sin
from agents.hashes.hash_network import HashNetwork
from hash_envs.encoding import WordEncoder

def network(encoding, factorize, max_len=13):
    th.manual_seed(5)
    width = 256 * max_len if encoding == "bytes" else max_len
    grid = (32, 32) if factorize else None
    n_out = 64 if factorize else 1000
    if encoding == "bytes":  # one sine layer, as the memorising nets
        layers = [nn.Linear(width, 32), Sin(), nn.Linear(32, n_out)]
    else:  # two tanh layers, as the paper's
        layers = [nn.Linear(width, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh(),
                  nn.Linear(24, n_out)]
    with th.no_grad():  # peaked, as a trained net's: few near-ties
        layers[0].weight.mul_(8)
        layers[-1].weight.mul_(20)
    return HashNetwork(layers, WordEncoder(encoding, max_len), 1000, grid=grid).eval()
"""
namespace: dict = {}
exec(BUILD, namespace)
network = namespace["network"]
CASES = [(e, f) for e in ("bytes", "codepoints") for f in (False, True)]


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


@pytest.mark.parametrize(("encoding", "factorize"), CASES)
def test_fast_bins_are_the_integer_reference_bins(
    encoding: str, factorize: bool, web2: list[str]
) -> None:
    h = QuantizedHash(network(encoding, factorize))
    bins = h.hash_many(web2)  # max_len 13: the longer words fold
    np.testing.assert_array_equal(bins, h.reference_bins(web2))
    np.testing.assert_array_equal(
        QuantizedHash(network(encoding, factorize), kernel="float32").hash_many(web2), bins
    )
    assert bins.min() >= 0 and bins.max() < 1000
    order = np.random.default_rng(0).permutation(len(web2))[:20000]
    shuffled = [web2[i] for i in order]
    for size in (1, 7, 4096):
        got = np.concatenate(
            [h.hash_many(shuffled[a : a + size]) for a in range(0, 20 * size, size)]
        )
        np.testing.assert_array_equal(got, bins[order[: 20 * size]])


def test_onednn_kernel_gives_the_float32_kernels_bins(web2: list[str]) -> None:
    h = QuantizedHash(network("codepoints", False))
    if h.kernel != "onednn":
        pytest.skip("torch.ops.onednn's int8 GEMM is not usable on this machine")
    assert QuantizedHash(network("codepoints", False), kernel="float32").kernel == "float32"
    np.testing.assert_array_equal(
        h.hash_many(web2[:50000]),
        QuantizedHash(network("codepoints", False), kernel="float32").hash_many(web2[:50000]),
    )


def test_bins_agree_across_processes_and_hash_seeds(web2: list[str]) -> None:
    words = web2[::97]
    script = BUILD + (
        "import json, sys\nfrom agents import QuantizedHash\n"
        "words = json.load(sys.stdin)\n"
        "print(json.dumps([QuantizedHash(network(e, f)).hash_many(words).tolist()"
        " for e in ('bytes', 'codepoints') for f in (False, True)]))\n"
    )
    expect = [QuantizedHash(network(e, f)).hash_many(words).tolist() for e, f in CASES]
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(words),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert json.loads(out.stdout) == expect


def test_quantized_hash_is_total(web2: list[str]) -> None:
    h = QuantizedHash(network("bytes", True))
    tricky = ["", "\0", "\ud800", "a\udfffb", "\U0001f600" * 40, "café", "x" * 10_000]
    bins = h.hash_many(tricky)
    np.testing.assert_array_equal(bins, h.reference_bins(tricky))
    assert [h(w) for w in tricky] == bins.tolist()
    with pytest.raises(TypeError, match="must be str"):
        h.hash_many(["ok", b"bytes"])  # type: ignore[list-item]


def test_quantized_hash_stays_close_to_the_float_network(web2: list[str]) -> None:
    # a correct quantisation moves scores by well under 1%; a wrong scale, zero point or
    # table would scatter the bins (~0.1% agreement)
    for encoding, factorize in CASES:
        net = network(encoding, factorize)
        assert QuantizedHash(net).agreement(net, web2[::10]) > 0.9, (encoding, factorize)


def test_quantile_heads_are_folded_into_their_mean(web2: list[str]) -> None:
    single = network("codepoints", False)
    head = single.layers[-1]
    tripled = nn.Linear(head.in_features, 3 * head.out_features)
    with th.no_grad():  # three equal quantiles: their mean is the single head
        tripled.weight.copy_(head.weight.repeat(3, 1))
        tripled.bias.copy_(head.bias.repeat(3))
    layers = [*single.layers[:-1], tripled]
    quantiles = HashNetwork(layers, WordEncoder("codepoints", 13), 1000, n_quantiles=3)
    words = web2[:20000]
    np.testing.assert_array_equal(
        QuantizedHash(quantiles).hash_many(words), QuantizedHash(single).hash_many(words)
    )


def test_networks_it_cannot_hold_exactly_are_refused() -> None:
    enc = WordEncoder("bytes", 4)
    relu = HashNetwork([nn.Linear(1024, 8), nn.ReLU(), nn.Linear(8, 10)], enc, 10)
    with pytest.raises(ValueError, match="activations"):
        QuantizedHash(relu)
    tail = HashNetwork([nn.Linear(1024, 8), Sin(), nn.Linear(8, 10), nn.Tanh()], enc, 10)
    with pytest.raises(ValueError, match="none after the last"):
        QuantizedHash(tail)
    wide = nn.Linear(2000, 10)
    with th.no_grad():
        wide.weight.fill_(1.0)  # every weight at full scale: sums of 2000 * 127 * 127
    layers = [nn.Linear(1024, 2000), nn.Tanh(), wide]
    with pytest.raises(ValueError, match="2\\*\\*24"):
        QuantizedHash(HashNetwork(layers, enc, 10))
    with pytest.raises(ValueError, match="kernel"):
        QuantizedHash(network("bytes", False), kernel="gpu")  # type: ignore[arg-type]


def test_size_counts_int8_weights_int32_biases_and_tables() -> None:
    h = QuantizedHash(network("bytes", False))
    table, head = h.layers
    assert table.lut is not None and head.lut is None
    assert h.size_bytes == table.weight.size + 4 * 32 + table.lut.size + 32 * 1000 + 4 * 1000
    assert np.abs(head.weight).max() == 127 and np.abs(table.weight).max() == 127


@pytest.mark.parametrize(("encoding", "factorize"), [("bytes", True), ("codepoints", False)])
def test_exported_artifact_gives_the_same_bins_by_either_path(
    tmp_path: Path, encoding: str, factorize: bool, web2: list[str]
) -> None:
    h = QuantizedHash(network(encoding, factorize))
    path = h.export_onnx(tmp_path / "int8.onnx")
    loaded = load_hash(path)
    assert isinstance(loaded.fast, QuantizedHash) and loaded.size_bytes == h.size_bytes
    by_graph = load_hash(path, fast=False)  # onnxruntime: float32 over the same integers
    assert by_graph.fast is None
    bins = h.hash_many(web2)
    np.testing.assert_array_equal(loaded.hash_many(web2), bins)
    np.testing.assert_array_equal(by_graph.hash_many(web2), bins)


def test_an_artifact_whose_tables_break_exactness_is_damage(tmp_path: Path) -> None:
    path = QuantizedHash(network("bytes", False)).export_onnx(tmp_path / "int8.onnx")
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == "lut.0":  # codes past 127 could saturate an AVX2 int8 kernel
            init.CopyFrom(numpy_helper.from_array(np.full(5, 200, dtype=np.uint8), "lut.0"))
    meta = {p.key.removeprefix("hash_envs."): p.value for p in model.metadata_props}
    for key in ("format", "graph_sha256", "metadata_sha256"):
        del meta[key]
    stamp_metadata(model, meta)  # well-formed, checksums valid: only the table is wrong
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(ArtifactError, match="quantized spec.*1 .. 127"):
        load_hash(tmp_path / "bad.onnx")
