"""The collision leaderboard: every registered hash function on the same words.

Tracks (each a pure function of the corpus, the contender and the seed):

* ``random-1000`` -- ``draws`` seeded draws of 1000 distinct words into 1000 bins;
  mean and standard deviation of the collisions (a uniformly random function gives
  367.70 on average). All contenders see the same draws.
* ``full`` -- the whole corpus into as many bins as words.
* ``memorize-K`` -- the fixed set :func:`hash_envs.corpus.subset` ``(words, K, seed)``
  into K bins, the words a ``pool_size=K, pool_seed=seed`` environment trains on; zero
  collisions means a perfect hash of that set.
* ``speed`` -- nanoseconds per word of ``hash_many`` on ``speed_words`` words, and the
  ratio to Python's built-in ``hash()`` (plus ``% n_bins``) timed in the same run,
  interleaved, median of ``repeats`` runs, each on freshly built string objects (CPython
  caches a string's hash, so re-hashing the same objects would flatter ``hash()``).
"""

from __future__ import annotations

import csv
import json
import pickle
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from hash_envs import corpus as corpus_lib
from hash_envs import metrics
from hash_envs.hashing import HashFunction, make_hash_function, registered_hash_functions

__all__ = [
    "DEFAULT_TRACKS",
    "LeaderboardConfig",
    "TrackExecutor",
    "run_leaderboard",
    "to_markdown",
    "write_outputs",
]

DEFAULT_TRACKS = ("random-1000", "full", "memorize-10000", "speed")
_MEMORIZE = re.compile(r"memorize-(\d+)$")
RANDOM_WORDS = 1000


@dataclass
class LeaderboardConfig:
    """Sizes and seeds of one leaderboard run (``quick()`` for a demo-sized run)."""

    tracks: Sequence[str] = DEFAULT_TRACKS
    draws: int = 1000
    seed: int = 0
    speed_words: int = 300_000
    repeats: int = 5
    speed_bins: int = 1000

    @classmethod
    def quick(cls, **overrides: Any) -> LeaderboardConfig:
        return cls(**{"draws": 200, "speed_words": 100_000, "repeats": 3, **overrides})

    def __post_init__(self) -> None:
        for track in self.tracks:
            if track not in ("random-1000", "full", "speed") and not _MEMORIZE.match(track):
                raise ValueError(
                    f"unknown track {track!r}; choose from random-1000, full, speed, memorize-K"
                )
        if self.draws < 1:
            raise ValueError(f"draws must be >= 1, got {self.draws}")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")


@dataclass
class _Context:
    words: list[str]
    config: LeaderboardConfig
    random_draws: np.ndarray | None = None
    speed_sample: list[str] = field(default_factory=list)


def _random_draws(n_words: int, config: LeaderboardConfig) -> np.ndarray:
    """The ``(draws, 1000)`` word indices of the random-1000 track, shared by all contenders."""
    if n_words < RANDOM_WORDS:
        raise ValueError(f"random-1000 needs at least {RANDOM_WORDS} words, corpus has {n_words}")
    rng = np.random.default_rng(config.seed)
    return np.stack(
        [rng.choice(n_words, size=RANDOM_WORDS, replace=False) for _ in range(config.draws)]
    )


def _fresh(words: list[str]) -> list[str]:
    """New string objects with the same text (no cached hash)."""
    return pickle.loads(pickle.dumps(words, protocol=pickle.HIGHEST_PROTOCOL))


def _builtin_hash_bins(words: list[str], n_bins: int) -> np.ndarray:
    return np.fromiter(map(hash, words), dtype=np.int64, count=len(words)) % n_bins


def _time(fn: Callable[[list[str]], Any], words: list[str]) -> float:
    fresh = _fresh(words)
    start = time.perf_counter()
    fn(fresh)
    return time.perf_counter() - start


def _track_random(make: Callable[[int], HashFunction], ctx: _Context) -> dict[str, Any]:
    bins = make(RANDOM_WORDS).hash_many(ctx.words)
    per_draw = metrics.collisions_per_row(bins[ctx.random_draws])
    return {
        "mean": float(per_draw.mean()),
        "sd": float(per_draw.std(ddof=1)) if per_draw.size > 1 else 0.0,
        "draws": int(per_draw.size),
        "expected": metrics.expected_collisions(RANDOM_WORDS, RANDOM_WORDS),
    }


def _track_full(make: Callable[[int], HashFunction], ctx: _Context) -> dict[str, Any]:
    n = len(ctx.words)
    return metrics.summarize(make(n).hash_many(ctx.words), n)


def _track_memorize(make: Callable[[int], HashFunction], ctx: _Context, k: int) -> dict[str, Any]:
    words = corpus_lib.subset(ctx.words, k, seed=ctx.config.seed)
    return metrics.summarize(make(k).hash_many(words), k)


