"""hash-envs: Gymnasium environments and tools for research on learned hash functions.

``import hash_envs`` registers ``hash_envs/StatelessHash-v0`` and
``hash_envs/TableAwareHash-v0`` (single and native vector entry points).
"""

from gymnasium.envs.registration import register, registry

from hash_envs.hashing import (
    HashFunction,
    make_hash_function,
    register_hash_function,
    registered_hash_functions,
)

__version__ = "0.1.0"

ENV_IDS = ("hash_envs/StatelessHash-v0", "hash_envs/TableAwareHash-v0")

for _env_id, _cls in zip(ENV_IDS, ("StatelessHash", "TableAwareHash"), strict=True):
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point=f"hash_envs.envs.hash_table:{_cls}Env",
            vector_entry_point=f"hash_envs.envs.hash_table:{_cls}VectorEnv",
        )

__all__ = [
    "ENV_IDS",
    "HashFunction",
    "__version__",
    "make_hash_function",
    "register_hash_function",
    "registered_hash_functions",
]
