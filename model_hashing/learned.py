"""A learned hash that starts from the default: a contrastively trained projection of
operator-histogram sketches (issue #18, "a learned hash that earns its place").

Input of a graph (:func:`graph_sketch`): the exact accumulator of the default method
(``ophist``: the weighted sum of the SimHash ±1 vectors of its soft-magnitude node labels,
:func:`~model_hashing.baselines.soft_histogram`, Q wide), followed by
``dim``-wide sketches (count-weighted sums of BLAKE2b-derived ±1 vectors, as in SimHash)
of further feature groups of the same canonical merged graph:

* ``label``: the node labels ``op|FLOPs digits|parameter digits`` again, wider;
* ``label-log``: the same labels weighted by ``log(1 + count)`` instead of the count;
* ``op``, ``op-flops``, ``op-params``: the label without its size parts (what channel
  pruning or a width multiplier leaves unchanged) or with one of them;
* ``edge``, ``op-edge``: labels (or operators) of the two ends of every edge (one hop of
  topology).

Every block is divided by the L2 norm of its counts. Features never seen in training
still get their fixed random vectors, so the sketch of a new family keeps its geometry
(Johnson–Lindenstrauss) instead of collapsing.

The model (:class:`SketchHash`): ``code = sign(A z)``, with ``A`` initialised to select
the first block, so that **before training the codes are exactly the default method's**;
``A`` is either a free Q × input matrix (``"full"``) or one weight per feature group
(``"groups"``). Training (:func:`train_sketch_hash`): full-batch Adam on a supervised
contrastive loss over relaxed codes ``tanh(A z)`` (positives: graphs of the same source
model), a quantisation term and an L2 pull of ``A`` toward its initialisation. The
learning rate, the pull and the number of steps are chosen on an inner validation split
of the *training* graphs (step 0, the default's codes, is a candidate), then the model
is retrained on all training graphs; the queries are never looked at.

Measured (:func:`learned_eval`, docs/model_hashing.md): far ahead of the default when the
queried models were in training (paper protocol, F1@10 0.902 against 0.742 at Q = 32),
behind it on held-out families at Q = 64 and 128 (0.819 against 0.830, 0.864 against
0.879), so the index keeps the non-learned default.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from model_hashing.baselines import _feature_signs, node_labels, soft_histogram
from model_hashing.dataset import to_data
from model_hashing.retrieval import leave_one_out_metrics

#: Feature groups of the sketch after the default's exact block (module docstring).
GROUPS: tuple[str, ...] = (
    "label",
    "label-log",
    "op",
    "op-flops",
    "op-params",
    "edge",
    "op-edge",
)


def _signs(group: str, feature: str, dim: int) -> np.ndarray:
    """A ±1 vector of ``dim`` entries for ``feature`` of ``group`` (keyed BLAKE2b, so it
    is the same in every process and for features no training set contained)."""
    out = np.empty(dim)
    filled, counter = 0, 0
    while filled < dim:
        digest = hashlib.blake2b(f"{group}:{counter}:{feature}".encode(), digest_size=64).digest()
        bits = np.unpackbits(np.frombuffer(digest, dtype=np.uint8))[: dim - filled]
        out[filled : filled + len(bits)] = bits.astype(np.float64) * 2.0 - 1.0
        filled += len(bits)
        counter += 1
    return out


def group_features(g: nx.DiGraph) -> dict[str, Counter[str]]:
    """The feature multisets of a prepared (canonical, merged) layer graph, ``"ophist"``
    (the default's weighted soft-magnitude labels) first, then the digit-count labels of
    :func:`~model_hashing.baselines.node_labels` and their parts."""
    data = to_data(g)
    labels = node_labels(data)
    parts = [label.split("|") for label in labels]
    edges = data.edge_index.t().tolist()
    counts = Counter(labels)
    return {
        "ophist": soft_histogram(g),
        "label": counts,
        "label-log": counts,
        "op": Counter(p[0] for p in parts),
        "op-flops": Counter(f"{p[0]}|{p[1]}" for p in parts),
        "op-params": Counter(f"{p[0]}|{p[2]}" for p in parts),
        "edge": Counter(f"{labels[u]}>{labels[v]}" for u, v in edges),
        "op-edge": Counter(f"{parts[u][0]}>{parts[v][0]}" for u, v in edges),
    }


def graph_sketch(
    features: dict[str, Counter[str]],
    n_bits: int,
    dim: int = 256,
    groups: Sequence[str] = GROUPS,
    cache: dict | None = None,
) -> np.ndarray:
    """``n_bits + dim * len(groups)`` floats: the default's SimHash accumulator, then one
    sketch per group, each block divided by the L2 norm of its weights.

    ``cache`` (optional dict) memoises the ±1 vectors across graphs."""
    cache = {} if cache is None else cache
    blocks = []
    for group in ("ophist", *groups):
        width = n_bits if group == "ophist" else dim
        counts = features[group]
        total = np.zeros(width)
        weights = []
        for feature, count in counts.items():
            weight = math.log1p(count) if group == "label-log" else float(count)
            key = (group, feature, width)
            if key not in cache:
                cache[key] = (
                    _feature_signs(feature, n_bits)
                    if group == "ophist"
                    else _signs(group, feature, width)
                )
            total += weight * cache[key]
            weights.append(weight)
        norm = float(np.linalg.norm(weights)) if weights else 1.0
        blocks.append(total / (norm or 1.0))
    return np.concatenate(blocks)


@dataclass
class SketchHashConfig:
    """Hyper-parameters of :func:`train_sketch_hash` (fixed before any evaluation)."""

    lr: float = 1e-3
    temperature: float = 0.1
    quant: float = 0.1
    #: weight of ``||A - A0||^2 / Q``, the pull toward the default's projection
    anchor: float = 1e-3
    #: ``"full"`` or ``"groups"`` (:class:`SketchHash`)
    structure: str = "full"
    #: candidate step counts of the inner validation (0 = the default's codes)
    max_steps: int = 600
    eval_every: int = 50
    seed: int = 0


class SketchHash(torch.nn.Module):
    """``code = sign(A z)``; ``A`` starts as ``[I_Q, 0]`` (the default's codes).

    ``structure="full"``: ``A`` is any ``Q x in_dim`` matrix. ``structure="groups"``: the
    input is ``G`` blocks of width Q (``graph_sketch(..., dim=Q)``) and ``A = [w_1 I, ...,
    w_G I]``: one learned weight per feature group, ``G`` parameters in all, so what it
    learns (how much sizes, bare operators or edges count) does not depend on which
    features the training families had."""

    def __init__(self, in_dim: int, n_bits: int, structure: str = "full") -> None:
        super().__init__()
        if in_dim < n_bits:
            raise ValueError(f"input of {in_dim} features cannot start from a {n_bits}-bit code")
        self.n_bits, self.structure = n_bits, structure
        if structure == "full":
            init = torch.zeros(n_bits, in_dim)
            init[:, :n_bits] = torch.eye(n_bits)
        elif structure == "groups":
            if in_dim % n_bits:
                raise ValueError(f"group blocks must be {n_bits} wide; input has {in_dim}")
            init = torch.zeros(in_dim // n_bits)
            init[0] = 1.0
        else:
            raise ValueError(f"structure must be 'full' or 'groups', got {structure!r}")
        self.weight = torch.nn.Parameter(init.clone())
        self.register_buffer("init", init)

    def project(self, z: torch.Tensor) -> torch.Tensor:
        if self.structure == "full":
            return z @ self.weight.t()
        return (z.view(z.size(0), -1, self.n_bits) * self.weight[None, :, None]).sum(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.project(z))

    def anchor_penalty(self) -> torch.Tensor:
        """``||A - A0||^2 / Q`` (full) or ``||w - w0||^2`` (groups)."""
        squared = ((self.weight - self.init) ** 2).sum()
        return squared / self.n_bits if self.structure == "full" else squared

    @torch.no_grad()
    def codes(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        u = self.project(torch.as_tensor(np.asarray(z), dtype=torch.float32))
        return (u > 0).to(torch.uint8).numpy()


def contrastive_loss(h: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss over relaxed codes: for every anchor with a positive,
    ``-mean log softmax`` of its positives' similarities ``h_i . h_j / Q`` among all
    other graphs."""
    n = h.size(0)
    logits = h @ h.t() / h.size(1) / temperature
    eye = torch.eye(n, dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~eye
    has = positive.any(dim=1)
    per_anchor = -(log_prob.masked_fill(~positive, 0.0).sum(1)) / positive.sum(1).clamp(min=1)
    return per_anchor[has].mean()


def _fit(z: torch.Tensor, labels: torch.Tensor, n_bits: int, steps: int, config: SketchHashConfig):
    """Train for ``steps``; yields ``(step, model)`` every ``config.eval_every`` steps
    (and at step 0)."""
    torch.manual_seed(config.seed)
    model = SketchHash(z.size(1), n_bits, config.structure)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    yield 0, model
    for step in range(1, steps + 1):
        h = model(z)
        loss = contrastive_loss(h, labels, config.temperature)
        loss = loss + config.quant * ((h.abs() - 1.0) ** 2).mean()
        loss = loss + config.anchor * model.anchor_penalty()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % config.eval_every == 0 or step == steps:
            yield step, model


#: The candidates of the inner validation: learning rate x pull toward the default.
CANDIDATES: tuple[SketchHashConfig, ...] = tuple(
    SketchHashConfig(lr=lr, anchor=anchor) for lr in (1e-3, 3e-3) for anchor in (1e-3, 1e-1)
)


def train_sketch_hash(
    z: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str],
    val_groups: Sequence[str],
    n_bits: int,
    k: int,
    candidates: Sequence[SketchHashConfig] = CANDIDATES,
    seed: int = 0,
) -> tuple[SketchHash, dict]:
    """Choose the configuration and step count on an inner validation split, then retrain
    on everything.

    ``z``: sketches of the training graphs; ``labels``: their source models; ``groups``:
    their family (or any grouping); ``val_groups``: the groups whose graphs are the inner
    validation queries (leave-one-out F1@k, then mAP, against all training graphs, the
    network trained on the other groups only). Ties go to fewer steps, so the default's
    codes (step 0) are kept unless training beats them. Returns the model and
    ``{"steps", "config", "val" (F1 and mAP per candidate and step), "val_queries"}``.
    """
    z_t = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    labels_t = torch.as_tensor(np.asarray(labels))
    val = np.array([grp in set(val_groups) for grp in groups], dtype=bool)
    if val.all() or not val.any():
        raise ValueError("the inner validation needs training and validation graphs")
    fit = np.flatnonzero(~val)
    queries = np.flatnonzero(val)
    scores: dict[tuple[int, int], tuple[float, float]] = {}
    for c, config in enumerate(candidates):
        config = SketchHashConfig(**{**vars(config), "seed": seed})
        for step, model in _fit(z_t[fit], labels_t[fit], n_bits, config.max_steps, config):
            if step == 0 and c > 0:
                continue  # the same untrained codes for every candidate
            m = leave_one_out_metrics(model.codes(z_t), labels, queries, k, seed)
            scores[(c, step)] = (m["f1"], m["map"])
    best_c, best_step = max(scores, key=lambda cs: (*scores[cs], -cs[1], -cs[0]))
    best = SketchHashConfig(**{**vars(candidates[best_c]), "seed": seed})
    final = None
    for step, model in _fit(z_t, labels_t, n_bits, best_step, best):
        final = model
        if step == best_step:
            break
    return final, {
        "steps": best_step,
        "config": vars(best),
        "val": {f"{c}:{s}": list(v) for (c, s), v in scores.items()},
        "val_queries": int(len(queries)),
    }


#: The learned methods of :func:`learned_eval`: label -> (structure, sketch width per
#: group; None = Q).
VARIANTS: dict[str, tuple[str, int | None]] = {
    "Learned group weights": ("groups", None),
    "Learned sketch": ("full", 256),
}


def cached_zoo_onnx(name: str, root=None):
    """The weight-free ONNX file of a torchvision model under the dataset's ``raw/``
    folder (:func:`~model_hashing.dataset.default_root`), exported on first use; the
    same file :class:`~model_hashing.dataset.ModelZooDataset` reuses."""
    import gc
    from pathlib import Path

    import onnx

    from model_hashing.dataset import default_root
    from model_hashing.zoo import export_zoo_model

    raw = Path(root or default_root()) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / f"{name}.onnx"
    if not path.exists():
        tmp = path.with_suffix(".onnx.part")
        onnx.save(export_zoo_model(name), str(tmp))
        tmp.replace(path)  # a killed export never leaves a truncated file behind
        gc.collect()
    return path


def _pair_scores(distances: np.ndarray, labels_q: np.ndarray, labels_db: np.ndarray, mask=None):
    """ROC-AUC and TPR at 1% FPR of "same source model" scored by minus the distance over
    the (query, database) pairs (``mask``: the pairs to use)."""
    from model_hashing.retrieval import roc_auc, tpr_at_fpr

    positive = labels_db[None, :] == labels_q[:, None]
    if mask is None:
        mask = np.ones_like(positive, dtype=bool)
    scores, positive = -distances[mask], positive[mask]
    return roc_auc(scores, positive), tpr_at_fpr(scores, positive, 0.01)


def learned_eval(
    out,
    zoo_models_: dict[str, str] | None = None,
    paper_models: Sequence[str] | None = None,
    n_aug: int = 5,
    paper_n_aug: int = 10,
    q_values: Sequence[int] = (16, 32, 64, 128),
    split_seeds: Sequence[int] = (0, 1, 2),
    held_out_fraction: float = 0.25,
    dim: int = 256,
    candidates: Sequence[SketchHashConfig] = CANDIDATES,
    variants: dict[str, tuple[str, int | None]] | None = None,
    seed: int = 0,
    root=None,
) -> dict:
    """The learned sketch hash against the default (``ophist``) in one run, side by side.

    *Held-out families* (the zoo, default all 80 torchvision models): per model the
    canonical merged graph and ``n_aug`` copies with 10% of the nodes deleted; per split
    seed (:func:`~model_hashing.zoo_eval.choose_held_out`, as in the other zoo tables) the
    hash is trained on the seen families' graphs only (inner validation: a further
    :func:`choose_held_out` of the seen families, seed ``100 + split seed``) and every
    held-out graph queries all other graphs (leave-one-out), relevant = same source model,
    k = ``n_aug``. *Paper protocol* (the paper's 21 models, ``paper_n_aug`` copies, the
    stratified 189 / 42 split of :meth:`ModelZooDataset.split`, k = 10): trained on the
    training graphs (inner validation: one training graph per model), test graphs query
    the training graphs. Reported for both methods and every Q: F1@k, mAP, and ROC-AUC and
    TPR at 1% FPR over all (query, database graph) pairs. Writes ``learned.json`` and
    ``learned.md`` under ``out``.
    """
    import json
    import time
    from pathlib import Path

    from model_hashing.ged import delete_nodes
    from model_hashing.graph import canonicalize, merge_layers, onnx_to_graph
    from model_hashing.methods import OpHistSimHash
    from model_hashing.retrieval import hamming_distances, retrieval_metrics
    from model_hashing.zoo import PAPER_MODELS, zoo_models
    from model_hashing.zoo_eval import choose_held_out, held_out_split

    torch.set_num_threads(1)
    if variants is None:
        variants = {**VARIANTS, "Learned sketch": ("full", dim)}
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    families = dict(zoo_models_) if zoo_models_ is not None else zoo_models("all")
    paper = list(paper_models) if paper_models is not None else list(PAPER_MODELS)
    prepared = {}
    for name in dict.fromkeys([*families, *paper]):
        prepared[name] = merge_layers(canonicalize(onnx_to_graph(cached_zoo_onnx(name, root))))
    rng = np.random.default_rng(seed)

    def with_copies(names: Sequence[str], copies: int) -> tuple[list, np.ndarray]:
        graphs, labels = [], []
        for index, name in enumerate(names):
            g = prepared[name]
            graphs += [g] + [delete_nodes(g, 0.1, rng) for _ in range(copies)]
            labels += [index] * (copies + 1)
        return graphs, np.array(labels)

    zoo_names = list(families)
    zoo_graphs, zoo_labels = with_copies(zoo_names, n_aug)
    paper_graphs, paper_labels = with_copies(paper, paper_n_aug)
    zoo_features = [group_features(g) for g in zoo_graphs]
    paper_features = [group_features(g) for g in paper_graphs]
    build_seconds = time.perf_counter() - started
    item_families = [families[zoo_names[m]] for m in zoo_labels]
    splits = {s: choose_held_out(families, held_out_fraction, s) for s in split_seeds}
    k_zoo = n_aug
    rows, trainings = [], []
    cache: dict = {}
    train_seconds = 0.0
    # paper protocol: the stratified 189 / 42 split of ModelZooDataset.split
    split_rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for index in range(len(paper)):
        members = split_rng.permutation(np.flatnonzero(paper_labels == index))
        n_test = max(1, round(0.2 * len(members)))
        test_idx += list(members[:n_test])
        train_idx += list(members[n_test:])
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    val_rng = np.random.default_rng(seed + 1)
    val_pick = {
        int(val_rng.choice(np.flatnonzero(paper_labels[train_idx] == m))) for m in range(len(paper))
    }
    paper_groups = ["val" if i in val_pick else "fit" for i in range(len(train_idx))]

    def score(protocol, method, q, split_seed, codes, queries, steps) -> dict:
        if protocol == "held-out":
            metrics = leave_one_out_metrics(codes, zoo_labels, queries, k_zoo, seed)
            distances = hamming_distances(codes[queries], codes)
            others = np.ones_like(distances, dtype=bool)
            others[np.arange(len(queries)), queries] = False
            auc, tpr = _pair_scores(distances, zoo_labels[queries], zoo_labels, others)
        else:
            db, labels_db = codes[train_idx], paper_labels[train_idx]
            metrics = retrieval_metrics(
                codes[test_idx], paper_labels[test_idx], db, labels_db, 10, seed
            )
            distances = hamming_distances(codes[test_idx], db)
            auc, tpr = _pair_scores(distances, paper_labels[test_idx], labels_db)
        return {
            "protocol": protocol,
            "method": method,
            "q": q,
            "split_seed": split_seed,
            "k": k_zoo if protocol == "held-out" else 10,
            "f1": metrics["f1"],
            "map": metrics["map"],
            "roc_auc": auc,
            "tpr_at_1pct_fpr": tpr,
            "steps": steps,
        }

    for q in q_values:
        ophist = {
            "held-out": np.stack([OpHistSimHash(q).hash_graph(g) for g in zoo_graphs]),
            "paper": np.stack([OpHistSimHash(q).hash_graph(g) for g in paper_graphs]),
        }
        for split_seed, held in splits.items():
            _, queries = held_out_split(item_families, held)
            rows.append(
                score("held-out", "OpHist-SimHash", q, split_seed, ophist["held-out"], queries, 0)
            )
        rows.append(score("paper", "OpHist-SimHash", q, None, ophist["paper"], None, 0))
        for method, (structure, width) in variants.items():
            width = width or q
            z = {
                "held-out": np.stack(
                    [graph_sketch(f, q, width, cache=cache) for f in zoo_features]
                ),
                "paper": np.stack([graph_sketch(f, q, width, cache=cache) for f in paper_features]),
            }
            for protocol, codes in ophist.items():
                start = SketchHash(z[protocol].shape[1], q, structure).codes(z[protocol])
                if not np.array_equal(start, codes):
                    raise RuntimeError("the untrained sketch hash must give the default's codes")
            variant = [SketchHashConfig(**{**vars(c), "structure": structure}) for c in candidates]
            jobs = []
            for split_seed, held in splits.items():
                train, queries = held_out_split(item_families, held)
                seen = {m: f for m, f in families.items() if f not in set(held)}
                val = choose_held_out(seen, held_out_fraction, 100 + split_seed)
                groups = [item_families[i] for i in train]
                jobs.append(
                    ("held-out", split_seed, train, queries, groups, val, zoo_labels, k_zoo)
                )
            jobs.append(("paper", None, train_idx, None, paper_groups, ["val"], paper_labels, 10))
            for protocol, split_seed, train, queries, groups, val, labels, k in jobs:
                t0 = time.perf_counter()
                model, info = train_sketch_hash(
                    z[protocol][train], labels[train], groups, val, q, k, variant, seed
                )
                seconds = time.perf_counter() - t0
                train_seconds += seconds
                trainings.append(
                    {
                        "protocol": protocol,
                        "method": method,
                        "q": q,
                        "split_seed": split_seed,
                        "seconds": round(seconds, 1),
                        "steps": info["steps"],
                        "val_groups": list(val),
                        "config": info["config"],
                        "weights": model.weight.detach().tolist()
                        if structure == "groups"
                        else None,
                        "val": info["val"],
                    }
                )
                row = score(
                    protocol,
                    method,
                    q,
                    split_seed,
                    model.codes(z[protocol]),
                    queries,
                    info["steps"],
                )
                rows.append(row)
                base = next(
                    r["f1"]
                    for r in rows
                    if r["method"] == "OpHist-SimHash"
                    and r["protocol"] == protocol
                    and r["q"] == q
                    and r["split_seed"] == split_seed
                )
                print(
                    f"{protocol} split {split_seed} Q={q} {method}: steps {info['steps']}, "
                    f"F1@{k} ophist {base:.3f} learned {row['f1']:.3f} ({seconds:.0f} s)",
                    flush=True,
                )
    result = {
        "protocol": {
            "zoo_models": len(zoo_names),
            "n_aug": n_aug,
            "zoo_graphs": len(zoo_graphs),
            "paper_models": len(paper),
            "paper_n_aug": paper_n_aug,
            "paper_train": int(len(train_idx)),
            "paper_test": int(len(test_idx)),
            "splits": {str(s): list(h) for s, h in splits.items()},
            "held_out_fraction": held_out_fraction,
            "dim": dim,
            "variants": variants,
            "groups": list(GROUPS),
            "candidates": [vars(c) for c in candidates],
            "seed": seed,
        },
        "rows": rows,
        "trainings": trainings,
        "build_seconds": round(build_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "learned.json").write_text(json.dumps(result, indent=2))
    (out / "learned.md").write_text(learned_markdown(result))
    return result


def learned_markdown(result: dict) -> str:
    """Held-out families (mean over the splits, and per split) and the paper protocol."""
    p = result["protocol"]
    lines = [
        "| protocol | method | Q | F1@k | mAP | ROC-AUC | TPR@1%FPR | steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in result["rows"]:
        groups.setdefault((r["protocol"], r["q"], r["method"]), []).append(r)
    for (protocol, q, method), rs in sorted(groups.items(), key=lambda x: (x[0][0], x[0][1])):
        mean = {
            key: float(np.mean([r[key] for r in rs]))
            for key in ("f1", "map", "roc_auc", "tpr_at_1pct_fpr")
        }
        name = (
            f"held-out (k = {rs[0]['k']}, mean of {len(rs)} splits)"
            if protocol == "held-out"
            else f"paper (k = {rs[0]['k']})"
        )
        steps = "/".join(str(r["steps"]) for r in rs)
        lines.append(
            f"| {name} | {method} | {q} | {mean['f1']:.3f} | {mean['map']:.3f} | "
            f"{mean['roc_auc']:.3f} | {mean['tpr_at_1pct_fpr']:.3f} | {steps} |"
        )
    methods = list(dict.fromkeys(r["method"] for r in result["rows"]))
    lines += [
        "",
        f"Held-out F1@k per split ({' / '.join(methods)}):",
        "",
        "| Q | " + " | ".join(f"split {s}" for s in p["splits"]) + " |",
        "|---|" + "---|" * len(p["splits"]),
    ]
    for q in sorted({r["q"] for r in result["rows"]}):
        cells = []
        for s in p["splits"]:
            f1 = {
                r["method"]: r["f1"]
                for r in result["rows"]
                if r["protocol"] == "held-out" and r["q"] == q and str(r["split_seed"]) == s
            }
            cells.append(" / ".join(f"{f1[m]:.3f}" for m in methods))
        lines.append(f"| {q} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Held-out: {p['zoo_models']} models, {p['n_aug']} copies each (10% of nodes "
        f"deleted), {p['zoo_graphs']} canonical merged graphs; split seeds "
        f"{', '.join(p['splits'])}, leave-one-out, relevant = same source model. Paper "
        f"protocol: {p['paper_models']} models, {p['paper_n_aug']} copies, train "
        f"{p['paper_train']} / test {p['paper_test']}. Seed {p['seed']}; learned "
        f"variants {p['variants']}; feature groups ({', '.join(p['groups'])}); steps = "
        "the training steps chosen on the inner validation (0 = the default's codes). "
        f"Wall time {result['total_seconds']:.0f} s "
        f"(graphs {result['build_seconds']:.0f} s, training {result['train_seconds']:.0f} s).",
    ]
    return "\n".join(lines) + "\n"


class SketchHashMethod:
    """A trained :class:`SketchHash` as a hash method (``method(raw_graph) -> code``), for
    the piracy table: canonical merged graph, its sketch, the trained projection."""

    name = "sketch"

    def __init__(self, model: SketchHash, width: int) -> None:
        self.model, self.width, self.n_bits = model, width, model.n_bits
        digest = hashlib.sha256(model.weight.detach().numpy().tobytes()).hexdigest()[:12]
        self.version = f"{model.structure}-{digest}"

    def prepare(self, g: nx.DiGraph) -> nx.DiGraph:
        from model_hashing.graph import canonicalize, merge_layers

        return merge_layers(canonicalize(g))

    def hash_graph(self, g: nx.DiGraph) -> np.ndarray:
        z = graph_sketch(group_features(g), self.n_bits, self.width)
        return self.model.codes(z[None, :])[0]

    def __call__(self, g: nx.DiGraph) -> np.ndarray:
        return self.hash_graph(self.prepare(g))


def train_on_models(
    names: Sequence[str],
    n_bits: int,
    n_aug: int = 10,
    structure: str = "full",
    width: int = 256,
    seed: int = 1,
    candidates: Sequence[SketchHashConfig] = CANDIDATES,
    root=None,
) -> SketchHashMethod:
    """The learned sketch hash trained on ``names`` (each model's canonical merged graph and
    ``n_aug`` node-deleted copies drawn with ``seed``; inner validation: one graph per
    model), as the paper protocol trains it: a hash for an index of these models."""
    from model_hashing.ged import delete_nodes
    from model_hashing.graph import canonicalize, merge_layers, onnx_to_graph

    width = width if structure == "full" else n_bits
    rng = np.random.default_rng(seed)
    z, labels, groups = [], [], []
    for index, name in enumerate(names):
        g = merge_layers(canonicalize(onnx_to_graph(cached_zoo_onnx(name, root))))
        copies = [g] + [delete_nodes(g, 0.1, rng) for _ in range(n_aug)]
        val = int(rng.integers(len(copies)))
        for i, copy in enumerate(copies):
            z.append(graph_sketch(group_features(copy), n_bits, width))
            labels.append(index)
            groups.append("val" if i == val else "fit")
    variant = [SketchHashConfig(**{**vars(c), "structure": structure}) for c in candidates]
    model, _ = train_sketch_hash(
        np.stack(z), np.array(labels), groups, ["val"], n_bits, n_aug, variant, seed
    )
    return SketchHashMethod(model, width)
