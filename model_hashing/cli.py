"""``hash-envs model-hash ...`` (entry point ``model_hashing.cli:add_model_hash_parser`` in the
``hash_envs.cli`` group) and the same commands as ``python -m model_hashing ...``:

* ``index add [--db PATH] [--checkpoint PT] MODEL...``: hash and store models;
* ``query [--db PATH] [--checkpoint PT] MODEL --top K``: the stored models nearest in
  Hamming distance;
* ``reproduce [--out DIR] [--epochs N] [--zoo paper|all]``: rebuild the retrieval table
  and the default checkpoint; ``--zoo all``: the held-out-family evaluation on every
  torchvision classification model instead (no checkpoint).

MODEL is an ONNX file or a torchvision model name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_add(args: argparse.Namespace) -> int:
    from model_hashing.index import ModelHasher, ModelHashIndex, code_to_hex

    hasher = ModelHasher(args.checkpoint)
    index = ModelHashIndex(args.db)
    for model in args.models:
        code, info = hasher(model)
        index.add(str(model), code, info)
        print(f"{code_to_hex(code)}  {model}  ({info['nodes']} nodes, {info['seconds']:.2f} s)")
    print(f"{len(index)} models in {index.path}")
    index.close()
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from model_hashing.index import ModelHasher, ModelHashIndex, code_to_hex

    hasher = ModelHasher(args.checkpoint)
    index = ModelHashIndex(args.db)
    code, _ = hasher(args.model)
    print(f"query {args.model}: {code_to_hex(code)}")
    for match in index.query(code, args.top):
        print(f"{match.distance:3d}  {match.code}  {match.name}")
    index.close()
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from model_hashing.evaluate import run_evaluation
    from model_hashing.index import default_checkpoint

    if args.zoo == "all":
        from model_hashing.zoo_eval import ZOO_DEFAULTS, zoo_held_out_eval

        out = args.out or "results/model_hashing_zoo"
        epochs = args.epochs or ZOO_DEFAULTS["epochs"]
        result = zoo_held_out_eval(out, epochs=epochs, seed=args.seed)
        print((Path(out) / "zoo_held_out.md").read_text())
        print(f"total {result['total_seconds']} s")
        return 0
    args.out = args.out or "results/model_hashing"
    args.epochs = args.epochs or 200
    result = run_evaluation(
        args.out, epochs=args.epochs, seed=args.seed, checkpoint=default_checkpoint()
    )
    print((Path(args.out) / "table.md").read_text())
    print(f"total {result['total_seconds']} s")
    return 0


def _add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_hash_command", required=True)
    index = sub.add_parser("index", help="manage the model-hash index")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    add = index_sub.add_parser("add", help="hash models and store their codes")
    add.add_argument("models", nargs="+", metavar="MODEL", help="ONNX file or torchvision name")
    query = sub.add_parser("query", help="nearest stored models of a model")
    query.add_argument("model", metavar="MODEL", help="ONNX file or torchvision name")
    query.add_argument("--top", type=int, default=5)
    for p in (add, query):
        p.add_argument("--db", help="SQLite database (default: in the user cache)")
        p.add_argument("--checkpoint", help="HNN-Net checkpoint (default: from reproduce)")
    add.set_defaults(func=_cmd_add)
    query.set_defaults(func=_cmd_query)
    reproduce = sub.add_parser("reproduce", help="rebuild the retrieval table")
    reproduce.add_argument("--out", help="default results/model_hashing[_zoo]")
    reproduce.add_argument("--epochs", type=int, help="default 200 (paper), 40 (all)")
    reproduce.add_argument(
        "--zoo",
        choices=["paper", "all"],
        default="paper",
        help="all: every torchvision classification model, held-out families",
    )
    reproduce.add_argument("--seed", type=int, default=0)
    reproduce.set_defaults(func=_cmd_reproduce)


def add_model_hash_parser(subparsers: argparse._SubParsersAction) -> None:
    """Plug ``model-hash`` into the ``hash-envs`` command line."""
    _add_commands(subparsers.add_parser("model-hash", help="perceptual hashes of networks"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_hashing", description="Perceptual hashes of neural networks."
    )
    _add_commands(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"model-hash: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
