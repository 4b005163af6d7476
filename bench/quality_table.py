"""The quality table of the README and ``docs/weight_hash.md``: every registered hash, the
weight hash (bins and raw digest) and SHA-256 through the SMHasher-style harness.

The same as ``hash-envs quality --out results/quality``, runnable before the ``quality``
subcommand's entry point is installed; any ``hash-envs quality`` option passes through:

    python bench/quality_table.py --out results/quality
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from baselines.cli import add_quality_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quality_table.py", description=__doc__.splitlines()[0])
    add_quality_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["quality", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
