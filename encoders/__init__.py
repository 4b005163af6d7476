"""Contrastive biometric encoders ("neural hashmaps"), their server, a classical
baseline, and the attacks that test their promises (issue #6).

- :mod:`encoders.data`: seeded synthetic biometrics (ridge images or feature vectors),
  scikit-learn's digits, Olivetti faces from the cache.
- :mod:`encoders.contrastive`: client encoders (CNN / MLP), the contrastive and
  supervised-contrastive losses, the client/server training exchange, per-user keys.
- :mod:`encoders.server`: the discriminator on hashmaps, verification ROC and EER, and
  the raw-biometric reference classifier.
- :mod:`encoders.biohash`: BioHashing (Teoh et al. 2004).
- :mod:`encoders.attacks`: inversion, PGD impersonation (and a quantising defence),
  own-key versus stolen-key verification, unlinkability D<->sys.
- :mod:`encoders.evaluate` / ``hash-envs encoders run``: the whole evaluation, reported.

Names are imported on first use, so that ``hash-envs`` (which registers the
``encoders`` subcommand) starts without importing torch or scikit-learn.
"""

from __future__ import annotations

from hash_envs.lazy import lazy_exports

_EXPORTS = {
    "BioHash": "encoders.biohash",
    "ConvEncoder": "encoders.contrastive",
    "HashmapKey": "encoders.contrastive",
    "MLPEncoder": "encoders.contrastive",
    "TrainConfig": "encoders.contrastive",
    "encode": "encoders.contrastive",
    "make_encoder": "encoders.contrastive",
    "train_encoder": "encoders.contrastive",
    "BiometricDataset": "encoders.data",
    "digits": "encoders.data",
    "load": "encoders.data",
    "olivetti": "encoders.data",
    "split_per_identity": "encoders.data",
    "synthetic": "encoders.data",
    "ServerDiscriminator": "encoders.server",
    "roc_eer": "encoders.server",
    "verification_scores": "encoders.server",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, extra="encoders")
