"""The learned hash against the default, side by side, in one run (issue #18):
``python experiments/model_hashing_learned.py --out results/model_hashing_learned``.

Held-out families of the 80-model zoo (split seeds 0, 1, 2) and the paper protocol (21
models, 189 / 42 graphs), for ``ophist`` (operator-histogram SimHash of the canonical
graph, the index's default) and the learned sketch hash (``model_hashing.learned``) at
Q = 16 / 32 / 64: F1@k, mAP, ROC-AUC and TPR at 1% FPR of "is this a copy of that
indexed model?". Writes ``learned.json`` and ``learned.md`` and prints the wall time.
The models' weight-free ONNX files are exported once into the dataset cache
(``$HASH_ENVS_CACHE``/model_hashing/zoo/raw) and reused."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from model_hashing.learned import learned_eval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/model_hashing_learned")
    parser.add_argument("--q", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-aug", type=int, default=5, help="copies per model (held out)")
    parser.add_argument("--dim", type=int, default=256, help="sketch width per feature group")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    result = learned_eval(
        args.out,
        n_aug=args.n_aug,
        q_values=tuple(args.q),
        split_seeds=tuple(args.split_seeds),
        dim=args.dim,
        seed=args.seed,
    )
    print(Path(args.out, "learned.md").read_text())
    print(
        f"wall time {time.perf_counter() - start:.0f} s (in learned_eval "
        f"{result['total_seconds']:.0f} s); wrote {args.out}/learned.json and .md"
    )


if __name__ == "__main__":
    main()
