"""The larger zoo with held-out families (issue #7, "beyond the paper (a)").

Every torchvision classification model (``zoo="all"``, about 80 in 22 families, see
:data:`model_hashing.zoo.FAMILY_RULES`) becomes a merged layer graph with ``n_aug``
augmented copies (:class:`~model_hashing.dataset.ModelZooDataset`). For each *split seed*
a set of whole families is held out (:func:`choose_held_out`): HNN-Net is trained only on
the graphs of the other families, so it has never seen any model of a held-out family.

Retrieval is leave-one-out over the whole zoo: each graph of a held-out family queries
all other graphs (of every family, seen or not), ranked by Hamming distance with seeded
random tie-breaking. Relevant = a graph of the same source model (its original or a copy:
``n_aug`` per query), so with ``k = n_aug`` perfect codes score P = R = F1 = 1. Beside it,
P@k and mAP with "same family" as the relevance. The non-learned baselines (WL-SimHash,
operator-histogram SimHash) need no training and are scored on the same queries. As a
reference, the same metrics for queries from the *seen* families (graphs HNN-Net was
trained on) are reported too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import torch

from model_hashing.dataset import ModelZooDataset
from model_hashing.evaluate import NON_LEARNED
from model_hashing.retrieval import leave_one_out_metrics
from model_hashing.train import TrainConfig, encode, train_hnn
from model_hashing.zoo import zoo_models

#: Settings of the default run (chosen to fit the build, training and evaluation into
#: about 40 minutes of a shared 2-core machine; see docs/model_hashing.md).
ZOO_DEFAULTS = {"n_aug": 5, "epochs": 40, "held_out_fraction": 0.25}


def choose_held_out(
    model_families: dict[str, str], fraction: float = 0.25, seed: int = 0
) -> tuple[str, ...]:
    """Whole families, in a seeded random order, until at least ``fraction`` of the models
    are held out (always at least one family, never all of them). Sorted names."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    families = sorted(set(model_families.values()))
    if len(families) < 2:
        raise ValueError("holding out a family needs at least two families")
    sizes = {f: sum(v == f for v in model_families.values()) for f in families}
    order = np.random.default_rng(seed).permutation(len(families))
    held: list[str] = []
    for i in order[:-1]:  # at least one family stays seen
        held.append(families[i])
        if sum(sizes[f] for f in held) >= fraction * len(model_families):
            break
    return tuple(sorted(held))


