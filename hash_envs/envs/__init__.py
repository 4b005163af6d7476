"""The hash-placement environments (registered with Gymnasium by ``import hash_envs``)."""

from hash_envs.envs.hash_table import (
    StatelessHashEnv,
    StatelessHashVectorEnv,
    TableAwareHashEnv,
    TableAwareHashVectorEnv,
)

__all__ = [
    "StatelessHashEnv",
    "StatelessHashVectorEnv",
    "TableAwareHashEnv",
    "TableAwareHashVectorEnv",
]
