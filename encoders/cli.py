"""``hash-envs encoders run``: the full evaluation (:mod:`encoders.evaluate`) with a
progress bar, a Markdown report and plots.

Plugged into ``hash-envs`` through the entry-point group ``hash_envs.cli``
(``encoders = encoders.cli:add_encoders_parser``); ``python -m encoders run ...`` runs
the same command without the entry point.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["add_encoders_parser", "main", "run_command"]


def run_command(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from encoders.evaluate import EvalConfig, run_evaluation, to_markdown, write_report

    torch.set_num_threads(args.threads)
    make = EvalConfig.quick if args.quick else EvalConfig
    config = make(
        dataset=args.dataset,
        n_identities=args.identities,
        **({"epochs": args.epochs} if args.epochs else {}),
        losses=tuple(args.losses),
        seed=args.seed,
    )
    # encoders, references, keys, inversion, PGD (+ the adversarially trained encoder)
    stages = len(config.losses) + 4 + (config.adversarial_eps > 0)
    with tqdm(total=stages, disable=args.no_progress, desc="encoders") as bar:
        started = []

        def progress(message: str) -> None:
            """Called as each stage starts: the previous one is done."""
            bar.set_postfix_str(message)
            bar.update(1 if started else 0)
            started.append(message)

        result = run_evaluation(config, progress)
        bar.update(stages - bar.n)
    print(to_markdown(result))
    if args.out:
        paths = write_report(result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_encoders_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``encoders run`` to the ``hash-envs`` subcommands."""
    parser = subparsers.add_parser("encoders", help="contrastive biometric hashmaps")
    sub = parser.add_subparsers(dest="encoders_command", required=True)
    run = sub.add_parser(
        "run", help="train encoders, evaluate the server, BioHashing and the attacks"
    )
    run.add_argument(
        "--dataset", default="synthetic", choices=["synthetic", "synthetic-vector", "digits"]
    )
    run.add_argument("--identities", type=int, default=100, help="synthetic identities")
    run.add_argument("--epochs", type=int, help="encoder epochs (default 30; 2 with --quick)")
    run.add_argument(
        "--quick", action="store_true", help="smoke-test sizes (few epochs and attempts)"
    )
    run.add_argument(
        "--losses",
        nargs="+",
        default=["supcon", "contrastive"],
        choices=["supcon", "contrastive"],
        help="one encoder per loss; the first one is attacked",
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--threads", type=int, default=1, help="torch threads")
    run.add_argument("--out", help="directory for report.md, results.json and the plots")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(func=run_command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encoders")
    add_encoders_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["encoders", *(argv if argv is not None else sys.argv[1:])])
    try:
        return args.func(args)
    except ValueError as err:
        print(f"encoders: error: {err}", file=sys.stderr)
        return 2
