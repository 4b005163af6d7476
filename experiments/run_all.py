"""Run every paper-reproduction experiment, then write the index ``README.md``.

    .venv/bin/python experiments/run_all.py --quick            # seconds to minutes
    .venv/bin/python experiments/run_all.py --full             # hours (see each summary)
    .venv/bin/python experiments/run_all.py --index-only       # just rebuild the index

Each experiment runs in this process, one after the other, writing ``<name>.md`` and its
PNG plots into ``--out`` (default ``docs/experiments``).
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Sequence
from pathlib import Path

import common

EXPERIMENTS = (
    ("exp1_supervised", "Supervised imitation of Python's hash() mod 1000"),
    ("exp2_pg_stateless", "PG (REINFORCE), stateless, 1000 words into 1000 bins"),
    ("exp3_a2c_stateless", "A2C, stateless, 1000 words into 1000 bins"),
    ("exp4_sac_stateless", "Discrete SAC, stateless, 1000 words into 1000 bins"),
    ("exp5_pg_table_aware", "PG, table-aware, 100 → 100 and 1000 → 1000"),
    ("exp6_memorize", "Memorisation: 10,000 words; 3,000-word pool into 1,000 bins"),
    ("exp7_inference_time", "Inference time vs. Python's hash() on 300,000 words"),
)


def write_index(out: Path) -> Path:
    lines = [
        "# Paper reproduction: Neural Hash Functions",
        "",
        "One script per experiment under `experiments/`; each writes its summary (our numbers "
        "beside the paper's, the protocol, seeds, sizes, wall time and the exact command) "
        "and plots here. `experiments/run_all.py --quick|--full` runs them all.",
        "",
        "| # | experiment | summary | size run |",
        "|---|---|---|---|",
    ]
    for i, (name, title) in enumerate(EXPERIMENTS, start=1):
        md = out / f"{name}.md"
        if md.is_file():
            text = md.read_text()
            size = "quick" if "(quick size)" in text else "full"
            lines.append(f"| {i} | {title} | [{name}.md]({name}.md) | {size} |")
        else:
            lines.append(f"| {i} | {title} | pending | — |")
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--full", action="store_true")
    size.add_argument("--index-only", action="store_true")
    p.add_argument("--out", type=Path, default=common.DEFAULT_OUT)
    p.add_argument("--only", nargs="+", default=None, help="experiment names to run")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    if not args.index_only:
        for name, _ in EXPERIMENTS:
            if args.only and name not in args.only:
                continue
            begin = time.perf_counter()
            module = importlib.import_module(name)
            size = "--quick" if args.quick else "--full"
            written.append(module.main([size, "--out", str(args.out)]))
            took = common.fmt_s(time.perf_counter() - begin)
            print(f"{name}: {took} -> {written[-1]}", flush=True)
    written.append(write_index(args.out))
    return written


if __name__ == "__main__":
    main()
