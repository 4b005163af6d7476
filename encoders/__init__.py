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
"""

from encoders.biohash import BioHash
from encoders.contrastive import (
    ConvEncoder,
    HashmapKey,
    MLPEncoder,
    TrainConfig,
    encode,
    make_encoder,
    train_encoder,
)
from encoders.data import BiometricDataset, digits, load, olivetti, split_per_identity, synthetic
from encoders.server import ServerDiscriminator, roc_eer, verification_scores

__all__ = [
    "BioHash",
    "BiometricDataset",
    "ConvEncoder",
    "HashmapKey",
    "MLPEncoder",
    "ServerDiscriminator",
    "TrainConfig",
    "digits",
    "encode",
    "load",
    "make_encoder",
    "olivetti",
    "roc_eer",
    "split_per_identity",
    "synthetic",
    "train_encoder",
    "verification_scores",
]
