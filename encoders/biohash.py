"""BioHashing (Teoh, Ngo & Goh 2004): the classical token-based template protection.

A user's token seeds ``n_bits`` random vectors, orthonormalised (Gram-Schmidt, here a QR
factorisation); the biometric feature vector is projected on them and each projection
thresholded at 0 to a bit. Templates are compared by Hamming distance. Its reported
near-zero error rates come from impostors presenting *their own* tokens: the token adds
entropy that has nothing to do with the biometric. With a stolen token the system is no
better than the bare features (the "stolen-token scenario", :mod:`encoders.attacks`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BioHash"]


class BioHash:
    """BioHashing of fixed-length feature vectors.

    ``fit`` learns a per-feature mean and standard deviation (from enrolment or
    background data) so that thresholding the projections at 0 splits them evenly;
    ``transform(features, token)`` gives ``(n, n_bits)`` bits as ``uint8``."""

    def __init__(self, n_bits: int = 64) -> None:
        if n_bits < 1:
            raise ValueError(f"n_bits must be >= 1, got {n_bits}")
        self.n_bits = n_bits
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, features: np.ndarray) -> BioHash:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"features must be (n >= 2, d), got shape {features.shape}")
        if self.n_bits > features.shape[1]:
            raise ValueError(
                f"n_bits ({self.n_bits}) cannot exceed the feature dimension "
                f"({features.shape[1]}): the projection vectors must be orthonormal"
            )
        self.mean = features.mean(0)
        self.scale = features.std(0) + 1e-8
        return self

    def projection(self, token: int) -> np.ndarray:
        """The token's ``(d, n_bits)`` matrix with orthonormal columns."""
        if self.mean is None:
            raise ValueError("fit BioHash before using it")
        gauss = np.random.default_rng(token).standard_normal((len(self.mean), self.n_bits))
        q, r = np.linalg.qr(gauss)
        return q * np.sign(np.diag(r))

    def transform(self, features: np.ndarray, token: int) -> np.ndarray:
        if self.mean is None:
            raise ValueError("fit BioHash before using it")
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != len(self.mean):
            raise ValueError(
                f"features must have shape (n, {len(self.mean)}), got {features.shape}"
            )
        projected = ((features - self.mean) / self.scale) @ self.projection(token)
        return (projected > 0).astype(np.uint8)
