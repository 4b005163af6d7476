"""Shared pieces of the paper-reproduction experiments (``experiments/exp*.py``).

Every experiment script is ``main(argv)`` with ``--quick`` (seconds, for the tests) or
``--full`` (the documented size), ``--out DIR`` (default ``docs/experiments``) and
``--seed``; it writes ``<name>.md`` and PNG plots into ``DIR``. This module holds what
they share:

* :func:`setup_runtime` -- one torch thread, the Moby list beside the checkout, envs
  registered;
* :func:`parser` / :class:`Run` -- the command line, the exact command and wall time;
* :func:`suite_run` -- an experiment's setting as the suite's ``Run``: every SB3 training
  goes through the suite's trainer (:func:`agents.runs.benchmark.train_sb3`) and its episode
  log (:class:`agents.algorithms.callbacks.EpisodeLog`), as ``hash-envs benchmark`` does;
* :class:`HashProbe` -- the argmax hash (:class:`agents.PolicyHash`) on fixed draws of
  corpus words, probed every few iterations;
* :func:`run_stateless` -- experiments 2-4 (one algorithm, ``StatelessHash-v0``);
* :func:`random1000` -- the leaderboard track of a trained policy (greedy episodes come
  from the suite's protocol, :func:`hash_envs.evaluation.greedy_collisions`);
* :func:`plot_panels` and :class:`Report` -- PNG plots and the Markdown summary that
  puts our numbers beside the paper's.

Nothing here re-implements package code: environments, agents, metrics, the leaderboard
and the corpus come from ``hash_envs``, ``agents`` and ``baselines``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.algorithms.callbacks import EpisodeLog
from agents.runs.benchmark import Run as SuiteRun
from agents.runs.benchmark import train_sb3
from hash_envs.tasks import Task

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "experiments"
MOBY_BESIDE_CHECKOUT = REPO.parent / "shared" / "data" / "moby" / "words.zip"
STATELESS = "hash_envs/StatelessHash-v0"
TABLE_AWARE = "hash_envs/TableAwareHash-v0"
#: The paper's network: two hidden layers of 300 units.
PAPER_ARCH = [300, 300]


# -- runtime and command line ---------------------------------------------------------------


def setup_runtime() -> None:
    """One torch thread (fastest for these small nets on a shared 2-core machine), the
    Moby list that sits beside the checkout (as the Makefile does), envs registered."""
    import torch

    torch.set_num_threads(1)
    if not os.environ.get("HASH_ENVS_MOBY") and MOBY_BESIDE_CHECKOUT.is_file():
        os.environ["HASH_ENVS_MOBY"] = str(MOBY_BESIDE_CHECKOUT)
    import hash_envs  # noqa: F401  (registers the environments)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="seconds-sized run (for tests)")
    size.add_argument("--full", action="store_true", help="the documented size (default)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpus", default="moby", help="'moby' (default), 'web2' or a word file")
    return p


@dataclass
class Run:
    """The parsed arguments of one experiment run, its exact command and its clock."""

    script: str
    argv: list[str]
    args: argparse.Namespace
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def start(cls, script: str, p: argparse.ArgumentParser, argv: Sequence[str] | None) -> Run:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = p.parse_args(argv)
        args.out.mkdir(parents=True, exist_ok=True)
        setup_runtime()
        return cls(script, argv, args)

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    @property
    def size(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def command(self) -> str:
        script = Path(self.script).resolve()
        try:
            script_text = str(script.relative_to(REPO))
        except ValueError:
            script_text = str(script)
        argv = [
            str(Path(a).resolve().relative_to(REPO)) if _is_repo_path(a) else a for a in self.argv
        ]
        moby = "HASH_ENVS_MOBY=path/to/moby/words.zip "
        return moby + " ".join(shlex.quote(a) for a in [".venv/bin/python", script_text, *argv])

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.started


def _is_repo_path(arg: str) -> bool:
    if arg.startswith("-") or os.sep not in arg:
        return False
    try:
        Path(arg).resolve().relative_to(REPO)
    except ValueError:
        return False
    return True


def load_words(name: str) -> list[str]:
    from hash_envs import corpus

    return list(corpus.load(name))


def corpus_max_len(words: Sequence[str]) -> int:
    """Encode every pool with the corpus's longest word, so that a trained policy can
    hash any word of the corpus (held-out evaluation), not only its own pool."""
    from hash_envs.encoding import max_encoded_len

    return max_encoded_len(words)


def fmt_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def rolling_mean(y: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start)."""
    y = np.asarray(y, dtype=float)
    if window <= 1 or y.size == 0:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    idx = np.arange(1, y.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


# -- recording training -----------------------------------------------------------------------


class HashProbe:
    """Collisions of a model's argmax hash (:class:`agents.PolicyHash`) on fixed seeded
    draws of ``n_words`` distinct corpus words into the model's bins (held-out words for
    a policy trained on the whole corpus: 1000-word episodes see 0.2% of Moby each)."""

    def __init__(self, words: Sequence[str], n_words: int, draws: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 7])
        self.draws = np.stack(
            [rng.choice(len(words), size=n_words, replace=False) for _ in range(draws)]
        )
        self.unique, inverse = np.unique(self.draws, return_inverse=True)
        self.inverse = inverse.reshape(self.draws.shape)
        self.words = [words[i] for i in self.unique]

    def __call__(self, model: Any) -> float:
        from agents import PolicyHash
        from hash_envs.metrics import collisions_per_row

        bins = PolicyHash(model).hash_many(self.words)
        return float(collisions_per_row(bins[self.inverse]).mean())


