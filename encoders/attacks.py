"""Attacks that test the hashmap's promises, and the unlinkability measure.

1. :func:`inversion_attack`: train a decoder from templates back to biometrics on data
   the attacker holds; report the reconstruction error on victims and how often a
   classifier trained on raw biometrics names the right victim from the reconstruction.
   :func:`gradient_masquerade` inverts by gradient descent on the input instead.
2. :func:`pgd_impersonation`: projected gradient descent on the (public, client-side)
   encoder so that an attacker's input yields a hashmap close to a target's template;
   :class:`Quantize` is a feature-squeezing defence, attacked with and without a
   straight-through (BPDA) gradient.
3. :func:`keyed_verification`: verification where every user holds a secret key
   (BioHashing token or :class:`~encoders.contrastive.HashmapKey`), with impostors using
   their own keys or the victim's stolen key.
4. :func:`unlinkability`: the global score D<->sys of Gomez-Barrero et al. (2018).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.server import Metric, pair_scores, templates

__all__ = [
    "Decoder",
    "InversionResult",
    "Quantize",
    "Unlinkability",
    "gradient_masquerade",
    "inversion_attack",
    "keyed_verification",
    "linkage_scores",
    "pgd_impersonation",
    "unlinkability",
]

#: ``transform(features, key) -> templates``: a keyed template scheme.
Transform = Callable[[np.ndarray, int], np.ndarray]


class Decoder(nn.Module):
    """MLP from a template (hashmap, bits, PCA code or raw features) to a flat biometric.

    The same architecture for every representation, so that differences in the attack's
    success come from what the representation keeps, not from the decoder."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_features),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


@dataclass(frozen=True)
class InversionResult:
    """Per-pixel mean squared error of the victims' reconstructions, the fraction of them
    the raw-biometric classifier assigns to the right victim, and the reconstructions."""

    mse: float
    identification_rate: float
    reconstructions: np.ndarray


