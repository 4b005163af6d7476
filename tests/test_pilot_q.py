"""Hash-and-displace Q-learning (agents.algorithms.pilot_q, agents.common.pilots): its
episodes are the env's episodes, its greedy policy is a stateless hash function, and it
reaches a perfect hash."""

from __future__ import annotations

import hashlib
import random
import time

import numpy as np
import pytest

from agents.algorithms.pilot_q import PilotQ
from agents.common import pilots_kernel
from agents.common.pilots import (
    BLOCK,
    PilotHash,
    decode_monotone,
    decode_pilots,
    encode_monotone,
    encode_pilots,
    load_pilot_hash,
    pack_bits,
    unpack_bits,
    word_hashes,
)
from hash_envs import corpus
from hash_envs.envs import StatelessHashEnv
from hash_envs.hashing import ArtifactError, make_hash_function
from hash_envs.rewards import first_come_rewards


@pytest.fixture(scope="module")
def web2_2000() -> list[str]:
    """2,000 words of the embedded web2 list (always available offline)."""
    return corpus.subset(corpus.load("web2"), 2000, seed=0)


@pytest.fixture(params=["kernel", "numpy"])
def engine(request, monkeypatch):
    """Run a test with the compiled kernel and with the NumPy engine (same results)."""
    if request.param == "numpy":
        monkeypatch.setenv("HASH_ENVS_NO_NUMBA", "1")
    else:
        monkeypatch.delenv("HASH_ENVS_NO_NUMBA", raising=False)
    pilots_kernel.kernels.cache_clear()
    if request.param == "kernel" and not pilots_kernel.available():
        pytest.skip("numba is not installed")
    yield request.param
    pilots_kernel.kernels.cache_clear()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # waves, alpha = 0.99 and the remap
        # one pilot per exploratory round, a minimal table, small waves
        {"alpha": 1.0, "wave_fraction": 1 / 8, "max_parallel": 1},
    ],
)
def test_every_episode_equals_scoring_the_whole_episode(
    web2_2000: list[str], kwargs, engine
) -> None:
    agent = PilotQ(web2_2000[:1000], bucket_size=4.0, seed=3, **kwargs)
    moved = []
    while (changed := agent.step()) > 0:
        moved.append(changed)
        whole = first_come_rewards(agent._bins[None], agent.n_slots, 10.0, -10.0)[0]
        rewards = agent.episode_rewards()
        np.testing.assert_array_equal(rewards, whole)
        # Every word of the buckets learned so far earns the maximum.
        learned = agent._words_before[agent._frontier] if agent.episodes > 1 else 0
        assert (rewards[:learned] == 10.0).all()
    assert agent.collisions == 0 and agent.learned
    assert len(moved) > 10  # a real search, not a first-episode fluke
    assert (agent.pilots > 0).sum() > agent.n_buckets // 2  # most buckets had to move
    # The greedy policy's slots are what the exported function computes from scratch...
    np.testing.assert_array_equal(agent.slot_function().hash_many(agent.episode_order), agent._bins)
    # ...and its bins are those slots, the ones at or above n_bins remapped to free bins.
    h = agent.hash_function()
    bins = h.hash_many(agent.episode_order)
    low = agent._bins < agent.n_bins
    np.testing.assert_array_equal(bins[low], agent._bins[low])
    assert np.unique(bins).size == agent.n_words == agent.n_bins
    assert (low.all() and h.remap.size == 0) == (kwargs.get("alpha") == 1.0)


def test_both_engines_learn_the_same_pilots_and_hash_alike(web2_2000, monkeypatch) -> None:
    """The compiled kernel and the NumPy engine are one learner: same pilots, same word
    hashes, same bins, whatever the wave size or the exploration width."""
    if not pilots_kernel.available():
        pytest.skip("numba is not installed")
    words = web2_2000 + ["", "é", "\ud800x", "a" * 40, "tab\tand\nnewline", "日本語"]
    runs = {}
    for engine in ("kernel", "numpy"):
        monkeypatch.setenv("HASH_ENVS_NO_NUMBA", "1" if engine == "numpy" else "")
        pilots_kernel.kernels.cache_clear()
        assert pilots_kernel.available() == (engine == "kernel")
        agents = [
            PilotQ(words, seed=4, bucket_size=5.0, **kw)
            for kw in ({}, {"wave_fraction": float("inf"), "batch_words": 512})
        ]
        hs = [a.learn() for a in agents]
        runs[engine] = (hs, word_hashes(words, 4), hs[0].hash_many(words), hs[0].slots(words))
    monkeypatch.delenv("HASH_ENVS_NO_NUMBA")
    pilots_kernel.kernels.cache_clear()
    (hk, wk, bk, sk), (hn, wn, bn, sn) = runs["kernel"], runs["numpy"]
    for a, b in ((hk[0], hn[0]), (hk[1], hn[1]), (hk[0], hk[1])):  # the waves change nothing
        np.testing.assert_array_equal(a.pilots, b.pilots)
    np.testing.assert_array_equal(wk, wn)
    np.testing.assert_array_equal(bk, bn)
    np.testing.assert_array_equal(sk, sn)
    assert np.unique(bk).size == len(words)


