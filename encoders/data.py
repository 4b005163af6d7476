"""Biometric data sets: a seeded synthetic generator and small real stand-ins.

Tests and experiments must run offline and at any scale, so the main source is
:func:`synthetic`: ``n_identities`` people, each a random *prototype* (a fingerprint-like
ridge image or a feature vector) seen through per-sample nuisance (noise, a shift, a
rotation, an occluded patch). Real data: scikit-learn's bundled ``load_digits`` (10
"identities", 8x8 images; always offline) and the Olivetti faces when scikit-learn has
them cached (never downloaded from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "BiometricDataset",
    "digits",
    "load",
    "olivetti",
    "split_per_identity",
    "synthetic",
]

Kind = Literal["image", "vector"]


@dataclass(frozen=True)
class BiometricDataset:
    """Samples ``x`` (``float32``; images ``(n, 1, H, W)`` in [0, 1], vectors ``(n, d)``)
    with integer identities ``y`` in ``0..n_identities-1``."""

    x: np.ndarray
    y: np.ndarray
    kind: Kind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in ("image", "vector"):
            raise ValueError(f"kind must be 'image' or 'vector', got {self.kind!r}")
        want_ndim = 4 if self.kind == "image" else 2
        if self.x.ndim != want_ndim:
            raise ValueError(
                f"{self.kind} data must have {want_ndim} dimensions "
                f"({'(n, 1, H, W)' if self.kind == 'image' else '(n, d)'}), got {self.x.shape}"
            )
        if self.kind == "image" and self.x.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {self.x.shape}")
        if self.y.shape != (self.x.shape[0],):
            raise ValueError(f"y must have shape ({self.x.shape[0]},), got {self.y.shape}")
        if len(self.y) == 0:
            raise ValueError(f"data set {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def n_identities(self) -> int:
        return int(self.y.max()) + 1

    def subset(self, index: np.ndarray) -> BiometricDataset:
        """The samples at ``index`` (identities keep their numbers)."""
        return BiometricDataset(self.x[index], self.y[index], self.kind, self.name)

    def flat(self) -> np.ndarray:
        """``(n, features)`` view for classical methods (PCA, BioHashing, raw features)."""
        return self.x.reshape(len(self), -1)


def _ridge_prototypes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per identity: a core point, ridge frequency and phase, and two plane waves that
    bend the concentric ridges, so prototypes differ in geometry like fingerprints do."""
    return {
        "core": rng.uniform(-0.35, 0.35, size=(n, 2)),
        "freq": rng.uniform(3.0, 6.0, size=n),
        "phase": rng.uniform(0, 2 * np.pi, size=n),
        "wave_dir": rng.uniform(0, np.pi, size=(n, 2)),
        "wave_freq": rng.uniform(1.5, 4.0, size=(n, 2)),
        "wave_amp": rng.uniform(0.3, 0.8, size=(n, 2)),
        "wave_phase": rng.uniform(0, 2 * np.pi, size=(n, 2)),
    }


