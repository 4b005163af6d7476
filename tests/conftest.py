"""Shared fixtures for the environment, encoding, metrics and hashing tests.

* ``WORDS`` / the ``words`` fixture: a small, deterministic in-memory corpus (a few
  hundred synthetic words, sorted and distinct like a loaded corpus, a few of them
  non-ASCII) so that environment tests never need the Moby list.
* ``@pytest.mark.moby``: the test needs the Moby word list offline
  (``hash_envs.corpus.moby_available()``, e.g. ``HASH_ENVS_MOBY`` pointing at
  ``words.zip``); it is skipped otherwise. No test here downloads anything.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import settings

from hash_envs.corpus import MOBY_ENV_VAR, moby_available

# Property tests (tests/test_properties.py) draw the same examples on every run: the
# "ci" profile is derandomised (a fixed seed) and keeps no example database, so that
# `make test` is reproducible. HYPOTHESIS_PROFILE=dev draws fresh, more examples.
settings.register_profile("ci", derandomize=True, database=None, max_examples=20, deadline=None)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _synthetic_words(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"café", "naïve", "über", "smörgåsbord", "déjà"}
    while len(words) < n:
        length = rng.randint(1, 12)
        words.add("".join(rng.choice(letters) for _ in range(length)))
    return sorted(words)


#: A sorted list of distinct words, as :func:`hash_envs.corpus.load` would return it.
WORDS: list[str] = _synthetic_words()

# Decided once, before any test fixture can change the environment (test_corpus.py
# unsets HASH_ENVS_MOBY for its own tests).
MOBY_AVAILABLE: bool = moby_available()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"moby: needs the Moby word list offline (set {MOBY_ENV_VAR}); skipped without it",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("moby") is not None and not MOBY_AVAILABLE:
        pytest.skip(f"the Moby word list is not available offline (set {MOBY_ENV_VAR})")


@pytest.fixture
def words() -> list[str]:
    """A fresh copy of :data:`WORDS` (tests may modify it)."""
    return list(WORDS)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Small networks on 2 cores run many times faster on one intra-op thread than on the
    default, and the tests' timings and results should not depend on the machine's core
    count; restored at the end of the session."""
    try:
        import torch
    except ImportError:  # the environment tests need no torch
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def private_reference_cache(tmp_path_factory: pytest.TempPathFactory):
    """Reference scores are cached per corpus; keep the tests' cache out of the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HASH_ENVS_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()
