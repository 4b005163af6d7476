"""How the index's histogram SimHash should see layer sizes (issue #18): digit-count labels
(``ophist`` version 1) against half-decade and decade bins, hard and soft, four bin
phases, Q = 32 / 64 / 128, on the retrieval tables and on the width-changing piracy
transforms, from the same graphs in one run:
``python experiments/model_hashing_magnitudes.py --out results/model_hashing_magnitudes``.

Retrieval, as ``model_hashing_eval.py --non-learned`` (canonical merged graphs):

* *held-out families*: the 80-model zoo, each model's graph and 5 copies with 10% of the
  nodes deleted (seed 0), the queries of the three family splits
  (``choose_held_out(..., 0.25, s)``, s = 0, 1, 2), leave-one-out, relevant = same source
  model, F1@5 (mean of the splits);
* *paper zoo*: its 21 models and 10 copies each (seed 0), every graph a query,
  leave-one-out, F1@10.

Piracy (the transforms that change sizes or layers): the channel-pruned, layer-added and
layer-removed copies of ResNet-18, SqueezeNet 1.1, MobileNetV2 and DenseNet-121 against
the paper-zoo graphs above; a copy counts as found when one of its source's graphs is
strictly nearer than every other model's (ties count as misses).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import torch

from model_hashing.baselines import op_histogram_simhash, soft_histogram_simhash
from model_hashing.dataset import to_data
from model_hashing.ged import delete_nodes
from model_hashing.graph import canonicalize, merge_layers, onnx_to_graph
from model_hashing.piracy import pirated_copy
from model_hashing.retrieval import hamming_distances, leave_one_out_metrics
from model_hashing.zoo import export_zoo_model, zoo_models
from model_hashing.zoo_eval import choose_held_out, held_out_split

SOURCES = ("resnet18", "squeezenet1_1", "mobilenet_v2", "densenet121")
SIZE_TRANSFORMS = ("channel-pruned", "layer-added", "layer-removed")


def variants() -> dict[str, Callable[[nx.DiGraph, int], np.ndarray]]:
    """Label ``->`` ``(graph, Q) -> code``."""
    out: dict[str, Callable[[nx.DiGraph, int], np.ndarray]] = {
        "digits (version 1)": lambda g, q: op_histogram_simhash(to_data(g), q),
    }
    for per_decade, name in ((1, "decade"), (2, "half-decade")):
        for soft in (False, True):
            phases = (0.0, 0.25, 0.5, 0.75) if (per_decade, soft) == (2, True) else (0.0,)
            for phase in phases:
                label = f"{'soft' if soft else 'hard'} {name}" + (
                    f", phase {phase}" if phase else ""
                )
                out[label] = lambda g, q, b=per_decade, s=soft, p=phase: soft_histogram_simhash(
                    g, q, bins_per_decade=b, phase=p, soft=s
                )
    return out


def canonical(raw: nx.DiGraph) -> nx.DiGraph:
    return merge_layers(canonicalize(raw))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/model_hashing_magnitudes")
    parser.add_argument("--q", type=int, nargs="+", default=[32, 64, 128])
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    families = zoo_models("all")
    zoo_graphs, zoo_labels = [], []
    for index, name in enumerate(families):
        g = canonical(onnx_to_graph(export_zoo_model(name)))
        zoo_graphs += [g] + [delete_nodes(g, 0.1, rng) for _ in range(5)]
        zoo_labels += [index] * 6
    item_families = [families[name] for name in families for _ in range(6)]
    splits = [choose_held_out(families, 0.25, s) for s in (0, 1, 2)]
    rng = np.random.default_rng(0)
    paper = list(zoo_models("paper"))
    paper_graphs, paper_labels = [], []
    for index, name in enumerate(paper):
        g = canonical(onnx_to_graph(export_zoo_model(name)))
        paper_graphs += [g] + [delete_nodes(g, 0.1, rng) for _ in range(10)]
        paper_labels += [index] * 11
    copies = {
        (source, transform): canonical(pirated_copy(source, transform))
        for source in SOURCES
        for transform in SIZE_TRANSFORMS
    }
    build_seconds = time.perf_counter() - start
    zoo_y, paper_y = np.array(zoo_labels), np.array(paper_labels)
    rows = []
    for label, code in variants().items():
        for q in args.q:
            codes = np.stack([code(g, q) for g in zoo_graphs])
            f1 = [
                leave_one_out_metrics(codes, zoo_y, held_out_split(item_families, held)[1], 5)["f1"]
                for held in splits
            ]
            db = np.stack([code(g, q) for g in paper_graphs])
            paper_f1 = leave_one_out_metrics(db, paper_y, np.arange(len(db)), 10)["f1"]
            missed = []
            for (source, transform), g in copies.items():
                d = hamming_distances(code(g, q)[None], db)[0]
                own = paper_y == paper.index(source)
                if d[own].min() >= d[~own].min():
                    missed.append(f"{source} {transform} ({d[own].min()} vs {d[~own].min()})")
            rows.append(
                {
                    "variant": label,
                    "q": q,
                    "held_out_f1_at_5": float(np.mean(f1)),
                    "held_out_f1_per_split": f1,
                    "paper_f1_at_10": paper_f1,
                    "piracy_missed": missed,
                }
            )
    result = {
        "protocol": __doc__,
        "rows": rows,
        "build_seconds": round(build_seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    lines = [
        f"| magnitudes | Q | held-out F1@5 (splits 0 / 1 / 2) | paper zoo F1@10 | "
        f"size-changing copies found ({len(copies)}) | missed (d(source) vs d(other)) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        splits_text = " / ".join(f"{x:.3f}" for x in r["held_out_f1_per_split"])
        lines.append(
            f"| {r['variant']} | {r['q']} | {r['held_out_f1_at_5']:.3f} ({splits_text}) | "
            f"{r['paper_f1_at_10']:.3f} | {len(copies) - len(r['piracy_missed'])} | "
            f"{'; '.join(r['piracy_missed']) or '—'} |"
        )
    lines.append("")
    lines.append(
        f"Wall time {result['total_seconds']:.0f} s (graphs and copies {build_seconds:.0f} s)."
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "magnitudes.json").write_text(json.dumps(result, indent=2))
    (out / "magnitudes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
