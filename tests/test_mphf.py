"""The minimal-perfect-hashing peers (baselines.mphf): perfect on their key set, saved
artifacts load through the leaderboard, and a missing extra is a message, not a crash."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from baselines import mphf
from hash_envs import corpus
from hash_envs.hashing import make_hash_function
from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard

PEERS = [
    pytest.param(
        mphf.PhobicHash,
        ".phobic",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("phobic") is None, reason="mphf extra not installed"
        ),
    ),
    pytest.param(
        mphf.BBHash,
        ".bbhash",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("bbhash") is None, reason="mphf extra not installed"
        ),
    ),
]


@pytest.fixture(scope="module")
def web2_3000() -> list[str]:
    return corpus.subset(corpus.load("web2"), 3000, seed=0)


@pytest.mark.parametrize(("peer", "suffix"), PEERS)
def test_peer_is_minimal_perfect_and_saves(tmp_path, peer, suffix, web2_3000) -> None:
    h = peer.build(web2_3000)
    bins = h.hash_many(web2_3000)
    assert h.n_bins == len(web2_3000) and np.unique(bins).size == len(web2_3000)
    assert bins.min() == 0 and bins.max() == len(web2_3000) - 1
    path = h.save(tmp_path / f"h{suffix}")
    assert path.stat().st_size == h.size_bytes  # every stored byte is counted
    loaded = make_hash_function(str(path), len(web2_3000))  # the artifact entry point
    np.testing.assert_array_equal(loaded.hash_many(web2_3000), bins)
    assert 0 <= h("not-a-key-word") < h.n_bins
    board = run_leaderboard(
        web2_3000,
        [str(path)],
        LeaderboardConfig(tracks=("memorize-3000",), seed=0),
        progress=False,
    )
    assert board["results"][0]["tracks"]["memorize-3000"]["collisions"] == 0


@pytest.mark.parametrize(("peer", "suffix"), PEERS)
def test_foreign_files_are_refused(tmp_path, peer, suffix) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(b"not a perfect hash")
    with pytest.raises(ValueError, match="is not a"):
        make_hash_function(str(path), 10)


def test_missing_library_is_a_message(monkeypatch) -> None:
    real = importlib.import_module

    def no_phobic(name, *args):
        if name == "phobic":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(mphf.importlib, "import_module", no_phobic)
    with pytest.raises(ImportError, match=r"pip install 'hash-envs\[mphf\]'"):
        mphf.PhobicHash.build(["a", "b"])
    monkeypatch.setattr(mphf.importlib.util, "find_spec", lambda name: None)
    assert mphf.missing() == ["phobic", "bbhash"]
