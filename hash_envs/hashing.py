"""The hash-function interface shared by every contender, and the contender registry.

Everything that maps words to bins -- a classical hash, a trained policy, a network's
weights -- implements :class:`HashFunction`, so the leaderboard, the metrics and the
quality harness treat them alike. Sibling packages add contenders without ``hash_envs``
importing them: either call :func:`register_hash_function` at import time, or declare an
entry point in the group ``hash_envs.hash_functions`` whose object is a factory
``(n_bins: int) -> HashFunction`` (see ``setup.cfg``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from hash_envs.lazy import missing_extra

__all__ = [
    "ArtifactError",
    "HashFunction",
    "HashFactory",
    "ENTRY_POINT_GROUP",
    "register_hash_function",
    "load_artifact",
    "make_hash_function",
    "registered_hash_functions",
    "unavailable_hash_functions",
]

ENTRY_POINT_GROUP = "hash_envs.hash_functions"
#: Entry points named by a file suffix (e.g. ``.onnx``) whose object loads a trained
#: hash function from such a file: ``(path) -> HashFunction``.
ARTIFACT_ENTRY_POINT_GROUP = "hash_envs.artifact_loaders"


class ArtifactError(ValueError):
    """A file is not a valid hash artifact of its kind: foreign, truncated, damaged or
    unreadable. The message names the file. Every ``hash_envs.artifact_loaders`` loader
    raises it (``agents.ArtifactError`` is this class)."""


class HashFunction(abc.ABC):
    """A deterministic map from words to bins ``0 .. n_bins - 1``.

    Total over ``str``: every string gets a bin, whatever the function was trained or
    keyed on. Words are read as :func:`hash_envs.encoding.utf8` bytes (lone surrogates
    such as ``"\\ud800"`` pass through, ``surrogatepass``), and a learned hash whose
    network reads ``max_len`` bytes XOR-folds longer words onto them (byte ``j`` into
    position ``j % max_len``; see :mod:`hash_envs.encoding`), identically in torch and in
    its ONNX artifact. A non-``str`` raises ``TypeError``; the only ``ValueError`` is a
    documented domain limit of one method (the weight hash needs a non-empty string
    without U+0000); nothing else is raised.

    Deterministic: a word's bin depends on the word alone -- not on the call, the batch
    it comes in, its position in it or the process -- so ``hash_many(words)`` is
    ``[h(w) for w in words]`` for any batch split and order. A perfect hash (the
    ``.pilots``, ``.phobic`` and ``.bbhash`` artifacts) is a bijection onto its bins on
    its key set only: any other word still gets a bin in range, the same every time, but
    an arbitrary one that may be a key's (bbhash gives every unknown word one and the
    same bin). A foreign or damaged artifact file raises :class:`ArtifactError`.
    ``tests/test_properties.py`` checks this rule for every contender.

    Subclasses implement at least one of :meth:`__call__` and :meth:`hash_many`;
    each default is written in terms of the other. Implement :meth:`hash_many`
    vectorised when you can: the leaderboard hashes hundreds of thousands of words.
    """

    #: Short identifier shown in tables (e.g. ``"xxh64"``).
    name: str = "hash"

    def __init__(self, n_bins: int) -> None:
        n_bins = int(n_bins)
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        self.n_bins = n_bins

    @property
    @abc.abstractmethod
    def size_bytes(self) -> int:
        """Bytes of state needed to reproduce the function (keys, seeds, tables, weights).

        Code is not counted; for a learned hash this is the stored parameter size.
        """

    def __call__(self, word: str) -> int:
        return int(self.hash_many([word])[0])

    def hash_many(self, words: Sequence[str] | Iterable[str]) -> np.ndarray:
        """Bins of ``words`` as an ``int64`` array, in input order."""
        return np.fromiter((self(w) for w in words), dtype=np.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n_bins={self.n_bins})"


HashFactory = Callable[[int], HashFunction]

_REGISTRY: dict[str, HashFactory] = {}
#: Entry-point contenders whose optional dependencies are missing: name -> how to install.
_UNAVAILABLE: dict[str, str] = {}
_entry_points_loaded = False


def register_hash_function(name: str, factory: HashFactory, *, overwrite: bool = False) -> None:
    """Make ``factory(n_bins)`` available to the leaderboard under ``name``."""
    if not overwrite and name in _REGISTRY and _REGISTRY[name] is not factory:
        raise ValueError(f"a hash function named {name!r} is already registered")
    _REGISTRY[name] = factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            try:
                _REGISTRY[ep.name] = ep.load()
            except ImportError as err:  # e.g. weight-hash without torch: skipped, not fatal
                message = missing_extra(err, f"the contender {ep.name!r}")
                if message is None:
                    raise
                _UNAVAILABLE[ep.name] = message


def registered_hash_functions() -> list[str]:
    """Names of every known contender, sorted (entry points included; those whose extra
    is not installed are left out, see :func:`unavailable_hash_functions`)."""
    _load_entry_points()
    return sorted(_REGISTRY)


def unavailable_hash_functions() -> dict[str, str]:
    """Entry-point contenders skipped because an optional dependency is missing: name ->
    a message naming the extra to install (e.g. ``weight-hash`` needs ``hash-envs[torch]``)."""
    _load_entry_points()
    return dict(sorted(_UNAVAILABLE.items()))


def load_artifact(path: str | Path) -> HashFunction:
    """Load a trained hash function from a file, by the loader registered for its suffix."""
    path = Path(path)
    loaders = {ep.name: ep for ep in entry_points(group=ARTIFACT_ENTRY_POINT_GROUP)}
    if path.suffix not in loaders:
        known = ", ".join(sorted(loaders)) or "none"
        raise ArtifactError(f"{path}: no loader for {path.suffix!r} files (known: {known})")
    if not path.is_file():
        raise ArtifactError(f"hash artifact {path} does not exist")
    try:
        loader = loaders[path.suffix].load()
    except ImportError as err:
        message = missing_extra(err, f"loading {path.suffix} files")
        if message is None:
            raise
        raise ValueError(message) from err
    return loader(path)


def make_hash_function(name: str, n_bins: int) -> HashFunction:
    """Instantiate the contender ``name`` for a table of ``n_bins`` bins.

    ``name`` is a registered name, or the path of a trained artifact (e.g. ``hash.onnx``);
    an artifact is fixed to the bins it was trained for, so other sizes raise.
    """
    _load_entry_points()
    if name in _REGISTRY:
        return _REGISTRY[name](n_bins)
    if name in _UNAVAILABLE:
        raise ValueError(_UNAVAILABLE[name])
    if Path(name).suffix:
        loaded = load_artifact(name)
        if loaded.n_bins != n_bins:
            raise ValueError(f"{name} hashes into {loaded.n_bins} bins, not {n_bins}")
        return loaded
    known = ", ".join(sorted(_REGISTRY)) or "none"
    raise ValueError(f"unknown hash function {name!r}; registered: {known}")