def random1000(model: Any, words: Sequence[str], draws: int, seed: int = 0) -> dict[str, Any]:
    """The leaderboard's ``random-1000`` track for a 1000-bin model, through its ONNX
    artifact exactly as the leaderboard reads contenders."""
    from agents import PolicyHash
    from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard

    with tempfile.TemporaryDirectory() as tmp:
        path = PolicyHash(model).export_onnx(Path(tmp) / "policy.onnx")
        config = LeaderboardConfig(tracks=["random-1000"], draws=draws, seed=seed)
        result = run_leaderboard(list(words), [str(path)], config, progress=False)
    return result["results"][0]["tracks"]["random-1000"]


# -- experiments 2-4: one algorithm on the stateless env --------------------------------------


@dataclass
class StatelessResult:
    algo: str
    recorder: EpisodeLog
    model: Any
    env_kwargs: dict[str, Any]
    n_envs: int
    train_s: float
    updates: int


def suite_run(
    agent: str,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    *,
    n_envs: int,
    steps: int,
    seed: int,
    **algo_kwargs: Any,
) -> SuiteRun:
    """An experiment's setting as the suite's ``Run`` (what ``hash-envs benchmark`` trains):
    ``agent`` on ``env_id`` with the experiment's own env and algorithm arguments."""
    if env_id == TABLE_AWARE:
        kind = "online"
    elif env_kwargs.get("pool_size") == env_kwargs["n_words"]:
        kind = "memorize"
    else:
        kind = "generalize"
    task = Task(env_id, kind, dict(env_kwargs), "a paper experiment's setting")
    settings = {"n_envs": n_envs, "n_timesteps": steps, "kwargs": algo_kwargs}
    return SuiteRun(agent, task, seed, settings)


def run_stateless(
    algo: str,
    agent: str,
    algo_kwargs: Mapping[str, Any],
    *,
    words: Sequence[str],
    corpus: str,
    n_words: int,
    n_bins: int,
    n_envs: int,
    iterations: int,
    seed: int,
    probe_draws: int,
    probe_every: int,
    verbose_every: int = 0,
    time_budget_s: float | None = None,
) -> StatelessResult:
    """Train ``agent`` (an SB3 algorithm of :mod:`agents`) on ``StatelessHash-v0`` through
    the suite's trainer for ``iterations`` iterations of ``n_words`` steps per env,
    logging every episode and probing the argmax hash."""
    env_kwargs = {
        "corpus": corpus,
        "n_words": n_words,
        "n_bins": n_bins,
        "max_len": corpus_max_len(words),
    }
    probe = HashProbe(words, n_words, probe_draws, seed)
    log = EpisodeLog(
        n_envs,
        probe=probe,
        probe_every=probe_every,
        verbose_every=verbose_every,
        time_budget_s=time_budget_s,
    )
    steps = n_words * n_envs * iterations  # exact: on-policy algorithms update after the last
    run = suite_run(
        agent, STATELESS, env_kwargs, n_envs=n_envs, steps=steps, seed=seed, **algo_kwargs
    )
    begin = time.perf_counter()
    model = train_sb3(run, log)
    train_s = time.perf_counter() - begin
    if log.probes[-1][0] != log.iterations:
        log.probes.append((log.iterations, train_s, probe(model)))
    updates = int(getattr(model, "_n_updates", 0))
    return StatelessResult(algo, log, model, env_kwargs, n_envs, train_s, updates)


