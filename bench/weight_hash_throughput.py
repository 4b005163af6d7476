"""Weight-hash throughput against ``hashlib.sha256`` and xxh64, side by side.

Every round hashes the same seeded sample of corpus words with each contender,
interleaved so machine noise hits all alike: SHA-256 and xxh64 one Python call per word
(UTF-8 bytes), the weight hash batched (:func:`baselines.weight_hash.weight_hash_many`)
with 1 and with 2 PyTorch threads, and single hashes (:func:`~baselines.weight_hash.
weight_hash`, one word at a time) for the latency. We report medians over rounds of the
rate per wall-clock second and per CPU-second of this process (which other load on a
shared machine does not dilute), and the median per-round ratios to the references.

    python bench/weight_hash_throughput.py --out results/bench
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import xxhash
from _results import write_results  # bench/: scripts run as python bench/NAME.py

from baselines.weight_hash import weight_hash, weight_hash_many
from hash_envs import corpus as corpus_lib

TARGET_PER_S = 20_000
TARGET_SINGLE_MS = 10.0


def _rate(fn: Callable[[list[str]], object], words: list[str]) -> tuple[float, float]:
    """Words per wall-clock second and per CPU-second of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(words)
    return len(words) / (time.perf_counter() - wall), len(words) / (time.process_time() - cpu)


def _single_ms(words: list[str]) -> float:
    """Median wall-clock milliseconds of one :func:`weight_hash` call."""
    times = []
    for w in words:
        start = time.perf_counter()
        weight_hash(w)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def run(rounds: int, n_words: int, n_single: int, corpus: str, seed: int) -> dict:
    words = corpus_lib.load(corpus)
    sample = corpus_lib.subset(words, min(n_words, len(words)), seed)
    rng = np.random.default_rng(seed)
    rng.shuffle(sample)  # subset() is in corpus order; mix the lengths as a caller would
    contenders: dict[str, Callable[[list[str]], object]] = {
        "sha256": lambda ws: [hashlib.sha256(w.encode()).digest() for w in ws],
        "xxh64": lambda ws: [xxhash.xxh64_intdigest(w.encode()) for w in ws],
        "weight-hash (1 thread)": lambda ws: weight_hash_many(ws, threads=1),
        "weight-hash (2 threads)": lambda ws: weight_hash_many(ws, threads=2),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    cpu_rates: dict[str, list[float]] = {name: [] for name in contenders}
    single: list[float] = []
    for fn in contenders.values():  # warm-up
        fn(sample[:2000])
    for r in range(rounds):
        for name, fn in contenders.items():
            wall, cpu = _rate(fn, sample)
            rates[name].append(wall)
            cpu_rates[name].append(cpu)
        single.append(_single_ms(sample[:n_single]))
        print(f"round {r + 1}/{rounds} done", flush=True)

    def ratios(name: str, reference: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[name], rates[reference], strict=True))

    results = {
        name: {
            "hashes_per_s_median": statistics.median(values),
            "hashes_per_s": values,
            "hashes_per_cpu_s_median": statistics.median(cpu_rates[name]),
            "ratio_to_sha256": ratios(name, "sha256"),
            "ratio_to_xxh64": ratios(name, "xxh64"),
        }
        for name, values in rates.items()
    }
    best = max(results[n]["hashes_per_s_median"] for n in rates if n.startswith("weight"))
    return {
        "benchmark": "weight_hash_throughput",
        "config": {"rounds": rounds, "words": len(sample), "single_words": n_single},
        "corpus": corpus,
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
        },
        "results": results,
        "single_ms_median": statistics.median(single),
        "single_ms": single,
        "targets": {
            "batched hashes/s": f">= {TARGET_PER_S:,} (best: {best:,.0f})",
            "single hash ms": f"<= {TARGET_SINGLE_MS} ({statistics.median(single):.2f})",
            "met": best >= TARGET_PER_S and statistics.median(single) <= TARGET_SINGLE_MS,
        },
    }


def to_markdown(report: dict) -> str:
    lines = [
        "| contender | hashes/s (median) | hashes per CPU-second | × sha256 | × xxh64 |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        lines.append(
            f"| {name} | {r['hashes_per_s_median']:,.0f} | {r['hashes_per_cpu_s_median']:,.0f} | "
            f"{r['ratio_to_sha256']:.4f} | {r['ratio_to_xxh64']:.4f} |"
        )
    c, env = report["config"], report["environment"]
    lines += [
        "",
        f"Single weight hash: {report['single_ms_median']:.2f} ms (median over "
        f"{c['single_words']} words). {c['rounds']} interleaved rounds of {c['words']:,} "
        f"{report['corpus']} words; torch {env['torch']} ({env['cpu_capability']}), "
        f"{env['cpus']} CPUs. Targets: {report['targets']['batched hashes/s']} batched, "
        f"{report['targets']['single hash ms']} ms single: "
        f"{'met' if report['targets']['met'] else 'NOT met'}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--words", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=200, help="words timed one at a time")
    parser.add_argument("--corpus", default="auto", help="moby, web2, a path, or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    corpus = corpus_lib.default_corpus_name() if args.corpus == "auto" else args.corpus
    report = run(args.rounds, args.words, args.single, corpus, args.seed)
    write_results(args.out, "weight_hash_throughput", report, to_markdown(report))


if __name__ == "__main__":
    main()
