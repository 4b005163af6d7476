"""Training speed of the design card's agents against SB3's PPO, side by side.

For each task (default ``Memorize1k`` and ``Online1k``) and agent (default ``pg``,
``a2c``, ``sac``), the agent trains with its published settings (``agents/hyperparams``:
the same ``n_envs`` native vector envs, policy and update as ``hash-envs benchmark``)
for ``--steps`` env steps; SB3's ``PPO`` with its defaults (but ``n_steps`` =
``--ppo-steps`` / ``n_envs``, one rollout) trains on the same env with the same number of
envs for ``--ppo-steps``. Every round times each contender once,
interleaved, so the machine's noise hits all of them alike. Steps/s is wall clock of
``learn`` (rollouts and updates), with the same number of torch threads for every
contender (``--threads``, default 1); we report the median over rounds and the median of
the per-round ratios to PPO. The 1,024-env agents' batches are large enough for a second
thread to pay, so on a 2-core machine run it both ways, on an otherwise idle machine:

    python bench/agent_steps_per_second.py --out results/bench
    python bench/agent_steps_per_second.py --threads 2 --out results/bench_2threads
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import torch as th
from _results import write_results  # bench/: scripts run as python bench/NAME.py

from agents.algorithms.vec_env import make_sb3_vec_env
from agents.runs.benchmark import hyperparameters
from agents.runs.cli import _algorithm
from hash_envs.tasks import TASKS

REFERENCE = "ppo (SB3 defaults)"


def time_learn(agent: str, task_id: str, steps: int, seed: int) -> float:
    """Env steps/s of ``learn(steps)`` for ``agent`` (``"ppo-defaults"``: SB3's PPO with
    its defaults on the agent-side ``n_envs``) on ``task_id``."""
    from stable_baselines3 import PPO

    task = TASKS[task_id]
    reference = agent == "ppo-defaults"
    settings = hyperparameters("pg" if reference else agent, task)
    venv = make_sb3_vec_env(task_id, settings["n_envs"], task.env_kwargs(None), seed=seed)
    policy = "MultiInputPolicy" if task.table_aware else "MlpPolicy"
    if reference:
        # SB3's defaults but for the rollout length: 2,048 steps x 1,024 envs would be a
        # 2M-step rollout; one rollout of about `steps` env steps keeps the run bounded.
        n_steps = max(1, steps // settings["n_envs"])
        model: Any = PPO(policy, venv, n_steps=n_steps, seed=seed, device="cpu")
    else:
        model = _algorithm(agent)(policy, venv, seed=seed, device="cpu", **settings["kwargs"])
    start = time.perf_counter()
    model.learn(steps)
    elapsed = time.perf_counter() - start
    venv.close()
    return model.num_timesteps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["Memorize1k", "Online1k"])
    parser.add_argument("--agents", nargs="+", default=["pg", "a2c", "sac"])
    parser.add_argument("--steps", type=int, default=300_000, help="per agent run")
    parser.add_argument("--ppo-steps", type=int, default=40_960, help="per PPO run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads, the same for every contender"
    )
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    th.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for name in args.tasks:
        task_id = f"hash_envs/{name}-v0"
        contenders = ["ppo-defaults", *args.agents]
        rates: dict[str, list[float]] = {c: [] for c in contenders}
        for round_ in range(args.rounds):
            for agent in contenders:
                steps = args.ppo_steps if agent == "ppo-defaults" else args.steps
                rates[agent].append(time_learn(agent, task_id, steps, seed=round_))
                print(f"{name} round {round_} {agent}: {rates[agent][-1]:,.0f} steps/s")
        for agent in contenders:
            ratios = [a / p for a, p in zip(rates[agent], rates["ppo-defaults"], strict=True)]
            rows.append(
                {
                    "task": task_id,
                    "agent": REFERENCE if agent == "ppo-defaults" else agent,
                    "n_envs": hyperparameters(
                        "pg" if agent == "ppo-defaults" else agent, TASKS[task_id]
                    )["n_envs"],
                    "steps_per_s": statistics.median(rates[agent]),
                    "x_ppo": statistics.median(ratios),
                    "rounds": rates[agent],
                }
            )
    lines = [
        "| task | agent | envs | steps/s (median) | × SB3 PPO (median ratio) |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['task'].split('/')[1]} | {row['agent']} | {row['n_envs']} | "
            f"{row['steps_per_s']:,.0f} | {row['x_ppo']:.1f}× |"
        )
    lines += [
        "",
        f"{args.rounds} interleaved rounds; agents {args.steps:,} steps, PPO "
        f"{args.ppo_steps:,}; {args.threads} torch thread(s) for every contender; "
        f"{platform.processor() or platform.machine()}.",
    ]
    report = {"rows": rows, "args": vars(args), "machine": platform.platform()}
    write_results(args.out, "agent_steps_per_second", report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
