"""``hash-envs tune``: hyperparameter search the rl-baselines3-zoo way, with Optuna.

Each trial trains the agent on one task at the task's published step budget (or
``--steps``) on tuning seeds that are not evaluation seeds (default 100: the benchmark's
seeds start at 0), and reports the argmax policy's normalised score at the learning
curve's fixed points (:mod:`agents.runs.curves`). Optuna's TPE sampler proposes the
settings and its median pruner stops a trial whose curve falls below the median of the
earlier trials at the same point. The objective is the mean final normalised score over
the tuning seeds (the suite's protocol, :func:`hash_envs.evaluation.evaluate_agent`).

The best settings are written as a hyperparameter file (``OUT/<agent>.json``, the format
of ``agents/hyperparams``): the published file with the task's entry replaced by the best
trial's, and a ``tuning`` record of the run that produced them (command, trials, seeds,
wall time, best value). ``hash-envs benchmark --hyperparams OUT/<agent>.json`` uses it;
copying it over ``agents/hyperparams/<agent>.json`` publishes it.

The study lives in ``OUT/study.db`` (SQLite), so an interrupted search resumes where it
stopped. With ``--address`` the trials run on a Ray cluster instead (Ray Tune with its
Optuna searcher and the median stopping rule), one CPU each.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.runs import THREADS_HELP
from hash_envs.tasks import Task, get_task

__all__ = [
    "SEARCH_SPACES",
    "TUNABLE",
    "add_tune_parser",
    "published_params",
    "suggest",
    "tune_agent",
]

#: Optuna search spaces per agent: ``name: (kind, *arguments)`` with kind ``float``
#: (low, high, log), ``int`` (low, high, log) or ``categorical`` (choices). A dotted name
#: sets a nested keyword argument (``policy_kwargs.net_arch``).
SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    # PG and A2C: around the published recipe (1,024 envs, rewards of +-10, so an entropy
    # coefficient of order 1; the random-hash start's logit spread).
    "pg": {
        "learning_rate": ("float", 3e-4, 3e-2, True),
        "ent_coef": ("float", 1e-3, 3.0, True),
        "n_steps": ("categorical", [4, 8, 16, 32]),
        "policy_kwargs.init_logit_std": ("float", 1.0, 8.0, False),
    },
    "a2c": {
        "learning_rate": ("float", 3e-4, 3e-2, True),
        "ent_coef": ("float", 1e-3, 3.0, True),
        "vf_coef": ("float", 0.1, 1.0, False),
        "n_steps": ("categorical", [4, 8, 16, 32]),
        "policy_kwargs.init_logit_std": ("float", 1.0, 8.0, False),
    },
    # SACDiscrete: around its published recipe (a fixed temperature against rewards of
    # +-10, two timescales, a buffer of a few vector steps).
    "sac": {
        "learning_rate": ("float", 3e-4, 1e-2, True),
        "actor_lr_scale": ("float", 0.03, 1.0, True),
        "ent_coef": ("float", 0.05, 1.0, True),
        "buffer_size": ("categorical", [8192, 16384, 32768]),
    },
    # SB3's PPO and DQN with the package's policies (ppo.json, dqn.json).
    "ppo": {
        "learning_rate": ("float", 1e-4, 1e-2, True),
        "ent_coef": ("float", 1e-5, 1e-1, True),
        "n_epochs": ("int", 1, 10, False),
    },
    "dqn": {
        "learning_rate": ("float", 1e-4, 1e-2, True),
        "exploration_initial_eps": ("float", 0.05, 0.5, True),
        "exploration_fraction": ("float", 0.05, 0.5, False),
    },
}
TUNABLE = tuple(SEARCH_SPACES)
METRIC = "normalized_score"
#: Tuning seeds: far from the benchmark's evaluation seeds (0, 1, ...).
DEFAULT_SEEDS = (100,)


def suggest(trial: Any, agent: str) -> dict[str, Any]:
    """The settings an Optuna ``trial`` proposes for ``agent``, as algorithm kwargs."""
    kwargs: dict[str, Any] = {}
    for name, (kind, *args) in SEARCH_SPACES[agent].items():
        if kind == "float":
            value = trial.suggest_float(name, args[0], args[1], log=args[2])
        elif kind == "int":
            value = trial.suggest_int(name, args[0], args[1], log=args[2])
        else:
            value = trial.suggest_categorical(name, args[0])
        target = kwargs
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return kwargs


def published_params(agent: str, task: Task) -> dict[str, Any]:
    """The published settings of ``agent`` on ``task`` as search-space parameters (those
    inside the space): enqueued as the first trial, so a search can only end at or above
    them on its tuning seeds."""
    from agents.runs.benchmark import hyperparameters

    kwargs = hyperparameters(agent, task)["kwargs"]
    params: dict[str, Any] = {}
    for name, (kind, *args) in SEARCH_SPACES[agent].items():
        value: Any = kwargs
        for key in name.split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            continue
        inside = value in args[0] if kind == "categorical" else args[0] <= value <= args[1]
        if inside:
            params[name] = value
    return params


def run_trial(
    agent: str,
    task: Task,
    kwargs: Mapping[str, Any],
    seeds: Sequence[int],
    *,
    steps: int | None = None,
    corpus: str | None = None,
    report: Callable[[int, float], bool | None] | None = None,
) -> float:
    """Train ``agent`` with the published settings updated by ``kwargs`` on each seed;
    the mean final normalised score. ``report(step, score)`` gets the first seed's curve
    and stops the trial by returning ``False`` (then ``nan`` is returned)."""
    import numpy as np

    from agents.runs.benchmark import (
        Run,
        _as_scored_agent,
        hyperparameters,
        merge_settings,
        train_sb3,
    )
    from agents.runs.curves import ScoreCurve, curve_points
    from hash_envs.evaluation import evaluate_agent, reference_scores

    settings = hyperparameters(agent, task)
    settings["kwargs"] = merge_settings(settings["kwargs"], kwargs)
    if steps is not None:
        settings["n_timesteps"] = steps
    references = reference_scores(task, corpus)
    finals = []
    for i, seed in enumerate(seeds):
        run = Run(agent, task, seed, settings, corpus=corpus)

        def score(model: Any, run: Run = run) -> float:
            scored = _as_scored_agent(model, run)
            return evaluate_agent(scored, task, corpus, references=references)[METRIC]

        curve = ScoreCurve(
            curve_points(settings["n_timesteps"])[1:], score, report if i == 0 else None
        )
        model = train_sb3(run, callbacks=[curve])
        if curve.stopped:
            return float("nan")
        finals.append(score(model))
    return float(np.mean(finals))


def _tuning_record(
    command: str, trials: int, seeds: Sequence[int], wall_s: float, best: float
) -> dict[str, Any]:
    return {
        "command": command,
        "trials": trials,
        "seeds": list(seeds),
        "wall_s": round(wall_s, 1),
        "best_normalized_score": best,
    }


def write_best(
    agent: str, task: Task, best_kwargs: Mapping[str, Any], tuning: Mapping[str, Any], out: Path
) -> Path:
    """``OUT/<agent>.json``: the published file with ``task``'s entry set to the best
    settings and the ``tuning`` record."""
    from agents.runs.benchmark import _check_table, load_hyperparameters, merge_settings

    table = load_hyperparameters(agent)
    entry = dict(table.get(task.env_id, {}))
    entry["kwargs"] = merge_settings(entry.get("kwargs", {}), best_kwargs)
    entry["tuning"] = dict(tuning)
    table[task.env_id] = entry
    _check_table(table, f"the tuned {agent} settings")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{agent}.json"
    path.write_text(json.dumps(table, indent=2) + "\n")
    return path


def _check_args(agent: str, trials: int, steps: int | None, seeds: Sequence[int]) -> None:
    if agent not in SEARCH_SPACES:
        raise ValueError(f"unknown agent {agent!r} to tune; choose from {', '.join(TUNABLE)}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not seeds or min(seeds) < 0:
        raise ValueError(f"seeds must be one or more integers >= 0, got {list(seeds)}")


def tune_agent(
    agent: str,
    task: Task,
    trials: int,
    out: Path,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    steps: int | None = None,
    corpus: str | None = None,
    sampler_seed: int = 0,
    address: str | None = None,
) -> tuple[dict[str, Any], float, int]:
    """Search ``trials`` settings; ``(best kwargs, best objective, trials finished)``."""
    _check_args(agent, trials, steps, seeds)
    if address is not None:
        return _tune_on_ray(agent, task, trials, out, seeds, steps, corpus, sampler_seed, address)
    import optuna

    from agents.runs.benchmark import hyperparameters

    budget = steps if steps is not None else hyperparameters(agent, task)["n_timesteps"]
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=f"{agent}-{task.env_id}",
        storage=f"sqlite:///{(out / 'study.db').resolve()}",
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        # Prune in the second half of the budget only: settings that keep exploring (an
        # entropy bonus) rise late, and the published Memorize100 one sits below the
        # early median for its first 20% (docs/benchmark.md).
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=budget // 2),
    )
    if not study.trials:
        study.enqueue_trial(published_params(agent, task))

    def objective(trial: optuna.Trial) -> float:
        def report(step: int, value: float) -> bool:
            trial.report(value, step)
            return not trial.should_prune()

        value = run_trial(
            agent, task, suggest(trial, agent), seeds, steps=steps, corpus=corpus, report=report
        )
        if value != value:  # nan: stopped by the pruner
            raise optuna.TrialPruned()
        return value

    done = [t for t in study.trials if t.state.is_finished()]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=max(trials - len(done), 0))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"no trial of {agent} on {task.env_id} completed (all pruned?)")
    best = study.best_trial
    return _nest(best.params), float(best.value), len(study.trials)


def _nest(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        target = out
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return out


def _ray_trial(config: dict[str, Any], **kw: Any) -> None:
    import torch
    from ray import tune

    import hash_envs  # noqa: F401  (registers the tasks in this worker process)

    torch.set_num_threads(1)

    def report(step: int, value: float) -> None:
        tune.report({METRIC: value, "step": step})

    value = run_trial(kw["agent"], get_task(kw["task"]), _nest(config), kw["seeds"],
                      steps=kw["steps"], corpus=kw["corpus"], report=report)  # fmt: skip
    tune.report({METRIC: value, "step": -1, "final": True})


def _tune_on_ray(
    agent: str,
    task: Task,
    trials: int,
    out: Path,
    seeds: Sequence[int],
    steps: int | None,
    corpus: str | None,
    sampler_seed: int,
    address: str,
) -> tuple[dict[str, Any], float, int]:
    import optuna
    from ray import tune
    from ray.tune.schedulers import MedianStoppingRule
    from ray.tune.search.optuna import OptunaSearch

    from agents.runs.curves import CURVE_FRACTIONS
    from hash_envs.distributed import connect

    connect(address)
    trainable = tune.with_parameters(
        _ray_trial, agent=agent, task=task.env_id, seeds=list(seeds), steps=steps, corpus=corpus
    )

    def space(trial: optuna.Trial) -> None:
        suggest(trial, agent)

    searcher = OptunaSearch(
        space=space,
        metric=METRIC,
        mode="max",
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        points_to_evaluate=[published_params(agent, task)],
    )
    # as the local search: stop a trial in the second half of its curve only
    grace = max(len(CURVE_FRACTIONS) // 2, 1)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=MedianStoppingRule(time_attr="training_iteration", grace_period=grace),
            num_samples=trials,
            metric=METRIC,
            mode="max",
        ),
        run_config=tune.RunConfig(storage_path=str((out / "ray").resolve()), verbose=0),
    )
    results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{len(results.errors)} tuning trial(s) failed: {results.errors[0]}")
    finals = [r for r in results if r.metrics and r.metrics.get("final")]
    if not finals:
        raise RuntimeError(f"no trial of {agent} on {task.env_id} completed (all stopped?)")
    best = max(finals, key=lambda r: r.metrics[METRIC])
    return _nest(best.config), float(best.metrics[METRIC]), len(results)


def _cmd_tune(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    _check_args(args.algo, args.trials, args.steps, args.seeds)
    task = get_task(args.task)
    command = "hash-envs " + shlex.join(sys.argv[1:])
    start = time.perf_counter()
    best, value, n = tune_agent(
        args.algo,
        task,
        args.trials,
        Path(args.out),
        seeds=args.seeds,
        steps=args.steps,
        corpus=args.corpus,
        sampler_seed=args.sampler_seed,
        address=args.address,
    )
    record = _tuning_record(command, n, args.seeds, time.perf_counter() - start, value)
    path = write_best(args.algo, task, best, record, Path(args.out))
    print(f"best of {n} trials: normalised score {value:.3f} with {json.dumps(best)}")
    print(f"wrote {path}; use it with hash-envs benchmark --agents {args.algo} "
          f"--tasks {task.env_id} --hyperparams {path}")  # fmt: skip
    return 0


def add_tune_parser(subparsers: argparse._SubParsersAction) -> None:
    """The ``tune`` subcommand."""
    parser = subparsers.add_parser(
        "tune", help="Optuna search of an agent's settings on one task (rl-zoo style)"
    )
    parser.add_argument("--algo", required=True, help=", ".join(TUNABLE))
    parser.add_argument("--task", required=True, help="task id, e.g. Memorize1k")
    parser.add_argument("--trials", type=int, default=20, help="trials in all (default 20)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
        help="tuning seeds, not evaluation seeds (default 100)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, help="env steps per trial (default: published)")
    parser.add_argument("--corpus", help="replace the task's corpus, e.g. web2 (offline)")
    parser.add_argument("--sampler-seed", type=int, default=0, help="TPE's seed (default 0)")
    parser.add_argument("--out", default="results/tune", help="study and best settings")
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    parser.add_argument("--address", help="Ray cluster HOST:PORT: run the trials on Ray Tune")
    parser.set_defaults(func=_cmd_tune)
