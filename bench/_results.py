"""How every benchmark here stores its results: ``NAME.json`` (everything, for machines)
and ``NAME.md`` (the short table that the README quotes), side by side in ``--out``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(out: str | Path, name: str, report: Any, table: str) -> None:
    """Write ``report`` as ``out/NAME.json`` and ``table`` as ``out/NAME.md``; print the table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / f"{name}.md").write_text(table)
    print(table)
