"""Every public hash function gives a bin for every ``str``.

A learned hash trained on a 20-word pool must still hash words longer than its
``max_len`` (XOR-folded, :mod:`hash_envs.encoding`), empty and non-ASCII words, and lone
surrogates -- identically through torch and its ONNX artifact -- and no hash raises
anything but ``ValueError``/``TypeError``.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import PG, PolicyHash, load_hash
from hash_envs import corpus
from hash_envs.encoding import encode_bytes
from hash_envs.hashing import make_hash_function, registered_hash_functions

STATELESS = "hash_envs/StatelessHash-v0"
#: Strings that break naive encoders: empty, NUL, lone and paired surrogates (as two
#: code points), non-BMP, very long, long non-ASCII.
TRICKY = ["", "\0", "\ud800", "a\udfffb", "\ud83d\ude00", "\U0001f600", "x" * 1000, "日本語" * 30]


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


@pytest.fixture(scope="module", params=["codepoints", "bytes"])
def small_hash(request: pytest.FixtureRequest, web2: list[str]) -> PolicyHash:
    """PG trained briefly on 20 web2 words (max_len = their longest word)."""
    env = gym.make(STATELESS, corpus=web2[:20], n_words=20, n_bins=64, encoding=request.param)
    model = PG("MlpPolicy", env, n_steps=40, seed=0, policy_kwargs={"net_arch": [32]})
    model.learn(80)
    return PolicyHash(model)


def test_policy_hash_is_total_and_matches_its_artifact(
    tmp_path: Path, small_hash: PolicyHash, web2: list[str]
) -> None:
    max_len = small_hash.encoder.max_len
    long_words = [w for w in web2 if len(w) > max_len]
    assert long_words  # the new-user failure: longer words than the training pool
    words = web2 + TRICKY
    bins = small_hash.hash_many(words)
    assert bins.shape == (len(words),) and bins.min() >= 0 and bins.max() < small_hash.n_bins
    loaded = load_hash(small_hash.export_onnx(tmp_path / "hash.onnx"))
    np.testing.assert_array_equal(loaded.hash_many(words), bins)
    for w in [*TRICKY, long_words[0]]:
        assert small_hash(w) == loaded(w) == bins[words.index(w)]


def test_a_long_word_hashes_as_its_fold(small_hash: PolicyHash) -> None:
    """The documented rule, not an incidental one: the bin of a long word is the bin of
    the word whose bytes are the fold (here, an ASCII word built from the fold)."""
    max_len = small_hash.encoder.max_len
    word = "abcdefghijklmnopqrstuvwxyz"[:max_len] + "AB"
    folded = bytes(encode_bytes([word], max_len, overflow="fold")[0]).rstrip(b"\0")
    assert len(word) > max_len and folded.isascii()
    assert small_hash(word) == small_hash(folded.decode("ascii"))


@pytest.mark.moby
def test_policy_hash_is_total_on_moby(small_hash: PolicyHash) -> None:
    words = corpus.load("moby")
    bins = small_hash.hash_many(words)
    assert bins.shape == (len(words),) and 0 <= bins.min() and bins.max() < small_hash.n_bins


@pytest.mark.parametrize("name", registered_hash_functions())
def test_registered_hashes_accept_any_str(name: str) -> None:
    h = make_hash_function(name, 97)
    for w in TRICKY:
        try:
            single = h(w)
        except ValueError:  # a documented domain limit (weight-hash: "" and U+0000)
            continue
        assert 0 <= single < 97 and single == h.hash_many([w])[0]
    with pytest.raises(TypeError):
        h.hash_many(["ok", b"bytes"])  # type: ignore[list-item]
