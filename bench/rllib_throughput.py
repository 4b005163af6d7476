"""RLlib rollout throughput on our env, against Stable-Baselines3 on the same env, side by side.

What is timed is *collecting rollouts* with an untrained PPO policy (the same network in
both: separate 256-256 tanh actor and critic MLPs), not learning:

* SB3: ``PPO.collect_rollouts`` in this process, on our native vector env
  (``agents.make_sb3_vec_env``, ``n_envs`` sub-envs, one numpy step for all of them);
* RLlib: ``EnvRunner.sample`` on 1 and on 2 env-runner actors at once, each running our
  native vector env with ``n_envs`` sub-envs (new API stack), timed from the driver, so
  shipping the episodes back is included.

Every round times each configuration once, interleaved, so the machine's noise hits all
of them alike; we report the median env-steps/s over rounds and the median of the
per-round ratios to SB3. The load average is recorded: on a shared machine the ratios are
the numbers to compare.

    python bench/rllib_throughput.py --out results/bench
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import ray
import stable_baselines3
import torch
from _results import write_results  # bench/: scripts run as python bench/NAME.py
from stable_baselines3 import PPO

import hash_envs
from agents.algorithms.vec_env import make_sb3_vec_env
from agents.runs.rllib import build_config
from hash_envs import corpus as corpus_lib

ENV_ID = "hash_envs/StatelessHash-v0"
REFERENCE = "SB3 PPO, native vector env"
NET = [256, 256]  # RLlib's default MLP; SB3 gets the same


def sb3_sampler(env_kwargs: dict[str, Any], n_envs: int, steps_per_env: int) -> Callable[[], int]:
    """A function that collects one SB3 rollout of ``n_envs * steps_per_env`` env steps."""
    venv = make_sb3_vec_env(ENV_ID, n_envs, env_kwargs, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=steps_per_env, policy_kwargs={"net_arch": NET}, seed=0)
    _, callback = model._setup_learn(total_timesteps=10**12)  # what learn() does first

    def sample() -> int:
        model.collect_rollouts(model.env, callback, model.rollout_buffer, steps_per_env)
        return n_envs * steps_per_env

    return sample


def rllib_sampler(
    env_kwargs: dict[str, Any], runners: int, n_envs: int, steps_per_env: int
) -> tuple[Callable[[], int], Callable[[], None]]:
    """``(sample, stop)``: one ``sample()`` call on every env runner at once."""
    config = build_config(
        "ppo", ENV_ID, env_kwargs, num_env_runners=runners, num_envs_per_env_runner=n_envs
    )
    algo = config.build_algo()
    per_runner = n_envs * steps_per_env

    def sample() -> int:
        episodes = algo.env_runner_group.foreach_env_runner(
            lambda runner: runner.sample(num_timesteps=per_runner, explore=True),
            local_env_runner=False,
        )
        return sum(len(episode) for batch in episodes for episode in batch)

    return sample, algo.stop


def run(rounds: int, n_envs: int, steps_per_env: int, corpus: str) -> dict[str, Any]:
    env_kwargs = {"corpus": corpus}
    samplers: dict[str, Callable[[], int]] = {
        REFERENCE: sb3_sampler(env_kwargs, n_envs, steps_per_env)
    }
    stops = []
    for runners in (1, 2):
        sample, stop = rllib_sampler(env_kwargs, runners, n_envs, steps_per_env)
        samplers[f"RLlib PPO, {runners} env runner{'s' if runners > 1 else ''}"] = sample
        stops.append(stop)
    samples: dict[str, list[float]] = {name: [] for name in samplers}
    steps: dict[str, int] = {}
    try:
        for fn in samplers.values():  # warm-up: env creation, first forward passes
            fn()
        for r in range(rounds):
            for name, fn in samplers.items():
                start = time.perf_counter()
                steps[name] = fn()
                samples[name].append(steps[name] / (time.perf_counter() - start))
            print(f"round {r + 1}/{rounds}: load average {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        for stop in stops:
            stop()

    results = {}
    for name, values in samples.items():
        ratios = [a / b for a, b in zip(values, samples[REFERENCE], strict=True)]
        results[name] = {
            "env_steps_per_round": steps[name],
            "steps_per_s_median": statistics.median(values),
            "steps_per_s": values,
            "ratio_to_sb3_median": statistics.median(ratios),
            "ratios": ratios,
        }
    return {
        "benchmark": "rllib_throughput",
        "config": {
            "env": ENV_ID,
            "env_kwargs": env_kwargs,
            "rounds": rounds,
            "n_envs_per_sampler": n_envs,
            "steps_per_env": steps_per_env,
            "policy": f"PPO, untrained, separate {NET} tanh actor and critic, stochastic",
        },
        "environment": {
            "python": platform.python_version(),
            "ray": ray.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": torch.__version__,
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
            "hash_envs": hash_envs.__version__,
            "cpus": os.cpu_count(),
        },
        "results": results,
    }


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "| sampler | env steps / round | env-steps/s (median) | ratio to SB3 (median) |",
        "|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        lines.append(
            f"| {name} | {r['env_steps_per_round']:,} | {r['steps_per_s_median']:,.0f} | "
            f"{r['ratio_to_sb3_median']:.2f} |"
        )
    c, e = report["config"], report["environment"]
    lines += [
        "",
        f"{c['rounds']} interleaved rounds; {c['env']} ({c['env_kwargs']['corpus']}, 1000 words "
        f"into 1000 bins) with {c['n_envs_per_sampler']} native sub-envs per sampler; "
        f"{c['policy']}; ray {e['ray']}, stable-baselines3 {e['stable_baselines3']}, "
        f"torch {e['torch']}, gymnasium {e['gymnasium']}; {e['cpus']} CPUs; load average "
        f"{report['load_average'][0]:.2f} before, {report['load_average'][1]:.2f} after.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n-envs", type=int, default=16, help="native sub-envs per sampler")
    parser.add_argument("--steps-per-env", type=int, default=1000, help="per round (1 episode)")
    parser.add_argument("--corpus", default="auto", help="moby, web2, a path, or auto")
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = corpus_lib.default_corpus_name() if args.corpus == "auto" else args.corpus
    # Three env-runner actors exist (1 + 2) but only one sampler runs at a time, so at
    # most two sample at once; the third logical CPU only lets all three be placed.
    ray.init(num_cpus=3, include_dashboard=False, logging_level=logging.WARNING)
    before = os.getloadavg()[0]
    report = run(args.rounds, args.n_envs, args.steps_per_env, corpus)
    report["load_average"] = [before, os.getloadavg()[0]]
    write_results(args.out, "rllib_throughput", report, to_markdown(report))


if __name__ == "__main__":
    main()
