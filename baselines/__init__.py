"""Baseline contenders for the hash leaderboard: classical, non-learned hash functions.

:mod:`baselines.classical` wraps CPython's ``hash(str)`` (SipHash-1-3), xxHash64, XXH3,
MurmurHash3, CRC-32, FNV-1a and BLAKE2b as :class:`~hash_envs.hashing.HashFunction`
contenders; :data:`FACTORIES` maps their leaderboard names to factories ``(n_bins) ->
HashFunction``.
"""

from baselines.classical import (
    CRC32,
    FACTORIES,
    XXH3,
    XXH64,
    BLAKE2b,
    FNV1a,
    Murmur3,
    PythonSipHash13,
    python_hash,
    python_hash_many,
)

__all__ = [
    "BLAKE2b",
    "CRC32",
    "FACTORIES",
    "FNV1a",
    "Murmur3",
    "PythonSipHash13",
    "XXH3",
    "XXH64",
    "python_hash",
    "python_hash_many",
]