def test_agent_rewards_are_the_gym_env_rewards(words: list[str]) -> None:
    """Stepping StatelessHashEnv with the greedy hash pays what the agent learned from."""
    agent = PilotQ(words, bucket_size=3.0, seed=1)
    env = StatelessHashEnv(
        corpus=words,
        n_words=len(words),
        n_bins=agent.n_slots,  # the env the agent learns in; the remap comes afterwards
        word_order=agent.episode_order,
        encoding="bytes",
    )
    for episodes in (1, 2, 5, 40):
        while agent.episodes < episodes and agent.step():
            pass
        policy = agent.slot_function()
        env.reset(seed=episodes)
        rewards = []
        for _ in range(len(words)):
            _, reward, terminated, _, info = env.step(policy(env.current_word))
            rewards.append(reward)
        assert terminated
        np.testing.assert_array_equal(rewards, agent.episode_rewards())
        assert info["collisions"] == agent.collisions


def test_2000_words_reach_a_perfect_hash_quickly(web2_2000: list[str]) -> None:
    """The issue's regression check: a fixed seed memorises 2,000 words with zero
    collisions within a CI-friendly time (it takes well under a second here)."""
    start = time.perf_counter()
    agent = PilotQ(web2_2000, bucket_size=3.0, seed=0)
    h = agent.learn(time_budget_s=60.0)
    assert time.perf_counter() - start < 60.0
    assert agent.collisions == 0
    bins = h.hash_many(web2_2000)
    assert np.unique(bins).size == len(web2_2000) == h.n_bins
    assert bins.min() >= 0 and bins.max() < h.n_bins
    assert agent.history[-1].collisions == 0 and agent.history[-1].moving_buckets == 0
    assert h.bits_per_key()["stored"] < 16  # a few bits per word, not a word list


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 30])
def test_tiny_pools_reach_a_perfect_hash(n: int) -> None:
    """A few words in a few slots: XOR with a common pilot mask keeps which hashes agree
    in their high bits, so the slot reduction must not read the high bits alone (with it,
    3 words into 4 slots never parted)."""
    for seed in range(4):
        words = corpus.subset(corpus.load("web2"), n, seed=seed)
        agent = PilotQ(words, seed=seed)
        h = agent.learn(max_episodes=1000)
        assert agent.collisions == 0 and np.unique(h.hash_many(words)).size == n


def test_the_hash_is_stateless_and_deterministic(web2_2000: list[str]) -> None:
    h = PilotQ(web2_2000, seed=5).learn(max_episodes=50)
    shuffled = web2_2000[:]
    random.Random(0).shuffle(shuffled)
    by_word = dict(zip(web2_2000, h.hash_many(web2_2000), strict=True))
    assert [by_word[w] for w in shuffled] == h.hash_many(shuffled).tolist()
    assert [h(w) for w in shuffled[:50]] == [by_word[w] for w in shuffled[:50]]
    again = PilotQ(web2_2000, seed=5).learn(max_episodes=50)
    np.testing.assert_array_equal(again.pilots, h.pilots)


def test_budget_and_callback_stop_training(web2_2000: list[str]) -> None:
    agent = PilotQ(web2_2000, bucket_size=6.0)
    agent.learn(max_episodes=3)
    assert agent.episodes == 3 and agent.history[-1].episode == 3
    seen = []
    agent.learn(callback=lambda s: seen.append(s) or False)
    assert len(seen) == 1 and agent.episodes == 4


