"""Learned perfect hashing at scale (issues 4 and 16): N Moby words into N bins, zero
collisions, beside the minimal perfect hashing libraries a user would pick instead.

For each ``--words`` size N the pool is ``hash_envs.corpus.subset(moby, N, seed=0)`` --
the words of a ``StatelessHash-v0`` env with ``pool_size=n_words=N`` and of the
leaderboard's ``memorize-N`` track (the whole list for N = 466,551). :class:`agents.PilotQ`
learns one pilot per bucket from the env's first-come rewards (see ``agents/algorithms/pilot_q.py``:
PTHash's search read as greedy optimistic Q-learning) until its greedy policy is
collision-free or ``--budget`` seconds of training pass.

With ``--peers``, ``phobic`` (minimal, bucket size 4) and ``bbhash`` (gamma 1, over
seeded XXH3-64 word hashes) from :mod:`baselines.mphf` are built on the same words in
the same process, one thread each; a missing library is skipped with a message.

Reported per size and contender, medians of runs interleaved between contenders:

* build: wall time from the word list to the finished function (hashing the words
  included; ``--build-repeats`` runs, after one untimed warm-up build per contender,
  which for PilotQ loads or compiles its numba kernels: ``first_build_s`` in the JSON);
* bits/key: the saved artifact's size in bytes, x 8 / N (every stored byte);
* query (issue 34's protocol): ns per word of each contender's batched query on the same
  list of N ``str`` -- phobic's own ``lookup(words, num_threads=1)``, PilotQ's and
  bbhash's ``hash_many`` -- encoding included, interleaved, ``--batched-repeats`` runs;
* fresh-str query (issue 16's protocol): ``hash_many`` of each loaded artifact (phobic
  through its wrapper) on freshly built string objects (``--repeats`` runs);
* collisions: recomputed from the saved artifact, loaded back, on the N words;
* the ratios PilotQ / peer of the three.

The leaderboard's ``memorize-N`` and ``speed`` tracks are run on every saved artifact
(speed against Python's ``hash()``, timed interleaved in the same run).

    python bench/perfect_hash.py --words 10000 100000 466551 --peers --out results/bench
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _results import write_results  # bench/: scripts run as python bench/NAME.py

from agents.algorithms.pilot_q import PilotQ
from agents.common import pilots_kernel
from agents.common.pilots import PilotHash
from hash_envs import corpus, metrics
from hash_envs.hashing import HashFunction, load_artifact
from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard

REFERENCES = {"lower bound": 1.44, "RecSplit": 1.56, "PHOBIC": 1.86, "PtrHash": 2.4}
SUFFIX = {"pilot-q": ".pilots", "phobic": ".phobic", "bbhash": ".bbhash"}


def builders(args: argparse.Namespace) -> dict[str, Callable[[list[str]], HashFunction]]:
    """Name -> build(words); the peers only where their library is installed."""

    def pilot_q(words: list[str]) -> PilotHash:
        agent = PilotQ(words, bucket_size=args.bucket_size, alpha=args.alpha, seed=args.seed)
        h = agent.learn(time_budget_s=args.budget)
        pilot_q.agents.append(agent)  # the last run's learning curve
        return h

    pilot_q.agents = []  # type: ignore[attr-defined]
    found: dict[str, Callable[[list[str]], HashFunction]] = {"pilot-q": pilot_q}
    if args.peers:
        from baselines import mphf

        missing = mphf.missing()
        for name in missing:
            print(f"skipping {name}: not installed (pip install 'hash-envs[mphf]')", flush=True)
        if "phobic" not in missing:
            found["phobic"] = lambda words: mphf.PhobicHash.build(words, seed=args.seed)
        if "bbhash" not in missing:
            found["bbhash"] = lambda words: mphf.BBHash.build(words, seed=args.seed)
    return found


def batched_query(h: HashFunction) -> Callable[[list[str]], Any]:
    """A contender's batched query on a list of ``str``: phobic's own
    ``lookup(words, num_threads=1)`` (its list of ints, no wrapper), the others'
    ``hash_many`` (PilotQ: UTF-8 buffer + compiled pass; bbhash: XXH3-64 per word, then
    ``lookup_many``)."""
    phf = getattr(h, "phf", None)
    if phf is not None:
        return lambda words: phf.lookup(words, num_threads=1)
    return h.hash_many


def run_size(n: int, args: argparse.Namespace, moby: list[str], tmp: Path) -> dict[str, Any]:
    words = corpus.subset(moby, n, seed=0)
    load_start = os.getloadavg()
    build = builders(args)
    built: dict[str, HashFunction] = {}
    first_build_s = {}
    for name, make in build.items():  # untimed warm-up: numba's compile or cache load
        start = time.perf_counter()
        make(words)
        first_build_s[name] = time.perf_counter() - start
    build_s: dict[str, list[float]] = {name: [] for name in build}
    for _ in range(args.build_repeats):  # interleaved: each contender once per round
        for name, make in build.items():
            start = time.perf_counter()
            built[name] = make(words)
            build_s[name].append(time.perf_counter() - start)
    paths = {name: h.save(tmp / f"{name}_{n}{SUFFIX[name]}") for name, h in built.items()}
    loaded = {name: load_artifact(path) for name, path in paths.items()}
    batched = {name: batched_query(h) for name, h in loaded.items()}
    for name, h in loaded.items():  # warm-up of both protocols
        h.hash_many(words[:1000])
        batched[name](words[:1000])
    # Issue 34's protocol: the same list of str for everyone, each contender's batched
    # query (phobic: lookup(words, num_threads=1)), interleaved rounds, median.
    batched_s: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(args.batched_repeats):
        for name, query in batched.items():
            start = time.perf_counter()
            query(words)
            batched_s[name].append(time.perf_counter() - start)
    # Issue 16's protocol: hash_many of the loaded artifact (phobic through the
    # PhobicHash wrapper: UTF-8 bytes, then an int64 array) on fresh string objects.
    query_s: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(args.repeats):
        for name, h in loaded.items():
            fresh = pickle.loads(pickle.dumps(words, protocol=pickle.HIGHEST_PROTOCOL))
            start = time.perf_counter()
            h.hash_many(fresh)
            query_s[name].append(time.perf_counter() - start)
    board = run_leaderboard(
        words,
        [str(p) for p in paths.values()],
        LeaderboardConfig(
            tracks=(f"memorize-{n}", "speed"),
            speed_words=n,
            speed_bins=n,
            repeats=args.repeats,
            seed=0,
        ),
        corpus_name=f"moby subset of {n}",
        progress=False,
    )
    tracks = {r["name"]: r["tracks"] for r in board["results"]}
    contenders = {}
    for name, h in loaded.items():
        contenders[name] = {
            "build_s": statistics.median(build_s[name]),
            "build_runs_s": build_s[name],
            "first_build_s": first_build_s[name],
            "size_bytes": paths[name].stat().st_size,
            "bits_per_key": 8 * paths[name].stat().st_size / n,
            "query_ns_per_key": statistics.median(batched_s[name]) / n * 1e9,
            "query_runs_s": batched_s[name],
            "query_fresh_ns_per_key": statistics.median(query_s[name]) / n * 1e9,
            "query_fresh_runs_s": query_s[name],
            "collisions": metrics.summarize(h.hash_many(words), n)["collisions"],
            "leaderboard": tracks[str(paths[name])],
        }
    ours = contenders["pilot-q"]
    for name, peer in contenders.items():
        if name != "pilot-q":
            peer["ours_over_peer"] = {
                key: ours[key] / peer[key]
                for key in ("build_s", "bits_per_key", "query_ns_per_key", "query_fresh_ns_per_key")
            }
    agent = build["pilot-q"].agents[-1]  # type: ignore[attr-defined]
    h = built["pilot-q"]
    assert isinstance(h, PilotHash)
    return {
        "words": n,
        "bucket_size": args.bucket_size,
        "alpha": args.alpha,
        "seed": args.seed,
        "contenders": contenders,
        "pilot_q": {
            "steps": agent.episodes,
            "pilots_tried": agent.pilots_tried,
            "train_s": agent.elapsed_s,
            "n_buckets": h.n_buckets,
            "n_slots": h.n_slots,
            "max_pilot": int(h.pilots.max()),
            "bits_per_key": h.bits_per_key(n),
            "history": [vars(s) for s in agent.history],
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg_start": load_start,
        "load_avg": os.getloadavg(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("numpy", "numba", "phobic", "bbhash"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| words = bins | contender | collisions | build | bits/key | query ns/key | "
        "fresh-str ns/key | × `hash()` | PilotQ ÷ it: build | bits/key | query | "
        "fresh-str query |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name, c in r["contenders"].items():
            ratio = c.get("ours_over_peer")
            ratios = (
                f"{ratio['build_s']:.2f}× | {ratio['bits_per_key']:.2f}× | "
                f"{ratio['query_ns_per_key']:.2f}× | {ratio['query_fresh_ns_per_key']:.2f}×"
                if ratio
                else " | | | "
            )
            speed = c["leaderboard"]["speed"]
            lines.append(
                f"| {r['words']:,} | {name} | {c['collisions']:,} | {c['build_s'] * 1e3:.1f} ms | "
                f"{c['bits_per_key']:.2f} | {c['query_ns_per_key']:.0f} | "
                f"{c['query_fresh_ns_per_key']:.0f} | {speed['ratio_to_builtin']:.1f} | {ratios} |"
            )
    refs = ", ".join(f"{name} {bits}" for name, bits in REFERENCES.items())
    lines.append("")
    lines.append(f"Minimal perfect hashing references (bits/key): {refs}.")
    lines.append("")
    lines.append(
        "| words | PilotQ steps | pilots tried | pilots bits/key | "
        "remap bits/key | pilots' entropy | peak RSS |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["pilot_q"]
        lines.append(
            f"| {r['words']:,} | {p['steps']:,} | {p['pilots_tried']:,} | "
            f"{p['bits_per_key']['pilots']:.2f} | {p['bits_per_key']['remap']:.2f} | "
            f"{p['bits_per_key']['entropy']:.2f} | {r['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Collisions of the greedy policy against training time, one line per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in rows:
        history = r["pilot_q"]["history"]
        t = [h["elapsed_s"] for h in history]
        c = [max(h["collisions"], 0.5) for h in history]  # 0 drawn at 0.5 on a log axis
        ax.step(t, c, where="post", label=f"{r['words']:,} words")
    ax.set(xlabel="training time (s)", ylabel="collisions (0 drawn at 0.5)", yscale="log")
    ax.set_title("PilotQ: greedy policy's collisions while learning")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, nargs="+", default=[10_000])
    parser.add_argument("--bucket-size", type=float, default=5.0, help="mean words per bucket")
    parser.add_argument("--alpha", type=float, default=0.99, help="load of the learning table")
    parser.add_argument("--seed", type=int, default=0, help="seed of the word hashes")
    parser.add_argument("--budget", type=float, default=3600.0, help="training seconds per size")
    parser.add_argument("--peers", action="store_true", help="also build phobic and bbhash")
    parser.add_argument("--build-repeats", type=int, default=5, help="builds (median)")
    parser.add_argument(
        "--batched-repeats", type=int, default=5, help="batched query runs, same list (median)"
    )
    parser.add_argument(
        "--repeats", type=int, default=11, help="fresh-string query runs and speed track (median)"
    )
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()

    moby = corpus.load("moby")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.words):
            rows.append(run_size(n, args, moby, Path(tmp)))
    report = {
        "benchmark": "perfect_hash",
        "agent": "agents.PilotQ",
        "numba_kernels": pilots_kernel.available(),
        "versions": versions(),
        "python": platform.python_version(),
        "argv": sys.argv[1:],
        "references_bits_per_key": REFERENCES,
        "runs": rows,
    }
    write_results(args.out, "perfect_hash", report, table(rows))
    plot(rows, Path(args.out) / "perfect_hash.png")


if __name__ == "__main__":
    main()