def _track_speed(make: Callable[[int], HashFunction], ctx: _Context) -> dict[str, Any]:
    h = make(ctx.config.speed_bins)
    h.hash_many(ctx.speed_sample[:1000])  # warm-up (lazy tables, first-call costs)
    ours, reference = [], []
    for _ in range(ctx.config.repeats):  # interleaved so both see the same machine noise
        reference.append(_time(lambda w: _builtin_hash_bins(w, h.n_bins), ctx.speed_sample))
        ours.append(_time(h.hash_many, ctx.speed_sample))
    n = len(ctx.speed_sample)
    ns, ref_ns = statistics.median(ours) / n * 1e9, statistics.median(reference) / n * 1e9
    return {"ns_per_word": ns, "builtin_hash_ns_per_word": ref_ns, "ratio_to_builtin": ns / ref_ns}


def _run_track(track: str, make: Callable[[int], HashFunction], ctx: _Context) -> dict[str, Any]:
    if track == "random-1000":
        return _track_random(make, ctx)
    if track == "full":
        return _track_full(make, ctx)
    if track == "speed":
        return _track_speed(make, ctx)
    match = _MEMORIZE.match(track)
    assert match is not None  # LeaderboardConfig validated the names
    return _track_memorize(make, ctx, int(match.group(1)))


#: One unit of leaderboard work: ``(contender name, track)``.
Job = tuple[str, str]
#: What a job gives back: the contender's ``size_bytes`` (``None`` if it was never built)
#: and the track's result (or ``{"error": message}``).
Outcome = tuple[int | None, dict[str, Any]]


def _evaluate(job: Job, ctx: _Context) -> Outcome:
    """One contender on one track; a pure function of ``job`` and ``ctx``, so it can run
    in any process and give the same numbers (timings aside)."""
    name, track = job
    size: list[int] = []

    def make(n_bins: int) -> HashFunction:
        contender = make_hash_function(name, n_bins)
        size.append(contender.size_bytes)
        return contender

    try:
        result = _run_track(track, make, ctx)
    except (ValueError, NotImplementedError) as err:
        result = {"error": str(err)}
    return (size[-1] if size else None), result


class TrackExecutor(Protocol):
    """Runs leaderboard jobs elsewhere, e.g. :class:`hash_envs.distributed.RayTrackExecutor`.

    ``map_jobs`` must yield one outcome per job, in the order of ``jobs``; the leaderboard
    assembles them exactly as the local loop does, so the numbers are the same.
    """

    def map_jobs(
        self, fn: Callable[[Job, _Context], Outcome], jobs: Sequence[Job], ctx: _Context
    ) -> Iterator[Outcome]: ...


def run_leaderboard(
    words: Sequence[str],
    hash_names: Sequence[str] | None = None,
    config: LeaderboardConfig | None = None,
    *,
    corpus_name: str = "custom",
    progress: bool = True,
    executor: TrackExecutor | None = None,
) -> dict[str, Any]:
    """Run every track for every contender; returns a JSON-friendly result dict.

    A contender that cannot serve a track (e.g. a trained hash fixed to other sizes)
    gets ``{"error": message}`` for that track instead of stopping the run. With an
    ``executor`` the (contender, track) jobs run there (e.g. as Ray tasks) instead of one
    after another in this process; the result is the same.
    """
    config = config or LeaderboardConfig()
    known = registered_hash_functions()
    names = list(hash_names) if hash_names is not None else known
    for name in names:
        if name not in known and not Path(name).is_file():
            raise ValueError(f"unknown hash function {name!r}; registered: {', '.join(known)}")
    ctx = _Context(list(words), config)
    if "random-1000" in config.tracks:
        ctx.random_draws = _random_draws(len(ctx.words), config)
    if "speed" in config.tracks:
        rng = np.random.default_rng(config.seed)
        take = min(config.speed_words, len(ctx.words))
        ctx.speed_sample = [ctx.words[i] for i in rng.choice(len(ctx.words), take, replace=False)]

    rows: dict[str, dict[str, Any]] = {}
    jobs = [(name, track) for name in names for track in config.tracks]
    if executor is None:
        outcomes: Iterator[Outcome] = (_evaluate(job, ctx) for job in jobs)
    else:
        outcomes = executor.map_jobs(_evaluate, jobs, ctx)
    done = tqdm(
        zip(jobs, outcomes, strict=True),
        total=len(jobs),
        desc="leaderboard",
        disable=not progress,
        unit="track",
    )
    for (name, track), (size_bytes, track_result) in done:
        row = rows.setdefault(name, {"name": name, "size_bytes": None, "tracks": {}})
        if size_bytes is not None:
            row["size_bytes"] = size_bytes
        row["tracks"][track] = track_result

    n = len(ctx.words)
    expected = {
        "random-1000": {
            "mean": metrics.expected_collisions(RANDOM_WORDS, RANDOM_WORDS),
            "sd": metrics.collisions_sd(RANDOM_WORDS, RANDOM_WORDS),
        },
        "full": {"collisions": metrics.expected_collisions(n, n)},
    }
    for track in config.tracks:
        if match := _MEMORIZE.match(track):
            k = int(match.group(1))
            expected[track] = {"collisions": metrics.expected_collisions(k, k)}
    return {
        "corpus": corpus_name,
        "corpus_words": n,
        "config": {
            "tracks": list(config.tracks),
            "draws": config.draws,
            "seed": config.seed,
            "speed_words": len(ctx.speed_sample),
            "repeats": config.repeats,
            "speed_bins": config.speed_bins,
        },
        "uniform_random_expectation": expected,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "numpy": np.__version__,
        },
        "results": list(rows.values()),
    }


