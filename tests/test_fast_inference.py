"""The fast (certified float32) path of PolicyHash gives the reference (float64) bins.

On every web2 word, in any batch size and order, in fresh processes with different
``PYTHONHASHSEED``, for bytes and codepoints inputs, one head or a factorised
``MultiDiscrete([rows, cols])`` head, and on exact ties (where the reference decides).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from agents import PG, PolicyHash, load_hash
from agents.hashes.policy_hash import FastScorer
from hash_envs import corpus

STATELESS = "hash_envs/StatelessHash-v0"
#: A script that builds the same seeded policy and prints its fast bins of web2.
BUILD = """
import gymnasium as gym
from agents import PG, PolicyHash
from agents.common.layers import Sin
def build(encoding, factorize):
    env = gym.make("hash_envs/StatelessHash-v0", corpus="web2", pool_size=100, n_words=100,
                   n_bins=1000, encoding=encoding, factorize_bins=factorize)
    net = {"net_arch": {"pi": [32], "vf": []}, "activation_fn": Sin}
    return PolicyHash(PG("MlpPolicy", env, seed=3, policy_kwargs=net))
"""


def build(encoding: str, factorize: bool) -> PolicyHash:
    namespace: dict = {}
    exec(BUILD, namespace)
    return namespace["build"](encoding, factorize)


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


@pytest.mark.parametrize("factorize", [False, True])
@pytest.mark.parametrize("encoding", ["bytes", "codepoints"])
def test_fast_bins_are_the_reference_bins(encoding: str, factorize: bool, web2: list[str]) -> None:
    h = build(encoding, factorize)
    assert h.fast is not None and (h.network.grid is not None) == factorize
    bins = h.hash_many(web2)  # words longer than the pool's are folded
    np.testing.assert_array_equal(bins, h.reference_bins(web2))
    order = np.random.default_rng(0).permutation(len(web2))[:20000]
    shuffled = [web2[i] for i in order]
    for size in (1, 7, 4096):
        h.chunk_size = size
        np.testing.assert_array_equal(h.hash_many(shuffled[: 50 * size]), bins[order[: 50 * size]])


def test_exact_ties_are_decided_by_the_reference(web2: list[str]) -> None:
    h = build("bytes", False)
    head = h.network.layers[-1]
    with th.no_grad():  # bins 5 and 9 score identically for every word, and win
        head.weight[9] = head.weight[5]
        head.bias[5] = head.bias[9] = 100.0
    h.fast = FastScorer.for_network(h.network)
    bins = h.hash_many(web2[:5000])
    assert set(bins.tolist()) == {5}  # argmax takes the first of equal scores
    np.testing.assert_array_equal(bins, h.reference_bins(web2[:5000]))


def test_factorised_hash_exports_to_onnx(tmp_path: Path, web2: list[str]) -> None:
    h = build("bytes", True)
    words = web2[::4]
    bins = h.hash_many(words)
    assert bins.max() < 1000 and np.unique(bins).size > 500
    loaded = load_hash(h.export_onnx(tmp_path / "factorised.onnx"))
    np.testing.assert_array_equal(loaded.hash_many(words), bins)


def test_factorised_policy_needs_n_bins() -> None:
    env = gym.make(STATELESS, corpus="web2", pool_size=20, n_words=20, n_bins=29,
                   factorize_bins=True)  # fmt: skip
    model = PG("MlpPolicy", env, seed=0)
    with pytest.raises(ValueError, match=r"over 6x5 cells needs n_bins in 1 .. 30"):
        PolicyHash(model.policy)
    assert PolicyHash(model.policy, n_bins=29).n_bins == 29
    assert PolicyHash(model).n_bins == 29  # read from the algorithm's env


def test_fast_bins_agree_across_processes_and_hash_seeds(web2: list[str]) -> None:
    script = BUILD + (
        "import json, sys\nfrom hash_envs import corpus\n"
        "print(json.dumps(build('bytes', True).hash_many(corpus.load('web2')).tolist()))\n"
    )
    expected = build("bytes", True).reference_bins(web2).tolist()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        )
        assert json.loads(out.stdout) == expected
