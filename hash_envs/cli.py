"""The ``hash-envs`` command line: ``hash-envs leaderboard``, ``hash-envs envs``, and the
subcommands sibling packages plug in.

A sibling package adds a subcommand without ``hash_envs`` importing it: it declares an
entry point in the group ``hash_envs.cli`` whose object is a function
``add_parser(subparsers) -> None`` that adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit code) as a default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from hash_envs import corpus as corpus_lib

CLI_ENTRY_POINT_GROUP = "hash_envs.cli"


def _resolve_corpus(choice: str) -> str:
    """``auto`` means Moby when it is on this machine (no download), else offline web2."""
    if choice != "auto":
        return choice
    return corpus_lib.default_corpus_name()


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from hash_envs.hashing import registered_hash_functions, unavailable_hash_functions
    from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard, to_markdown, write_outputs

    name = _resolve_corpus(args.corpus)
    words = corpus_lib.load(name, download=args.download)
    make_config = LeaderboardConfig.quick if args.quick else LeaderboardConfig
    overrides = {"tracks": args.tracks, "seed": args.seed}
    if args.draws is not None:
        overrides["draws"] = args.draws
    config = make_config(**overrides)
    hashes = args.hashes or registered_hash_functions()
    if not args.hashes:
        for note in unavailable_hash_functions().values():
            print(f"skipped: {note}", flush=True)
    print(f"corpus: {name} ({len(words):,} words); contenders: {', '.join(hashes)}", flush=True)
    result = run_leaderboard(words, hashes, config, corpus_name=name, progress=not args.no_progress)
    print(to_markdown(result))
    if args.out:
        paths = write_outputs(result, args.out)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import hash_envs
    from hash_envs.envs.hash_table import bin_layout
    from hash_envs.tasks import TASKS, resolve_tasks

    corpus = _resolve_corpus(args.corpus)
    if args.doc:
        from hash_envs.tasks import get_task

        print(get_task(args.doc).docstring)
        return 0
    print(f"Base environments (any arguments; corpus {corpus}, defaults):\n")
    print("| id | action space | observation space (defaults) | entry points |")
    print("|---|---|---|---|")
    for env_id in hash_envs.ENV_IDS:
        spec = gym.spec(env_id)
        env = gym.make(env_id, corpus=corpus)
        print(
            f"| `{env_id}` | {env.action_space} | {env.observation_space} | "
            f"`{spec.entry_point}`, `{spec.vector_entry_point}` |"
        )
        env.close()
    tasks = resolve_tasks(args.tasks) if args.tasks else list(TASKS.values())
    refs = args.references
    print(f"\nBenchmark tasks (fixed arguments; reference collisions on {corpus}):\n")
    head = "| task | kind | words -> bins | actions | reward_threshold |"
    print(head + (" random hash | random policy | best hash | optimum |" if refs else ""))
    print("|---" * (9 if refs else 5) + "|")
    if refs:
        from hash_envs.evaluation import reference_scores
    for task in tasks:
        on = None if "Moby" in task.env_id else corpus
        rows_cols = bin_layout(task.n_bins)
        actions = (
            f"MultiDiscrete({list(rows_cols)})" if task.factorized else f"Discrete({task.n_bins})"
        )
        row = (
            f"| `{task.env_id}` | {task.kind} | {task.n_words:,} -> {task.n_bins:,} | "
            f"{actions} | {task.reward_threshold:,.0f} |"
        )
        if refs and on is None and corpus != "moby":
            row += " needs the Moby list (set HASH_ENVS_MOBY) | | | |"
        elif refs:
            r = reference_scores(task, on)
            row += (
                f" {r['random_hash']:.2f} | {r['random_policy']:.2f} | "
                f"{r['best_hash']:.2f} ({r['best_hash_name']}) | {r['optimum']:g} |"
            )
        print(row, flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hash-envs", description="Learned hash functions: environments and leaderboard."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    board = sub.add_parser("leaderboard", help="collisions, load and speed of every hash function")
    board.add_argument(
        "--corpus",
        default="auto",
        help="moby, web2 or a path to a word list; auto (default) = moby if present, else web2",
    )
    board.add_argument(
        "--tracks",
        nargs="+",
        default=["random-1000", "full", "memorize-10000", "speed"],
        help="tracks to run: random-1000 full memorize-K speed",
    )
    board.add_argument("--hashes", nargs="+", help="contenders (default: all registered)")
    board.add_argument("--quick", action="store_true", help="fewer draws and a shorter speed run")
    board.add_argument("--draws", type=int, help="draws of the random-1000 track")
    board.add_argument("--seed", type=int, default=0)
    board.add_argument("--out", help="directory for leaderboard.{json,csv,md} and the PNG")
    board.add_argument(
        "--no-download", dest="download", action="store_false", help="never download Moby"
    )
    board.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    board.set_defaults(func=_cmd_leaderboard)

    envs = sub.add_parser(
        "envs", help="list the registered environments and benchmark tasks with reference scores"
    )
    envs.add_argument("--corpus", default="auto", help="as for leaderboard")
    envs.add_argument("--tasks", nargs="+", help="task ids or groups (default: all)")
    envs.add_argument(
        "--no-references",
        dest="references",
        action="store_false",
        help="skip the reference scores (computed once per corpus, then cached)",
    )
    envs.add_argument("--doc", metavar="TASK", help="print one task's description and exit")
    envs.set_defaults(func=_cmd_envs)

    for plugin in entry_points(group=CLI_ENTRY_POINT_GROUP):
        plugin.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, corpus_lib.CorpusError) as err:
        print(f"hash-envs: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