def inversion_attack(
    attacker_codes: np.ndarray,
    attacker_x: np.ndarray,
    victim_codes: np.ndarray,
    victim_x: np.ndarray,
    victim_y: np.ndarray,
    identify: Callable[[np.ndarray], np.ndarray],
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> InversionResult:
    """Train a :class:`Decoder` on the attacker's ``(code, biometric)`` pairs, then invert
     the victims' codes; :func:`gradient_masquerade` inverts by gradient descent on the
    input instead. ``identify`` maps biometrics (shaped like ``victim_x``) to
     identities; the attacker's biometrics must not include the victims' test samples."""
    attacker_codes = np.asarray(attacker_codes, dtype=np.float32)
    victim_codes = np.asarray(victim_codes, dtype=np.float32)
    if attacker_codes.ndim != 2 or len(attacker_codes) != len(attacker_x):
        raise ValueError(
            f"need one code row per attacker sample, got {attacker_codes.shape} for "
            f"{len(attacker_x)} samples"
        )
    if victim_codes.ndim != 2 or victim_codes.shape[1] != attacker_codes.shape[1]:
        raise ValueError(
            f"victim codes must have width {attacker_codes.shape[1]}, got {victim_codes.shape}"
        )
    if len(victim_codes) != len(victim_x) or len(victim_x) != len(victim_y):
        raise ValueError("victim codes, biometrics and identities must have the same length")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shape = victim_x.shape[1:]
    targets = torch.from_numpy(np.asarray(attacker_x, np.float32).reshape(len(attacker_x), -1))
    codes = torch.from_numpy(attacker_codes)
    decoder = Decoder(codes.shape[1], targets.shape[1])
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(codes)))
        for start in range(0, len(codes), batch_size):
            batch = order[start : start + batch_size]
            loss = F.mse_loss(decoder(codes[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        recon = decoder(torch.from_numpy(victim_codes)).numpy().reshape((-1, *shape))
    mse = float(np.mean((recon - victim_x) ** 2))
    rate = float(np.mean(identify(recon.astype(np.float32)) == victim_y))
    return InversionResult(mse, rate, recon)


def gradient_masquerade(
    model: nn.Module,
    targets: np.ndarray,
    start: np.ndarray,
    steps: int = 200,
    lr: float = 0.05,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """Inversion without a decoder: starting from ``start`` (e.g. the attacker's mean
    biometric), Adam on the input until its hashmap matches each row of ``targets``.
    Needs only the (public) encoder and a victim's hashmap; the result is a synthetic
    input the server may accept as the victim (a masquerade), whether or not it looks
    like the victim's biometric."""
    target = F.normalize(torch.from_numpy(np.asarray(targets, dtype=np.float32)), dim=1)
    base = torch.from_numpy(np.asarray(start, dtype=np.float32))
    if tuple(base.shape) != tuple(model.input_shape):
        raise ValueError(f"start must have shape {tuple(model.input_shape)}, got {base.shape}")
    x = base.expand(len(target), *base.shape).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    model.eval()
    for _ in range(steps):
        inputs = x.clamp(*clip) if clip is not None else x
        loss = -F.cosine_similarity(model(inputs), target, dim=1).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out = x.detach().clamp(*clip) if clip is not None else x.detach()
    return out.numpy()


class Quantize(nn.Module):
    """Feature squeezing (Xu et al. 2018): round inputs in [0, 1] to ``levels`` grey
    levels, so that perturbations smaller than half a level mostly vanish.

    Rounding has zero gradient, which stops a naive gradient attack (gradient masking);
    ``straight_through=True`` is the adaptive attacker's view of the same function: the
    forward pass rounds, the backward pass is the identity (BPDA, Athalye et al. 2018)."""

    def __init__(self, levels: int = 2, straight_through: bool = False) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.levels = levels
        self.straight_through = straight_through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.round(x.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)
        return x + (q - x).detach() if self.straight_through else q


def pgd_impersonation(
    model: nn.Module,
    x: np.ndarray,
    targets: np.ndarray,
    eps: float,
    steps: int = 40,
    step_size: float | None = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
    seed: int = 0,
) -> np.ndarray:
    """L-infinity PGD (Madry et al. 2018) with a random start: perturb each row of ``x``
    by at most ``eps`` to maximise the cosine of ``model(x + delta)`` to the matching
    row of ``targets`` (the target identity's template). Returns the adversarial inputs.
    ``model`` is the attacker's view of the client pipeline (encoder, or defence +
    encoder); ``clip`` keeps inputs in the valid range (``None`` for feature vectors)."""
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    x_t = torch.from_numpy(np.asarray(x, dtype=np.float32))
    target = F.normalize(torch.from_numpy(np.asarray(targets, dtype=np.float32)), dim=1)
    if len(target) != len(x_t):
        raise ValueError(f"need one target per input, got {len(target)} for {len(x_t)}")
    if eps == 0:
        return x_t.numpy().copy()
    step = step_size if step_size is not None else 2.5 * eps / steps
    generator = torch.Generator().manual_seed(seed)
    delta = (torch.rand(x_t.shape, generator=generator) * 2 - 1) * eps
    model.eval()
    for _ in range(steps):
        delta.requires_grad_(True)
        adv = x_t + delta
        if clip is not None:
            adv = adv.clamp(*clip)
        loss = F.cosine_similarity(model(adv), target, dim=1).sum()
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step * grad.sign()).clamp(-eps, eps)
    adv = x_t + delta
    if clip is not None:
        adv = adv.clamp(*clip)
    return adv.detach().numpy()


def keyed_verification(
    enrol: np.ndarray,
    enrol_y: np.ndarray,
    probes: np.ndarray,
    probe_y: np.ndarray,
    transform: Transform,
    metric: Metric,
    keys: dict[int, int],
    scenario: Literal["own-key", "stolen-key"],
) -> tuple[np.ndarray, np.ndarray]:
    """``(genuine, impostor)`` scores when every identity ``u`` enrols under its secret
    key ``keys[u]``. Genuine probes use their own key. Impostors claiming ``u`` present
    their own key (``"own-key"``, the scenario BioHashing's published error rates assume)
    or ``u``'s stolen key (``"stolen-key"``)."""
    if scenario not in ("own-key", "stolen-key"):
        raise ValueError(f"scenario must be 'own-key' or 'stolen-key', got {scenario!r}")
    ids = np.unique(enrol_y)
    missing = sorted(set(ids.tolist()) - set(keys))
    if missing:
        raise ValueError(f"no key for identities {missing[:5]}")
    temps = np.concatenate(
        [
            templates(transform(enrol[enrol_y == u], keys[u]), enrol_y[enrol_y == u], metric)[1]
            for u in ids
        ]
    )
    if scenario == "own-key":
        own = np.empty((len(probes), temps.shape[1]), dtype=temps.dtype)
        for u in np.unique(probe_y):
            own[probe_y == u] = transform(probes[probe_y == u], keys[int(u)])
        scores = pair_scores(own, temps, metric)
        same = probe_y[:, None] == ids[None, :]
        return scores[same], scores[~same]
    genuine, impostor = [], []
    for col, u in enumerate(ids):
        scores = pair_scores(transform(probes, keys[int(u)]), temps[col : col + 1], metric)[:, 0]
        genuine.append(scores[probe_y == u])
        impostor.append(scores[probe_y != u])
    return np.concatenate(genuine), np.concatenate(impostor)


def _keyed_templates(
    features: np.ndarray,
    rows: list[tuple[int, np.ndarray]],
    transform: Transform,
    keys: Mapping[int, int],
) -> np.ndarray:
    """Every sample under its own person's key: ``transform(features[rows_u], keys[u])``."""
    missing = sorted(u for u, _ in rows if u not in keys)
    if missing:
        raise ValueError(f"no key for identities {missing[:5]}")
    out = None
    for u, r in rows:
        t = np.asarray(transform(features[r], keys[u]))
        if out is None:
            out = np.empty((len(features), *t.shape[1:]), dtype=t.dtype)
        out[r] = t
    return out


def linkage_scores(
    features: np.ndarray,
    y: np.ndarray,
    transform: Transform,
    metric: Metric,
    keys_a: Mapping[int, int] | Sequence[Mapping[int, int]],
    keys_b: Mapping[int, int] | Sequence[Mapping[int, int]],
    n_pairs: int = 20000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores an attacker gets by comparing templates of two applications, where every
    person holds key ``keys_a[u]`` in one and ``keys_b[u]`` in the other: ``(mated,
    non_mated)`` for ``n_pairs`` random pairs each (mated: two *different* samples
    of one person; non-mated: samples of two people).

    ``keys_a`` and ``keys_b`` may also be sequences of ``R`` such dicts: ``R``
    independent issues of both applications' keys (issue ``r`` gives person ``u`` the
    keys ``keys_a[r][u]`` and ``keys_b[r][u]``). Every pair is then scored under an
    issue drawn at random. Keys are part of what D<->sys describes: with one issue, all
    mated scores of a person come from one key pair, so ``n_pairs`` mated scores are
    only as many independent draws of the key pair as there are people (10 on digits),
    and the histograms of :func:`unlinkability` credit the attacker with "linking"
    templates that hold no biometric information at all (docs/encoders.md)."""
    issues_a = [keys_a] if isinstance(keys_a, Mapping) else list(keys_a)
    issues_b = [keys_b] if isinstance(keys_b, Mapping) else list(keys_b)
    if not issues_a or len(issues_a) != len(issues_b):
        raise ValueError(
            f"need as many key issues for A as for B (>= 1), got {len(issues_a)} and "
            f"{len(issues_b)}"
        )
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    order = np.argsort(y, kind="stable")
    ids, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
    if len(ids) < 2 or counts.min() < 2:
        raise ValueError("need >= 2 people with >= 2 samples each to score linkage")
    rows = [(int(u), order[s : s + c]) for u, s, c in zip(ids, starts, counts, strict=True)]
    t_a = np.stack([_keyed_templates(features, rows, transform, k) for k in issues_a])
    t_b = np.stack([_keyed_templates(features, rows, transform, k) for k in issues_b])
    # Mated: sample k and another sample of the same person, drawn uniformly.
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y)) - np.repeat(starts, counts)
    k = rng.integers(len(y), size=n_pairs)
    person = np.searchsorted(ids, y[k])
    offset = rng.integers(1, counts[person])
    mated = (k, order[starts[person] + (position[k] + offset) % counts[person]])
    # Non-mated: two samples of two different people.
    i, j = rng.integers(len(y), size=n_pairs), rng.integers(len(y), size=n_pairs)
    while np.any(same := y[i] == y[j]):
        j[same] = rng.integers(len(y), size=int(same.sum()))
    # The key issue of every pair (drawn last: one issue gives the same pairs as before).
    n_issues = len(issues_a)
    issue_m = rng.integers(n_issues, size=n_pairs) if n_issues > 1 else np.zeros(n_pairs, int)
    issue_n = rng.integers(n_issues, size=n_pairs) if n_issues > 1 else np.zeros(n_pairs, int)

    def scores(pairs: tuple[np.ndarray, np.ndarray], issue: np.ndarray) -> np.ndarray:
        a, b = t_a[issue, pairs[0]], t_b[issue, pairs[1]]
        if metric == "cosine":
            a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
            b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
            return np.sum(a * b, axis=1)
        return np.mean(a == b, axis=1)

    return scores(mated, issue_m), scores((i, j), issue_n)


@dataclass(frozen=True)
class Unlinkability:
    """Gomez-Barrero et al. (2018): local linkability ``local`` at ``bin_centers`` and the
    global ``d_sys`` in [0, 1] (0: templates under two keys cannot be linked)."""

    d_sys: float
    local: np.ndarray
    bin_centers: np.ndarray


def unlinkability(
    mated: np.ndarray, non_mated: np.ndarray, omega: float = 1.0, n_bins: int | None = None
) -> Unlinkability:
    """The global linkability score D<->sys.

    Histograms (``n_bins``, default ``min(len(mated) // 10, 100)``) estimate the score
    densities of mated and non-mated pairs; with likelihood ratio ``LR(s)`` and prior
    ratio ``omega``, ``D(s) = 2 omega LR / (1 + omega LR) - 1`` where ``omega LR > 1``
    (1 where only mated scores occur, else 0), and ``D_sys`` integrates ``D(s)`` against
    the mated density. With few scores, histogram noise biases it upwards; so do mated
    scores that are many but not independent (few people under one key issue each, see
    :func:`linkage_scores`).

    The integral is exact for the histogram densities (sum over bins of ``D p width``).
    The authors' reference code (dasec/unlinkability-metric, ``evaluateUnlinkability.py``)
    applies ``numpy.trapz`` to the bin centres instead, which drops half of the first
    and the last bin: a perfectly linkable system whose mated scores all fall in the
    top bin scores 0.5 there instead of 1. Elsewhere the two agree."""
    mated, non_mated = np.ravel(mated), np.ravel(non_mated)
    if len(mated) < 10 or len(non_mated) < 10:
        raise ValueError("need at least 10 mated and 10 non-mated scores")
    bins = n_bins or min(len(mated) // 10, 100)
    lo, hi = min(mated.min(), non_mated.min()), max(mated.max(), non_mated.max())
    if hi == lo:
        hi = lo + 1e-9
    edges = np.linspace(lo, hi, bins + 1)
    p_mated = np.histogram(mated, edges, density=True)[0]
    p_non = np.histogram(non_mated, edges, density=True)[0]
    ratio = omega * np.divide(p_mated, p_non, out=np.ones_like(p_mated), where=p_non > 0)
    local = np.where(ratio > 1, 2 * ratio / (1 + ratio) - 1, 0.0)
    local[(p_non == 0) & (p_mated > 0)] = 1.0
    centers = (edges[1:] + edges[:-1]) / 2
    d_sys = float(np.sum(local * p_mated) * (edges[1] - edges[0]))
    return Unlinkability(d_sys, local, centers)
