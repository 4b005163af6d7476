"""``hash-envs quality``: the SMHasher-style quality table (:mod:`baselines.quality`) for
registered hashes, the weight hash, SHA-256 or a trained hash artifact.

Plugged into the ``hash-envs`` command through the entry-point group ``hash_envs.cli``
(``quality = baselines.cli:add_quality_parser``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from hash_envs import corpus as corpus_lib

__all__ = ["add_quality_parser", "run_quality_command"]


def run_quality_command(args: argparse.Namespace) -> int:
    """Run the harness on ``args.targets`` (default: all) and print the Markdown table."""
    from baselines import quality

    config = quality.QualityConfig.quick() if args.quick else quality.QualityConfig()
    overrides = {"seed": args.seed} | ({"reps": args.reps} if args.reps else {})
    config = replace(config, **overrides)
    targets = args.targets or quality.default_targets()
    contenders = [quality.contender_for(t) for t in targets]  # fail fast on a bad target
    name = corpus_lib.default_corpus_name() if args.corpus == "auto" else args.corpus
    words = corpus_lib.load(name, download=args.download)
    print(f"corpus: {name} ({len(words):,} words); contenders: {', '.join(targets)}", flush=True)

    def progress(message: str) -> None:
        if not args.no_progress:
            print(message, file=sys.stderr, flush=True)

    reports = [quality.run_quality(c, words, config, progress) for c in contenders]
    table = quality.to_markdown(reports, config, corpus=f"{name}, {len(words):,} words")
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        payload = {
            "corpus": name,
            "corpus_words": len(words),
            "config": asdict(config),
            "results": [r.to_dict() for r in reports],
        }
        (out / "quality.json").write_text(json.dumps(payload, indent=2) + "\n")
        (out / "quality.md").write_text(table)
        print(f"wrote {out / 'quality.json'}, {out / 'quality.md'}")
    return 0


def add_quality_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``quality`` to the ``hash-envs`` subcommands."""
    parser = subparsers.add_parser(
        "quality",
        help="SMHasher-style avalanche, BIC, keyset-collision and distribution tests",
        description=(
            "Run the quality harness and print a pass/fail table. A TARGET is a registered "
            "hash name (tested on its low 32 bits), one of weight-hash, weight-hash-digest "
            "(the 36 rounded weights) and sha256, or a trained hash artifact such as the "
            "hash.onnx of `hash-envs train` (tested on its bin index)."
        ),
    )
    parser.add_argument("targets", nargs="*", metavar="ARTIFACT|NAME", help="default: all")
    parser.add_argument(
        "--corpus", default="auto", help="words for chi2 and distinct: moby, web2 or a path"
    )
    parser.add_argument("--quick", action="store_true", help="small samples, for a smoke run")
    parser.add_argument("--reps", type=int, help="keys per input bit (default 300,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="directory for quality.json and quality.md")
    parser.add_argument(
        "--no-download", dest="download", action="store_false", help="never download Moby"
    )
    parser.add_argument("--no-progress", action="store_true", help="no per-test progress lines")
    parser.set_defaults(func=run_quality_command)