def _cell(track_result: dict[str, Any] | None, fmt: Callable[[dict[str, Any]], str]) -> str:
    if track_result is None:
        return ""
    if "error" in track_result:
        return "n/a"
    return fmt(track_result)


_COLUMNS: dict[str, list[tuple[str, Callable[[dict[str, Any]], str]]]] = {
    "random-1000": [("random-1000 collisions", lambda r: f"{r['mean']:.2f} ± {r['sd']:.2f}")],
    "full": [
        ("full collisions", lambda r: f"{r['collisions']:,}"),
        ("full max load", lambda r: f"{r['max_load']}"),
        ("full χ² p", lambda r: f"{r['chi2_p']:.3f}"),
    ],
    "speed": [
        ("ns/word", lambda r: f"{r['ns_per_word']:.0f}"),
        ("× hash()", lambda r: f"{r['ratio_to_builtin']:.2f}"),
    ],
}


def _columns(track: str) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    if track in _COLUMNS:
        return _COLUMNS[track]
    return [(f"{track} collisions", lambda r: f"{r['collisions']:,}")]


def to_markdown(result: dict[str, Any]) -> str:
    """The leaderboard as a Markdown table, sorted by random-1000 mean collisions."""
    tracks = result["config"]["tracks"]
    header = ["hash", "size (B)"] + [title for t in tracks for title, _ in _columns(t)]
    expected = result["uniform_random_expectation"]
    ref = ["*uniform random (expected)*", ""]
    for track in tracks:
        for title, _ in _columns(track):
            if track == "random-1000":
                ref.append(f"{expected[track]['mean']:.2f} ± {expected[track]['sd']:.2f}")
            elif title.endswith("collisions") and track in expected:
                ref.append(f"{expected[track]['collisions']:,.0f}")
            else:
                ref.append("")

    def sort_key(row: dict[str, Any]) -> float:
        r = row["tracks"].get("random-1000", {})
        return r.get("mean", float("inf"))

    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        "| " + " | ".join(ref) + " |",
    ]
    for row in sorted(result["results"], key=sort_key):
        cells = [row["name"], str(row["size_bytes"])]
        for track in tracks:
            cells += [_cell(row["tracks"].get(track), fmt) for _, fmt in _columns(track)]
        lines.append("| " + " | ".join(cells) + " |")
    config = result["config"]
    notes = [
        f"Corpus: {result['corpus']} ({result['corpus_words']:,} words)",
        f"seed {config['seed']}",
    ]
    if "random-1000" in tracks:
        notes.append(f"random-1000 over {config['draws']} draws")
    if "speed" in tracks:
        notes.append(
            f"speed on {config['speed_words']:,} words, median of {config['repeats']} "
            "interleaved runs"
        )
    lines += ["", "; ".join(notes) + "."]
    return "\n".join(lines) + "\n"


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``leaderboard.{json,csv,md}`` and ``load_histograms.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "leaderboard.json",
        "csv": out / "leaderboard.csv",
        "md": out / "leaderboard.md",
    }
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["md"].write_text(to_markdown(result))
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["hash", "size_bytes", "track", "metric", "value"])
        for row in result["results"]:
            for track, values in row["tracks"].items():
                for metric, value in values.items():
                    writer.writerow([row["name"], row["size_bytes"], track, metric, value])
    if "full" in result["config"]["tracks"]:
        paths["png"] = out / "load_histograms.png"
        _plot_load_histograms(result, paths["png"])
    return paths


def _plot_load_histograms(result: dict[str, Any], path: Path) -> None:
    """Bins holding k words, per contender, against the Poisson(1) expectation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    fig, ax = plt.subplots(figsize=(7, 4))
    n = result["corpus_words"]
    for row in result["results"]:
        full = row["tracks"].get("full", {})
        if "load_histogram" in full:
            hist = np.asarray(full["load_histogram"], dtype=float)
            ax.plot(np.arange(hist.size), hist, marker="o", label=row["name"], alpha=0.7)
    k = np.arange(0, 9)
    ax.plot(k, n * stats.poisson.pmf(k, 1.0), "k--", label="Poisson(1) × bins")
    ax.set_yscale("log")
    ax.set_xlabel("words in a bin (load)")
    ax.set_ylabel("number of bins")
    ax.set_title(f"Load histogram, full track: {result['corpus']} ({n:,} words into {n:,} bins)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
