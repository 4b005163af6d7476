"""The learned sketch hash: it starts from the default's codes, its loss, its training
and inner validation, and the side-by-side evaluation on a tiny zoo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model_hashing.baselines import soft_histogram
from model_hashing.graph import canonicalize, merge_layers
from model_hashing.learned import (
    SketchHash,
    SketchHashConfig,
    contrastive_loss,
    graph_sketch,
    group_features,
    learned_eval,
    learned_markdown,
    train_sketch_hash,
)
from model_hashing.methods import OpHistSimHash
from model_hashing.zoo import zoo_graph


@pytest.fixture(scope="module")
def graphs() -> list:
    return [
        merge_layers(canonicalize(zoo_graph(name, merged=False)))
        for name in ("squeezenet1_1", "alexnet")
    ]


@pytest.mark.parametrize("q", [16, 32, 64])
@pytest.mark.parametrize(("structure", "dim"), [("full", 64), ("groups", None)])
def test_untrained_codes_are_the_defaults(graphs, q: int, structure: str, dim) -> None:
    width = dim or q
    z = np.stack([graph_sketch(group_features(g), q, dim=width) for g in graphs])
    assert z.shape == (2, q + width * 7)
    model = SketchHash(z.shape[1], q, structure)
    assert model.weight.numel() == (q * z.shape[1] if structure == "full" else 8)
    codes = model.codes(z)
    assert np.array_equal(codes, np.stack([OpHistSimHash(q).hash_graph(g) for g in graphs]))
    assert not np.array_equal(codes[0], codes[1])
    with torch.no_grad():  # a weight on another group changes the codes
        model.weight.copy_(torch.randn_like(model.weight))
    assert not np.array_equal(model.codes(z), codes)


def test_group_blocks_must_be_q_wide() -> None:
    with pytest.raises(ValueError, match="16 wide"):
        SketchHash(40, 16, "groups")
    with pytest.raises(ValueError, match="structure"):
        SketchHash(40, 16, "diagonal")


def test_features_of_a_graph(graphs) -> None:
    g = graphs[0]
    f = group_features(g)
    assert sum(f["op"].values()) == g.number_of_nodes()
    assert sum(f["edge"].values()) == sum(f["op-edge"].values()) == g.number_of_edges()
    assert f["ophist"] == soft_histogram(g) and len(f["op"]) < len(f["label"])
    assert sum(f["ophist"].values()) == sum(f["label"].values()) == g.number_of_nodes()
    # every group and the ±1 vectors are deterministic
    assert np.array_equal(graph_sketch(f, 32, dim=100), graph_sketch(f, 32, dim=100))


def test_contrastive_loss_prefers_codes_that_keep_models_together() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    a, b = torch.ones(8), -torch.ones(8)
    together = torch.stack([a, a, b, b])
    mixed = torch.stack([a, b, a, b])
    assert contrastive_loss(together, labels, 0.1) < contrastive_loss(mixed, labels, 0.1)


def synthetic(seed: int, n_models: int = 12, copies: int = 4, q: int = 8, dim: int = 24):
    """Sketches whose first (default) block is noise and whose later block holds the
    model: only a trained projection can retrieve the copies."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_models, dim))
    labels = np.repeat(np.arange(n_models), copies)
    z = np.concatenate(
        [
            rng.standard_normal((len(labels), q)) * 3.0,
            centres[labels] + 0.2 * rng.standard_normal((len(labels), dim)),
        ],
        axis=1,
    )
    groups = [f"g{m % 3}" for m in labels]
    return z, labels, groups


