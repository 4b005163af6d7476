"""The design card's agents write hash programs: :class:`agents.PG` and :class:`agents.A2C`
on ``hash_envs/HashProgram-v0`` (issue 33), beside the searches of
:mod:`hash_envs.program_search` and with the same budget of program evaluations.

The env states its legal moves through ``action_masks()``; PG and A2C see them inside the
observation (:class:`hash_envs.wrappers.ActionMaskObservation`) and act through
:class:`agents.algorithms.policies.MaskedPolicy`, so they never write an illegal program.
"""

from __future__ import annotations

import functools
from typing import Any

from hash_envs.program_search import SEARCHES, SearchResult, sb3_program_search
from hash_envs.program_search import train_program as train_searched_program

#: Settings of each agent on HashProgram-v0 (chosen for the sparse end-of-program reward:
#: gamma 1 so every instruction is credited with the program's reward, advantages
#: standardised because rewards differ by hundredths, MaskablePPO's network and entropy).
PROGRAM_SETTINGS: dict[str, dict[str, Any]] = {
    "pg": {
        "n_steps": 128,
        "gamma": 1.0,
        "baseline": "mean",
        "normalize_advantage": True,
        "learning_rate": 1e-3,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
    "a2c": {
        "n_steps": 32,
        "gamma": 1.0,
        "gae_lambda": 1.0,
        "normalize_advantage": True,
        "learning_rate": 1e-3,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
}
AGENT_ALGOS = tuple(PROGRAM_SETTINGS)
PROGRAM_ALGOS = (*SEARCHES, *AGENT_ALGOS)


def agent_program_search(
    algo: str,
    evaluations: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    n_envs: int = 8,
    agent_kwargs: dict[str, Any] | None = None,
) -> SearchResult:
    """Train :class:`agents.PG` (``algo="pg"``) or :class:`agents.A2C` (``"a2c"``) with
    :data:`PROGRAM_SETTINGS` (key by key replaced by ``agent_kwargs``) until
    ``evaluations`` programs have been scored; the best program any episode wrote."""
    if algo not in PROGRAM_SETTINGS:
        raise ValueError(f"unknown agent {algo!r}; choose from {', '.join(AGENT_ALGOS)}")
    from agents.algorithms.a2c import A2C
    from agents.algorithms.pg import PG
    from hash_envs.wrappers import ActionMaskObservation

    cls = {"pg": PG, "a2c": A2C}[algo]
    settings = {**PROGRAM_SETTINGS[algo], **(agent_kwargs or {})}
    return sb3_program_search(
        algo,
        lambda envs: cls("MaskedPolicy", envs, seed=seed, device="cpu", **settings),
        evaluations,
        seed=seed,
        env_kwargs=env_kwargs,
        n_envs=n_envs,
        wrapper=ActionMaskObservation,
        settings=settings,
    )


#: Every way to find a program, by name: hash_envs' searches and the agents here.
PROGRAM_SEARCHES = {
    **SEARCHES,
    **{algo: functools.partial(agent_program_search, algo) for algo in AGENT_ALGOS},
}


def train_program(
    algo: str,
    seed: int = 0,
    evaluations: int = 20_000,
    env_kwargs: dict[str, Any] | None = None,
    **algo_kwargs: Any,
) -> SearchResult:
    """:func:`hash_envs.program_search.train_program` with the agents too: ``algo`` is one
    of :data:`PROGRAM_ALGOS` (``"pg"``/``"a2c"`` take ``n_envs`` and ``agent_kwargs``)."""
    return train_searched_program(
        algo, seed, evaluations, env_kwargs, searches=PROGRAM_SEARCHES, **algo_kwargs
    )


__all__ = [
    "AGENT_ALGOS",
    "PROGRAM_ALGOS",
    "PROGRAM_SEARCHES",
    "PROGRAM_SETTINGS",
    "agent_program_search",
    "train_program",
]
