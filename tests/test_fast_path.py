"""The fast path from words (``FastScorer.hash_words``, what ``PolicyHash.hash_many``
takes) gives the float64 reference's bins, and ``utf8_batch`` gives ``utf8``'s bytes.

Every web2 word, plain and factorised heads, ``bytes`` and ``codepoints`` inputs, batch
sizes 1, 7, 4096 and all, shuffled order, blocks that split the batch anywhere, words
longer than ``max_len`` (folded), the empty string, non-ASCII, lone surrogates, words
holding the batch separator; near-ties that float32 cannot decide; and two processes
with different ``PYTHONHASHSEED``; a linear policy.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch as th

from agents import PolicyHash
from agents.hashes.policy_hash import FastScorer
from hash_envs import corpus
from hash_envs.encoding import utf8, utf8_batch

#: Builds a small seeded random-weight network (EpisodePG's peaked initialisation: a
#: random, confident hash) over a web2 pool whose longest word is max_len (short, so
#: that most web2 words are folded).
BUILD = """
from agents import EpisodePG, PolicyHash
from hash_envs import corpus
def build(encoding, factorize, arch=(16,)):
    short = [w for w in corpus.load("web2") if len(w) <= 9][::100]
    kwargs = {"corpus": short, "pool_size": 50, "n_words": 50, "n_bins": 1000,
              "encoding": encoding, "factorize_bins": factorize, "max_len": 9}
    agent = EpisodePG("hash_envs/StatelessHash-v0", kwargs, net_arch=arch, seed=5)
    if encoding == "codepoints":  # inputs in [0, 1], not one-hot: spread the first layer
        agent.policy.mlp_extractor.policy_net[0].weight.data *= 30
    return PolicyHash(agent.policy, n_bins=1000)