def stateless_plots(result: StatelessResult, out: Path, stem: str, n_words: int, n_bins: int):
    """Reward, max load and argmax-hash collisions per iteration, for the first 100
    iterations and for the whole run (the paper's 100- and 1000-iteration plots)."""
    from hash_envs.metrics import expected_collisions

    rec = result.recorder
    iters = np.arange(1, rec.iterations + 1)
    reward = rec.per_iteration(rec.returns)
    max_load = rec.per_iteration(rec.max_loads)
    expected = expected_collisions(n_words, n_bins)
    random_reward = 10.0 * (n_words - 2 * expected)
    probe_it = np.array([p[0] for p in rec.probes])
    probe_c = np.array([p[2] for p in rec.probes])
    windows = sorted({w for w in (100, rec.iterations) if w <= rec.iterations})
    paths = []
    for window in windows:
        keep, pk = iters <= window, probe_it <= window
        smooth = max(1, window // 50)
        panels = [
            Panel(
                "episode return (sampled policy)",
                {"per iteration": (iters[keep], reward[keep])}
                | (
                    {f"mean of {smooth}": (iters[keep], rolling_mean(reward[keep], smooth))}
                    if smooth > 1
                    else {}
                ),
                hlines={"uniform random hash": random_reward},
                faint_first=smooth > 1,
            ),
            Panel(
                "max bin load (sampled policy)",
                {"per iteration": (iters[keep], max_load[keep])}
                | (
                    {f"mean of {smooth}": (iters[keep], rolling_mean(max_load[keep], smooth))}
                    if smooth > 1
                    else {}
                ),
                faint_first=smooth > 1,
            ),
            Panel(
                "argmax-hash collisions,\nheld-out draws",
                {"argmax hash": (probe_it[pk], probe_c[pk])},
                hlines={"uniform random hash": expected},
                marker="o",
            ),
        ]
        path = out / f"{stem}_{window}.png"
        plot_panels(
            path,
            panels,
            f"{result.algo}, StatelessHash-v0: {n_words} words into {n_bins} bins, "
            f"first {window} iterations ({result.n_envs} episodes each)",
            xlabel="iteration (1000 steps per env)" if n_words == 1000 else "iteration",
        )
        paths.append(path)
    return paths


def stateless_table(result: StatelessResult, n_words: int, n_bins: int) -> str:
    """Markdown table: first/last 10 iterations of return, collisions, max load, probe."""
    from hash_envs.metrics import expected_collisions

    rec = result.recorder
    reward = rec.per_iteration(rec.returns)
    coll = rec.per_iteration(rec.collisions)
    load = rec.per_iteration(rec.max_loads)
    k = max(1, min(10, rec.iterations // 2))
    expected = expected_collisions(n_words, n_bins)
    rows = [
        [
            "episode return (sampled)",
            f"{reward[:k].mean():.0f}",
            f"{reward[-k:].mean():.0f}",
            f"{10 * (n_words - 2 * expected):.0f}",
        ],
        [
            "collisions per episode (sampled)",
            f"{coll[:k].mean():.1f}",
            f"{coll[-k:].mean():.1f}",
            f"{expected:.1f}",
        ],
        ["max bin load (sampled)", f"{load[:k].mean():.2f}", f"{load[-k:].mean():.2f}", ""],
        [
            "argmax-hash collisions, held-out draws",
            f"{rec.probes[0][2]:.1f} (untrained)",
            f"{rec.probes[-1][2]:.1f}",
            f"{expected:.1f}",
        ],
    ]
    return markdown_table(
        ["metric", f"first {k} iterations", f"last {k} iterations", "uniform random hash"], rows
    )


# -- plots and reports -----------------------------------------------------------------------


@dataclass
class Panel:
    ylabel: str
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]]
    hlines: Mapping[str, float] = field(default_factory=dict)
    marker: str | None = None
    logy: bool = False
    xlabel: str | None = None
    faint_first: bool = False  # the first series is the raw data behind a smoothed one


def plot_panels(path: Path, panels: Sequence[Panel], title: str, xlabel: str = "") -> Path:
    """Side-by-side panels sharing a title; horizontal reference lines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        for i, (label, (x, y)) in enumerate(panel.series.items()):
            style = {"alpha": 0.4, "lw": 0.8} if i == 0 and panel.faint_first else {"lw": 1.5}
            ax.plot(x, y, marker=panel.marker, ms=3, label=label, **style)
        for j, (label, y) in enumerate(panel.hlines.items()):
            ax.axhline(y, color=f"C{3 + j}", ls="--", lw=1, label=label)
        ax.set_ylabel(panel.ylabel)
        ax.set_xlabel(panel.xlabel or xlabel)
        if panel.logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_bars(
    path: Path, labels: Sequence[str], values: Sequence[float], xlabel: str, title: str,
    fmt: str = "{:,.0f}", logx: bool = True,
) -> Path:  # fmt: skip
    """Horizontal bars, labelled with their values (first rows on top)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.4))
    colors = [f"C{i}" for i in range(len(labels))]
    bars = ax.barh(list(labels), list(values), color=colors)
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=8, padding=2)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


