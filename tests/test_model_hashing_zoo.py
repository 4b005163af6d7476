"""The larger zoo: family grouping, listing and skip reasons, held-out-family splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision

import model_hashing.dataset as dataset_module
import model_hashing.zoo_eval as zoo_eval
from model_hashing.dataset import ModelZooDataset, to_data
from model_hashing.graph import canonicalize, merge_layers, onnx_to_graph
from model_hashing.retrieval import leave_one_out_metrics
from model_hashing.zoo import FAMILY_RULES, classification_models, family_of, zoo_models
from model_hashing.zoo_eval import choose_held_out, held_out_split, zoo_held_out_eval


def test_every_listed_model_has_exactly_one_family() -> None:
    listed = torchvision.models.list_models(module=torchvision.models)
    zoo = zoo_models("all")
    assert sorted(zoo) == sorted(listed) == classification_models()
    assert len(zoo) >= 80
    # every rule is used, so the documented grouping has no dead entries
    assert set(zoo.values()) == {family for family, _ in FAMILY_RULES}
    expected = {
        "resnet18": "resnet",
        "resnext50_32x4d": "resnext",
        "wide_resnet101_2": "wide_resnet",
        "regnet_y_128gf": "regnet_y",
        "regnet_x_400mf": "regnet_x",
        "efficientnet_b7": "efficientnet",
        "efficientnet_v2_s": "efficientnet_v2",
        "swin_t": "swin",
        "swin_v2_b": "swin_v2",
        "vit_h_14": "vit",
        "maxvit_t": "maxvit",
        "vgg19_bn": "vgg",
        "mobilenet_v3_small": "mobilenet_v3",
        "mobilenet_v2": "mobilenet_v2",
        "inception_v3": "inception",
    }
    for name, family in expected.items():
        assert zoo[name] == family == family_of(name)
    for bad in ("resnet", "vit_x_1", "not_a_model"):
        with pytest.raises(ValueError, match="family rules"):
            family_of(bad)
    with pytest.raises(ValueError, match="unknown zoo"):
        zoo_models("everything")
    assert len(zoo_models("paper")) == 21


def test_failed_exports_and_graphs_are_skipped_with_reasons(tmp_path, monkeypatch) -> None:
    models = {"squeezenet1_1": "squeezenet", "alexnet": "alexnet", "squeezenet1_0": "squeezenet"}
    real_export = dataset_module.export_zoo_model

    def export(name: str):
        if name == "alexnet":
            raise RuntimeError("Unsupported operator 'aten::fancy'\nlong graph dump ...")
        return real_export(name)

    monkeypatch.setattr(dataset_module, "export_zoo_model", export)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "squeezenet1_0.onnx").write_bytes(b"not an onnx file")
    ds = ModelZooDataset(tmp_path, models=models, n_aug=1)
    assert ds.requested == list(models)
    assert ds.models == ["squeezenet1_1"] and len(ds) == 2 and ds.ged.shape == (2, 2)
    assert ds.skipped["alexnet"] == (
        "export failed: RuntimeError: Unsupported operator 'aten::fancy'"
    )
    assert ds.skipped["squeezenet1_0"].startswith("graph failed: ValueError")
    marker = json.loads((tmp_path / "raw" / "alexnet.skip.json").read_text())
    assert marker["reason"] == ds.skipped["alexnet"]

    # loading again keeps the reasons, and a recorded export failure is not retried
    monkeypatch.setattr(dataset_module, "export_zoo_model", lambda name: 1 / 0)
    again = ModelZooDataset(tmp_path, models=models, n_aug=1)
    assert again.skipped == ds.skipped and again.models == ds.models


def test_choose_held_out_holds_out_whole_families() -> None:
    zoo = zoo_models("all")
    splits = {choose_held_out(zoo, 0.25, seed) for seed in range(5)}
    assert len(splits) > 1  # the seed matters
    for held in splits:
        n_held = sum(family in held for family in zoo.values())
        assert 0.25 * len(zoo) <= n_held < len(zoo)
    assert choose_held_out(zoo, 0.25, 3) == choose_held_out(zoo, 0.25, 3)
    two = {"a1": "a", "a2": "a", "b1": "b"}
    assert choose_held_out(two, 0.9, 0) in {("a",), ("b",)}  # never every family
    with pytest.raises(ValueError):
        choose_held_out({"a1": "a"}, 0.5, 0)


def test_held_out_split_never_leaks_a_held_out_family() -> None:
    families = ["a", "b", "a", "c", "b", "c", "c"]
    train, queries = held_out_split(families, ("c",))
    assert train.tolist() == [0, 1, 2, 4] and queries.tolist() == [3, 5, 6]
    with pytest.raises(ValueError):
        held_out_split(families, ("a", "b", "c"))
    with pytest.raises(ValueError):
        held_out_split(families, ("d",))


def test_tiny_held_out_run_trains_on_seen_families_only(tmp_path, monkeypatch) -> None:
    models = {
        "squeezenet1_0": "squeezenet",
        "squeezenet1_1": "squeezenet",
        "alexnet": "alexnet",
        "resnet18": "resnet",
    }
    seen_in_training: list[int] = []
    real_train = zoo_eval.train_hnn

    def spy(data, ged, cap, n_classes, config):
        assert ged.shape == (len(data), len(data))
        seen_in_training.extend(int(d.model) for d in data)
        return real_train(data, ged, cap, n_classes, config)

    monkeypatch.setattr(zoo_eval, "train_hnn", spy)
    result = zoo_held_out_eval(
        tmp_path / "out",
        models=models,
        n_aug=2,
        epochs=1,
        q_values=(8,),
        held_out=["squeezenet"],
        root=tmp_path / "zoo",
    )
    (split,) = result["splits"]
    assert split["held_out_models"] == ["squeezenet1_0", "squeezenet1_1"]
    assert split["train_models"] == ["alexnet", "resnet18"]
    names = list(models)
    assert {names[m] for m in seen_in_training} == {"alexnet", "resnet18"}
    assert split["train_graphs"] == 6 and split["query_graphs"] == 6
    held_rows = [r for r in split["rows"] if r["queries"] == "held-out"]
    assert {r["method"] for r in held_rows} == {"HNN-Net", "WL-SimHash", "OpHist-SimHash"}
    assert all(r["n_queries"] == 6 and 0.0 <= r["f1"] <= 1.0 for r in held_rows)
    assert result["protocol"]["k"] == 2 and result["skipped"] == {}
    assert (tmp_path / "out" / "zoo_held_out.md").read_text().count("| held-out |") == 3
    with pytest.raises(ValueError, match="unknown families"):
        zoo_held_out_eval(
            tmp_path / "out",
            models=models,
            n_aug=2,
            epochs=0,
            q_values=(8,),
            held_out=["vit"],
            root=tmp_path / "zoo",
        )


def test_leave_one_out_excludes_the_query_itself() -> None:
    codes = np.array([[0, 0], [0, 0], [1, 1], [1, 0]], dtype=np.uint8)
    labels = np.array([0, 0, 1, 2])
    m = leave_one_out_metrics(codes, labels, np.array([0, 1]), k=1)
    assert m["precision"] == m["recall"] == m["map"] == 1.0
    alone = leave_one_out_metrics(codes, labels, np.array([2]), k=1)  # no other item of label 1
    assert alone["precision"] == alone["recall"] == alone["map"] == 0.0
    with pytest.raises(ValueError):
        leave_one_out_metrics(codes, labels, np.array([], dtype=int), k=1)


def test_non_learned_eval_scores_plain_and_canonical_graphs(tmp_path, monkeypatch) -> None:
    models = {
        "squeezenet1_0": "squeezenet",
        "squeezenet1_1": "squeezenet",
        "alexnet": "alexnet",
    }
    monkeypatch.setattr(zoo_eval, "zoo_models", lambda zoo: models)
    result = zoo_eval.non_learned_eval(
        tmp_path, n_aug=2, q_values=(16, 32), split_seeds=(0, 1), held_out_fraction=0.25
    )
    rows = result["rows"]
    assert len(rows) == 2 * 2 * 2 * 2  # graph forms x methods x Q x splits
    assert {r["graphs"] for r in rows} == {"plain", "canonical"}
    for r in rows:
        assert 0.0 <= r["f1"] <= 1.0 and 0.0 <= r["tpr_at_1pct_fpr"] <= 1.0
        assert 0.5 <= r["roc_auc"] <= 1.0  # copies are nearer than other models
    text = (tmp_path / "non_learned.md").read_text()
    assert text.count("| canonical |") == 4 and "Wall time" in text


def test_a_canonical_dataset_has_its_own_cache_and_canonical_graphs(tmp_path) -> None:
    models = {"squeezenet1_1": "squeezenet"}
    plain = ModelZooDataset(tmp_path, models=models, n_aug=1)
    canonical = ModelZooDataset(tmp_path, models=models, n_aug=1, canonical=True)
    assert plain.processed_file_names != canonical.processed_file_names
    assert "canonical" in canonical.processed_file_names[0]
    raw = onnx_to_graph(tmp_path / "raw" / "squeezenet1_1.onnx")
    expected = to_data(merge_layers(canonicalize(raw)))  # the index's graph of the model
    assert torch.equal(canonical[0].x, expected.x) and not torch.equal(canonical[0].x, plain[0].x)
