"""The hash-placement environments (registered with Gymnasium by ``import hash_envs``)."""

from hash_envs.envs.hash_program import HashProgramEnv
from hash_envs.envs.hash_table import (
    StatelessHashEnv,
    StatelessHashVectorEnv,
    TableAwareHashEnv,
    TableAwareHashVectorEnv,
)

__all__ = [
    "HashProgramEnv",
    "StatelessHashEnv",
    "StatelessHashVectorEnv",
    "TableAwareHashEnv",
    "TableAwareHashVectorEnv",
]