def _render_ridges(
    proto: dict[str, np.ndarray], ids: np.ndarray, size: int, angle: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Render ridge images of identities ``ids`` seen rotated by ``angle`` (radians) and
    shifted by ``shift`` (fraction of the image), evaluated analytically (no resampling)."""
    grid = np.linspace(-1.0, 1.0, size)
    gx, gy = np.meshgrid(grid, grid)  # (size, size)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    x = cos * gx + sin * gy - shift[:, 0, None, None]
    y = -sin * gx + cos * gy - shift[:, 1, None, None]
    core = proto["core"][ids]
    radius = np.hypot(x - core[:, 0, None, None], y - core[:, 1, None, None])
    level = proto["freq"][ids, None, None] * radius
    for k in range(2):
        direction = proto["wave_dir"][ids, k, None, None]
        level = level + proto["wave_amp"][ids, k, None, None] * np.sin(
            proto["wave_freq"][ids, k, None, None] * (np.cos(direction) * x + np.sin(direction) * y)
            + proto["wave_phase"][ids, k, None, None]
        )
    return 0.5 + 0.5 * np.cos(2 * np.pi * level + proto["phase"][ids, None, None])


def synthetic(
    n_identities: int = 100,
    samples_per_identity: int = 20,
    *,
    kind: Kind = "image",
    size: int = 24,
    noise: float = 0.15,
    max_shift: float = 0.1,
    max_rotation_deg: float = 10.0,
    occlusion: float = 0.25,
    seed: int = 0,
) -> BiometricDataset:
    """A seeded synthetic biometric set.

    ``kind="image"``: ``size x size`` fingerprint-like ridge images (concentric ridges
    around a per-identity core, bent by two plane waves). Each sample is its identity's
    pattern rotated by up to ``max_rotation_deg``, shifted by up to ``max_shift`` of the
    image width, with Gaussian pixel noise of sd ``noise`` and, with probability 1/2, a
    grey square of side ``occlusion * size`` at a random place; clipped to [0, 1].

    ``kind="vector"``: ``size``-dimensional standard normal prototypes; a sample is its
    prototype circularly shifted by up to ``round(max_shift * size)`` places, plus noise
    of sd ``noise * 4`` (vectors have unit-variance entries, images unit range), with a
    random block of ``occlusion * size`` entries set to 0 half of the time.

    The same arguments always give the same array, bit for bit.
    """
    if n_identities < 2:
        raise ValueError(f"n_identities must be >= 2, got {n_identities}")
    if samples_per_identity < 2:
        raise ValueError(f"samples_per_identity must be >= 2, got {samples_per_identity}")
    if size < 4:
        raise ValueError(f"size must be >= 4, got {size}")
    if not 0 <= occlusion < 1:
        raise ValueError(f"occlusion must lie in [0, 1), got {occlusion}")
    rng = np.random.default_rng(seed)
    n = n_identities * samples_per_identity
    ids = np.repeat(np.arange(n_identities), samples_per_identity)
    occluded = rng.random(n) < 0.5
    side = int(round(occlusion * size))
    if kind == "image":
        proto = _ridge_prototypes(rng, n_identities)
        angle = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, size=n))
        shift = rng.uniform(-2 * max_shift, 2 * max_shift, size=(n, 2))  # image spans 2 units
        x = _render_ridges(proto, ids, size, angle, shift)
        x = x + rng.normal(0.0, noise, size=x.shape)
        corners = rng.integers(0, size - side + 1, size=(n, 2))
        for i in np.flatnonzero(occluded):
            r, c = corners[i]
            x[i, r : r + side, c : c + side] = 0.5
        x = np.clip(x, 0.0, 1.0)[:, None]
    elif kind == "vector":
        proto = rng.normal(size=(n_identities, size))
        max_roll = int(round(max_shift * size))
        rolls = rng.integers(-max_roll, max_roll + 1, size=n)
        cols = (np.arange(size)[None, :] - rolls[:, None]) % size
        x = proto[ids[:, None], cols] + rng.normal(0.0, 4 * noise, size=(n, size))
        starts = rng.integers(0, size - side + 1, size=n)
        for i in np.flatnonzero(occluded):
            x[i, starts[i] : starts[i] + side] = 0.0
    else:
        raise ValueError(f"kind must be 'image' or 'vector', got {kind!r}")
    return BiometricDataset(x.astype(np.float32), ids.astype(np.int64), kind, f"synthetic-{kind}")


def digits() -> BiometricDataset:
    """scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 "identities"),
    scaled to [0, 1]: a small real-image stand-in that never needs the network."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    return BiometricDataset(x, bunch.target.astype(np.int64), "image", "digits")


def olivetti() -> BiometricDataset:
    """The Olivetti faces (40 people x 10 images, 64x64) from scikit-learn's cache.

    Raises :class:`FileNotFoundError` when no cached copy exists: this package never
    downloads it (fetch it once with ``sklearn.datasets.fetch_olivetti_faces()``).
    """
    from sklearn.datasets import fetch_olivetti_faces

    try:
        bunch = fetch_olivetti_faces(download_if_missing=False)
    except OSError as err:
        raise FileNotFoundError(
            "Olivetti faces are not in scikit-learn's cache; fetch them once with "
            "sklearn.datasets.fetch_olivetti_faces() (needs the network)"
        ) from err
    x = bunch.images.astype(np.float32)[:, None]
    return BiometricDataset(x, bunch.target.astype(np.int64), "image", "olivetti")


DATASETS = ("synthetic", "synthetic-vector", "digits", "olivetti")


def load(name: str, *, n_identities: int = 100, seed: int = 0) -> BiometricDataset:
    """A data set by name: ``synthetic`` (ridge images), ``synthetic-vector``, ``digits``,
    ``olivetti`` (cache only). ``n_identities`` applies to the synthetic sets."""
    if name == "synthetic":
        return synthetic(n_identities, seed=seed)
    if name == "synthetic-vector":
        return synthetic(n_identities, kind="vector", size=64, seed=seed)
    if name == "digits":
        return digits()
    if name == "olivetti":
        return olivetti()
    raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")


def split_per_identity(
    data: BiometricDataset, test_fraction: float, seed: int
) -> tuple[BiometricDataset, BiometricDataset]:
    """Split every identity's samples into enrolment/training and test parts, so that
    each identity appears on both sides (closed-set evaluation on unseen samples)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for identity in np.unique(data.y):
        index = rng.permutation(np.flatnonzero(data.y == identity))
        if len(index) < 2:
            raise ValueError(f"identity {identity} has {len(index)} sample(s); need >= 2")
        n_test = min(max(1, int(round(test_fraction * len(index)))), len(index) - 1)
        test.append(index[:n_test])
        train.append(index[n_test:])
    return data.subset(np.sort(np.concatenate(train))), data.subset(np.sort(np.concatenate(test)))
