"""The design card's agents learn the suite's small tiers within their
published step budgets (``agents/hyperparams``), scored by the suite's protocol.

Step budgets, not time limits: the same run gives the same score on any machine. The
tiers are drawn from the offline corpus web2 so that the tests need no Moby list; the
seed is a fixed evaluation seed of the benchmark (0).
"""

from __future__ import annotations

import pytest

from agents.runs.benchmark import Run, hyperparameters, run_one
from hash_envs.evaluation import reference_scores
from hash_envs.tasks import TASKS

pytestmark = pytest.mark.usefixtures("private_reference_cache")


def _published_run(agent: str, tier: str) -> dict:
    task = TASKS[f"hash_envs/{tier}-v0"]
    run = Run(agent, task, seed=0, settings=hyperparameters(agent, task), corpus="web2")
    return run_one(run, reference_scores(task, "web2"), tensorboard=None)


@pytest.mark.parametrize(
    ("agent", "tier", "target"),
    [
        ("pg", "Memorize100", 0.9),
        ("a2c", "Memorize100", 0.9),
        ("pg", "Online100", 0.9),
        ("a2c", "Online100", 0.9),
        ("sac", "Memorize100", 0.9),
        ("sac", "Online100", 0.9),
    ],
)
def test_agent_reaches_the_target_within_its_published_budget(
    agent: str, tier: str, target: float
) -> None:
    record = _published_run(agent, tier)
    assert record["steps"] >= record["step_budget"]  # the whole budget, no time limit
    curve = dict(record["score_curve"])
    assert abs(curve[0]) < 0.2, curve  # the untrained argmax spreads like a random hash
    assert record["normalized_score"] >= target, record["score_curve"]


@pytest.mark.parametrize(
    ("agent", "tier", "floor"),
    [
        ("pg", "Generalize1k", -0.02),
        ("sac", "Generalize1k", -0.04),
        ("pg", "Generalize1kFactored", -0.05),
    ],
)
def test_trained_policy_spreads_held_out_words_like_a_random_hash(
    agent: str, tier: str, floor: float
) -> None:
    """The target is a normalised score of 0 on held-out words (a random hash's). One
    seed stays within a few hundredths of it; the recipe before ``init_input_std`` 3000,
    equal output rows and ``disjoint_parts`` scored -0.03, -0.13 and -0.13 here."""
    record = _published_run(agent, tier)
    assert record["steps"] >= record["step_budget"]
    assert record["normalized_score"] >= floor, record["score_curve"]
