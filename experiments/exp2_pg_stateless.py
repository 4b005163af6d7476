"""Experiment 2: REINFORCE (``agents.PG``) on the stateless env, 1000 words into 1000 bins.

The paper plots reward and max bin load over 100 and 1000 iterations and sees no large
improvement: a policy that sees only the word cannot do better on fresh words than a
good hash, and a uniformly random policy already is one in expectation. The 100-iteration
plot is the first 100 iterations of the same seeded run (constant learning rate, so a
separate 100-iteration run would be identical).
"""

from __future__ import annotations

from collections.abc import Sequence

import common


def algo_kwargs(run: common.Run, episode_len: int) -> dict:
    return {
        "n_steps": episode_len,
        "policy_kwargs": {"net_arch": {"pi": common.PAPER_ARCH, "vf": []}},
    }


SPEC = common.StatelessSpec(
    name="exp2_pg_stateless",
    algo="PG (REINFORCE)",
    agent="pg",
    algo_kwargs=algo_kwargs,
    n_envs=lambda run: 2 if run.quick else 4,
    iterations=lambda run: 5 if run.quick else 1000,
    protocol=lambda run: [
        "`agents.PG` defaults: `MlpPolicy` with the paper's 2×300 hidden layers (SB3's tanh "
        "activation), Adam lr 1e-3, gamma 1, reward-to-go, mean baseline, max_grad_norm 0.5, "
        "`n_steps` = episode length, so exactly one gradient step per iteration."
    ],
    paper_result="no large improvement over 100 or 1000 iterations",
)


def main(argv: Sequence[str] | None = None):
    return common.stateless_main(__file__, SPEC, argv)


if __name__ == "__main__":
    main()
