"""Package attributes imported on first use (PEP 562), for the ``__init__`` of a package
whose public names live in heavy modules (torch, scikit-learn, Ray): importing the package
-- and so starting ``hash-envs``, which registers every package's subcommand -- stays cheap.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EXTRAS", "lazy_exports", "missing_extra"]

#: The ``hash-envs[...]`` extra that installs each optional top-level module.
EXTRAS = {
    "torch": "torch",
    "torchvision": "torch",
    "stable_baselines3": "rl",
    "sb3_contrib": "rl",
    "tensorboard": "rl",
    "onnx": "rl",
    "onnxscript": "rl",
    "onnxruntime": "rl",
    "rich": "rl",
    "sklearn": "encoders",
    "torch_geometric": "graph",
    "networkx": "graph",
    "ray": "ray",
    "phobic": "mphf",
    "bbhash": "mphf",
    "tianshou": "sac-bench",
}


def missing_extra(err: ImportError, what: str, extra: str | None = None) -> str | None:
    """A message naming the extra to install when ``err`` is a missing optional module
    (``None`` when it is not one): ``"<what> needs torch: pip install 'hash-envs[rl]'"``.
    ``extra`` overrides the extra looked up in :data:`EXTRAS`."""
    root = (getattr(err, "name", None) or "").split(".")[0]
    if root not in EXTRAS:
        return None
    return f"{what} needs {root}: pip install 'hash-envs[{extra or EXTRAS[root]}]'"


def lazy_exports(
    package: str, exports: Mapping[str, str], extra: str | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``exports`` maps each public name to the module defining it; returns the package's
    ``__getattr__``, ``__dir__`` and ``__all__``. A name is imported on first access and
    then cached as an ordinary attribute of the package. A name whose module needs an
    optional dependency that is not installed raises ``ModuleNotFoundError`` naming the
    extra to install (``extra``, else the one in :data:`EXTRAS`)."""
    module = sys.modules[package]
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            defining = importlib.import_module(exports[name])
        except ImportError as err:
            message = missing_extra(err, f"{package}.{name}", extra)
            if message is None:
                raise
            raise ModuleNotFoundError(message, name=err.name) from err
        value = getattr(defining, name)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, names
