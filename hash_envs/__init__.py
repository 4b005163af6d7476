"""hash-envs: Gymnasium environments and tools for research on learned hash functions.

``import hash_envs`` registers ``hash_envs/StatelessHash-v0`` and
``hash_envs/TableAwareHash-v0`` (single and native vector entry points, any arguments),
``hash_envs/HashProgram-v0`` (write a hash function as a program, see
:mod:`hash_envs.program`; its best program is the contender ``rl-program``) and the
benchmark suite's task tiers (:data:`TASK_IDS`, fixed arguments; see
:mod:`hash_envs.tasks`). :func:`evaluate_agent` scores an agent on a task with the suite's
protocol.
"""

from gymnasium.envs.registration import register, registry

from hash_envs.hashing import (
    HashFunction,
    make_hash_function,
    register_hash_function,
    registered_hash_functions,
)
from hash_envs.lazy import lazy_exports
from hash_envs.tasks import TASKS, register_tasks

__version__ = "0.1.0"

ENV_IDS = ("hash_envs/StatelessHash-v0", "hash_envs/TableAwareHash-v0")

for _env_id, _cls in zip(ENV_IDS, ("StatelessHash", "TableAwareHash"), strict=True):
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point=f"hash_envs.envs.hash_table:{_cls}Env",
            vector_entry_point=f"hash_envs.envs.hash_table:{_cls}VectorEnv",
        )

#: The program-writing environment (hash_envs.envs.hash_program; no vector entry point).
PROGRAM_ENV_ID = "hash_envs/HashProgram-v0"
if PROGRAM_ENV_ID not in registry:
    register(id=PROGRAM_ENV_ID, entry_point="hash_envs.envs.hash_program:HashProgramEnv")


def _rl_program(n_bins: int) -> HashFunction:
    from hash_envs.program import rl_program

    return rl_program(n_bins)


register_hash_function("rl-program", _rl_program)

register_tasks()
TASK_IDS = tuple(TASKS)

# Heavy names (scipy through the metrics), imported on first use.
_LAZY = {"evaluate_agent": "hash_envs.evaluation", "reference_scores": "hash_envs.evaluation"}
__getattr__ = lazy_exports(__name__, _LAZY)[0]

__all__ = [
    "ENV_IDS",
    "PROGRAM_ENV_ID",
    "TASK_IDS",
    "HashFunction",
    "__version__",
    "evaluate_agent",
    "make_hash_function",
    "reference_scores",
    "register_hash_function",
    "registered_hash_functions",
]
