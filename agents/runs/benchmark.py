"""``hash-envs benchmark``: train agents on the suite's tasks over seeds, score them with
the suite's protocol (:func:`hash_envs.evaluation.evaluate_agent`), aggregate.

One run is an (agent, task, seed) triple. It trains under a step budget (the agent's
per-task hyperparameter file, ``agents/hyperparams/<agent>.json``, as in
rl-baselines3-zoo) and an optional wall-time budget, then scores the trained agent:
stateless tasks through the argmax hash (:class:`agents.PolicyHash` where the policy has
``Discrete`` actions, so the score is that of the exported artifact), table-aware tasks
through greedy episodes. Each finished run is written to ``OUT/runs/.../seedN.json`` and
is not retrained when the same configuration is asked for again (resumable). Over seeds,
scores are aggregated by the interquartile mean (IQM) with a 95% percentile-bootstrap
confidence interval (Agarwal et al., 2021).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import platform
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.runs import THREADS_HELP
from hash_envs.tasks import Task, resolve_tasks

if TYPE_CHECKING:  # SB3 is imported only when an SB3 agent trains
    from agents.algorithms.callbacks import EpisodeLog

AGENTS = ("random", "ppo", "dqn", "qrdqn", "a2c", "pg", "sac", "episode-pg", "pilot-q")
RLLIB_AGENTS = ("ppo",)
_SB3 = ("ppo", "dqn", "qrdqn", "a2c", "pg", "sac")
_DISCRETE_ONLY = ("dqn", "qrdqn", "sac")
_CURVE_POINTS = 100


#: The keys of one entry of a hyperparameter file (``default`` or a task id's).
SETTING_KEYS = ("n_timesteps", "n_envs", "policy", "kwargs", "tuning")
#: Values of ``policy``: SB3's names, or the package's (:func:`agents.runs.cli.policy_for`).
POLICY_NAMES = ("MlpPolicy", "MultiInputPolicy", "CnnPolicy", "HashPolicy")


def _check_table(table: Any, source: str) -> None:
    """Refuse a hyperparameter table with an unknown key, naming the file and the valid keys."""
    if not isinstance(table, dict) or not isinstance(table.get("default"), dict):
        raise ValueError(f"{source}: a hyperparameter file is a JSON object with a 'default' entry")
    from hash_envs.tasks import TASKS

    task_ids = set(TASKS)
    for name, entry in table.items():
        if name.startswith("_"):
            continue  # comments
        if name != "default" and name not in task_ids:
            raise ValueError(
                f"{source}: unknown entry {name!r}; entries are 'default' and task ids such "
                "as 'hash_envs/Memorize1k-v0' (hash-envs envs lists them)"
            )
        unknown = sorted(set(entry) - set(SETTING_KEYS))
        if unknown:
            raise ValueError(
                f"{source}: {name!r} has unknown key(s) {unknown}; valid keys: "
                f"{', '.join(SETTING_KEYS)}"
            )
        if "policy" in entry and entry["policy"] not in POLICY_NAMES:
            raise ValueError(
                f"{source}: {name!r}: policy must be one of {', '.join(POLICY_NAMES)}, "
                f"got {entry['policy']!r}"
            )
        for key, least in (("n_timesteps", 0), ("n_envs", 1)):  # 0 steps: an untrained agent
            if key in entry and (not isinstance(entry[key], int) or entry[key] < least):
                raise ValueError(f"{source}: {name!r}: {key} must be an integer >= {least}")


def load_hyperparameters(agent: str, backend: str = "sb3", path: Path | None = None) -> dict:
    """The hyperparameter table of ``agent`` (``agents/hyperparams/<agent>.json``, RLlib
    agents ``rllib-<agent>.json``), or the file ``path``; checked (:func:`_check_table`)."""
    name = agent if backend == "sb3" else f"{backend}-{agent}"
    if path is None:
        source = f"agents/hyperparams/{name}.json"
        text = resources.files("agents").joinpath("hyperparams", f"{name}.json").read_text()
    else:
        source, text = str(path), Path(path).read_text()
    try:
        table = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source} is not valid JSON ({err})") from None
    _check_table(table, source)
    return table


def merge_settings(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, nested dicts merged key by key (a task entry's
    ``policy_kwargs: {"init_logit_std": 2}`` keeps the default's ``net_arch``)."""
    out = dict(base)
    for key, value in update.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = merge_settings(out[key], value) if nested else value
    return out


