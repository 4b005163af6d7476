"""Learned perfect hashing at scale (issue 4): N Moby words into N bins, zero collisions.

For each ``--words`` size N the pool is ``hash_envs.corpus.subset(moby, N, seed=0)`` --
the words of a ``StatelessHash-v0`` env with ``pool_size=n_words=n_bins=N`` and of the
leaderboard's ``memorize-N`` track (the whole list for N = 466,551). :class:`agents.PilotQ`
learns one pilot per bucket from the env's first-come rewards (see
``agents/pilot_q.py``; it is PTHash's search read as greedy optimistic Q-learning) until
its greedy policy is collision-free or ``--budget`` seconds of training pass.

Reported per size: the wall time from building the agent (hashing the words included)
to the finished function, the training time and episodes alone, the collisions of the
exported :class:`agents.pilot_q.PilotHash` recomputed from scratch on the N words, its
size in bits per key (as stored: small pilots in a few bits each, the rare large ones as
exceptions, see :func:`agents.pilot_q.encode_pilots`; every pilot at the largest one's
width; and the pilots' empirical entropy, what an entropy coder could approach without
random access) beside the minimal-perfect-hashing references, and the leaderboard's
``memorize-N`` and ``speed`` tracks run on the saved artifact with the N words as the
corpus (so the speed is ns per word *on the set*, against Python's ``hash()`` timed in the
same run, interleaved, median of ``--repeats``). Peak RSS is the process's maximum so
far (sizes run in increasing order).

    python bench/perfect_hash.py --words 10000 100000 466551 --out results/bench
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import write_results  # bench/: scripts run as python bench/NAME.py

from agents.pilot_q import PilotQ
from hash_envs import corpus, metrics
from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard

REFERENCES = {"lower bound": 1.44, "RecSplit": 1.56, "PtrHash": 2.4}


def run_size(n: int, args: argparse.Namespace, moby: list[str], tmp: Path) -> dict[str, Any]:
    words = corpus.subset(moby, n, seed=0)
    start = time.perf_counter()
    agent = PilotQ(words, bucket_size=args.bucket_size, seed=args.seed)
    built_s = time.perf_counter() - start

    def show(stats: Any) -> None:
        print(
            f"  [{n}] episode {stats.episode:>9,}  {stats.elapsed_s:7.1f} s  "
            f"collisions {stats.collisions:>7,}  moving buckets {stats.moving_buckets:,}",
            flush=True,
        )

    h = agent.learn(time_budget_s=args.budget, callback=show, log_interval_s=args.log_every)
    wall_s = time.perf_counter() - start
    summary = metrics.summarize(h.hash_many(words), n)  # from scratch, not the agent's state
    path = h.save(tmp / f"pilot_q_{n}.pilots")
    board = run_leaderboard(
        words,
        [str(path)],
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
    tracks = board["results"][0]["tracks"]
    bits = h.bits_per_key(n)
    return {
        "words": n,
        "bucket_size": args.bucket_size,
        "seed": args.seed,
        "perfect": summary["collisions"] == 0,
        "collisions": summary["collisions"],
        "episodes": agent.episodes,
        "build_s": built_s,
        "train_s": agent.elapsed_s,
        "wall_s": wall_s,
        "budget_s": args.budget,
        "n_buckets": h.n_buckets,
        "max_pilot": int(h.pilots.max()),
        "pilot_bits": h.pilot_bits,
        "size_bytes": h.size_bytes,
        "bits_per_key": bits["stored"],
        "fixed_width_bits_per_key": bits["fixed_width"],
        "entropy_bits_per_key": bits["entropy"],
        "leaderboard": tracks,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg": os.getloadavg(),
        "history": [vars(s) for s in agent.history],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| words = bins | collisions | wall time | episodes | bits/key stored | "
        "bits/key fixed width | bits/key entropy | ns/word | × `hash()` | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speed = r["leaderboard"]["speed"]
        lines.append(
            f"| {r['words']:,} | {r['collisions']:,} | {r['wall_s']:.1f} s | "
            f"{r['episodes']:,} | {r['bits_per_key']:.2f} | {r['fixed_width_bits_per_key']:.2f} | "
            f"{r['entropy_bits_per_key']:.2f} | "
            f"{speed['ns_per_word']:.0f} | {speed['ratio_to_builtin']:.1f} | "
            f"{r['peak_rss_mb']:.0f} MB |"
        )
    refs = ", ".join(f"{name} {bits}" for name, bits in REFERENCES.items())
    lines.append("")
    lines.append(f"Minimal perfect hashing references (bits/key): {refs}.")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Collisions of the greedy policy against training time, one line per size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in rows:
        t = [h["elapsed_s"] for h in r["history"]]
        c = [max(h["collisions"], 0.5) for h in r["history"]]  # 0 drawn at 0.5 on a log axis
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
    parser.add_argument("--bucket-size", type=float, default=3.0, help="mean words per bucket")
    parser.add_argument("--seed", type=int, default=0, help="seed of the word hashes")
    parser.add_argument("--budget", type=float, default=3600.0, help="training seconds per size")
    parser.add_argument("--repeats", type=int, default=11, help="speed runs (median)")
    parser.add_argument("--log-every", type=float, default=2.0, help="seconds between logs")
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
        "python": platform.python_version(),
        "argv": sys.argv[1:],
        "references_bits_per_key": REFERENCES,
        "runs": rows,
    }
    write_results(args.out, "perfect_hash", report, table(rows))
    plot(rows, Path(args.out) / "perfect_hash.png")


if __name__ == "__main__":
    main()
