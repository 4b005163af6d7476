"""Training HNN-Net: loss, minibatches, and checkpoints.

Loss ``alpha * L_topo + beta * L_class + gamma * L_quant`` (paper: 10, 10, 0.2):

* ``L_topo``: for every pair in the minibatch, the code similarity ``h_i . h_j / Q`` should
  equal ``1 - min(GED, R) / R``. For binary codes ``h . h' / Q = 1 - 2 d_H / Q``, so a copy
  with no edits gets Hamming distance 0 and a pair R or more edits apart gets Q / 2, the
  distance of unrelated random codes.
* ``L_class``: cross-entropy of the classification head (source model by default: a copy
  should be told apart from its siblings, e.g. ResNet-18 from ResNet-34).
* ``L_quant``: ``mean((|h| - 1)^2)`` pulls the relaxed codes to +-1, so that taking the sign
  at test time changes little.

Minibatches are *pair-aware*: half of each batch are random training graphs, the other
half one more graph of the same source model for each, so every batch holds the small-GED
pairs that a uniform draw would rarely contain.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data

from model_hashing import ModelHashError
from model_hashing.nn import HNNNet


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are the paper's (``epochs`` up to 200)."""

    n_bits: int = 32
    epochs: int = 200
    batch_size: int = 10
    lr: float = 1e-3
    alpha: float = 10.0
    beta: float = 10.0
    gamma: float = 0.2
    seed: int = 0
    #: what the classification head predicts: the source ``"model"`` or its ``"family"``
    label: str = "model"

    def __post_init__(self) -> None:
        if self.label not in ("model", "family"):
            raise ValueError(f"label must be 'model' or 'family', got {self.label!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (the topology loss needs pairs)")
        if self.epochs < 0 or self.n_bits <= 0:
            raise ValueError("epochs must be >= 0 and n_bits > 0")


def hnn_loss(
    relaxed: torch.Tensor,
    logits: torch.Tensor,
    labels: torch.Tensor,
    target_similarity: torch.Tensor,
    config: TrainConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its parts; ``target_similarity`` is ``(B, B)`` with ``1 - min(GED,R)/R``."""
    n = relaxed.size(0)
    similarity = relaxed @ relaxed.t() / relaxed.size(1)
    upper = torch.triu_indices(n, n, offset=1)
    topo = F.mse_loss(similarity[upper[0], upper[1]], target_similarity[upper[0], upper[1]])
    cls = F.cross_entropy(logits, labels)
    quant = ((relaxed.abs() - 1.0) ** 2).mean()
    total = config.alpha * topo + config.beta * cls + config.gamma * quant
    return total, {"topo": topo.item(), "class": cls.item(), "quant": quant.item()}


def pair_batches(models: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of pair-aware minibatches over positions ``0..len(models)-1``."""
    order = rng.permutation(len(models))
    half = max(1, batch_size // 2)
    batches = []
    for start in range(0, len(order), half):
        anchors = order[start : start + half]
        chosen = list(anchors)
        for a in anchors:
            same = np.flatnonzero((models == models[a]) & (np.arange(len(models)) != a))
            if len(same):
                chosen.append(int(rng.choice(same)))
        batches.append(np.unique(np.array(chosen)))
    return batches


def train_hnn(
    data: Sequence[Data],
    ged: torch.Tensor,
    ged_cap: int,
    n_classes: int,
    config: TrainConfig,
    log_every: int = 0,
) -> tuple[HNNNet, list[dict[str, float]]]:
    """Train HNN-Net on ``data`` (items with ``x``, ``edge_index``, ``y``, ``model``); ``ged``
    is the ``(len(data), len(data))`` matrix of ``min(GED, ged_cap)``. Returns the model and
    one dict of mean losses per epoch."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = HNNNet(data[0].x.size(1), config.n_bits, n_classes)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    target = 1.0 - ged.float() / ged_cap
    models = np.array([int(d.model) for d in data])
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for epoch in range(config.epochs):
        net.train()
        sums: dict[str, float] = {"loss": 0.0, "topo": 0.0, "class": 0.0, "quant": 0.0}
        batches = pair_batches(models, config.batch_size, rng)
        for idx in batches:
            batch = Batch.from_data_list([data[i] for i in idx])
            relaxed, logits = net(batch.x, batch.edge_index, batch.batch, len(idx))
            sub = target[torch.as_tensor(idx)][:, torch.as_tensor(idx)]
            labels = (batch.model if config.label == "model" else batch.y).view(-1)
            loss, parts = hnn_loss(relaxed, logits, labels, sub, config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums["loss"] += loss.item()
            for key, value in parts.items():
                sums[key] += value
        record = {k: v / len(batches) for k, v in sums.items()}
        record["epoch"] = epoch + 1
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        if log_every and (epoch + 1) % log_every == 0:
            print(
                f"epoch {epoch + 1}: loss {record['loss']:.4f} topo {record['topo']:.4f} "
                f"class {record['class']:.4f} quant {record['quant']:.4f} "
                f"({record['seconds']:.0f} s)",
                flush=True,
            )
    net.eval()
    return net, history


@torch.no_grad()
def encode(net: HNNNet, data: Sequence[Data], chunk: int = 64) -> np.ndarray:
    """Binary codes ``(len(data), Q)`` uint8 in {0, 1}."""
    net.eval()
    out = []
    for start in range(0, len(data), chunk):
        part = list(data[start : start + chunk])
        batch = Batch.from_data_list(part)
        out.append(net.codes(batch.x, batch.edge_index, batch.batch, len(part)).numpy())
    return np.concatenate(out) if out else np.zeros((0, net.n_bits), dtype=np.uint8)


def save_checkpoint(
    net: HNNNet,
    path: str | Path,
    classes: Sequence[str],
    merged: bool,
    config: TrainConfig,
    canonical: bool = False,
) -> None:
    """Weights plus what is needed to hash a new model the same way (``merged`` and
    ``canonical``: the graphs it was trained on)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": net.state_dict(),
            "in_dim": net.convs[0].in_channels,
            "classes": list(classes),
            "merged": merged,
            "canonical": canonical,
            "config": asdict(config),
        },
        path,
    )


def _check_zip(path: Path) -> None:
    """A checkpoint is a zip whose members carry CRC-32s, which ``torch.load`` does not
    check: verify them, so a flipped bit is an error instead of a silently different net."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        raise ModelHashError(f"{path} is not an HNN-Net checkpoint ({err})") from None
    if bad is not None:
        raise ModelHashError(f"{path} is damaged: the CRC-32 of its member {bad!r} is wrong")


def load_checkpoint(path: str | Path) -> tuple[HNNNet, dict]:
    """``(net in eval mode, metadata)``; :class:`~model_hashing.ModelHashError` (a
    ``ValueError``) if the file is not an intact HNN-Net checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise ModelHashError(f"no HNN-Net checkpoint at {path}")
    _check_zip(path)
    try:
        payload = torch.load(path, weights_only=True)
        meta = {k: payload[k] for k in ("in_dim", "classes", "merged", "config")}
        meta["canonical"] = bool(payload.get("canonical", False))  # older: plain graphs
        net = HNNNet(meta["in_dim"], meta["config"]["n_bits"], len(meta["classes"]))
        net.load_state_dict(payload["state_dict"])
    except Exception as err:  # torch.load raises many unrelated types on damaged files
        raise ModelHashError(f"{path} is not an HNN-Net checkpoint ({err})") from None
    return net.eval(), meta
