"""Experiment 3: advantage actor-critic (``agents.A2C``) on the stateless env.

Same setting and plots as experiment 2. A2C updates every ``n_steps`` (32) steps, so an
iteration (1000 steps per env, one episode per env) holds ~31 updates; the x axis counts
environment steps the same way for all three algorithms.
"""

from __future__ import annotations

from collections.abc import Sequence

import common


def algo_kwargs(run: common.Run, episode_len: int) -> dict:
    return {"policy_kwargs": {"net_arch": {"pi": common.PAPER_ARCH, "vf": common.PAPER_ARCH}}}


SPEC = common.StatelessSpec(
    name="exp3_a2c_stateless",
    algo="A2C (actor-critic)",
    agent="a2c",
    algo_kwargs=algo_kwargs,
    n_envs=lambda run: 2 if run.quick else 4,
    iterations=lambda run: 5 if run.quick else 1000,
    protocol=lambda run: [
        "`agents.A2C` defaults: actor and critic each 2×300 (tanh), Adam lr 1e-3, "
        "n_steps 32 per env, gamma 0.99, GAE lambda 1, normalised advantages, "
        "ent_coef 0, vf_coef 0.5, max_grad_norm 0.5."
    ],
    paper_result="no large improvement (actor-critic)",
)


def main(argv: Sequence[str] | None = None):
    return common.stateless_main(__file__, SPEC, argv)


if __name__ == "__main__":
    main()
