"""Memorise 1,000 Moby words into 1,000 bins with zero collisions, by RL, in 60 s.

:class:`agents.EpisodePG` with its defaults trains on ``hash_envs/StatelessHash-v0``
(``pool_size=n_words=n_bins=1000``: every episode shows the same 1,000 words in a new
order); the result is judged as a hash function, :class:`agents.PolicyHash` (argmax,
float64), on the 1,000 pool words. Each seed runs in a fresh process, so every run pays
for loading the corpus. The wall time of a run covers building the env and the agent
(corpus load included), training, and that evaluation; the interpreter's start and the
imports are reported apart. The target is zero collisions within ``--budget`` seconds.

Afterwards (not timed) each trained hash is exported to ONNX and ranked on the
leaderboard's ``random-1000`` track -- 1,000 seeded draws of 1,000 words from the whole
corpus -- where a hash that merely memorised its pool should still look like a random
function (367.70 collisions on average); ``held-out`` is the same protocol with the pool
words removed from the corpus.

    python bench/memorize.py --out results/bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import write_results

from hash_envs.metrics import expected_collisions  # bench/: scripts run as python bench/NAME.py

ENV_ID = "hash_envs/StatelessHash-v0"
ENV_KWARGS: dict[str, Any] = {
    "corpus": "moby",
    "pool_size": 1000,
    "n_words": 1000,
    "n_bins": 1000,
    "reward_mode": "shared_bin",
    "encoding": "bytes",
}
RANDOM_MEAN = 367.70  # expected collisions of a uniformly random function, 1000 into 1000


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _load() -> tuple[float, float, float]:
    return os.getloadavg()


def run_one(
    seed: int,
    budget_s: float,
    threads: int,
    artifact: Path,
    draws: int,
    net_arch: list[int],
    n_words: int,
) -> dict:
    """Train and evaluate one seed in this process (the parent starts one per seed)."""
    imports_start = time.perf_counter()
    import numpy as np
    import torch

    import hash_envs  # noqa: F401  (registers the environments)
    from agents import EpisodePG, PolicyHash
    from hash_envs import corpus, metrics
    from hash_envs.encoding import max_encoded_len
    from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard

    torch.set_num_threads(threads)
    imports_s = time.perf_counter() - imports_start
    load_before = _load()

    start = time.perf_counter()
    words = corpus.load(ENV_KWARGS["corpus"])
    # encode to the corpus's longest word, so the hash accepts every word (cf. hash-envs train)
    env_kwargs = {
        **ENV_KWARGS,
        "pool_size": n_words,
        "n_words": n_words,
        "n_bins": n_words,
        "max_len": max_encoded_len(words),
    }
    agent = EpisodePG(ENV_ID, env_kwargs, net_arch=net_arch, seed=seed)
    setup_s = time.perf_counter() - start
    curve: list[tuple[float, int, int]] = []

    def record(stats: Any) -> None:
        if stats.pool_collisions is not None:
            curve.append(
                (round(time.perf_counter() - start, 2), stats.update, stats.pool_collisions)
            )

    remaining = budget_s - (time.perf_counter() - start)
    agent.learn(
        1_000_000_000,
        time_budget_s=remaining,
        stop_at_collisions=0,
        eval_every=10,
        callback=record,
    )
    hash_fn = PolicyHash(agent.policy, name=f"episode_pg_seed{seed}")
    pool_words = list(agent.base.pool.words)
    bins = hash_fn.hash_many(pool_words)
    collisions = int(bins.size - np.unique(bins).size)
    wall_s = time.perf_counter() - start
    load_after = _load()

    # -- not timed: generalisation to words the agent never saw --------------------------
    hash_fn.export_onnx(artifact, {"env_kwargs": env_kwargs, "seed": seed})
    random_1000: dict[str, Any] = {"mean": None, "sd": None}  # the track needs 1,000 bins
    if n_words == 1000:
        board = run_leaderboard(
            words,
            [str(artifact)],
            LeaderboardConfig(tracks=["random-1000"], draws=draws),
            corpus_name="moby",
            progress=False,
        )
        random_1000 = board["results"][0]["tracks"]["random-1000"]
    pool = set(pool_words)
    unseen = [w for w in words if w not in pool]
    unseen_bins = hash_fn.hash_many(unseen)
    rng = np.random.default_rng(seed + 1)
    picks = np.stack([rng.choice(len(unseen), n_words, replace=False) for _ in range(draws)])
    held_out = metrics.collisions_per_row(unseen_bins[picks])
    return {
        "seed": seed,
        "net_arch": net_arch,
        "n_parameters": hash_fn.network.n_parameters,
        "threads": threads,
        "budget_s": budget_s,
        "reached_zero": collisions == 0,
        "pool_collisions": collisions,
        "wall_s": wall_s,
        "setup_s": setup_s,
        "imports_s": imports_s,
        "max_len": env_kwargs["max_len"],
        "updates": agent.num_updates,
        "episodes": agent.num_episodes,
        "random_1000_mean": random_1000["mean"],
        "random_1000_sd": random_1000["sd"],
        "held_out_mean": float(held_out.mean()),
        "load_before": load_before,
        "load_after": load_after,
        "curve": curve,
    }


def to_markdown(report: dict) -> str:
    lines = [
        "| seed | pool collisions | wall s (train + eval) | updates | episodes | "
        "random-1000 mean | held-out mean | load (1 min) before / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['seed']} | {r['pool_collisions']} | {r['wall_s']:.1f} | {r['updates']:,} | "
            f"{r['episodes']:,} | {_fmt(r['random_1000_mean'])} | {r['held_out_mean']:.2f} | "
            f"{r['load_before'][0]:.2f} / {r['load_after'][0]:.2f} |"
        )
    cfg = report["config"]
    n = cfg["env_kwargs"]["n_bins"]
    lines += [
        "",
        f"EpisodePG defaults, hidden layers {cfg['net_arch']} "
        f"({report['runs'][0]['n_parameters']:,} parameters), on {ENV_ID} "
        f"({json.dumps(cfg['env_kwargs'])}); "
        f"torch.set_num_threads({cfg['threads']}); budget {cfg['budget_s']:.0f} s; "
        f"random-1000 over {cfg['draws']} draws (a random function: {RANDOM_MEAN}; only for "
        f"1,000 bins); held-out: {cfg['draws']} draws of {n:,} unseen words into {n:,} bins "
        f"(a random function: {expected_collisions(n, n):.2f}); "
        f"{report['environment']['cpus']} CPUs.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--draws", type=int, default=1000, help="random-1000 draws")
    parser.add_argument(
        "--words", type=int, default=1000, help="pool size = words per episode = bins"
    )
    parser.add_argument(
        "--net-arch",
        type=int,
        nargs="+",
        default=[256],
        help="EpisodePG hidden layer widths (default: its default, 256)",
    )
    parser.add_argument("--out", default="results/bench")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--artifact", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:  # one seed, in a fresh interpreter
        result = run_one(
            args.child,
            args.budget,
            args.threads,
            Path(args.artifact),
            args.draws,
            args.net_arch,
            args.words,
        )
        print(json.dumps(result))
        return 0

    import torch

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            command = [
                sys.executable,
                __file__,
                "--child",
                str(seed),
                "--budget",
                str(args.budget),
                "--threads",
                str(args.threads),
                "--draws",
                str(args.draws),
                "--net-arch",
                *map(str, args.net_arch),
                "--words",
                str(args.words),
                "--artifact",
                str(Path(tmp) / f"seed{seed}.onnx"),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"seed {seed} failed:\n{done.stderr}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(
                f"seed {seed}: {run['pool_collisions']} collisions after {run['wall_s']:.1f} s "
                f"(train + eval; setup {run['setup_s']:.1f} s, imports {run['imports_s']:.1f} s "
                f"apart), {run['updates']} updates; random-1000 mean "
                f"{_fmt(run['random_1000_mean'])}, held-out {run['held_out_mean']:.2f}; "
                f"load {run['load_before'][0]:.2f}",
                flush=True,
            )
    report = {
        "benchmark": "memorize",
        "config": {
            "env_id": ENV_ID,
            "env_kwargs": {
                **ENV_KWARGS,
                "pool_size": args.words,
                "n_words": args.words,
                "n_bins": args.words,
            },
            "agent": "EpisodePG defaults",
            "net_arch": args.net_arch,
            "threads": args.threads,
            "budget_s": args.budget,
            "draws": args.draws,
            "seeds": args.seeds,
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "runs": runs,
    }
    write_results(args.out, "memorize", report, to_markdown(report))
    return 0 if all(r["reached_zero"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
