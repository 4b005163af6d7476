"""Environment throughput: our hash envs against Gymnasium's CartPole, side by side.

Single envs go through ``gym.make`` (with Gymnasium's default wrappers), vector envs
through ``gym.make_vec(..., vectorization_mode="vector_entry_point")`` with 1024
sub-envs. Every round times each contender once on pre-drawn random actions,
interleaved, so the machine's noise hits all of them alike; we report the median
steps/s over rounds and the median of the per-round ratios to CartPole.

The vector contenders are both hash envs with their defaults, the same with
``factorize_bins=True`` (``MultiDiscrete([rows, cols])`` actions), and the table-aware
env with ``copy=False`` (Gymnasium's ``SyncVectorEnv(copy=False)`` convention: the
``(num_envs, n_bins)`` table observation is the env's buffer, not a new copy per step).

    python bench/env_throughput.py --out results/bench
"""

from __future__ import annotations

import argparse
import functools
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from _results import write_results  # bench/: scripts run as python bench/NAME.py

import hash_envs
from hash_envs import corpus as corpus_lib

SINGLE_REFERENCE = "CartPole-v1"
VECTOR_REFERENCE = "CartPoleVectorEnv"
STATELESS_ID = "hash_envs/StatelessHash-v0"
TABLE_AWARE_ID = "hash_envs/TableAwareHash-v0"
# (row name, env id, kwargs on top of the corpus): the vector envs timed against CartPole.
VECTOR_CONTENDERS: list[tuple[str, str, dict]] = [
    ("StatelessHashVectorEnv", STATELESS_ID, {}),
    ("StatelessHashVectorEnv factorize_bins", STATELESS_ID, {"factorize_bins": True}),
    ("TableAwareHashVectorEnv", TABLE_AWARE_ID, {}),
    ("TableAwareHashVectorEnv copy=False", TABLE_AWARE_ID, {"copy": False}),
    ("TableAwareHashVectorEnv factorize_bins", TABLE_AWARE_ID, {"factorize_bins": True}),
]


def time_single(env_id: str, kwargs: dict, steps: int, seed: int) -> float:
    env = gym.make(env_id, **kwargs)
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, size=steps).tolist()
    env.reset(seed=seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def time_vector(env_id: str, kwargs: dict, num_envs: int, steps: int, seed: int) -> float:
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    space = env.single_action_space
    high = space.nvec if isinstance(space, gym.spaces.MultiDiscrete) else space.n
    shape = (steps, num_envs, *np.shape(high))
    actions = np.random.default_rng(seed).integers(0, high, size=shape)
    env.reset(seed=seed)
    start = time.perf_counter()
    for batch in actions:
        env.step(batch)
    elapsed = time.perf_counter() - start
    env.close()
    return steps * num_envs / elapsed


def run(rounds: int, single_steps: int, vector_steps: int, num_envs: int, corpus: str) -> dict:
    env_kwargs = {"corpus": corpus}
    singles: dict[str, Callable[[int], float]] = {
        SINGLE_REFERENCE: lambda seed: time_single("CartPole-v1", {}, single_steps, seed),
        "StatelessHash-v0": lambda seed: time_single(
            "hash_envs/StatelessHash-v0", env_kwargs, single_steps, seed
        ),
        "TableAwareHash-v0": lambda seed: time_single(
            "hash_envs/TableAwareHash-v0", env_kwargs, single_steps, seed
        ),
    }
    vectors: dict[str, Callable[[int], float]] = {
        VECTOR_REFERENCE: lambda seed: time_vector("CartPole-v1", {}, num_envs, vector_steps, seed)
    }
    for name, env_id, extra in VECTOR_CONTENDERS:
        kwargs = env_kwargs | extra
        vectors[name] = functools.partial(time_vector, env_id, kwargs, num_envs, vector_steps)
    samples: dict[str, list[float]] = {name: [] for name in [*singles, *vectors]}
    for fn in [*singles.values(), *vectors.values()]:  # warm-up: corpus load, caches
        fn(0)
    for r in range(rounds):
        for name, fn in [*singles.items(), *vectors.items()]:
            samples[name].append(fn(r + 1))
        print(f"round {r + 1}/{rounds} done", flush=True)

    def summary(name: str, reference: str, kind: str) -> dict:
        ratios = [a / b for a, b in zip(samples[name], samples[reference], strict=True)]
        return {
            "kind": kind,
            "steps_per_s_median": statistics.median(samples[name]),
            "steps_per_s": samples[name],
            "reference": reference,
            "ratio_to_reference_median": statistics.median(ratios),
            "ratios": ratios,
        }

    results = {name: summary(name, SINGLE_REFERENCE, "single") for name in singles}
    results |= {name: summary(name, VECTOR_REFERENCE, f"vector x{num_envs}") for name in vectors}
    return {
        "benchmark": "env_throughput",
        "config": {
            "rounds": rounds,
            "single_steps": single_steps,
            "vector_steps": vector_steps,
            "num_envs": num_envs,
            "corpus": corpus,
            "hash_env_kwargs": "defaults: n_words=1000, n_bins=1000, encoding=codepoints",
        },
        "environment": {
            "python": platform.python_version(),
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
            "hash_envs": hash_envs.__version__,
            "machine": platform.machine(),
        },
        "results": results,
        "targets": {
            "StatelessHash-v0 vs CartPole-v1": ">= 2.0",
            "StatelessHashVectorEnv vs CartPoleVectorEnv": ">= 1.0",
            "TableAwareHashVectorEnv copy=False vs CartPoleVectorEnv": ">= 1.0",
        },
    }


def to_markdown(report: dict) -> str:
    lines = [
        "| environment | kind | steps/s (median) | ratio to reference (median) | reference |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        lines.append(
            f"| {name} | {r['kind']} | {r['steps_per_s_median']:,.0f} | "
            f"{r['ratio_to_reference_median']:.2f} | {r['reference']} |"
        )
    c = report["config"]
    lines.append("")
    lines.append(
        f"{c['rounds']} interleaved rounds; single envs {c['single_steps']:,} steps each "
        f"(random actions, through gym.make), vector envs {c['vector_steps']} steps x "
        f"{c['num_envs']} sub-envs; corpus {c['corpus']}; gymnasium "
        f"{report['environment']['gymnasium']}."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--single-steps", type=int, default=50_000)
    parser.add_argument("--vector-steps", type=int, default=2_000)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--corpus", default="auto", help="moby, web2, a path, or auto")
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    corpus = corpus_lib.default_corpus_name() if args.corpus == "auto" else args.corpus
    report = run(args.rounds, args.single_steps, args.vector_steps, args.num_envs, corpus)
    write_results(args.out, "env_throughput", report, to_markdown(report))


if __name__ == "__main__":
    main()
