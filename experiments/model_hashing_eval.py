"""Rebuild the HNN-Net retrieval table (issue #7): ``python experiments/model_hashing_eval.py
--out results/model_hashing [--epochs N]``. Same as ``hash-envs model-hash reproduce``: the
merged-data Q = 32 HNN-Net also becomes the index's default checkpoint.

``--zoo all``: the larger zoo instead (every torchvision classification model, held-out
families; ``model_hashing.zoo_eval``), written to ``zoo_held_out.json`` / ``.md``:
``python experiments/model_hashing_eval.py --zoo all --out results/model_hashing_zoo``
(defaults: 5 copies per model, 40 epochs, Q = 16/32/64 on split 0 and Q = 32 on splits
1 and 2).

``--non-learned``: only the SimHash methods, on merged and on canonical graphs (what the
index hashes), in minutes: no GED matrix, no training
(``model_hashing.zoo_eval.non_learned_eval``), written to ``non_learned.json`` / ``.md``:
``python experiments/model_hashing_eval.py --zoo all --non-learned``."""

from __future__ import annotations

import argparse
from pathlib import Path

from model_hashing.evaluate import run_evaluation
from model_hashing.index import default_checkpoint
from model_hashing.methods import EVAL_BITS
from model_hashing.zoo_eval import ZOO_DEFAULTS, non_learned_eval, zoo_held_out_eval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zoo", choices=["paper", "all"], default="paper")
    parser.add_argument("--out", help="default results/model_hashing[_zoo]")
    parser.add_argument("--epochs", type=int, help="default 200 (paper), 40 (all)")
    parser.add_argument(
        "--q", type=int, nargs="+", help="default 16 32 64 (+ 128 with --non-learned)"
    )
    parser.add_argument("--k", type=int, help="default 10 (paper), n_aug (all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", help="dataset cache directory")
    zoo = parser.add_argument_group("--zoo all")
    zoo.add_argument("--n-aug", type=int, default=ZOO_DEFAULTS["n_aug"])
    zoo.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    zoo.add_argument("--later-splits-q", type=int, nargs="+", default=[32])
    zoo.add_argument("--held-out", nargs="+", metavar="FAMILY", help="instead of random splits")
    parser.add_argument("--non-learned", action="store_true", help="SimHash methods only")
    args = parser.parse_args()
    if args.q is None:
        args.q = list(EVAL_BITS) if args.non_learned else [16, 32, 64]
    if args.non_learned:
        out = args.out or f"results/model_hashing_{args.zoo}_non_learned"
        n_aug = args.n_aug if args.zoo == "all" else 10
        result = non_learned_eval(
            out,
            zoo=args.zoo,
            n_aug=n_aug,
            q_values=tuple(args.q),
            split_seeds=tuple(args.split_seeds),
            k=args.k,
            seed=args.seed,
        )
        print(Path(out, "non_learned.md").read_text())
        print(f"total {result['total_seconds']} s; wrote {out}/non_learned.json and .md")
        return
    if args.zoo == "all":
        out = args.out or "results/model_hashing_zoo"
        result = zoo_held_out_eval(
            out,
            n_aug=args.n_aug,
            epochs=args.epochs or ZOO_DEFAULTS["epochs"],
            q_values=tuple(args.q),
            split_seeds=tuple(args.split_seeds),
            later_splits_q=tuple(args.later_splits_q),
            held_out=args.held_out,
            k=args.k,
            seed=args.seed,
            root=args.root,
        )
        print(Path(out, "zoo_held_out.md").read_text())
        print(f"total {result['total_seconds']} s; wrote {out}/zoo_held_out.json and .md")
        return
    args.out = args.out or "results/model_hashing"
    args.epochs = args.epochs or 200
    args.k = args.k or 10
    result = run_evaluation(
        args.out,
        epochs=args.epochs,
        q_values=tuple(args.q),
        k=args.k,
        seed=args.seed,
        root=args.root,
        checkpoint=default_checkpoint(),
    )
    print(f"total {result['total_seconds']} s; wrote {args.out}/results.json and table.md")


if __name__ == "__main__":
    main()
