"""When does our discrete SAC learn to hold CartPole for good? Greedy-policy checkpoints.

Not a unit test. ``bench/sac_discrete_vs_tianshou.py`` scores only the final policy, on
episodes capped at CartPole-v1's 500 steps. A policy that balances the pole but lets the
cart drift slowly sideways scores 500 on most such episodes and fails on a few, so that
score cannot tell "solved" from "nearly solved". This script trains ``SACDiscrete`` with
the benchmark's CartPole-v1 settings (``--shared-only``: its shared settings, which are
``SACDiscrete``'s defaults) and, every ``--every`` steps, runs the greedy policy on
``--eval-episodes`` episodes with a longer cap (``--max-episode-steps``, default 5,000),
recording the episode lengths and, for episodes that end early, whether
the cart left the track (|x| > 2.4) or the pole fell. At the end it also scores the final
policy exactly as the peer benchmark does (20 episodes, 500-step cap, its evaluation
seeds), so the two scripts can be checked against each other.

Evaluation does not touch the training random generators (argmax actions, a separate
env), so the final policy is the one the peer benchmark trains for the same seed.

Usage::

    python bench/sac_cartpole_learning_curve.py --seeds 0 1 2 --out results/bench/sac_curve

Writes ``sac_cartpole_learning_curve.json`` and ``.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_results  # bench/: scripts run as python bench/NAME.py

ROOT = Path(__file__).resolve().parents[1]
LONG_EVAL_SEED = 2_000_000  # long episodes use seeds LONG_EVAL_SEED + i


def greedy_episodes(model: Any, n_episodes: int, max_steps: int, seed0: int) -> list[dict]:
    """Length and end cause of ``n_episodes`` greedy episodes of at most ``max_steps``."""
    import gymnasium as gym

    env = gym.make("CartPole-v1", max_episode_steps=max_steps)
    x_limit = env.unwrapped.x_threshold  # beyond it the cart has left the track
    episodes = []
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed0 + i)
        length, terminated, truncated = 0, False, False
        while not (terminated or truncated):
            action = int(model.predict(obs, deterministic=True)[0])
            obs, _, terminated, truncated, _ = env.step(action)
            length += 1
        cause = "held" if not terminated else ("cart" if abs(obs[0]) > x_limit else "pole")
        episodes.append({"length": length, "end": cause})
    env.close()
    return episodes


def run_seed(
    seed: int, steps: int, every: int, n_eval: int, max_steps: int, shared_only: bool
) -> dict:
    """Train one seed with checkpoint evaluations; runs in its own process."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    # The peer benchmark's model, settings and final score.
    from sac_discrete_vs_tianshou import evaluate, make_ours, settings

    torch.set_num_threads(1)
    hp = settings("CartPole-v1", shared_only)
    curve: list[dict] = []

    class LongEval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % every == 0 and self.num_timesteps < steps:
                record(self.num_timesteps)
            return True

    def record(step: int) -> None:
        episodes = greedy_episodes(model, n_eval, max_steps, LONG_EVAL_SEED)
        lengths = [e["length"] for e in episodes]
        curve.append(
            {
                "step": step,
                "median_length": float(np.median(lengths)),
                "min_length": int(min(lengths)),
                "held": sum(e["end"] == "held" for e in episodes),
                "cart_left_track": sum(e["end"] == "cart" for e in episodes),
                "pole_fell": sum(e["end"] == "pole" for e in episodes),
            }
        )

    model = make_ours("CartPole-v1", seed, hp)
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=LongEval())
    wall = time.perf_counter() - start
    record(steps)  # the final policy, after the last gradient step
    returns = evaluate(
        lambda obs: int(model.predict(obs, deterministic=True)[0]), "CartPole-v1", 20
    )
    return {
        "seed": seed,
        "hyperparameters": hp,
        "train_wall_s": wall,
        "curve": curve,
        "final_returns_500": returns,
        "final_mean_return_500": float(np.mean(returns)),
    }


def markdown(runs: list[dict], meta: dict) -> str:
    steps = [point["step"] for point in runs[0]["curve"]]
    lines = [
        "# Discrete SAC on CartPole-v1: greedy policy along training",
        "",
        f"Median greedy episode length out of {meta['eval_episodes']} episodes capped at "
        f"{meta['max_episode_steps']} steps (episodes held to the cap / ended early), per "
        "checkpoint; last column: the peer benchmark's score of the final policy (mean "
        "return, 20 episodes capped at 500).",
        "",
        "| seed | " + " | ".join(f"{s // 1000}k" for s in steps) + " | final score (500 cap) |",
        "|---|" + "---|" * (len(steps) + 1),
    ]
    for run in runs:
        cells = [
            f"{p['median_length']:.0f} ({p['held']}/{p['cart_left_track'] + p['pole_fell']})"
            for p in run["curve"]
        ]
        lines.append(
            f"| {run['seed']} | " + " | ".join(cells) + f" | {run['final_mean_return_500']:.1f} |"
        )
    points = [p for run in runs for p in run["curve"]]
    cart = sum(p["cart_left_track"] for p in points)
    pole = sum(p["pole_fell"] for p in points)
    lines += [
        "",
        f"Early ends over all checkpoints: cart left the track {cart}, pole fell {pole}.",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/bench", help="output folder")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--every", type=int, default=5_000, help="steps between checkpoints")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--max-episode-steps", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=1, help="seeds at a time (processes)")
    parser.add_argument(
        "--shared-only",
        action="store_true",
        help="the peer benchmark's shared settings (SACDiscrete's defaults) without its "
        "CartPole-v1 changes",
    )
    args = parser.parse_args(argv)
    if args.every <= 0 or args.steps <= 0 or args.eval_episodes <= 0:
        parser.error("--steps, --every and --eval-episodes must be positive")

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        one_seed = partial(
            run_seed,
            steps=args.steps,
            every=args.every,
            n_eval=args.eval_episodes,
            max_steps=args.max_episode_steps,
            shared_only=args.shared_only,
        )
        runs = list(pool.map(one_seed, args.seeds))
    meta = {
        "steps": args.steps,
        "every": args.every,
        "eval_episodes": args.eval_episodes,
        "max_episode_steps": args.max_episode_steps,
        "seeds": args.seeds,
        "hyperparameters": runs[0]["hyperparameters"],
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "total_wall_s": round(time.perf_counter() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    write_results(
        args.out,
        "sac_cartpole_learning_curve",
        {"meta": meta, "runs": runs},
        markdown(runs, meta),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