def held_out_split(
    item_families: Sequence[str], held_out: Collection[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(train, queries)``: indices of the items of seen families (HNN-Net's training
    set) and of held-out families (the queries). ValueError if either is empty."""
    held = np.array([f in set(held_out) for f in item_families], dtype=bool)
    train, queries = np.flatnonzero(~held), np.flatnonzero(held)
    if len(train) == 0 or len(queries) == 0:
        raise ValueError(f"held-out families {sorted(held_out)} leave no training or query items")
    return train, queries


def zoo_held_out_eval(
    out: str | Path,
    zoo: str = "all",
    models: dict[str, str] | None = None,
    n_aug: int = ZOO_DEFAULTS["n_aug"],
    epochs: int = ZOO_DEFAULTS["epochs"],
    q_values: Sequence[int] = (16, 32, 64),
    split_seeds: Sequence[int] = (0, 1, 2),
    later_splits_q: Sequence[int] = (32,),
    held_out: Sequence[str] | None = None,
    held_out_fraction: float = ZOO_DEFAULTS["held_out_fraction"],
    k: int | None = None,
    seed: int = 0,
    root: str | Path | None = None,
) -> dict:
    """Build (or load) the zoo, then per split seed and Q train HNN-Net on the seen
    families and score it and the baselines on the held-out families' graphs.

    The first split runs every Q of ``q_values``; the later split seeds only those also in
    ``later_splits_q`` (by default Q = 32: three splits at Q = 32, one at 16 and 64).
    ``held_out`` names the families to hold out (one split); otherwise
    :func:`choose_held_out` picks them per split seed. ``seed`` is the augmentation and
    training seed, ``k`` defaults to ``n_aug``. Writes ``zoo_held_out.json`` and
    ``zoo_held_out.md`` under ``out`` and returns the JSON content.
    """
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = n_aug if k is None else k
    started = time.perf_counter()
    requested = dict(models) if models is not None else zoo_models(zoo)
    ds = ModelZooDataset(root, models=requested, merged=True, n_aug=n_aug, seed=seed)
    build_seconds = time.perf_counter() - started
    data = [ds[i] for i in range(len(ds))]
    model_of = np.array([int(d.model) for d in data])
    family_names = [ds.model_families[ds.models[m]] for m in model_of]
    family_of = np.array([ds.families.index(f) for f in family_names])
    print(
        f"zoo: {len(ds.models)} models ({len(ds.skipped)} skipped), {len(ds)} graphs, "
        f"{len(set(family_names))} families ({build_seconds:.0f} s to build or load)",
        flush=True,
    )

    baseline_codes: dict[int, dict[str, tuple[np.ndarray, float]]] = {}
    all_q = sorted(set(q_values))
    for q in all_q:
        baseline_codes[q] = {}
        for method, fn in NON_LEARNED.items():
            t0 = time.perf_counter()
            codes = np.stack([fn(d, q) for d in data])
            baseline_codes[q][method] = (codes, time.perf_counter() - t0)

    seen_families = sorted(set(family_names))
    splits = []
    splits_spec = (
        [(None, tuple(sorted(held_out)))]
        if held_out
        else [
            (s, choose_held_out({m: ds.model_families[m] for m in ds.models}, held_out_fraction, s))
            for s in split_seeds
        ]
    )
    for position, (split_seed, held) in enumerate(splits_spec):
        split_q = all_q if position == 0 else [q for q in all_q if q in set(later_splits_q)]
        unknown = set(held) - set(seen_families)
        if unknown:
            raise ValueError(
                f"unknown families {sorted(unknown)}; expected some of {seen_families}"
            )
        train, queries = held_out_split(family_names, held)
        seen_queries = train  # the reference: graphs HNN-Net was trained on
        rows = []
        ged = ds.ged[torch.as_tensor(train)][:, torch.as_tensor(train)]
        for q in split_q:
            config = TrainConfig(n_bits=q, epochs=epochs, seed=seed)
            t0 = time.perf_counter()
            net, history = train_hnn(
                [data[i] for i in train], ged, ds.ged_cap, len(ds.models), config
            )
            runs = {"HNN-Net": (encode(net, data), time.perf_counter() - t0)}
            final_loss = round(history[-1]["loss"], 4) if history else None
            runs.update(baseline_codes[q])
            for method, (codes, seconds) in runs.items():
                for which, idx in (("held-out", queries), ("seen", seen_queries)):
                    top = leave_one_out_metrics(codes, model_of, idx, k, seed)
                    family = leave_one_out_metrics(codes, family_of, idx, k, seed)
                    rows.append(
                        {
                            "queries": which,
                            "method": method,
                            "q": q,
                            "n_queries": int(len(idx)),
                            "seconds": round(seconds, 1),
                            **top,
                            "family_precision": family["precision"],
                            "family_map": family["map"],
                            **({"final_loss": final_loss} if method == "HNN-Net" else {}),
                        }
                    )
                    if which == "held-out":
                        print(
                            f"split {split_seed} Q={q:2d} {method:15s} F1@{k} {top['f1']:.3f} "
                            f"mAP {top['map']:.3f} family mAP {family['map']:.3f} "
                            f"({seconds:.0f} s)",
                            flush=True,
                        )
        held_models = sorted({ds.models[m] for m in model_of[queries]})
        splits.append(
            {
                "split_seed": split_seed,
                "held_out_families": list(held),
                "held_out_models": held_models,
                "train_models": sorted({ds.models[m] for m in model_of[train]}),
                "train_graphs": int(len(train)),
                "query_graphs": int(len(queries)),
                "rows": rows,
            }
        )
    result = {
        "protocol": {
            "zoo": zoo if models is None else "custom",
            "requested_models": len(requested),
            "models": len(ds.models),
            "families": len(set(family_names)),
            "graphs": len(ds),
            "n_aug": n_aug,
            "delete_fraction": ds.delete_fraction,
            "ged_cap": ds.ged_cap,
            "merged": True,
            "epochs": epochs,
            "k": k,
            "seed": seed,
            "held_out_fraction": None if held_out else held_out_fraction,
            "relevance": "same source model (leave-one-out over all graphs)",
        },
        "skipped": ds.skipped,
        "families": {m: ds.model_families[m] for m in ds.models},
        "splits": splits,
        "build_or_load_seconds": round(build_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "zoo_held_out.json").write_text(json.dumps(result, indent=2))
    (out / "zoo_held_out.md").write_text(zoo_markdown(result))
    return result


def zoo_markdown(result: dict) -> str:
    """The held-out-family tables (one per split) and the protocol line."""
    p = result["protocol"]
    k = p["k"]
    lines = []
    for split in result["splits"]:
        seed = split["split_seed"]
        lines += [
            f"Split {'given' if seed is None else f'seed {seed}'}: held out "
            f"{', '.join(split['held_out_families'])} ({len(split['held_out_models'])} "
            f"models, {split['query_graphs']} query graphs); HNN-Net trained on "
            f"{split['train_graphs']} graphs of {len(split['train_models'])} models.",
            "",
            f"| queries | method | Q | P@{k} | R@{k} | F1@{k} | mAP | family P@{k} "
            "| family mAP | s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in split["rows"]:
            lines.append(
                f"| {r['queries']} | {r['method']} | {r['q']} | {r['precision']:.3f} | "
                f"{r['recall']:.3f} | {r['f1']:.3f} | {r['map']:.3f} | "
                f"{r['family_precision']:.3f} | {r['family_map']:.3f} | {r['seconds']} |"
            )
        lines.append("")
    skipped = result["skipped"]
    lines.append(
        f"{p['models']} of {p['requested_models']} models, {p['families']} families, "
        f"{p['n_aug']} copies each ({p['delete_fraction']:.0%} of nodes deleted), "
        f"{p['graphs']} graphs, merged data, R = {p['ged_cap']}, {p['epochs']} epochs, "
        f"seed {p['seed']}, k = {k}; relevant = {p['relevance']}. Skipped: "
        + (", ".join(f"{m} ({why})" for m, why in skipped.items()) if skipped else "none")
        + f". Wall time {result['total_seconds']:.0f} s (build or load of the dataset "
        f"{result['build_or_load_seconds']:.0f} s)."
    )
    return "\n".join(lines) + "\n"


def non_learned_eval(
    out: str | Path,
    zoo: str = "all",
    n_aug: int = ZOO_DEFAULTS["n_aug"],
    q_values: Sequence[int] = (16, 32, 64, 128),
    split_seeds: Sequence[int] = (0, 1, 2),
    held_out_fraction: float = ZOO_DEFAULTS["held_out_fraction"],
    k: int | None = None,
    seed: int = 0,
) -> dict:
    """The non-learned methods with and without graph canonicalisation, in minutes (no
    GED matrix, no training): the check that the index's default keeps its measured lead.

    Per zoo model: the merged graph (``plain``) or the merged canonical graph
    (``canonical``, what the index hashes) and ``n_aug`` copies with 10% of the nodes
    deleted. Queries: the graphs of the held-out families of each split seed (as in
    :func:`zoo_held_out_eval`), leave-one-out against every other graph; relevant = same
    source model, k defaults to ``n_aug``. Reported: F1@k, mAP, and ROC-AUC and TPR at
    1% FPR over all (query, other graph) pairs scored by minus the Hamming distance.
    Writes ``non_learned.json`` and ``non_learned.md`` under ``out``.
    """
    from model_hashing.ged import delete_nodes
    from model_hashing.graph import canonicalize, merge_layers, onnx_to_graph
    from model_hashing.methods import OpHistSimHash, WLSimHash
    from model_hashing.retrieval import hamming_distances, roc_auc, tpr_at_fpr
    from model_hashing.zoo import export_zoo_model

    torch.set_num_threads(1)
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    k = n_aug if k is None else k
    families = zoo_models(zoo)
    rng = np.random.default_rng(seed)
    graphs: dict[str, list] = {"plain": [], "canonical": []}
    model_of: list[int] = []
    for index, name in enumerate(families):
        raw = onnx_to_graph(export_zoo_model(name))
        for form, g in (
            ("plain", merge_layers(raw)),
            ("canonical", merge_layers(canonicalize(raw))),
        ):
            graphs[form] += [g] + [delete_nodes(g, 0.1, rng) for _ in range(n_aug)]
        model_of += [index] * (n_aug + 1)
    labels = np.array(model_of)
    item_families = [families[name] for name in families for _ in range(n_aug + 1)]
    build_seconds = time.perf_counter() - started
    splits = {s: choose_held_out(families, held_out_fraction, s) for s in split_seeds}
    rows = []
    methods = {"OpHist-SimHash": OpHistSimHash, "WL-SimHash": WLSimHash}
    for form, items in graphs.items():
        for label, factory in methods.items():
            for q in q_values:
                method = factory(q)
                codes = np.stack([method.hash_graph(g) for g in items])
                distances = hamming_distances(codes, codes)
                for split_seed, held in splits.items():
                    _, queries = held_out_split(item_families, held)
                    metrics = leave_one_out_metrics(codes, labels, queries, k, seed)
                    others = np.ones_like(distances[queries], dtype=bool)
                    others[np.arange(len(queries)), queries] = False  # not the query itself
                    scores = -distances[queries][others]
                    positive = (labels[None, :] == labels[queries, None])[others]
                    rows.append(
                        {
                            "graphs": form,
                            "method": label,
                            "q": q,
                            "split_seed": split_seed,
                            "f1": metrics["f1"],
                            "map": metrics["map"],
                            "roc_auc": roc_auc(scores, positive),
                            "tpr_at_1pct_fpr": tpr_at_fpr(scores, positive, 0.01),
                        }
                    )
    result = {
        "protocol": {
            "zoo": zoo,
            "models": len(families),
            "n_aug": n_aug,
            "k": k,
            "seed": seed,
            "splits": {str(s): list(h) for s, h in splits.items()},
        },
        "rows": rows,
        "build_seconds": round(build_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "non_learned.json").write_text(json.dumps(result, indent=2))
    (out / "non_learned.md").write_text(non_learned_markdown(result))
    return result


def non_learned_markdown(result: dict) -> str:
    """Mean over the splits per graph form, method and Q."""
    p = result["protocol"]
    k = p["k"]
    lines = [
        f"| graphs | method | Q | F1@{k} | mAP | ROC-AUC | TPR@1%FPR |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in result["rows"]:
        groups.setdefault((r["graphs"], r["method"], r["q"]), []).append(r)
    for (form, method, q), rs in groups.items():
        mean = {
            key: float(np.mean([r[key] for r in rs]))
            for key in ("f1", "map", "roc_auc", "tpr_at_1pct_fpr")
        }
        lines.append(
            f"| {form} | {method} | {q} | {mean['f1']:.3f} | {mean['map']:.3f} | "
            f"{mean['roc_auc']:.3f} | {mean['tpr_at_1pct_fpr']:.3f} |"
        )
    lines += [
        "",
        f"Zoo {p['zoo']}: {p['models']} models, {p['n_aug']} copies each (10% of nodes "
        f"deleted), merged; held-out-family queries of split seeds "
        f"{', '.join(p['splits'])} (mean over the splits), leave-one-out, relevant = same "
        f"source model, k = {k}. Wall time {result['total_seconds']:.0f} s (exports "
        f"{result['build_seconds']:.0f} s).",
    ]
    return "\n".join(lines) + "\n"
