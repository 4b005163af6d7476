"""Ray Tune sweeps (ASHA) over the hyperparameters of our SB3-based agents.

Why Tune and ASHA: a sweep is many short, independent trainings, most of which are
visibly worse after a fraction of their budget. Tune spreads the trials over the Ray
cluster's CPUs and ASHA stops the bad ones early, so the budget goes to the promising
configurations. Each trial trains :class:`agents.PG` or :class:`agents.SACDiscrete` on
the named env and reports, every ``report_every`` env steps, the mean collisions of the
*deterministic* policy over a fixed set of evaluation episodes (lower is better; it is the
number the leaderboard ranks by). Tune writes TensorBoard, CSV and JSON logs per trial
(SB3's own TensorBoard scalars go into the same trial directory); the best configuration
is written as the ``--algo-kwargs`` JSON of ``hash-envs train``, with the full command.

Run ``python -m agents.runs.tune --algo pg --env-kwargs '{...}' --timesteps N --num-samples K``
(needs the ``[ray]`` extra).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["SEARCH_SPACES", "add_sweep_parser", "episode_collisions", "main", "sweep"]

METRIC = "collisions"

#: Tune search spaces per agent, as ``name: (ray.tune sampler, *its arguments)`` (built by
#: :func:`search_space`, so that importing this module -- and so ``hash-envs`` -- does not
#: import Ray); ``--algo-kwargs`` fixes (and overrides) any of them.
SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "pg": {
        "learning_rate": ("loguniform", 1e-4, 3e-2),
        "baseline": ("choice", ["mean", "value"]),
        "normalize_advantage": ("choice", [False, True]),
        "ent_coef": ("uniform", 0.0, 0.01),
    },
    "sac": {
        "learning_rate": ("loguniform", 1e-4, 3e-3),
        "batch_size": ("choice", [64, 128, 256]),
        "tau": ("loguniform", 1e-3, 5e-2),
        "target_entropy_scale": ("uniform", 0.3, 0.9),
    },
}


def search_space(algo: str) -> dict[str, Any]:
    """The Ray Tune search space of ``algo`` (see :data:`SEARCH_SPACES`)."""
    from ray import tune

    return {name: getattr(tune, kind)(*args) for name, (kind, *args) in SEARCH_SPACES[algo].items()}


def _agent_class(algo: str) -> type:
    if algo == "pg":
        from agents.algorithms.pg import PG

        return PG
    from agents.algorithms.sac_discrete import SACDiscrete

    return SACDiscrete


def episode_collisions(
    model: Any, env_id: str, env_kwargs: Mapping[str, Any], episodes: int, seed: int
) -> float:
    """Mean collisions per episode of ``model``'s deterministic policy.

    The ``episodes`` episodes run side by side in one vector env seeded with ``seed``,
    so every trial is scored on the same words in the same order.
    """
    native = gym.spec(env_id).vector_entry_point is not None
    venv = gym.make_vec(
        env_id,
        num_envs=episodes,
        vectorization_mode="vector_entry_point" if native else "sync",
        **env_kwargs,
    )
    try:
        obs, _ = venv.reset(seed=seed)
        while True:
            actions, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = venv.step(actions)
            if np.all(terminated | truncated):  # our episodes all have n_words steps
                return float(np.mean(info["collisions"]))
    finally:
        venv.close()


def _trial(
    config: dict[str, Any],
    *,
    algo: str,
    env_id: str,
    env_kwargs: dict[str, Any],
    n_envs: int,
    seed: int,
    timesteps: int,
    report_every: int,
    eval_episodes: int,
) -> None:
    """One Tune trial: train in ``report_every``-step chunks, report collisions after each."""
    import torch
    from gymnasium import spaces
    from ray import tune

    import hash_envs  # noqa: F401  (registers hash_envs/* in this worker process)
    from agents.algorithms.vec_env import make_sb3_vec_env

    torch.set_num_threads(1)
    venv = make_sb3_vec_env(env_id, n_envs, env_kwargs, seed=seed)
    policy = "MultiInputPolicy" if isinstance(venv.observation_space, spaces.Dict) else "MlpPolicy"
    trial_dir = tune.get_context().get_trial_dir()
    model = _agent_class(algo)(policy, venv, seed=seed, tensorboard_log=trial_dir, **config)
    while model.num_timesteps < timesteps:
        model.learn(report_every, reset_num_timesteps=False, tb_log_name="sb3")
        score = episode_collisions(model, env_id, env_kwargs, eval_episodes, seed=10_000 + seed)
        tune.report({METRIC: score, "timesteps": model.num_timesteps})


def _check_sweep_args(algo: str, *counts: int) -> None:
    if algo not in SEARCH_SPACES:
        raise ValueError(
            f"unknown sweep algorithm {algo!r}; choose from {', '.join(SEARCH_SPACES)}"
        )
    labels = ("timesteps", "num_samples", "report_every", "eval_episodes")
    for label, value in zip(labels, counts, strict=True):
        if value < 1:
            raise ValueError(f"{label} must be >= 1, got {value}")


def sweep(
    algo: str,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    *,
    timesteps: int,
    num_samples: int,
    report_every: int,
    fixed: Mapping[str, Any] | None = None,
    n_envs: int = 1,
    seed: int = 0,
    eval_episodes: int = 8,
    storage_path: str | Path = "runs/sweeps",
    name: str | None = None,
    address: str | None = None,
) -> tuple[dict[str, Any], float, Path]:
    """Run an ASHA sweep; returns ``(best algo kwargs, its collisions, experiment dir)``.

    ASHA compares trials at 1, 2, 4, ... reports (``grace_period=1``,
    ``reduction_factor=2``) and stops the worse half at each rung. A trial that raises
    fails the sweep with its error, rather than silently ranking the others.
    """
    from ray import tune
    from ray.tune.logger import TBXLoggerCallback
    from ray.tune.schedulers import ASHAScheduler

    from hash_envs.distributed import connect

    _check_sweep_args(algo, timesteps, num_samples, report_every, eval_episodes)
    connect(address)
    trainable = tune.with_parameters(
        _trial,
        algo=algo,
        env_id=env_id,
        env_kwargs=dict(env_kwargs),
        n_envs=n_envs,
        seed=seed,
        timesteps=timesteps,
        report_every=report_every,
        eval_episodes=eval_episodes,
    )
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={**search_space(algo), **dict(fixed or {})},
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="min",
            num_samples=num_samples,
            scheduler=ASHAScheduler(
                time_attr="training_iteration",
                max_t=-(-timesteps // report_every),
                grace_period=1,
                reduction_factor=2,
            ),
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(Path(storage_path).resolve()),
            callbacks=[TBXLoggerCallback()],
            verbose=0,
        ),
    )
    results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{len(results.errors)} sweep trial(s) failed: {results.errors[0]}")
    best = results.get_best_result()
    return dict(best.config), float(best.metrics[METRIC]), Path(results.experiment_path)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from agents.runs.cli import _with_corpus_max_len

    # Bad counts are refused before the corpus (possibly Moby) is loaded.
    _check_sweep_args(
        args.algo, args.timesteps, args.num_samples, args.report_every, args.eval_episodes
    )
    env_kwargs = _with_corpus_max_len(args.env, args.env_kwargs)
    config, collisions, experiment = sweep(
        args.algo,
        args.env,
        env_kwargs,
        timesteps=args.timesteps,
        num_samples=args.num_samples,
        report_every=args.report_every,
        fixed=args.algo_kwargs,
        n_envs=args.n_envs,
        seed=args.seed,
        eval_episodes=args.eval_episodes,
        storage_path=args.out,
        name=f"{args.algo}-{time.strftime('%Y%m%d-%H%M%S')}",
        address=args.address,
    )
    command = [
        "hash-envs", "train", "--algo", args.algo, "--env", args.env,
        "--env-kwargs", json.dumps(env_kwargs), "--algo-kwargs", json.dumps(config),
        "--timesteps", str(args.timesteps), "--n-envs", str(args.n_envs),
        "--seed", str(args.seed),
    ]  # fmt: skip
    best = {"algo_kwargs": config, METRIC: collisions, "command": shlex.join(command)}
    (experiment / "best.json").write_text(json.dumps(best, indent=2) + "\n")
    print(f"best of {args.num_samples} ({collisions:.2f} collisions): {json.dumps(config)}")
    print(f"TensorBoard: tensorboard --logdir {experiment}")
    print(f"train it: {best['command']}")
    return 0


def add_sweep_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``sweep`` subcommand (``python -m agents.runs.tune`` runs it on its own)."""
    from agents.runs.cli import _json

    parser = subparsers.add_parser("sweep", help="Ray Tune ASHA sweep over an agent's settings")
    parser.add_argument("--algo", choices=sorted(SEARCH_SPACES), required=True)
    parser.add_argument("--env", default="hash_envs/StatelessHash-v0", help="Gymnasium env id")
    parser.add_argument("--env-kwargs", type=_json, default={}, help="JSON object")
    parser.add_argument("--algo-kwargs", type=_json, default={}, help="fixed settings (JSON)")
    parser.add_argument("--timesteps", type=int, required=True, help="per trial, at most")
    parser.add_argument("--report-every", type=int, required=True, help="env steps per rung")
    parser.add_argument("--num-samples", type=int, default=8, help="trials")
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--n-envs", type=int, default=1, help="per trial")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/sweeps", help="Tune storage directory")
    parser.add_argument("--address", help="Ray cluster HOST:PORT (default: local Ray)")
    parser.set_defaults(func=_cmd_sweep)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.runs.tune")
    add_sweep_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except ValueError as err:
        print(f"sweep: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