def hyperparameters(
    agent: str, task: Task, backend: str = "sb3", path: Path | None = None
) -> dict[str, Any]:
    """The agent's settings for ``task``: its file's ``default`` updated by the task's entry.

    Keys: ``n_timesteps`` (env steps: the published budget), ``n_envs`` (parallel envs),
    ``kwargs`` (the algorithm's keyword arguments; a task's entry overrides the default's
    key by key, nested dicts too) and, where a tuning run produced them,
    ``tuning`` (its command, trials, seeds and wall time). ``path`` replaces the
    package's file (e.g. one written by ``hash-envs tune``).
    """
    table = load_hyperparameters(agent, backend, path)
    merged = {"n_envs": 1, "kwargs": {}, **table["default"]}
    for key, value in table.get(task.env_id, {}).items():
        merged[key] = merge_settings(merged["kwargs"], value) if key == "kwargs" else value
    merged.pop("tuning", None)  # provenance, not a setting: it does not change a run
    return merged


def unsupported(agent: str, task: Task, backend: str = "sb3") -> str | None:
    """Why ``agent`` cannot play ``task`` (reported in the table), or ``None``."""
    if backend == "rllib":
        if task.table_aware or task.factorized:
            return "the RLlib hash export needs a stateless task with Discrete actions"
        return None
    if agent in _DISCRETE_ONLY and task.factorized:
        return "needs Discrete actions"
    if agent == "episode-pg" and (task.table_aware or task.factorized):
        return "simulates stateless episodes with Discrete actions only"
    if agent == "pilot-q":
        if not task.fixed_pool or task.n_words != task.n_bins:
            return "memorises a fixed pool into as many bins"
        if task.factorized:
            return "places words by pilots, not by table cells"
    return None


@dataclass(frozen=True)
class Run:
    """One (agent, task, seed) with its settings (``n_envs``, ``n_timesteps``, ``kwargs``)."""

    agent: str
    task: Task
    seed: int
    settings: Mapping[str, Any]
    time_budget_s: float | None = None
    corpus: str | None = None
    backend: str = "sb3"

    @property
    def config(self) -> dict[str, Any]:
        """What determines the result: a run with the same config is not repeated."""
        return {
            "agent": self.agent,
            "backend": self.backend,
            "task": self.task.env_id,
            "seed": self.seed,
            "corpus": self.task.env_kwargs(self.corpus)["corpus"],
            "settings": dict(self.settings),
            "time_budget_s": self.time_budget_s,
        }

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()[:12]

    def path(self, out: Path) -> Path:
        name = self.task.env_id.split("/")[1]
        return out / "runs" / f"{self.backend}-{self.agent}" / name / f"seed{self.seed}.json"

    @property
    def label(self) -> str:
        return f"{self.agent}/{self.task.env_id.split('/')[1]}/seed{self.seed}"


# -- training ---------------------------------------------------------------------------------


@dataclass
class _Progress:
    """What a trainer records: the training episodes' collisions (``curve``) and the
    argmax policy's normalised score at the run's fixed points (``score_curve``), scored
    by ``score``."""

    score: Callable[[Any], float]
    points: list[int]
    curve: list[tuple[int, float]]
    score_curve: list[tuple[int, float]]


