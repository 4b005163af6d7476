"""Experiment 7: inference time of a neural hash vs Python's ``hash()`` on 300,000 words.

The paper timed its network (two hidden layers of 300, 1000 bins) at 4,988 ms for
300,000 words against 79 ms for ``hash()`` (63x). We time ``agents.PolicyHash`` of a
network of that shape (untrained weights: timing does not depend on them) through torch
and through its exported ONNX artifact (``agents.load_hash``, onnxruntime), each against
the builtin ``hash(word) % 1000`` in the same run, interleaved, median of 5, on freshly
built string objects (CPython caches a string's hash), exactly as the leaderboard's
``speed`` track times contenders (its ``_time`` and ``_builtin_hash_bins`` helpers).
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

import common
import numpy as np


def fmt_ms(ms: float) -> str:
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def main(argv: Sequence[str] | None = None):
    p = common.parser("Inference time of a PolicyHash vs builtin hash() (paper experiment 7)")
    p.add_argument("--words", type=int, default=None, help="words timed (default 300,000)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved runs (default 5)")
    p.add_argument(
        "--small-arch",
        type=int,
        nargs="+",
        default=[64],
        help="hidden widths of the smallest EpisodePG network that memorises 1,000 words "
        "(bench/memorize.py --net-arch; default 64)",
    )
    run = common.Run.start(__file__, p, argv)
    import gymnasium as gym
    import torch

    from agents import PG, EpisodePG, PolicyHash, load_hash
    from agents.policy_hash import score_words
    from hash_envs.leaderboard import _builtin_hash_bins, _time

    words = common.load_words(run.args.corpus)
    n_words = run.args.words or (5_000 if run.quick else 300_000)
    repeats = run.args.repeats or (2 if run.quick else 5)
    rng = np.random.default_rng(run.args.seed)
    sample = [words[i] for i in rng.choice(len(words), min(n_words, len(words)), replace=False)]
    max_len = common.corpus_max_len(words)

    env = gym.make(
        common.STATELESS, corpus=run.args.corpus, n_words=1000, n_bins=1000, max_len=max_len
    )
    model = PG(
        "MlpPolicy",
        env,
        seed=run.args.seed,
        policy_kwargs={"net_arch": {"pi": common.PAPER_ARCH, "vf": []}},
    )
    torch_hash = PolicyHash(model, name="paper-mlp-2x300")
    # Inference cost depends on the architecture, not on the weights, so an untrained
    # network of the smallest memorising shape times the same as a trained one.
    small = EpisodePG(
        common.STATELESS,
        {
            "corpus": run.args.corpus,
            "n_words": 1000,
            "n_bins": 1000,
            "encoding": "bytes",
            "max_len": max_len,
        },
        net_arch=tuple(run.args.small_arch),
        seed=run.args.seed,
    )
    small_hash = PolicyHash(small.policy, name="episode-pg-small")
    small_label = "×".join(map(str, run.args.small_arch))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = torch_hash.export_onnx(Path(tmp) / "paper_mlp.onnx")
        onnx_hash = load_hash(onnx_path)
        onnx_bytes = onnx_path.stat().st_size
        small_onnx = load_hash(small_hash.export_onnx(Path(tmp) / "small.onnx"))

    def float32_bins(batch: list[str]) -> np.ndarray:
        """The same layers in float32 (context only: near-ties may flip the argmax)."""
        out = []
        with torch.no_grad():
            for i in range(0, len(batch), 65536):
                obs = torch.from_numpy(torch_hash.encoder.encode(batch[i : i + 65536]))
                scores = score_words(torch_hash.network.layers, obs, "codepoints", torch.float32)
                out.append(scores.argmax(dim=1).numpy())
        return np.concatenate(out)

    contenders = {
        "builtin hash() % 1000": lambda w: _builtin_hash_bins(w, 1000),
        "PolicyHash via torch": torch_hash.hash_many,
        "PolicyHash via ONNX (onnxruntime)": onnx_hash.hash_many,
        "same network in float32 (torch, context)": float32_bins,
        f"smallest memorising net ({small_label} sine, bytes) via torch": small_hash.hash_many,
        f"smallest memorising net ({small_label} sine, bytes) via ONNX": small_onnx.hash_many,
    }
    agree = bool(
        np.array_equal(torch_hash.hash_many(sample[:2000]), onnx_hash.hash_many(sample[:2000]))
    )
    for fn in contenders.values():  # warm-up: first-call costs, lazy tables
        fn(sample[:1000])
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(repeats):  # interleaved, so all see the same machine noise
        for name, fn in contenders.items():
            times[name].append(_time(fn, sample))
        print(
            f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1] * 1e3:.0f} ms" for k, v in times.items())
        )
    med = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    builtin = med["builtin hash() % 1000"]
    # Each repeat times all contenders back to back, so per-repeat ratios cancel most of the
    # machine's load swings; their median is the robust ratio.
    ratio = {
        name: statistics.median(
            a / b for a, b in zip(t, times["builtin hash() % 1000"], strict=True)
        )
        for name, t in times.items()
    }

    # What a network of this shape costs per word, for context.
    n_params = torch_hash.network.n_parameters
    encode_ms = (
        statistics.median(
            _time(torch_hash.encoder.encode, sample) for _ in range(max(1, repeats // 2))
        )
        * 1e3
    )

    scale = 300_000 / len(sample)
    rows = [
        [
            name,
            fmt_ms(ms),
            fmt_ms(ms * scale) if scale != 1 else "—",
            f"{ms / builtin:.1f}×",
            f"{ratio[name]:.1f}×",
            ", ".join(fmt_ms(t * 1e3) for t in times[name]),
        ]
        for name, ms in med.items()
    ]
    labels = ["paper: hash()", "paper: network"] + [f"ours: {k}" for k in med]
    fig = common.plot_bars(
        run.args.out / "exp7_inference_time.png",
        labels,
        [79.0, 4988.0] + [v * 300_000 / len(sample) for v in med.values()],
        xlabel="ms per 300,000 words (log scale)",
        title=f"Inference time (ours: median of {repeats} interleaved runs"
        + (f", {len(sample):,} words scaled to 300k)" if len(sample) != 300_000 else ")"),
        fmt="{:,.0f} ms",
    )

    report = common.Report(run, "exp7_inference_time", "Inference time vs. Python's hash()")
    torch_ms, onnx_ms = med["PolicyHash via torch"], med["PolicyHash via ONNX (onnxruntime)"]
    f32_ms = med["same network in float32 (torch, context)"]
    r_torch, r_onnx = ratio["PolicyHash via torch"], ratio["PolicyHash via ONNX (onnxruntime)"]
    r_f32 = ratio["same network in float32 (torch, context)"]
    r_small_torch = ratio[f"smallest memorising net ({small_label} sine, bytes) via torch"]
    r_small_onnx = ratio[f"smallest memorising net ({small_label} sine, bytes) via ONNX"]
    report.paper_vs_ours(
        [
            ["neural hash, 300k words", "4,988 ms", f"{torch_ms * scale:,.0f} ms (torch), "
             f"{onnx_ms * scale:,.0f} ms (ONNX)", "float64 argmax, one CPU thread"],
            ["builtin hash(), 300k words", "79 ms", f"{fmt_ms(builtin * scale)} ms",
             "same run, fresh strings, + `% 1000` into numpy"],
            ["ratio to hash()", "63×", f"{r_torch:.0f}× (torch), {r_onnx:.0f}× (ONNX)",
             f"median of per-run ratios; {min(r_torch, r_onnx) / 63:.1f}–"
             f"{max(r_torch, r_onnx) / 63:.1f}× the paper's ratio (float64 argmax, one thread"
             ")"],
            ["float32 forward (context)", "—", f"{f32_ms * scale:,.0f} ms, {r_f32:.0f}×",
             "the same layers without the float64 argmax"],
            [f"smallest memorising net ({small_label}), ratio to hash()", "—",
             f"{r_small_torch:.0f}× (torch), {r_small_onnx:.0f}× (ONNX)",
             f"{small_hash.network.n_parameters:,} parameters; memorises 1,000 Moby words "
             f"(`bench/memorize.py --net-arch {' '.join(map(str, run.args.small_arch))}`)"],
        ]
    )  # fmt: skip
    report.bullets(
        "Protocol",
        [
            f"{len(sample):,} distinct words drawn from `{run.args.corpus}` (seed "
            f"{run.args.seed})"
            + (
                "; the quick size times fewer words (300k column scales linearly)"
                if scale != 1
                else ""
            )
            + ".",
            f"Network: `agents.PolicyHash` of an untrained `agents.PG` `MlpPolicy` with the "
            f"paper's 2×300 hidden layers (tanh) and 1000 bins, `codepoints` input "
            f"(max_len {max_len}); {n_params:,} parameters; bin = argmax computed in float64 "
            f"(as `PolicyHash` always does, so that ties cannot flip between runtimes). ONNX "
            f"artifact {onnx_bytes / 1e6:.1f} MB; torch and ONNX bins identical on 2,000 "
            f"words: {agree}.",
            f"Timing: each of {repeats} repeats times builtin `hash()` (+ `% 1000`, as the "
            "leaderboard's speed track), the torch hash and the ONNX hash in turn on freshly "
            "unpickled string objects (`hash_envs.leaderboard._time`), one torch thread; "
            "medians reported. Encoding the words (UTF-8 bytes, padding, /255) is part of both "
            f"neural timings; alone it takes {encode_ms:,.0f} ms.",
        ],
    )
    report.section(
        "Numbers",
        common.markdown_table(
            ["hash", f"median ms, {len(sample):,} words", "ms per 300k words",
             "× hash() (ratio of medians)", "× hash() (median of per-run ratios)",
             "all runs (ms)"],
            rows,
        ),
    )  # fmt: skip
    report.images([fig])
    return report.write()


if __name__ == "__main__":
    main()