"""
ODD = [
    "",
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\udc00\ud800",
    "naïve",
    "日本語",
    "😀",
    "\x00",
    "a\x00",
    "\x00b",
    "\t",
    " ",
    "x" * 100,
    "é" * 30,
    "\ud800" * 7,
    "abcdefghi",
    "abcdefghij",
]


def build(encoding: str, factorize: bool, arch: tuple[int, ...] = (16,)) -> PolicyHash:
    namespace: dict = {}
    exec(BUILD, namespace)
    return namespace["build"](encoding, factorize, arch)


@pytest.fixture(scope="module")
def web2() -> list[str]:
    words = corpus.load("web2")
    assert len(words) == 235_970
    return words


def test_utf8_batch_is_utf8_of_each_word(web2: list[str]) -> None:
    for words in (web2[:20000] + ODD, ODD + ["a\nb", "\n", ""], [""], ["\n"], ["", ""]):
        data, starts, lengths = utf8_batch(words)
        assert data.dtype == np.uint8 and starts.dtype == lengths.dtype == np.int64
        raw = [utf8(w) for w in words]
        assert lengths.tolist() == [len(b) for b in raw]
        assert [data[s : s + n].tobytes() for s, n in zip(starts, lengths, strict=True)] == raw
        np.testing.assert_array_equal(starts[1:], starts[:-1] + lengths[:-1] + 1)
        assert data.size == lengths.sum() + len(words) - 1
    data, starts, lengths = utf8_batch([])
    assert data.size == starts.size == lengths.size == 0
    with pytest.raises(TypeError, match="words must be str, got bytes"):
        utf8_batch(["a", b"b"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("encoding", "factorize", "arch"),
    [
        ("bytes", False, (16,)),  # a 1000-way head
        ("bytes", True, (16,)),  # a 32 x 32 head
        ("codepoints", True, (16,)),
        ("bytes", True, ()),  # a linear policy: the first layer is the output layer
    ],
)
def test_fast_bins_are_the_reference_bins_on_web2(
    encoding: str, factorize: bool, arch: tuple[int, ...], web2: list[str]
) -> None:
    h = build(encoding, factorize, arch)
    assert h.fast is not None and (h.network.grid is not None) == factorize
    assert h.encoder.max_len == 9 and sum(len(w) > 9 for w in web2) > 50_000  # folded
    words = ODD + web2 + ODD[::-1]
    reference = h.reference_bins(words)
    assert np.unique(reference).size > 900  # a real hash, not a constant
    h.chunk_size = len(words)
    np.testing.assert_array_equal(h.hash_many(words), reference)
    assert 0 < h.fast.rescored < len(words) // 10  # the float64 tier had work, not all
    order = np.random.default_rng(1).permutation(len(words))
    shuffled = [words[i] for i in order]
    for size, count in ((1, 300), (7, 5000), (4096, len(words))):
        h.chunk_size = size
        np.testing.assert_array_equal(h.hash_many(shuffled[:count]), reference[order[:count]])
    h.chunk_size, h.fast.block = 65536, 5  # blocks of 5 words inside a batch
    np.testing.assert_array_equal(h.hash_many(shuffled[:3000]), reference[order[:3000]])
    # a batch holding the separator itself takes utf8_batch's per-word path
    mixed = ["a\nb", *ODD, "\n", *shuffled[:2000]]
    np.testing.assert_array_equal(h.hash_many(mixed), h.reference_bins(mixed))
    assert h.hash_many([]).shape == (0,)


@pytest.mark.parametrize(
    ("encoding", "factorize", "arch", "activation", "gain"),
    [
        ("bytes", False, (64, 64), "Tanh", 1.0),
        ("bytes", True, (32, 32), "Sin", 3.0),  # large pre-activations: sine folds them
        ("codepoints", False, (16, 16), "ReLU", 30.0),  # unbounded activations
        ("bytes", False, (), "Tanh", 1.0),  # a linear policy
    ],
)
def test_error_bounds_cover_the_float32_error(
    encoding: str,
    factorize: bool,
    arch: tuple[int, ...],
    activation: str,
    gain: float,
    web2: list[str],
) -> None:
    """The certified argmax rests on ``E``: on every word, each float32 score the fast path
    decides from is within its word's ``E`` of the float64 score (itself within a 2**-29
    fraction of ``E`` of the exact one), for words of every length, folded ones too.
    ``E`` is a worst-case bound, typically 10^3 times the error seen: this catches a path
    the bound misses, not a term a few times too small (the derivation is in the code)."""
    from torch import nn

    from agents import EpisodePG
    from agents.common.layers import Sin

    short = [w for w in web2 if len(w) <= 9][::100]
    kwargs = {
        "corpus": short,
        "pool_size": 50,
        "n_words": 50,
        "n_bins": 1000,
        "encoding": encoding,
        "factorize_bins": factorize,
        "max_len": 9,
    }
    act = {"Tanh": nn.Tanh, "Sin": Sin, "ReLU": nn.ReLU}[activation]
    agent = EpisodePG(
        "hash_envs/StatelessHash-v0", kwargs, net_arch=arch, activation_fn=act, seed=3
    )
    with th.no_grad():
        for p in agent.policy.parameters():
            p.mul_(gain)
    h = PolicyHash(agent.policy, n_bins=1000)
    words = ODD + web2[::7]
    obs = h.fast.encoder.encode(words, overflow="fold")
    with th.no_grad():
        exact = h.network.scores(th.from_numpy(obs))
    for scores, error in (h.fast.word_scores(words), h.fast.scores(obs)):
        deviation = (scores.double() - exact).abs().amax(dim=1).numpy()
        assert error.shape == (len(words),) and np.isfinite(error).all()
        assert (deviation <= error).all(), (deviation / error).max()
        assert deviation.max() > 0  # float32 did round: the test can fail
    assert len(h.fast.word_scores([])[1]) == 0


@pytest.mark.parametrize("name", ["Sin", "Tanh", "ReLU"])
def test_float32_activations_are_within_the_bound_they_are_given(name: str) -> None:
    """The bounds allow each float32 activation 8 units of 2**-24 of error (``|output| <=
    1``; ReLU: exact); numpy's SIMD sine and tanh, which the fast path uses, must stay
    inside that on this machine: a dense sweep of float32 inputs in [-4, 4] (every 97th
    bit pattern), random inputs of scales 1e-3 to 1e5, and the extremes."""
    from agents.hashes.hash_network import _ACTIVATIONS

    act = _ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    sweep = np.arange(0, 0x40800000, 97, dtype=np.uint32).view(np.float32)
    scales = np.repeat(10.0 ** np.arange(-3, 6), 100_000)
    wide = (rng.standard_normal(scales.size) * scales).astype(np.float32)
    extremes = np.array([0.0, -0.0, 1e-38, 3.4e38, -3.4e38], dtype=np.float32)
    x = np.concatenate([sweep, -sweep, wide, extremes])
    exact = act.torch(th.from_numpy(x.astype(np.float64))).numpy()
    got = act(th.from_numpy(x.copy())).double().numpy()
    error = np.abs(got - exact)
    assert error.max() <= 8 * 2.0**-24, error.max() / 2.0**-24
    assert (error.max() > 0) == act.bounded  # rounding happened: the test can fail


def test_float32_near_ties_are_decided_in_float64(web2: list[str]) -> None:
    h = build("bytes", False)
    head = h.network.layers[-1]
    with th.no_grad():  # bin 9 beats bin 5 by 2 ulp of float32 on every word
        head.weight[9] = head.weight[5]
        head.bias[5] = 100.0
        head.bias[9] = float(np.nextafter(np.nextafter(np.float32(100), 200), 200))
    h.fast = FastScorer.for_network(h.network)  # anew, from the edited weights
    words = web2[:3000] + ODD
    bins = h.hash_many(words)
    assert set(bins.tolist()) == {9}
    np.testing.assert_array_equal(bins, h.reference_bins(words))
    assert h.fast.rescored == len(words) and h.fast.referred == 0
    with th.no_grad():  # an exact tie: float64 cannot decide either, the reference does
        head.bias[9] = 100.0
    h.fast = FastScorer.for_network(h.network)
    assert set(h.hash_many(words).tolist()) == {5}  # argmax takes the first of equal scores
    assert h.fast.referred == len(words)


def test_fast_bins_agree_across_processes_and_hash_seeds(web2: list[str]) -> None:
    script = BUILD + (
        "import hashlib, sys\nfrom hash_envs import corpus\n"
        "bins = build('bytes', True).hash_many(corpus.load('web2'))\n"
        "print(hashlib.sha256(bins.astype('<i8').tobytes()).hexdigest())\n"
    )
    expected = build("bytes", True).reference_bins(web2)
    digest = hashlib.sha256(expected.astype("<i8").tobytes()).hexdigest()
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        )
        assert out.stdout.split()[-1] == digest
