"""``hash-envs model-hash ...`` (entry point ``model_hashing.cli:add_model_hash_parser`` in the
``hash_envs.cli`` group) and the same commands as ``python -m model_hashing ...``:

* ``index add [--db PATH] [--method M] [--bits Q] [--checkpoint PT] MODEL...``: hash and
  store models (all or none: a bad input leaves the index unchanged);
* ``query [--db PATH] [--method M] [--bits Q] [--checkpoint PT] MODEL --top K``: the
  stored models nearest in Hamming distance;
* ``piracy [--out DIR] [--learned]``: the pirated-copy table of the non-learned methods
  at Q = 16/32/64 (no training); ``--learned`` adds the learned sketch hash trained on the
  paper zoo's models (the indexed ones);
* ``reproduce [--out DIR] [--epochs N] [--zoo paper|all]``: rebuild the retrieval table
  and the default checkpoint; ``--zoo all``: the held-out-family evaluation on every
  torchvision classification model instead (no checkpoint).

MODEL is an ONNX file or a torchvision model name. The default method, ``ophist``
(SimHash of the canonical graph's operator histogram with soft half-decade FLOPs and
parameter magnitudes, Q = 128), needs no training: it is the best of the measured tables
(docs/model_hashing.md), ahead of HNN-Net and of the learned hashes on unseen families.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _hasher(args: argparse.Namespace):
    from model_hashing.index import ModelHasher

    return ModelHasher(args.checkpoint, method=args.method, n_bits=args.bits)


def _cmd_add(args: argparse.Namespace) -> int:
    from model_hashing.index import ModelHashIndex, code_to_hex

    hasher = _hasher(args)
    index = ModelHashIndex(args.db)
    try:
        index.check_method(hasher.key, "add")  # fail before any hashing
        entries = []
        for model in args.models:  # hash everything first: a bad input adds nothing
            code, info = hasher(model)
            entries.append((str(model), code, info))
            print(f"{code_to_hex(code)}  {model}  ({info['nodes']} nodes, {info['seconds']:.2f} s)")
        index.add_many(entries, hasher.key)
        print(f"{len(index)} models in {index.path} ({hasher.key})")
    finally:
        index.close()
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from model_hashing.index import ModelHashIndex, code_to_hex

    hasher = _hasher(args)
    index = ModelHashIndex(args.db)
    try:
        index.check_method(hasher.key, "compare")
        code, _ = hasher(args.model)
        matches = index.query(code, args.top, hasher.key)
        print(f"query {args.model}: {code_to_hex(code)} ({hasher.key})")
        for match in matches:
            print(f"{match.distance:3d}  {match.code}  {match.name}")
    finally:
        index.close()
    return 0


def _cmd_piracy(args: argparse.Namespace) -> int:
    import json

    import torch

    from model_hashing.methods import OpHistSimHash, WLSimHash
    from model_hashing.piracy import piracy_markdown, piracy_table

    torch.set_num_threads(1)
    methods = {"OpHist-SimHash": OpHistSimHash, "WL-SimHash": WLSimHash}
    if args.learned:
        from model_hashing.learned import train_on_models
        from model_hashing.zoo import PAPER_MODELS

        methods["Learned sketch"] = lambda q: train_on_models(list(PAPER_MODELS), q)
    result = piracy_table(methods)
    text = piracy_markdown(result)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "piracy.json").write_text(json.dumps(result, indent=2))
        (out / "piracy.md").write_text(text)
    print(text)
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
        args.out,
        epochs=args.epochs,
        seed=args.seed,
        checkpoint=default_checkpoint(),
        canonical=args.canonical,
    )
    print((Path(args.out) / "table.md").read_text())
    print(f"total {result['total_seconds']} s")
    return 0


def _add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_hash_command", required=True)
    index = sub.add_parser("index", help="manage the model-hash index")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    add = index_sub.add_parser(
        "add", help="hash models and store their codes (default method ophist: no training)"
    )
    add.add_argument("models", nargs="+", metavar="MODEL", help="ONNX file or torchvision name")
    query = sub.add_parser("query", help="nearest stored models of a model")
    query.add_argument("model", metavar="MODEL", help="ONNX file or torchvision name")
    query.add_argument("--top", type=int, default=5)
    for p in (add, query):
        p.add_argument("--db", help="SQLite database (default: in the user cache)")
        p.add_argument(
            "--method",
            choices=["ophist", "wl", "hnn"],
            help="ophist (default: operator-histogram SimHash of the canonical graph with "
            "soft size bins, no training; the best method of the measured tables), wl "
            "(Weisfeiler-Lehman SimHash) or hnn (a trained HNN-Net, needs --checkpoint)",
        )
        p.add_argument("--bits", type=int, help="code length Q of ophist / wl (default 128)")
        p.add_argument("--checkpoint", help="HNN-Net checkpoint (implies --method hnn)")
    add.set_defaults(func=_cmd_add)
    query.set_defaults(func=_cmd_query)
    piracy = sub.add_parser("piracy", help="pirated-copy table of the non-learned methods")
    piracy.add_argument("--out", help="also write piracy.json and piracy.md here")
    piracy.add_argument(
        "--learned",
        action="store_true",
        help="also the learned sketch hash, trained on the paper zoo's models "
        "(model_hashing.learned.train_on_models; the index's models), at each Q",
    )
    piracy.set_defaults(func=_cmd_piracy)
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
    reproduce.add_argument(
        "--canonical",
        action="store_true",
        help="train on canonical graphs (as the SimHash methods hash), so --method hnn "
        "hashes BN-folded and quantised copies like their source (paper zoo only)",
    )
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
