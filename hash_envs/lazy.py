"""Package attributes imported on first use (PEP 562), for the ``__init__`` of a package
whose public names live in heavy modules (torch, scikit-learn, Ray): importing the package
-- and so starting ``hash-envs``, which registers every package's subcommand -- stays cheap.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``exports`` maps each public name to the module defining it; returns the package's
    ``__getattr__``, ``__dir__`` and ``__all__``. A name is imported on first access and
    then cached as an ordinary attribute of the package."""
    module = sys.modules[package]
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, names
