"""The server side: it only ever sees hashmaps (or other templates) and identities.

Identification: a multinomial logistic-regression discriminator (scikit-learn) trained
on the enrolment hashmaps. Verification: the score of a probe against a claimed
identity's template (mean enrolment hashmap for cosine scores, bitwise majority for
Hamming scores), summarised by the ROC curve and its equal error rate (EER).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from encoders.contrastive import encode, make_encoder
from encoders.data import BiometricDataset

__all__ = [
    "Metric",
    "Roc",
    "ServerDiscriminator",
    "pair_scores",
    "predict_identities",
    "roc_eer",
    "templates",
    "train_raw_classifier",
    "verification_scores",
]

Metric = Literal["cosine", "hamming"]


def _check_xy(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{what} must be a non-empty (n, dim) array, got shape {x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"{what}: need one identity per row, got {y.shape} for {len(x)} rows")
    return x, y


class ServerDiscriminator:
    """Identifies people from hashmaps alone (closed set: the enrolled identities).

    Standardisation + L2-regularised logistic regression: linear on purpose, so that its
    accuracy measures how separable the hashmaps are rather than the capacity of the
    server's model."""

    def __init__(self, c: float = 10.0, max_iter: int = 3000) -> None:
        self.model: Pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=c, max_iter=max_iter)
        )
        self.dim: int | None = None

    def fit(self, hashmaps: np.ndarray, identities: np.ndarray) -> ServerDiscriminator:
        hashmaps, identities = _check_xy(hashmaps, identities, "enrolment hashmaps")
        if len(np.unique(identities)) < 2:
            raise ValueError("the server needs hashmaps of at least 2 identities")
        self.model.fit(hashmaps, identities)
        self.dim = hashmaps.shape[1]
        return self

    def predict(self, hashmaps: np.ndarray) -> np.ndarray:
        if self.dim is None:
            raise ValueError("fit the discriminator before predicting")
        hashmaps = np.asarray(hashmaps)
        if hashmaps.ndim != 2 or hashmaps.shape[1] != self.dim:
            raise ValueError(f"hashmaps must have shape (n, {self.dim}), got {hashmaps.shape}")
        return self.model.predict(hashmaps)

    def accuracy(self, hashmaps: np.ndarray, identities: np.ndarray) -> float:
        """Fraction of probes identified as the right person."""
        hashmaps, identities = _check_xy(hashmaps, identities, "probe hashmaps")
        return float(np.mean(self.predict(hashmaps) == identities))


def templates(
    enrol: np.ndarray, identities: np.ndarray, metric: Metric = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """One template per identity: ``(ids, templates)``. Cosine: the normalised mean of
    the enrolment rows; Hamming: the bitwise majority (ties to 1)."""
    enrol, identities = _check_xy(enrol, identities, "enrolment templates")
    ids = np.unique(identities)
    means = np.stack([enrol[identities == i].mean(0) for i in ids])
    if metric == "hamming":
        return ids, (means >= 0.5).astype(np.uint8)
    if metric == "cosine":
        return ids, means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    raise ValueError(f"metric must be 'cosine' or 'hamming', got {metric!r}")


def pair_scores(a: np.ndarray, b: np.ndarray, metric: Metric = "cosine") -> np.ndarray:
    """Similarity of every row of ``a`` to every row of ``b`` (higher = more alike):
    cosine similarity, or 1 - normalised Hamming distance of bit rows."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"cannot compare rows of width {a.shape[1]} and {b.shape[1]}")
    if metric == "cosine":
        an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return an @ bn.T
    if metric == "hamming":
        a, b = a.astype(np.float32), b.astype(np.float32)
        agree = a @ b.T + (1 - a) @ (1 - b).T
        return agree / a.shape[1]
    raise ValueError(f"metric must be 'cosine' or 'hamming', got {metric!r}")


def verification_scores(
    enrol: np.ndarray,
    enrol_y: np.ndarray,
    probes: np.ndarray,
    probe_y: np.ndarray,
    metric: Metric = "cosine",
) -> tuple[np.ndarray, np.ndarray]:
    """``(genuine, impostor)`` scores of every probe against every enrolled template:
    genuine where the probe's identity is the template's, impostor otherwise."""
    probes, probe_y = _check_xy(probes, probe_y, "probes")
    ids, temps = templates(enrol, enrol_y, metric)
    scores = pair_scores(probes, temps, metric)
    same = probe_y[:, None] == ids[None, :]
    return scores[same], scores[~same]


@dataclass(frozen=True)
class Roc:
    """ROC of a verifier: false and true accept rates per threshold, and the EER."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    eer: float

    def threshold_at_far(self, far: float) -> float:
        """The lowest threshold whose false-accept rate is at most ``far``."""
        ok = np.flatnonzero(self.fpr <= far)
        return float(self.thresholds[ok[-1]])


def roc_eer(genuine: np.ndarray, impostor: np.ndarray) -> Roc:
    """ROC (scikit-learn's ``roc_curve``) and the equal error rate, where the false
    accept rate equals the false reject rate (linear interpolation between the two
    ROC points that straddle it)."""
    genuine, impostor = np.ravel(genuine), np.ravel(impostor)
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("need at least one genuine and one impostor score")
    labels = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    fpr, tpr, thresholds = roc_curve(labels, np.r_[genuine, impostor])
    fnr = 1 - tpr
    k = int(np.flatnonzero(fnr <= fpr)[0])  # fnr falls and fpr rises along the curve
    if k == 0:
        eer = float(fpr[0])
    else:
        d0, d1 = fnr[k - 1] - fpr[k - 1], fnr[k] - fpr[k]
        t = d0 / (d0 - d1) if d0 != d1 else 0.0
        eer = float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))
    return Roc(fpr, tpr, thresholds, eer)


def train_raw_classifier(
    data: BiometricDataset, epochs: int = 30, lr: float = 2e-3, batch_size: int = 64, seed: int = 0
) -> nn.Module:
    """The reference the hashmaps are measured against: the encoder's own architecture
    with a softmax head, trained with cross-entropy directly on raw biometrics. It is
    also the judge of the inversion attack (does a reconstruction look like the person?).
    Returns a module mapping samples to logits over ``data.n_identities`` identities."""
    encoder = make_encoder(data, seed=seed)
    model = nn.Sequential(encoder.features, nn.Linear(encoder.head.in_features, data.n_identities))
    model.input_shape = encoder.input_shape
    rng = np.random.default_rng(seed)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(data)))
        for start in range(0, len(data), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def predict_identities(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Arg-max identity of ``model``'s logits for each sample of ``x``."""
    return encode(model, x, batch_size).argmax(1)