class _Budget:
    """Wall-time budget of one run, shared by the learners' stop checks."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def exhausted(self) -> bool:
        return self.seconds is not None and self.elapsed >= self.seconds


def train_sb3(
    run: Run,
    log: EpisodeLog | None = None,
    tensorboard: str | None = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    """Train ``run.agent`` (an SB3 algorithm) on ``run.task`` with ``run.settings``.

    The suite's one SB3 trainer, shared by ``hash-envs benchmark`` and the paper
    experiments: the native vector env of the task, the settings' ``policy``
    (:func:`agents.runs.cli.policy_for`; by default ``MultiInputPolicy`` for table-aware
    observations), and ``log`` (an :class:`agents.algorithms.callbacks.EpisodeLog`; by
    default one with the run's time budget) recording every episode, then ``callbacks``.
    Returns the trained model.
    """
    from agents.algorithms.callbacks import EpisodeLog
    from agents.algorithms.vec_env import make_sb3_vec_env
    from agents.runs.cli import _algorithm, policy_for

    n_envs = run.settings["n_envs"]
    if log is None:
        log = EpisodeLog(n_envs, time_budget_s=run.time_budget_s)
    env_kwargs = run.task.env_kwargs(run.corpus)
    venv = make_sb3_vec_env(run.task.env_id, n_envs, env_kwargs, seed=run.seed)
    policy = policy_for(venv.observation_space, run.settings.get("policy"), run.agent)
    model = _algorithm(run.agent)(
        policy, venv, seed=run.seed, tensorboard_log=tensorboard, **run.settings["kwargs"]
    )
    model.learn(
        run.settings["n_timesteps"],
        callback=[log, *callbacks],
        tb_log_name=run.label.replace("/", "_"),
    )
    venv.close()
    return model


def _train_sb3(run: Run, budget: _Budget, progress: _Progress, tensorboard: str | None) -> Any:
    from agents.algorithms.callbacks import EpisodeLog
    from agents.runs.curves import ScoreCurve

    remaining = None if budget.seconds is None else max(budget.seconds - budget.elapsed, 0.0)
    log = EpisodeLog(run.settings["n_envs"], time_budget_s=remaining)
    scores = ScoreCurve(progress.points, progress.score)
    model = train_sb3(run, log, tensorboard, callbacks=[scores])
    progress.curve.extend(log.curve())
    progress.score_curve.extend(scores.curve)
    return model, model.num_timesteps


def _train_episode_pg(
    run: Run, budget: _Budget, progress: _Progress, tensorboard: str | None
) -> Any:
    from agents.algorithms.episode_pg import EpisodePG

    agent = EpisodePG(
        run.task.env_id,
        run.task.env_kwargs(run.corpus),
        seed=run.seed,
        tensorboard_log=tensorboard,
        **run.settings["kwargs"],
    )
    steps_per_update = agent.episodes_per_update * run.task.n_words
    points = list(progress.points)

    def record(stats: Any) -> bool:
        steps = stats.episodes * run.task.n_words
        progress.curve.append((steps, float(stats.mean_collisions)))
        while points and steps >= points[0]:
            progress.score_curve.append((points.pop(0), progress.score(agent.policy)))
        return not budget.exhausted

    agent.learn(
        max(run.settings["n_timesteps"] // steps_per_update, 1),
        stop_at_collisions=0 if run.task.kind == "memorize" else None,
        callback=record,
    )
    return agent.policy, agent.num_episodes * run.task.n_words


def _train_pilot_q(run: Run, budget: _Budget, progress: _Progress, tensorboard: str | None) -> Any:
    from agents.algorithms.pilot_q import PilotQ

    pool = run.task.make(run.corpus).unwrapped.pool
    agent = PilotQ(pool.words, n_bins=run.task.n_bins, seed=run.seed, **run.settings["kwargs"])
    remaining = None if budget.seconds is None else max(budget.seconds - budget.elapsed, 0.0)
    hash_fn = agent.learn(
        max_episodes=max(run.settings["n_timesteps"] // run.task.n_words, 1),
        time_budget_s=remaining,
    )
    n = run.task.n_words
    progress.curve.extend((s.episode * n, float(s.collisions)) for s in agent.history)
    return hash_fn, agent.episodes * run.task.n_words


def _train_random(run: Run, budget: _Budget, progress: _Progress, tensorboard: str | None) -> Any:
    from hash_envs.evaluation import uniform_random_policy

    return uniform_random_policy(run.task, seed=run.seed), 0


def _train_rllib(run: Run, budget: _Budget, progress: _Progress, tensorboard: str | None) -> Any:
    import tempfile

    from agents.runs.rllib import RLlibPolicyHash, build_config, env_spaces, train

    env_kwargs = run.task.env_kwargs(run.corpus)
    config = build_config(
        run.agent,
        run.task.env_id,
        env_kwargs,
        num_envs_per_env_runner=run.settings["n_envs"],
        seed=run.seed,
        algo_kwargs=run.settings["kwargs"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "progress.jsonl"
        algo = train(config, run.settings["n_timesteps"], log_path=log)
        lines = [json.loads(line) for line in log.read_text().splitlines()]
    try:
        module = algo.get_module()
        spaces_ = env_spaces(run.task.env_id, env_kwargs)
        hash_fn = RLlibPolicyHash(module, *spaces_, name=f"rllib-{run.agent}")
    finally:
        algo.stop()
    n = run.task.n_words
    for line in lines:  # first_come return = 10 * (n - 2 * collisions)
        if line["episode_return_mean"] is not None:
            progress.curve.append(
                (line["env_steps_sampled"], (10 * n - line["episode_return_mean"]) / 20)
            )
    return hash_fn, lines[-1]["env_steps_sampled"] if lines else 0


_TRAINERS: dict[str, Callable[..., Any]] = {
    "random": _train_random,
    "episode-pg": _train_episode_pg,
    "pilot-q": _train_pilot_q,
    **dict.fromkeys(_SB3, _train_sb3),
}


def _as_scored_agent(trained: Any, run: Run) -> Any:
    """What the protocol scores: the exported-artifact path where there is one."""
    from gymnasium import spaces

    if run.task.table_aware or run.agent in ("random", "pilot-q") or run.backend == "rllib":
        return trained
    policy = getattr(trained, "policy", trained)
    if isinstance(policy.action_space, spaces.Discrete):
        from agents.hashes.policy_hash import PolicyHash

        return PolicyHash(policy, name=run.agent)
    return trained


def _downsample(curve: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """At most ``_CURVE_POINTS`` points: the mean of consecutive chunks."""
    if len(curve) <= _CURVE_POINTS:
        return [(int(s), float(c)) for s, c in curve]
    chunks = np.array_split(np.asarray(curve, dtype=np.float64), _CURVE_POINTS)
    return [(int(chunk[-1, 0]), float(chunk[:, 1].mean())) for chunk in chunks]


def run_one(run: Run, references: Mapping[str, Any], tensorboard: str | None) -> dict[str, Any]:
    """Train and score one (agent, task, seed); the record written to its JSON file."""
    from agents.runs.curves import curve_points
    from hash_envs.evaluation import evaluate_agent

    curve_s = 0.0

    def score(trained: Any) -> float:
        nonlocal curve_s
        t0 = time.perf_counter()
        scored = _as_scored_agent(trained, run)
        value = evaluate_agent(scored, run.task, run.corpus, references=references)
        curve_s += time.perf_counter() - t0
        return float(value["normalized_score"])

    budget = _Budget(run.time_budget_s)
    progress = _Progress(score, curve_points(run.settings["n_timesteps"]), [], [])
    trainer = _train_rllib if run.backend == "rllib" else _TRAINERS[run.agent]
    trained, steps = trainer(run, budget, progress, tensorboard)
    train_s = budget.elapsed - curve_s  # learning alone: the curve's scoring is not training
    evaluation = evaluate_agent(
        _as_scored_agent(trained, run), run.task, run.corpus, references=references
    )
    return {
        **run.config,
        "config_hash": run.config_hash,
        "steps": int(steps),
        "step_budget": int(run.settings["n_timesteps"]),
        "train_s": train_s,
        "curve_s": curve_s,
        "steps_per_s": steps / train_s if train_s > 0 else None,
        "wall_s": budget.elapsed,
        "budget_hit": bool(budget.exhausted),
        "score": evaluation["score"],
        "normalized_score": evaluation["normalized_score"],
        "evaluation": {k: v for k, v in evaluation.items() if k != "references"},
        "curve": _downsample(progress.curve),
        "score_curve": [*progress.score_curve, (int(steps), evaluation["normalized_score"])],
    }


# -- aggregation and outputs ------------------------------------------------------------------


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (scipy's 25% trimmed mean)."""
    from scipy import stats

    return float(stats.trim_mean(np.asarray(values, dtype=np.float64), 0.25))


def iqm_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the IQM over seeds (seeded)."""
    from scipy import stats

    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2 or np.all(arr == arr[0]):
        return float(arr.mean()), float(arr.mean())
    res = stats.bootstrap(
        (arr,),
        lambda x, axis: stats.trim_mean(x, 0.25, axis=axis),
        confidence_level=confidence,
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _median_rate(records: Sequence[Mapping[str, Any]]) -> float | None:
    rates = [r["steps_per_s"] for r in records if r.get("steps_per_s")]
    return float(np.median(rates)) if rates else None


def aggregate(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (agent, task): IQM and CI of the normalised score and collisions."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for rec in records:
        groups.setdefault((rec["backend"], rec["agent"], rec["task"]), []).append(rec)
    rows = []
    for (backend, agent, task), recs in groups.items():
        norm = [r["normalized_score"] for r in recs]
        low, high = iqm_ci(norm)
        rows.append(
            {
                "backend": backend,
                "agent": agent,
                "task": task,
                "seeds": len(recs),
                "normalized_iqm": iqm(norm),
                "normalized_ci": [low, high],
                "collisions_iqm": iqm([r["score"] for r in recs]),
                "wall_s_median": float(np.median([r["wall_s"] for r in recs])),
                "train_s_median": float(np.median([r.get("train_s", r["wall_s"]) for r in recs])),
                "steps_per_s_median": _median_rate(recs),
                "steps_median": float(np.median([r["steps"] for r in recs])),
                "budget_hit": sum(r["budget_hit"] for r in recs),
            }
        )
    return rows


def to_markdown(result: Mapping[str, Any]) -> str:
    """The reference table, then agent x task with normalised IQM [95% CI]."""
    lines = [
        "| task | random hash | best leaderboard hash | optimum |",
        "|---|---|---|---|",
    ]
    for task, refs in result["references"].items():
        lines.append(
            f"| `{task}` | {refs['random_hash']:.1f} | {refs['best_hash']:.1f} "
            f"({refs['best_hash_name']}) | {refs['optimum']:g} |"
        )
    lines += [
        "",
        "| task | agent | seeds | normalised score, IQM [95% CI] | collisions (IQM) | "
        "train s (median) | env steps (median) | steps/s (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["aggregates"]:
        agent = row["agent"] if row["backend"] == "sb3" else f"{row['agent']} ({row['backend']})"
        low, high = row["normalized_ci"]
        cut = f", {row['budget_hit']} hit the time budget" if row["budget_hit"] else ""
        rate = f"{row['steps_per_s_median']:,.0f}" if row.get("steps_per_s_median") else "-"
        lines.append(
            f"| `{row['task']}` | {agent} | {row['seeds']}{cut} | "
            f"{row['normalized_iqm']:.3f} [{low:.3f}, {high:.3f}] | "
            f"{row['collisions_iqm']:,.1f} | {row.get('train_s_median', 0.0):.1f} | "
            f"{row['steps_median']:,.0f} | {rate} |"
        )
    for skip in result["skipped"]:
        lines.append(f"| `{skip['task']}` | {skip['agent']} | - | n/a: {skip['reason']} | | | | |")
    total_s = sum(r["wall_s"] for r in result["runs"])
    lines += [
        "",
        f"{len(result['runs'])} runs, {total_s / 3600:.2f} h in all (training, the learning "
        "curves' scoring and the final evaluation).",
    ]
    return "\n".join(lines)


def _iqm_band(values: np.ndarray) -> tuple[float, float, float]:
    low, high = iqm_ci(values)
    return iqm(values), low, high


def plot_score_curves(result: Mapping[str, Any], out: Path) -> list[Path]:
    """One PNG per task: the IQM over seeds of each agent's normalised score against env
    steps, with its 95% bootstrap band; 0 is a uniformly random hash, 1 the optimum."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_task: dict[str, dict[str, list[list[tuple[int, float]]]]] = {}
    for rec in result["runs"]:
        if rec.get("score_curve"):
            by_task.setdefault(rec["task"], {}).setdefault(rec["agent"], []).append(
                rec["score_curve"]
            )
    (out / "curves").mkdir(parents=True, exist_ok=True)
    paths = []
    for task, agents in sorted(by_task.items()):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for agent, curves in sorted(agents.items()):
            steps = sorted({s for curve in curves for s, _ in curve})
            rows = [dict(curve) for curve in curves]
            band = [
                _iqm_band(np.array([r[s] for r in rows if s in r], dtype=np.float64)) for s in steps
            ]
            mid, low, high = (np.array(col) for col in zip(*band, strict=True))
            (line,) = ax.plot(steps, mid, marker=".", label=f"{agent} ({len(curves)} seeds)")
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, lw=0)
        ax.axhline(0.0, color="grey", ls="--", lw=1, label="random hash")
        ax.axhline(1.0, color="black", ls=":", lw=1, label="optimum")
        ax.set(title=task, xlabel="env steps", ylabel="normalised score (argmax)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / "curves" / f"{task.split('/')[1]}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def write_outputs(result: Mapping[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "benchmark.json",
        "csv": out / "benchmark.csv",
        "md": out / "benchmark.md",
    }
    paths["json"].write_text(json.dumps(result, indent=1))
    columns = [
        "backend", "agent", "task", "seed", "corpus", "steps", "step_budget", "train_s",
        "curve_s", "steps_per_s", "wall_s", "budget_hit", "score", "normalized_score",
    ]  # fmt: skip
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result["runs"])
    paths["md"].write_text(
        f"Produced by `{result['command']}` ({result['machine']}).\n\n{to_markdown(result)}\n"
    )
    for i, png in enumerate(plot_score_curves(result, out)):
        paths[f"curve{i}"] = png
    return paths


# -- the command ------------------------------------------------------------------------------


def run_benchmark(
    agents: Sequence[str],
    tasks: Sequence[Task],
    seeds: int,
    out: Path,
    *,
    first_seed: int = 0,
    hyperparams: Path | None = None,
    corpus: str | None = None,
    steps: int | None = None,
    time_budget_s: float | None = None,
    backend: str = "sb3",
    tensorboard: bool = True,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Every (agent, task, seed), seeds ``first_seed .. first_seed + seeds - 1``, not
    already in ``out``; returns the collected result (with every run found in ``out`` for
    these agents and tasks, so that seeds added later join the table).

    ``steps`` replaces the published step budget (``n_timesteps`` of the agent's
    hyperparameter file, or of the file ``hyperparams``); ``time_budget_s`` adds a
    wall-time limit per run."""
    from tqdm.auto import tqdm

    from hash_envs.evaluation import reference_scores

    known = RLLIB_AGENTS if backend == "rllib" else AGENTS
    for agent in agents:
        if agent not in known:
            raise ValueError(f"agents: unknown agent {agent!r} for --backend {backend}; "
                             f"choose from {', '.join(known)}")  # fmt: skip
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if first_seed < 0:
        raise ValueError(f"first_seed must be >= 0, got {first_seed}")
    if hyperparams is not None and len(agents) != 1:
        raise ValueError("a hyperparameter file (--hyperparams) is for one agent at a time")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if time_budget_s is not None and time_budget_s <= 0:
        raise ValueError(f"time_budget_s must be > 0, got {time_budget_s}")
    runs, skipped = [], []
    for task in tasks:
        task.env_kwargs(corpus)  # refuses a corpus the task cannot take, before any training
        for agent in agents:
            reason = unsupported(agent, task, backend)
            if reason:
                skipped.append({"agent": agent, "task": task.env_id, "reason": reason})
                continue
            settings = hyperparameters(agent, task, backend, hyperparams)
            if steps is not None:
                settings["n_timesteps"] = steps
            runs += [
                Run(agent, task, s, settings, time_budget_s, corpus, backend)
                for s in range(first_seed, first_seed + seeds)
            ]
    references = {task.env_id: reference_scores(task, corpus) for task in tasks}
    tb = str(out / "tensorboard") if tensorboard else None
    records = []
    bar = tqdm(runs, desc="benchmark", disable=not progress, unit="run")
    for run in bar:
        bar.set_postfix_str(run.label)
        path = run.path(out)
        if path.is_file():
            record = json.loads(path.read_text())
            if record.get("config_hash") == run.config_hash:
                records.append(record)
                continue
        record = run_one(run, references[run.task.env_id], tb)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
        records.append(record)
    records += _earlier_seeds(runs, records, out)
    return {
        "command": command,
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "references": references,
        "runs": records,
        "aggregates": aggregate(records),
        "skipped": skipped,
    }


def _earlier_seeds(
    runs: Sequence[Run], records: Sequence[Mapping[str, Any]], out: Path
) -> list[dict[str, Any]]:
    """Records already in ``out`` of the same (agent, task, settings) on other seeds."""
    have = {(r["backend"], r["agent"], r["task"], r["seed"]) for r in records}
    wanted = {}
    for run in runs:
        config = {k: v for k, v in run.config.items() if k != "seed"}
        wanted[run.path(out).parent] = json.dumps(config, sort_keys=True)
    found = []
    for folder, config in wanted.items():
        for path in sorted(folder.glob("seed*.json")):
            record = json.loads(path.read_text())
            key = (record["backend"], record["agent"], record["task"], record["seed"])
            same = {k: record.get(k) for k in json.loads(config)}
            if key not in have and json.dumps(same, sort_keys=True) == config:
                found.append(record)
                have.add(key)
    return found


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    tasks = resolve_tasks(args.tasks, max_words=args.max_words)
    if not tasks:
        raise ValueError(f"tasks: {args.tasks} selects no task (with --max-words {args.max_words})")
    out = Path(args.out)
    command = (
        "hash-envs " + shlex.join(sys.argv[1:]) if args.command_line is None else args.command_line
    )
    result = run_benchmark(
        args.agents,
        tasks,
        args.seeds,
        out,
        first_seed=args.first_seed,
        hyperparams=None if args.hyperparams is None else Path(args.hyperparams),
        corpus=args.corpus,
        steps=args.steps,
        time_budget_s=args.time_budget,
        backend=args.backend,
        tensorboard=not args.no_tensorboard,
        progress=args.progress,
        command=command,
    )
    print(to_markdown(result))
    paths = write_outputs(result, out)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def add_benchmark_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark", help="train agents on the suite's tasks over seeds; normalised scores"
    )
    parser.add_argument(
        "--agents", nargs="+", default=["random", "ppo", "pilot-q"], help=", ".join(AGENTS)
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["Memorize100", "Online100"],
        help="task ids (hash_envs/Memorize1k-v0 or Memorize1k) or groups: all, memorize, "
        "generalize, online, factored",
    )
    parser.add_argument("--max-words", type=int, help="drop tasks with more words per episode")
    parser.add_argument(
        "--seeds", type=int, default=3, help="N seeds per (agent, task): S..S+N-1 (default 3)"
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="S, the first seed (default 0; add seeds later)"
    )
    parser.add_argument(
        "--steps", type=int, help="env steps per run (default: the published budget, the "
        "n_timesteps of agents/hyperparams/<agent>.json)"
    )  # fmt: skip
    parser.add_argument(
        "--hyperparams", help="a hyperparameter file replacing the agent's (one agent only)"
    )
    parser.add_argument(
        "--time-budget", type=float, help="optional wall seconds per run (training), on top of "
        "the step budget"
    )  # fmt: skip
    parser.add_argument("--corpus", help="replace the tasks' corpus, e.g. web2 (offline)")
    parser.add_argument("--backend", choices=("sb3", "rllib"), default="sb3")
    parser.add_argument("--out", default="results/benchmark", help="output directory")
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    parser.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("--command-line", help=argparse.SUPPRESS)
    parser.set_defaults(func=_cmd_benchmark)