class Report:
    """The Markdown summary of one experiment: the paper beside ours, then the protocol,
    numbers, plots, the exact command and the wall time."""

    def __init__(self, run: Run, name: str, title: str) -> None:
        self.run = run
        self.name = name
        self.title = title
        self.sections: list[str] = []

    def paper_vs_ours(self, rows: Sequence[Sequence[Any]]) -> None:
        self.section("Paper vs. ours", markdown_table(["quantity", "paper", "ours", "note"], rows))

    def section(self, heading: str, body: str) -> None:
        self.sections.append(f"## {heading}\n\n{body.strip()}\n")

    def bullets(self, heading: str, items: Sequence[str]) -> None:
        self.section(heading, "\n".join(f"- {item}" for item in items))

    def images(self, paths: Sequence[Path]) -> None:
        self.section("Plots", "\n\n".join(f"![{p.stem}]({p.name})" for p in paths))

    def write(self) -> Path:
        import torch

        run = self.run
        header = [
            f"# {self.title}",
            "",
            f"Generated by `experiments/{Path(run.script).name}` ({run.size} size).",
            "",
        ]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        footer = [
            "## Reproduce",
            "",
            "```bash",
            run.command,
            "```",
            "",
            f"Wall time: {fmt_s(run.wall_s)} on {os.cpu_count()} CPU cores "
            f"(`torch.set_num_threads(1)`; 1-min load average {load:.1f} at the end, "
            f"{'shared with other jobs' if load > 1.5 else 'otherwise idle'}), "
            f"Python {platform.python_version()}, "
            f"torch {torch.__version__}, seed {run.args.seed}.",
            "",
        ]
        text = "\n".join(header) + "\n" + "\n".join(self.sections) + "\n" + "\n".join(footer)
        path = run.args.out / f"{self.name}.md"
        path.write_text(text)
        return path


@dataclass
class StatelessSpec:
    """What differs between experiments 2-4: the algorithm and its sizes."""

    name: str  # output stem, e.g. "exp2_pg_stateless"
    algo: str  # e.g. "PG (REINFORCE)"
    agent: str  # the suite's agent name: "pg", "a2c", "sac"
    algo_kwargs: Callable[[Run, int], dict[str, Any]]  # (run, episode length) -> kwargs
    n_envs: Callable[[Run], int]
    iterations: Callable[[Run], int]
    protocol: Callable[[Run], list[str]]  # algorithm-specific protocol bullets
    paper_result: str
    reduced_note: str = ""  # why/how the full size differs from the paper's