def test_training_beats_the_start_where_the_start_is_noise() -> None:
    z, labels, groups = synthetic(0)
    candidates = (SketchHashConfig(lr=3e-2, anchor=1e-3, max_steps=200, eval_every=50),)
    # one weight per group: the noisy first block is weighted down
    grouped, info = train_sketch_hash(
        z,
        labels,
        groups,
        ["g0"],
        8,
        3,
        [SketchHashConfig(**{**vars(candidates[0]), "structure": "groups"})],
    )
    assert info["steps"] > 0 and abs(grouped.weight[0]) < grouped.weight[1:].abs().max()
    model, info = train_sketch_hash(z, labels, groups, ["g0"], 8, 3, candidates)
    assert info["steps"] > 0 and info["val"]["0:0"][0] < max(v[0] for v in info["val"].values())
    # new models (another draw, same generator of sketches) are retrieved better too
    from model_hashing.retrieval import leave_one_out_metrics

    z2, labels2, _ = synthetic(1)
    start = SketchHash(z2.shape[1], 8).codes(z2)
    queries = np.arange(len(labels2))
    before = leave_one_out_metrics(start, labels2, queries, 3)["f1"]
    after = leave_one_out_metrics(model.codes(z2), labels2, queries, 3)["f1"]
    assert after > before + 0.2
    with pytest.raises(ValueError, match="inner validation"):
        train_sketch_hash(z, labels, groups, ["nothing"], 8, 3, candidates)


def test_learned_eval_on_a_tiny_zoo(tmp_path) -> None:
    zoo = {
        "squeezenet1_0": "squeezenet",
        "squeezenet1_1": "squeezenet",
        "mnasnet0_5": "mnasnet",
        "mnasnet0_75": "mnasnet",
        "alexnet": "alexnet",
    }
    candidates = (SketchHashConfig(max_steps=20, eval_every=10),)
    result = learned_eval(
        tmp_path / "out",
        zoo_models_=zoo,
        paper_models=["squeezenet1_1", "alexnet", "mnasnet0_5"],
        n_aug=2,
        paper_n_aug=4,
        q_values=(16,),
        split_seeds=(0,),
        held_out_fraction=0.3,
        dim=32,
        candidates=candidates,
        root=tmp_path / "zoo",
    )
    assert (tmp_path / "zoo" / "raw" / "alexnet.onnx").exists()  # exported once, cached
    rows = result["rows"]
    methods = ("OpHist-SimHash", "Learned group weights", "Learned sketch")
    assert {(r["protocol"], r["method"]) for r in rows} == {
        (p, m) for p in ("held-out", "paper") for m in methods
    }
    for r in rows:
        assert 0.0 <= r["f1"] <= 1.0 and 0.0 < r["roc_auc"] <= 1.0
    saved = json.loads((tmp_path / "out" / "learned.json").read_text())
    assert saved["rows"] == rows and saved["protocol"]["paper_train"] == 12
    text = learned_markdown(result)
    assert "| paper (k = 10) | OpHist-SimHash | 16 |" in text and "Wall time" in text


def test_learned_sketch_in_the_piracy_table(tmp_path, monkeypatch) -> None:
    """``piracy --learned``: trained on the database's models, hashed like a method."""
    import model_hashing.piracy as piracy
    from model_hashing.cli import main
    from model_hashing.learned import SketchHashMethod, train_on_models

    monkeypatch.setenv("HASH_ENVS_CACHE", str(tmp_path / "cache"))
    zoo = {"squeezenet1_1": "squeezenet", "squeezenet1_0": "squeezenet", "alexnet": "alexnet"}
    monkeypatch.setattr(piracy, "PAPER_MODELS", zoo)
    monkeypatch.setattr(piracy, "TRANSFORMS", ("bn-folded",))
    candidates = (SketchHashConfig(max_steps=20, eval_every=10),)
    method = train_on_models(list(zoo), 16, n_aug=3, candidates=candidates)
    assert isinstance(method, SketchHashMethod) and method.n_bits == 16
    assert (tmp_path / "cache" / "model_hashing" / "zoo" / "raw" / "alexnet.onnx").exists()
    result = piracy.piracy_table(
        {"OpHist": OpHistSimHash, "Learned": lambda q: method},
        q_values=(16,),
        table_q=16,
        sources=["squeezenet1_1"],
        n_aug=2,
        k=2,
    )
    learned = [r for r in result["rows"] if r["method"] == "Learned"]
    assert len(learned) == 1 and learned[0]["top1"] and learned[0]["distance_to_original"] == 0
    (summary,) = [s for s in result["summary"] if s["method"] == "Learned"]
    assert summary["version"] == method.version and summary["independent_distance"] == [0]
    with pytest.raises(SystemExit):  # --learned is a flag of piracy only
        main(["query", "x.onnx", "--learned"])