def test_save_load_and_leaderboard_by_path(tmp_path, web2_2000: list[str]) -> None:
    h = PilotQ(web2_2000, bucket_size=3.0).learn()
    path = h.save(tmp_path / "hash.pilots")
    loaded = load_pilot_hash(path)
    np.testing.assert_array_equal(loaded.hash_many(web2_2000), h.hash_many(web2_2000))
    assert (loaded.n_bins, loaded.seed, loaded.size_bytes) == (h.n_bins, h.seed, h.size_bytes)
    contender = make_hash_function(str(path), len(web2_2000))  # the artifact entry point
    np.testing.assert_array_equal(contender.hash_many(web2_2000[:10]), h.hash_many(web2_2000[:10]))


def test_damaged_foreign_or_format_1_files_are_refused(tmp_path) -> None:
    h = PilotHash(np.arange(10), n_bins=20, seed=0)
    blob = bytearray(h.to_bytes())
    blob[-1] ^= 1  # one bit of the pilots
    (tmp_path / "bad.pilots").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="damaged"):
        load_pilot_hash(tmp_path / "bad.pilots")
    (tmp_path / "short.pilots").write_bytes(h.to_bytes()[:-1])
    with pytest.raises(ValueError, match="damaged"):
        load_pilot_hash(tmp_path / "short.pilots")
    (tmp_path / "text.pilots").write_text("not numpy")
    with pytest.raises(ValueError, match="not a pilot-hash file"):
        load_pilot_hash(tmp_path / "text.pilots")
    with open(tmp_path / "other.pilots", "wb") as f:
        np.savez(f, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a pilot-hash file"):
        load_pilot_hash(tmp_path / "other.pilots")
    with open(tmp_path / "old.pilots", "wb") as f:  # what issue 4's version wrote
        np.savez(f, format=np.array("hash-envs/pilot-hash/1"), packed=np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="format-1 pilot-hash file.*retrain"):
        load_pilot_hash(tmp_path / "old.pilots")
    (tmp_path / "v2.pilots").write_bytes(b"PILOTS\x00\x02" + bytes(200))  # issue 16's format
    with pytest.raises(ArtifactError, match=r"v2\.pilots is a format-2 pilot-hash file.*retrain"):
        load_pilot_hash(tmp_path / "v2.pilots")


def test_the_file_is_every_byte_size_bytes_counts(tmp_path) -> None:
    """Pilots as a Rice code per block (low bits and unary high parts apart), the rare
    large ones included, the remap as Elias-Fano: the file is exactly size_bytes long,
    and it decodes to the function."""
    rng = np.random.default_rng(0)
    pilots = rng.geometric(0.2, size=5000) - 1
    pilots[:700] = rng.geometric(0.9, size=700) - 1  # the first blocks' small pilots...
    pilots[rng.choice(5000, 7, replace=False)] = rng.integers(2**18, 2**19, 7)  # ...rare big
    remap = np.sort(rng.integers(0, 15000, 150))
    h = PilotHash(pilots, n_bins=15000, seed=2, n_slots=15150, remap=remap)
    (high_bits, offset_width), arrays = encode_pilots(h.pilots)
    ks = unpack_bits(arrays[0], 6, -(-5000 // BLOCK))
    assert ks[0] < ks[-1] and ks.max() < h.pilot_bits  # a parameter per block
    path = h.save(tmp_path / "h.pilots")
    low_bits, remap_arrays = encode_monotone(remap, 15000)
    data = sum(a.nbytes for a in (*arrays, *remap_arrays))
    assert path.stat().st_size == h.size_bytes == data + 8 + 64 + 32  # magic, header, digest
    loaded = load_pilot_hash(path)
    np.testing.assert_array_equal(loaded.pilots, pilots)
    np.testing.assert_array_equal(loaded.remap, remap)
    assert (loaded.n_bins, loaded.n_slots, loaded.seed) == (15000, 15150, 2)
    words = [f"w{i}" for i in range(3000)]
    np.testing.assert_array_equal(loaded.hash_many(words), h.hash_many(words))
    assert (h.slots(words) >= 15000).any()  # the remap is exercised
    np.testing.assert_array_equal(decode_pilots(5000, high_bits, offset_width, arrays), pilots)
    np.testing.assert_array_equal(decode_monotone(150, low_bits, remap_arrays), remap)
    bits = h.bits_per_key(5000)
    assert bits["entropy"] < bits["pilots"] < bits["stored"] < bits["fixed_width"]
    # A geometric table's Rice code is within a few percent of its entropy, plus the
    # per-block fields (a rare huge pilot costs its whole block more: no exceptions).
    geometric = PilotHash(rng.geometric(0.05, 20000) - 1, n_bins=20000, seed=0)
    (_, offset_width), _ = encode_pilots(geometric.pilots)
    per_block = (6 + offset_width) / BLOCK
    geo_bits = geometric.bits_per_key(20000)
    assert geo_bits["entropy"] < geo_bits["pilots"] < 1.03 * geo_bits["entropy"] + per_block
    assert bits["remap"] * 150 / 5000 < 2 + np.log2(15000 / 150) + 1  # Elias-Fano's bound
    np.testing.assert_array_equal(unpack_bits(pack_bits(pilots, 19), 19, 5000), pilots)


@pytest.mark.parametrize("n", [1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 1000])
def test_pilot_code_round_trips(n: int) -> None:
    rng = np.random.default_rng(n)
    for pilots in (np.zeros(n, np.int64), rng.geometric(0.02, n) - 1, rng.integers(0, 2**40, n)):
        params, arrays = encode_pilots(pilots)
        np.testing.assert_array_equal(decode_pilots(n, *params, arrays), pilots)


def test_damaged_pilot_codes_are_artifact_errors_naming_the_file(tmp_path) -> None:
    """A file whose checksum was recomputed over damaged parts still fails on its own
    consistency checks, with an ArtifactError that names it."""
    h = PilotHash(np.random.default_rng(1).geometric(0.1, 1000) - 1, n_bins=3000, seed=0)
    blob = bytearray(h.to_bytes())
    head_end = 8 + 64
    body = blob[head_end + 32 :]
    n_blocks = -(-1000 // BLOCK)
    k_bytes = (n_blocks * 6 + 7) // 8
    (high_bits, _), arrays = encode_pilots(h.pilots)
    high_start = k_bytes + arrays[1].nbytes
    for where in (high_start, high_start + arrays[2].nbytes - 1, len(body) - 1):
        damaged = bytearray(body)
        damaged[where] ^= 0xFF
        head = bytes(blob[:head_end])
        resealed = head + hashlib.sha256(head + bytes(damaged)).digest() + bytes(damaged)
        path = tmp_path / f"resealed_{where}.pilots"
        path.write_bytes(resealed)
        with pytest.raises(ArtifactError, match=rf"resealed_{where}\.pilots is damaged"):
            load_pilot_hash(path)
    fields = bytearray(blob)
    fields[8 + 4 * 8] ^= 1  # the block size
    path = tmp_path / "header.pilots"
    head = bytes(fields[:head_end])
    path.write_bytes(head + hashlib.sha256(head + bytes(body)).digest() + bytes(body))
    with pytest.raises(ArtifactError, match=r"header\.pilots is damaged"):
        load_pilot_hash(path)


@pytest.mark.parametrize("m", [0, 1, 7, 1000])
def test_elias_fano_round_trip(m: int) -> None:
    values = np.sort(np.random.default_rng(m).integers(0, 5000, m))
    low_bits, arrays = encode_monotone(values, 5000)
    np.testing.assert_array_equal(decode_monotone(m, low_bits, arrays), values)
    if m:
        assert sum(a.nbytes for a in arrays) * 8 <= m * (2 + np.log2(5000 / m)) + 16


def test_bits_per_key_counts_the_stored_bytes() -> None:
    h = PilotHash(np.array([0, 1, 2, 3, 0, 0, 0, 7]), n_bins=16, seed=0)
    assert h.pilot_bits == 3
    # size_bytes is what encode_pilots stores (the block's k, low bits, unary parts and
    # offset), plus 104: magic, eight 64-bit fields, SHA-256.
    _, arrays = encode_pilots(h.pilots)
    assert h.size_bytes == len(h.to_bytes()) == sum(a.nbytes for a in arrays) + 104
    bits = h.bits_per_key()
    assert bits["stored"] == pytest.approx(8 * h.size_bytes / 16)
    assert bits["fixed_width"] == pytest.approx(8 * (3 + 104) / 16)
    assert bits["remap"] == 0
    p = np.array([4, 1, 1, 1, 1]) / 8
    assert bits["entropy"] == pytest.approx(-(p * np.log2(p)).sum() * 8 / 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"words": []}, "empty"),
        ({"words": ["a", "b", "a"]}, "distinct"),
        ({"words": ["a", "b", "c"], "n_bins": 2}, "cannot go into 2 bins"),
        ({"words": ["a", "b"], "bucket_size": 0}, "bucket_size"),
        ({"words": ["a", "b"], "alpha": 0}, "alpha"),
        ({"words": ["a", "b"], "alpha": 1.5}, "alpha"),
        ({"words": ["a", "b"], "batch_words": 0}, "positive"),
        ({"words": ["a", "b"], "max_pilot": 0}, "positive"),
        ({"words": ["a", "b"], "reward_empty": -20.0}, "reward_empty"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PilotQ(**kwargs)


@pytest.mark.parametrize("words", [["a", 3, "b"], ["a", b"b"], ["a", None], "abc"])
def test_non_str_words_raise_type_error_before_any_work(words, monkeypatch) -> None:
    def no_work(*args):
        raise AssertionError("hashed before checking the words")

    monkeypatch.setattr("agents.algorithms.pilot_q.hash_buffer", no_work)
    with pytest.raises(TypeError, match="str"):
        PilotQ(words)


def test_duplicates_are_a_value_error_before_any_work(monkeypatch) -> None:
    def no_work(*args):
        raise AssertionError("hashed before checking the words")

    monkeypatch.setattr("agents.algorithms.pilot_q.hash_buffer", no_work)
    with pytest.raises(ValueError, match="distinct"):
        PilotQ(["a", "b", "c", "b"])
    with pytest.raises(ValueError, match="empty"):
        PilotQ(iter([]))


def test_hash_many_of_non_str_is_a_type_error(web2_2000) -> None:
    h = PilotQ(web2_2000[:100]).learn()
    with pytest.raises(TypeError, match="str"):
        h.hash_many(["a", 1])
    assert h.hash_many([]).shape == (0,)


def test_bad_pilots_raise() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        PilotHash(np.array([1, -1]), n_bins=4, seed=0)
    with pytest.raises(ValueError, match="1-D integer"):
        PilotHash(np.array([0.5]), n_bins=4, seed=0)
    with pytest.raises(ValueError, match="n_slots"):
        PilotHash(np.array([1]), n_bins=4, seed=0, n_slots=3)
    with pytest.raises(ValueError, match="remap must hold"):
        PilotHash(np.array([1]), n_bins=4, seed=0, n_slots=6, remap=np.array([0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        PilotHash(np.array([1]), n_bins=4, seed=0, n_slots=6, remap=np.array([2, 1]))


def test_env_word_order_validation(words: list[str]) -> None:
    kwargs = {"corpus": words, "n_words": 3, "n_bins": 3}
    env = StatelessHashEnv(**kwargs, word_order=words[:3][::-1])
    env.reset(seed=0)
    assert env.current_word == words[2]
    with pytest.raises(ValueError, match="not in the pool"):
        StatelessHashEnv(**kwargs, word_order=[words[0], words[1], "no-such-word!"])
    with pytest.raises(ValueError, match="repeats"):
        StatelessHashEnv(**kwargs, word_order=[words[0], words[0], words[1]])
    with pytest.raises(ValueError, match="not n_words=3"):
        StatelessHashEnv(**kwargs, word_order=words[:2])
    with pytest.raises(TypeError, match="single string"):
        StatelessHashEnv(**kwargs, word_order="abc")


def test_cli_evaluate_reads_a_pilots_file(tmp_path, capsys, web2_2000: list[str]) -> None:
    from hash_envs.cli import main

    path = PilotQ(web2_2000).learn().save(tmp_path / "h.pilots")
    words = tmp_path / "words.txt"  # a small corpus keeps the speed track short
    words.write_text("\n".join(web2_2000) + "\n")
    assert main(["evaluate", str(path), "--corpus", str(words), "--against", "--no-progress"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith(f"| {path} "))
    assert row.split("|")[3].strip() == "0"  # memorize-2000 collisions


def test_cli_train_pilot_q_writes_a_perfect_hash(tmp_path, capsys, web2_2000) -> None:
    from hash_envs.cli import main

    kwargs = '{"corpus": "web2", "pool_size": 2000, "n_words": 2000, "n_bins": 2000}'
    args = ["train", "--algo", "pilot-q", "--env-kwargs", kwargs, "--timesteps", str(10**9)]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert "0 collisions on the pool" in capsys.readouterr().out
    h = load_pilot_hash(tmp_path / "hash.pilots")
    assert np.unique(h.hash_many(web2_2000)).size == 2000  # the env's pool is this subset
    not_fixed = '{"corpus": "web2", "n_words": 100, "n_bins": 100}'
    args = ["train", "--algo", "pilot-q", "--env-kwargs", not_fixed, "--timesteps", "100"]
    assert main([*args, "--out", str(tmp_path / "no")]) == 2
    assert "pool_size == n_words == n_bins" in capsys.readouterr().err