def stateless_main(script: str, spec: StatelessSpec, argv: Sequence[str] | None) -> Path:
    """Experiments 2-4: train, plot, and write the Markdown summary."""
    p = parser(f"{spec.algo} on StatelessHash-v0 (paper reproduction)")
    p.add_argument("--iterations", type=int, default=None, help="override the iterations")
    p.add_argument("--n-envs", type=int, default=None, help="override the episodes per iteration")
    p.add_argument("--time-budget", type=float, default=None, help="stop training after SECONDS")
    run = Run.start(script, p, argv)
    words = load_words(run.args.corpus)
    n = 100 if run.quick else 1000
    iterations = run.args.iterations or spec.iterations(run)
    n_envs = run.args.n_envs or spec.n_envs(run)
    probe_draws = 2 if run.quick else 20
    result = run_stateless(
        spec.algo,
        spec.agent,
        spec.algo_kwargs(run, n),
        words=words,
        corpus=run.args.corpus,
        n_words=n,
        n_bins=n,
        n_envs=n_envs,
        iterations=iterations,
        seed=run.args.seed,
        probe_draws=probe_draws,
        probe_every=max(1, iterations // 20),
        verbose_every=0 if run.quick else 10,
        time_budget_s=run.args.time_budget,
    )
    rec = result.recorder
    plots = stateless_plots(result, run.args.out, spec.name, n, n)
    from hash_envs.metrics import collisions_sd, expected_collisions

    expected = expected_collisions(n, n)
    coll = rec.per_iteration(rec.collisions)
    k = max(1, min(10, rec.iterations // 2))
    first, last = coll[:k].mean(), coll[-k:].mean()
    sd = collisions_sd(n, n)
    if last < expected - 3 * sd or rec.probes[-1][2] < expected - 3 * sd:
        verdict = "clear improvement over a random hash (unlike the paper)"
    elif last > expected + 3 * sd:
        verdict = "no improvement: the sampled policy ends worse than a random hash"
    else:
        verdict = "no large improvement, as in the paper"
    report = Report(run, spec.name, f"{spec.algo}, stateless: {n} words into {n} bins")
    report.paper_vs_ours(
        [
            [
                "reward / max load over iterations",
                spec.paper_result,
                f"collisions per episode {first:.1f} → {last:.1f} "
                f"(first/last {k} iterations; random hash {expected:.1f} ± {sd:.1f})",
                verdict,
            ],
            [
                "argmax hash on held-out words",
                "not reported",
                f"{rec.probes[0][2]:.1f} → {rec.probes[-1][2]:.1f} collisions "
                f"({probe_draws} draws of {n} words)",
                f"uniform random hash: {expected:.1f}",
            ],
        ]
    )
    report.bullets(
        "Protocol",
        [
            f"`StatelessHash-v0`, corpus `{run.args.corpus}` ({len(words):,} words), "
            f"{n} distinct words per episode into {n} bins, `codepoints` encoding "
            f"(max_len {result.env_kwargs['max_len']}), `first_come` reward (+10 empty bin, "
            "-10 occupied), so an episode's return is 10·(words − 2·collisions).",
            f"One **iteration** = {n} steps in each of {n_envs} envs (native vector env via "
            f"`agents.make_sb3_vec_env`), i.e. {n_envs} episodes; {rec.iterations} iterations "
            f"({rec.iterations * n_envs:,} episodes, {rec.iterations * n_envs * n:,} steps), "
            f"{result.updates:,} gradient updates in all.",
            *spec.protocol(run),
            f"Held-out probe: every {max(1, iterations // 20)} iterations the argmax policy "
            f"(`agents.PolicyHash`) hashes {probe_draws} fixed seeded draws of {n} corpus words; "
            "the plotted value is the mean collisions per draw.",
            f"Seed {run.args.seed} (env, policy init and probe draws); one seed. Training wall "
            f"time {fmt_s(result.train_s)}.",
            *([spec.reduced_note] if spec.reduced_note and not run.quick else []),
            *(
                [
                    f"**Stopped by the time budget** ({fmt_s(run.args.time_budget)}) after "
                    f"{rec.iterations} of {iterations} planned iterations."
                ]
                if rec.iterations < iterations
                else []
            ),
        ],
    )
    report.section("Numbers", stateless_table(result, n, n))
    best = min(coll)
    report.bullets(
        "Reading",
        [
            f"The sampled policy's collisions per episode stay between {best:.0f} and "
            f"{max(coll):.0f} (mean {coll.mean():.1f}) against {expected:.1f} ± {sd:.1f} "
            "for a uniformly random hash: "
            + (
                "it never gets clearly better than a random hash."
                if best > expected - 3 * sd
                else "some iterations are clearly better than a random hash."
            ),
            f"The untrained argmax hash: {rec.probes[0][2]:.1f} collisions per draw of {n} "
            "held-out words. "
            + (
                "SB3 initialises the action layer with gain 0.01, so all logits start nearly "
                "equal: sampling from that policy *is* a near-uniform random hash, while its "
                "argmax is decided by tiny differences of a smooth function of the word's "
                "codes and sends most words to a few bins. "
                if isinstance(result.model.policy, ActorCriticPolicy)
                else "The actor starts from PyTorch's default initialisation. "
            )
            + f"After training the argmax gives {rec.probes[-1][2]:.1f} (best probe "
            f"{min(p[2] for p in rec.probes):.1f}).",
        ],
    )
    report.images(plots)
    return report.write()
