"""The hash-envs benchmark suite's task tiers: registered ids with fixed arguments.

A *task* is a registered Gymnasium id with fixed arguments (``import hash_envs``
registers them all), a kind that fixes how it is scored, and a version:

* ``memorize`` -- ``hash_envs/Memorize{100,1k,10k,100k,Moby}-v0``: a fixed seeded pool of
  N words into N bins, stateless. Score: collisions of the agent's argmax hash on the
  pool (0 = a perfect hash of the pool, the RL hash-function paper's setting).
* ``generalize`` -- ``hash_envs/Generalize1k-v0``: trained on the 1,000-word pool of
  ``Memorize1k``, scored on 10,000 held-out words, hashed in ten blocks of 1,000 into the
  1,000 bins (mean collisions per block): the paper's "decent generalization" claim.
* ``online`` -- ``hash_envs/Online{100,1k}-v0``: the table-aware env, 100 -> 100 and
  1,000 -> 1,000 words drawn from the whole corpus (the paper's experiment 5). Score:
  mean collisions of greedy episodes with fixed evaluation seeds.
* ``...Factored-v0`` -- every task above with ``factorize_bins=True``: actions are
  ``MultiDiscrete([rows, cols])`` cells, so an agent scores ``rows + cols`` actions, not
  ``n_bins`` (1,367 instead of 466,551 for the whole Moby list).

Every score is a number of collisions (lower is better); :mod:`hash_envs.evaluation`
computes it with one protocol, with the task's reference scores and a normalised score.
This module is light (no scipy): ``import hash_envs`` registers the tasks from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym

__all__ = [
    "EVAL_EPISODES",
    "EVAL_SEED",
    "HELD_OUT_BLOCKS",
    "HELD_OUT_WORDS",
    "TASKS",
    "Task",
    "TaskKind",
    "get_task",
    "register_tasks",
    "resolve_tasks",
]

TaskKind = Literal["memorize", "generalize", "online"]
PROTOCOL_VERSION = 1
#: Greedy episodes of a table-aware task, on seeds ``EVAL_SEED + i``.
EVAL_EPISODES = 20
EVAL_SEED = 1_000_000
#: Held-out words of a generalisation task and the blocks they are hashed in.
HELD_OUT_WORDS = 10_000
HELD_OUT_BLOCKS = 10
#: The longest Moby word in UTF-8 bytes: the input width of tasks scored on unseen words.
MOBY_MAX_LEN = 45
_STATELESS = "hash_envs.envs.hash_table:StatelessHash"
_TABLE_AWARE = "hash_envs.envs.hash_table:TableAwareHash"
_FULL_MOBY = 466_551


@dataclass(frozen=True)
class Task:
    """One registered task tier: a Gymnasium id with fixed arguments and a scoring rule."""

    env_id: str
    kind: TaskKind
    kwargs: Mapping[str, Any]
    summary: str
    version_history: tuple[str, ...] = ("v0: initial version of the suite (protocol 1).",)

    @property
    def table_aware(self) -> bool:
        return self.kind == "online"

    @property
    def entry_point(self) -> str:
        return f"{_TABLE_AWARE if self.table_aware else _STATELESS}Env"

    @property
    def vector_entry_point(self) -> str:
        return f"{_TABLE_AWARE if self.table_aware else _STATELESS}VectorEnv"

    @property
    def n_words(self) -> int:
        return int(self.kwargs["n_words"])

    @property
    def n_bins(self) -> int:
        return int(self.kwargs["n_bins"])

    @property
    def factorized(self) -> bool:
        return bool(self.kwargs.get("factorize_bins", False))

    @property
    def fixed_pool(self) -> bool:
        """Whether every episode shows the same words (the memorisation setting)."""
        return self.kwargs.get("pool_size") == self.n_words

    @property
    def optimum(self) -> float:
        """Fewest collisions possible: none while the words fit into the bins."""
        return float(max(0, self.n_words - self.n_bins))

    @property
    def reward_threshold(self) -> float:
        """The optimum's episode return under the default +10 / -10 rewards."""
        return 10.0 * (self.n_words - 2 * self.optimum)

    def env_kwargs(self, corpus: str | None = None) -> dict[str, Any]:
        """The task's arguments, on another corpus if given (the whole-Moby tier refuses)."""
        kwargs = dict(self.kwargs)
        if corpus is not None and corpus != kwargs["corpus"]:
            if "Moby" in self.env_id:
                raise ValueError(f"corpus: {self.env_id} is the whole Moby list, got {corpus!r}")
            kwargs["corpus"] = corpus
        return kwargs

    def make(self, corpus: str | None = None, **overrides: Any) -> gym.Env:
        return gym.make(self.env_id, **{**self.env_kwargs(corpus), **overrides})

    def make_vec(self, num_envs: int, corpus: str | None = None) -> gym.vector.VectorEnv:
        return gym.make_vec(
            self.env_id,
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            **self.env_kwargs(corpus),
        )

    @property
    def docstring(self) -> str:
        """Gymnasium-style description of the task (printed by ``hash-envs envs --doc``)."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        history = "\n".join(f"* {line}" for line in self.version_history)
        return (
            f"{self.summary}\n\n## Scoring\n{_SCORING[self.kind]}\n\n"
            f"## Arguments (fixed)\n`{args}`\n\n## Version History\n{history}\n"
        )


_SCORING: dict[str, str] = {
    "memorize": "Collisions of the agent's argmax hash on the task's pool, each word hashed once.",
    "generalize": (
        f"Collisions of the agent's argmax hash on {HELD_OUT_WORDS:,} words held out of the "
        f"pool, hashed in {HELD_OUT_BLOCKS} blocks into the task's bins (mean per block); the "
        "pool's own collisions are reported beside it."
    ),
    "online": (
        f"Mean collisions of {EVAL_EPISODES} greedy episodes on seeds {EVAL_SEED} + i "
        "(deterministic actions)."
    ),
}

_SIZES = {100: "100", 1_000: "1k", 10_000: "10k", 100_000: "100k"}


def _base_tasks() -> list[Task]:
    tasks = []
    for n, label in [*_SIZES.items(), (_FULL_MOBY, "Moby")]:
        pool = None if n == _FULL_MOBY else n
        words = "the whole Moby list" if pool is None else f"a fixed seeded pool of {n:,} words"
        tasks.append(
            Task(
                f"hash_envs/Memorize{label}-v0",
                "memorize",
                {"corpus": "moby", "n_words": n, "n_bins": n, "pool_size": pool}
                | {"pool_seed": 0, "encoding": "bytes"},
                f"Memorise {words} into {n:,} bins (stateless; a collision-free policy is a "
                "perfect hash of the pool).",
            )
        )
    tasks.append(
        Task(
            "hash_envs/Generalize1k-v0",
            "generalize",
            {"corpus": "moby", "n_words": 1000, "n_bins": 1000, "pool_size": 1000}
            | {"pool_seed": 0, "encoding": "codepoints", "max_len": MOBY_MAX_LEN},
            "Train on a fixed pool of 1,000 words in 1,000 bins (stateless), scored on words "
            "held out of the pool.",
        )
    )
    for n in (100, 1_000):
        tasks.append(
            Task(
                f"hash_envs/Online{_SIZES[n]}-v0",
                "online",
                {"corpus": "moby", "n_words": n, "n_bins": n, "encoding": "codepoints"},
                f"Place {n:,} words drawn from the whole corpus into {n:,} bins, seeing the "
                "table (table-aware; experiment 5 of the paper).",
            )
        )
    return tasks


def _with_factored(tasks: Iterable[Task]) -> list[Task]:
    out = []
    for task in tasks:
        out.append(task)
        out.append(
            Task(
                task.env_id.replace("-v0", "Factored-v0"),
                task.kind,
                {**task.kwargs, "factorize_bins": True},
                task.summary + " Actions are factorised table cells (`MultiDiscrete`).",
            )
        )
    return out


TASKS: dict[str, Task] = {task.env_id: task for task in _with_factored(_base_tasks())}


def register_tasks() -> None:
    """Register every task id with Gymnasium (idempotent; ``import hash_envs`` calls it)."""
    for task in TASKS.values():
        if task.env_id not in gym.registry:
            gym.register(
                id=task.env_id,
                entry_point=task.entry_point,
                vector_entry_point=task.vector_entry_point,
                kwargs=dict(task.kwargs),
                reward_threshold=task.reward_threshold,
            )


def get_task(name: str) -> Task:
    """A task by id, with or without the ``hash_envs/`` namespace and ``-v0`` suffix."""
    if not isinstance(name, str):
        raise TypeError(f"task must be a task id string, got {type(name).__name__}")
    for candidate in (name, f"hash_envs/{name}", f"hash_envs/{name}-v0", f"{name}-v0"):
        if candidate in TASKS:
            return TASKS[candidate]
    raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")


_GROUPS: dict[str, Callable[[Task], bool]] = {
    "all": lambda t: True,
    "memorize": lambda t: t.kind == "memorize" and not t.factorized,
    "generalize": lambda t: t.kind == "generalize" and not t.factorized,
    "online": lambda t: t.kind == "online" and not t.factorized,
    "factored": lambda t: t.factorized,
}


def resolve_tasks(names: Sequence[str], max_words: int | None = None) -> list[Task]:
    """Tasks named by ids or groups (``all``, ``memorize``, ``generalize``, ``online``,
    ``factored``), in suite order, without repeats; ``max_words`` drops larger ones."""
    if isinstance(names, str):
        names = [names]
    chosen: set[str] = set()
    for name in names:
        if name in _GROUPS:
            chosen |= {t.env_id for t in TASKS.values() if _GROUPS[name](t)}
        else:
            chosen.add(get_task(name).env_id)
    return [
        t
        for t in TASKS.values()
        if t.env_id in chosen and (max_words is None or t.n_words <= max_words)
    ]
