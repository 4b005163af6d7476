"""Model-hash index: checkpoint, add/query round trip, command line and bad inputs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from model_hashing.cli import main
from model_hashing.graph import N_FEATURES, export_onnx
from model_hashing.index import ModelHasher, ModelHashIndex, code_to_hex, hex_to_code
from model_hashing.nn import HNNNet
from model_hashing.train import TrainConfig, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "hnn.pt"
    net = HNNNet(N_FEATURES, n_bits=16, n_classes=3)
    with torch.no_grad():  # large random weights: different graphs get different codes
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    save_checkpoint(net, path, ["a", "b", "c"], merged=True, config=TrainConfig(n_bits=16))
    return str(path)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten())
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(export_onnx(model, (1, 3, 16, 16)), path)
    return str(path)


def test_checkpoint_round_trip(checkpoint: str, tmp_path) -> None:
    net, meta = load_checkpoint(checkpoint)
    assert net.n_bits == 16 and meta["classes"] == ["a", "b", "c"] and meta["merged"]
    bad = tmp_path / "bad.pt"
    torch.save({"something": 1}, bad)
    with pytest.raises(ValueError, match="not an HNN-Net checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(ValueError, match="no HNN-Net checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_code_hex_round_trip() -> None:
    code = torch.randint(0, 2, (20,), generator=torch.Generator().manual_seed(0)).numpy()
    assert (hex_to_code(code_to_hex(code), 20) == code).all()


def test_index_add_query_round_trip(checkpoint: str, tiny_onnx: str, tmp_path) -> None:
    hasher = ModelHasher(checkpoint)
    index = ModelHashIndex(tmp_path / "models.sqlite")
    for model in (tiny_onnx, "squeezenet1_1"):
        code, info = hasher(model)
        index.add(model, code, info)
    index.add(tiny_onnx, *hasher(tiny_onnx))  # re-adding replaces
    assert len(index) == 2
    code, _ = hasher("squeezenet1_1")
    best = index.query(code, top=5)
    assert [m.name for m in best][0] == "squeezenet1_1" and best[0].distance == 0
    assert best[1].distance > 0
    assert best[0].meta["nodes"] > 0 and len(best) == 2
    assert index.query(code[:8], top=5) == []  # other code lengths are not compared
    index.close()
    reopened = ModelHashIndex(tmp_path / "models.sqlite")
    assert len(reopened) == 2


def test_bad_inputs(checkpoint: str, tmp_path) -> None:
    hasher = ModelHasher(checkpoint)
    not_onnx = tmp_path / "weights.onnx"
    not_onnx.write_bytes(b"\x89PNG not a model")
    with pytest.raises(ValueError, match="not an ONNX model"):
        hasher(not_onnx)
    with pytest.raises(ValueError, match="neither an ONNX file nor a torchvision model"):
        hasher("no_such_net")
    with pytest.raises(ValueError, match="no trained HNN-Net"):
        ModelHasher(tmp_path / "none.pt")
    text_db = tmp_path / "db.sqlite"
    text_db.write_text("not a database " * 100)
    with pytest.raises(ValueError, match="not a model-hash database"):
        ModelHashIndex(text_db)


def test_command_line(checkpoint: str, tiny_onnx: str, tmp_path, capsys) -> None:
    db = str(tmp_path / "cli.sqlite")
    common = ["--db", db, "--checkpoint", checkpoint]
    assert main(["index", "add", *common, tiny_onnx, "squeezenet1_1"]) == 0
    assert main(["query", *common, "squeezenet1_1", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 models in" in out and out.strip().splitlines()[-1].endswith("squeezenet1_1")
    assert out.strip().splitlines()[-1].split()[0] == "0"
    assert main(["query", *common, str(tmp_path / "missing.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_canonical_checkpoint_hashes_a_bn_folded_copy_like_its_source(tmp_path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8)
    ).eval()
    source, folded = tmp_path / "source.onnx", tmp_path / "folded.onnx"
    onnx.save(export_onnx(model, (1, 3, 16, 16)), source)
    with torch.no_grad():  # fold every BatchNorm into the conv before it, by hand
        layers = []
        for conv, bn in ((model[0], model[1]), (model[3], model[4])):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, 3)
            fused.weight.copy_(conv.weight * scale[:, None, None, None])
            fused.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
            layers.append(fused)
        onnx.save(
            export_onnx(nn.Sequential(layers[0], nn.ReLU(), layers[1]), (1, 3, 16, 16)), folded
        )
    net = HNNNet(N_FEATURES, n_bits=64, n_classes=3)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    codes = {}
    for canonical in (False, True):
        path = tmp_path / f"hnn_{canonical}.pt"
        save_checkpoint(net, path, ["a", "b", "c"], True, TrainConfig(n_bits=64), canonical)
        assert load_checkpoint(path)[1]["canonical"] is canonical
        hasher = ModelHasher(checkpoint=path)
        codes[canonical] = [hasher(str(f))[0] for f in (source, folded)]
    assert np.array_equal(*codes[True])  # canonical graphs are equal, so are the codes
    assert not np.array_equal(*codes[False])  # the plain graphs differ (BN nodes)
