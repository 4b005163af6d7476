"""Rebuild the HNN-Net retrieval table (issue #7): ``python experiments/model_hashing_eval.py
--out results/model_hashing [--epochs N]``. Same as ``hash-envs model-hash reproduce``: the
merged-data Q = 32 HNN-Net also becomes the index's default checkpoint."""

from __future__ import annotations

import argparse

from model_hashing.evaluate import run_evaluation
from model_hashing.index import default_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/model_hashing")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--q", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", help="dataset cache directory")
    args = parser.parse_args()
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
