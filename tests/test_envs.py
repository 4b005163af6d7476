"""Tests for the hash-placement environments (single and native vector).

Everything runs on the small in-memory corpus of ``conftest.py`` (or a small ``web2``
pool); only the tests marked ``moby`` load the Moby list.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env

import hash_envs
from hash_envs import corpus as corpus_lib
from hash_envs.encoding import WordEncoder
from hash_envs.envs import (
    StatelessHashEnv,
    StatelessHashVectorEnv,
    TableAwareHashEnv,
    TableAwareHashVectorEnv,
)
from hash_envs.metrics import collisions as metric_collisions
from hash_envs.metrics import expected_collisions

STATELESS, TABLE_AWARE = hash_envs.ENV_IDS
ENV_IDS = [STATELESS, TABLE_AWARE]
ENCODINGS = ["codepoints", "bytes"]
SINGLE_CLS = {STATELESS: StatelessHashEnv, TABLE_AWARE: TableAwareHashEnv}
VECTOR_CLS = {STATELESS: StatelessHashVectorEnv, TABLE_AWARE: TableAwareHashVectorEnv}
INFO_KEYS = ("collisions", "occupied_bins", "max_load")
FINAL_KEYS = ("episode_return", "expected_collisions")


def word_obs(obs: Any) -> np.ndarray:
    return obs["word"] if isinstance(obs, dict) else obs


def run_episode(env: gym.Env, seed: int | None, actions: list[int]) -> dict[str, list]:
    """Reset with ``seed`` and play ``actions``; everything the env said, step by step."""
    obs, info = env.reset(seed=seed)
    record: dict[str, list] = {
        "obs": [obs],
        "infos": [info],
        "rewards": [],
        "terminated": [],
        "truncated": [],
        "words": [env.unwrapped.current_word],
    }
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        record["obs"].append(obs)
        record["infos"].append(info)
        record["rewards"].append(reward)
        record["terminated"].append(terminated)
        record["truncated"].append(truncated)
        record["words"].append(env.unwrapped.current_word)
    return record


def assert_obs_equal(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    else:
        np.testing.assert_array_equal(a, b)


def assert_info_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# --------------------------------------------------------------------------------------
# Registration and the environment checkers
# --------------------------------------------------------------------------------------
def test_both_ids_registered_with_single_and_vector_entry_points() -> None:
    for env_id in ENV_IDS:
        spec = gym.spec(env_id)
        assert spec.entry_point == f"hash_envs.envs.hash_table:{SINGLE_CLS[env_id].__name__}"
        assert spec.vector_entry_point == (
            f"hash_envs.envs.hash_table:{VECTOR_CLS[env_id].__name__}"
        )


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id: str, encoding: str, words: list[str]) -> None:
    for render_mode in (None, "ansi", "rgb_array"):
        env = gym.make(
            env_id, corpus=words, n_words=20, n_bins=16, encoding=encoding, render_mode=render_mode
        )
        assert isinstance(env.unwrapped, SINGLE_CLS[env_id])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any checker warning fails the test
            gym_check_env(env.unwrapped)
        env.close()


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id: str, encoding: str, words: list[str]) -> None:
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.make(env_id, corpus=words, n_words=20, n_bins=16, encoding=encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_checker.check_env(env.unwrapped, warn=True)
    env.close()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_sb3_multi_input_policy_learns_on_table_aware(encoding: str, words: list[str]) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    env = gym.make(TABLE_AWARE, corpus=words, n_words=8, n_bins=8, encoding=encoding, max_len=16)
    model = sb3.PPO(
        "MultiInputPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu"
    )
    model.learn(32)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    env.close()


# --------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_episodes(env_id: str, encoding: str, words: list[str]) -> None:
    n_words = 30
    actions = np.random.default_rng(7).integers(0, 16, size=n_words).tolist()
    runs = []
    for _ in range(2):
        env = gym.make(env_id, corpus=words, n_words=n_words, n_bins=16, encoding=encoding)
        first = run_episode(env, 123, actions)
        second = run_episode(env, None, actions)  # continues the seeded generator
        runs.append((first, second))
    for a, b in zip(runs[0], runs[1], strict=True):  # episode by episode
        assert a["words"] == b["words"]
        assert a["rewards"] == b["rewards"]
        assert a["terminated"] == b["terminated"]
        for oa, ob in zip(a["obs"], b["obs"], strict=True):
            assert_obs_equal(oa, ob)
        for ia, ib in zip(a["infos"], b["infos"], strict=True):
            assert_info_equal(ia, ib)
    # The unseeded reset showed a new episode, not a replay of the seeded one.
    assert runs[0][0]["words"] != runs[0][1]["words"]


def test_different_seeds_different_word_orders(words: list[str]) -> None:
    env = StatelessHashEnv(corpus=words, n_words=50, n_bins=64)
    orders = []
    for seed in range(5):
        record = run_episode(env, seed, list(range(50)))
        orders.append(tuple(record["words"][:-1]))
    assert len(set(orders)) == len(orders)
    # Each order is n_words distinct pool words.
    for order in orders:
        assert len(set(order)) == 50
        assert set(order) <= set(words)


def test_reset_seed_is_reproducible_across_instances(words: list[str]) -> None:
    a = TableAwareHashEnv(corpus=words, n_words=10, n_bins=10)
    b = TableAwareHashEnv(corpus=words, n_words=10, n_bins=10)
    for seed in (0, 1, 2**31):
        a.reset(seed=seed)
        b.reset(seed=seed)
        assert a._order == b._order
        assert a.current_word == b.current_word


# --------------------------------------------------------------------------------------
# Native vector env == SyncVectorEnv of the single env
# --------------------------------------------------------------------------------------
def _vector_pair(env_id: str, encoding: str, words: list[str], num_envs: int, **kwargs: Any):
    kwargs = dict(corpus=words, encoding=encoding, **kwargs)
    native = gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )
    single_cls = SINGLE_CLS[env_id]
    sync = gym.vector.SyncVectorEnv([lambda: single_cls(**kwargs)] * num_envs)
    return native, sync


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_native_vector_env_matches_sync_vector_env(
    env_id: str, encoding: str, words: list[str]
) -> None:
    num_envs, n_words, n_bins, episodes = 3, 7, 5, 4
    native, sync = _vector_pair(env_id, encoding, words, num_envs, n_words=n_words, n_bins=n_bins)
    assert isinstance(native.unwrapped, VECTOR_CLS[env_id])
    assert native.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert native.single_observation_space == sync.single_observation_space
    assert native.observation_space == sync.observation_space
    assert native.single_action_space == sync.single_action_space
    assert native.action_space == sync.action_space

    obs_n, info_n = native.reset(seed=42)
    obs_s, info_s = sync.reset(seed=42)
    assert_obs_equal(obs_n, obs_s)
    assert_info_equal(info_n, info_s)
    assert native.observation_space.contains(obs_n)

    rng = np.random.default_rng(0)
    finals = autoresets = 0
    history = []
    for step in range(episodes * (n_words + 1) - 1):
        actions = rng.integers(0, n_bins, size=num_envs)
        obs_n, rew_n, term_n, trunc_n, info_n = native.step(actions)
        obs_s, rew_s, term_s, trunc_s, info_s = sync.step(actions)
        history.append((obs_n, rew_n, info_n, obs_s, rew_s, info_s))
        assert_obs_equal(obs_n, obs_s)
        np.testing.assert_array_equal(rew_n, rew_s)
        np.testing.assert_array_equal(term_n, term_s)
        np.testing.assert_array_equal(trunc_n, trunc_s)
        assert_info_equal(info_n, info_s)
        assert native.observation_space.contains(obs_n)
        for key in INFO_KEYS:
            assert info_n[f"_{key}"].all()
        t = step % (n_words + 1)  # the step index within one episode + its autoreset step
        if t == n_words - 1:
            finals += 1
            assert term_n.all()
            for key in FINAL_KEYS:
                assert key in info_n
            np.testing.assert_array_equal(
                info_n["episode_return"], 10.0 * (n_words - 2 * info_n["collisions"])
            )
        elif t == n_words:  # NEXT_STEP autoreset: new episode, reward 0
            autoresets += 1
            assert not term_n.any()
            np.testing.assert_array_equal(rew_n, 0.0)
            np.testing.assert_array_equal(info_n["collisions"], 0)
            np.testing.assert_array_equal(info_n["occupied_bins"], 0)
            np.testing.assert_array_equal(info_n["max_load"], 0)
            assert not any(key in info_n for key in FINAL_KEYS)
        else:
            assert not term_n.any()
            assert not any(key in info_n for key in FINAL_KEYS)
        assert not trunc_n.any()
    assert finals == episodes and autoresets == episodes - 1
    # What a step returned is the caller's: later steps do not change it in place.
    for obs_n, rew_n, info_n, obs_s, rew_s, info_s in history:
        assert_obs_equal(obs_n, obs_s)
        np.testing.assert_array_equal(rew_n, rew_s)
        assert_info_equal(info_n, info_s)
    native.close()
    sync.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_native_vector_env_matches_gym_make_vec_sync(env_id: str, words: list[str]) -> None:
    kwargs = dict(corpus=words, n_words=4, n_bins=3, encoding="bytes")
    native = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync", **kwargs)
    seeds = [5, 11]
    assert_obs_equal(native.reset(seed=seeds)[0], sync.reset(seed=seeds)[0])
    rng = np.random.default_rng(1)
    for _ in range(12):
        actions = rng.integers(0, 3, size=2)
        out_n, out_s = native.step(actions), sync.step(actions)
        assert_obs_equal(out_n[0], out_s[0])
        for a, b in zip(out_n[1:4], out_s[1:4], strict=True):
            np.testing.assert_array_equal(a, b)
        assert_info_equal(out_n[4], out_s[4])
    # A reset without a seed continues every sub-env's generator in both, and a None in
    # a list of seeds continues that sub-env's generator.
    for seed in (None, None, [None, 7], [3, None]):
        obs_n, info_n = native.reset(seed=seed)
        obs_s, info_s = sync.reset(seed=seed)
        assert_obs_equal(obs_n, obs_s)
        assert_info_equal(info_n, info_s)


def test_vector_sub_envs_are_seeded_seed_plus_index(words: list[str]) -> None:
    vec = StatelessHashVectorEnv(num_envs=3, corpus=words, n_words=6, n_bins=6)
    vec.reset(seed=10)
    single = StatelessHashEnv(corpus=words, n_words=6, n_bins=6)
    for i in range(3):
        single.reset(seed=10 + i)
        np.testing.assert_array_equal(vec._order[:-1, i], single._order[:-1])
    # The sub-envs see different words.
    assert len({tuple(vec._order[:-1, i]) for i in range(3)}) == 3
    with pytest.raises(ValueError, match="seeds"):
        vec.reset(seed=[1, 2])


# --------------------------------------------------------------------------------------
# Rewards, info, episode end
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_cls", [StatelessHashEnv, TableAwareHashEnv])
def test_rewards_and_info_on_a_hand_made_episode(env_cls: type, words: list[str]) -> None:
    env = env_cls(corpus=words, n_words=6, n_bins=4)
    obs, info = env.reset(seed=3)
    assert info == {"collisions": 0, "occupied_bins": 0, "max_load": 0}
    actions = [0, 0, 1, 2, 0, 3]
    expected_rewards = [10.0, -10.0, 10.0, 10.0, -10.0, 10.0]
    expected_collisions_so_far = [0, 1, 1, 1, 2, 2]
    expected_occupied = [1, 1, 2, 3, 3, 4]
    expected_max_load = [1, 2, 2, 2, 3, 3]
    table = np.zeros(4, dtype=np.int8)
    for t, action in enumerate(actions):
        assert not np.all(word_obs(obs) == 0)  # a word is showing
        obs, reward, terminated, truncated, info = env.step(action)
        table[action] = 1
        assert reward == expected_rewards[t]
        assert info["collisions"] == expected_collisions_so_far[t]
        assert info["occupied_bins"] == expected_occupied[t]
        assert info["max_load"] == expected_max_load[t]
        assert info["collisions"] == (t + 1) - info["occupied_bins"]
        assert terminated == (t == len(actions) - 1)
        assert truncated is False
        if isinstance(obs, dict):
            np.testing.assert_array_equal(obs["table"], table)
        assert env.observation_space.contains(obs)
        if not terminated:
            assert "episode_return" not in info and "expected_collisions" not in info
    assert info["episode_return"] == 20.0 == 10 * (6 - 2 * 2)
    assert info["expected_collisions"] == pytest.approx(expected_collisions(6, 4))
    np.testing.assert_array_equal(env.loads, [3, 1, 1, 1])
    # After the last word: an all-zero word observation, no current word.
    assert np.all(word_obs(obs) == 0)
    assert word_obs(obs).dtype == env.pool.encoder.dtype
    assert env.current_word is None


def test_configurable_reward_values(words: list[str]) -> None:
    env = StatelessHashEnv(
        corpus=words, n_words=4, n_bins=4, reward_empty=1.5, reward_occupied=-3.0
    )
    env.reset(seed=0)
    rewards = [env.step(a)[1] for a in (2, 2, 2, 0)]
    assert rewards == [1.5, -3.0, -3.0, 1.5]
    assert env._info()["episode_return"] == pytest.approx(-3.0)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_episodes_follow_the_return_formula(
    env_id: str, encoding: str, words: list[str]
) -> None:
    n_words, n_bins = 40, 32
    env = gym.make(env_id, corpus=words, n_words=n_words, n_bins=n_bins, encoding=encoding)
    encoder = env.unwrapped.pool.encoder
    rng = np.random.default_rng(99)
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        actions = rng.integers(0, n_bins, size=n_words)
        shown, total = [], 0.0
        for t, action in enumerate(actions):
            word = env.unwrapped.current_word
            shown.append(word)
            # The observation is the encoding of the word being placed.
            np.testing.assert_array_equal(word_obs(obs), encoder(word))
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            assert terminated == (t == n_words - 1)
            assert not truncated
        assert len(set(shown)) == n_words  # distinct words within an episode
        collisions = metric_collisions(actions, n_bins)
        assert info["collisions"] == collisions == n_words - len(set(actions.tolist()))
        assert info["episode_return"] == total == 10 * (n_words - 2 * collisions)
        assert info["expected_collisions"] == expected_collisions(n_words, n_bins)
        assert np.all(word_obs(obs) == 0)
        assert env.observation_space.contains(obs)


@pytest.mark.parametrize("pool_seed", [0, 3])
def test_pool_size_equal_to_n_words_is_memorisation(words: list[str], pool_seed: int) -> None:
    n = 12
    env = StatelessHashEnv(corpus=words, n_words=n, n_bins=n, pool_size=n, pool_seed=pool_seed)
    expected_pool = corpus_lib.subset(words, n, seed=pool_seed)
    assert list(env.pool.words) == expected_pool
    orders = []
    for seed in range(4):
        record = run_episode(env, seed, list(range(n)))
        shown = record["words"][:-1]
        assert sorted(shown) == sorted(expected_pool)  # every episode: the whole pool
        orders.append(tuple(shown))
    assert len(set(orders)) > 1  # ...in a new order
    vec = StatelessHashVectorEnv(
        num_envs=2, corpus=words, n_words=n, n_bins=n, pool_size=n, pool_seed=pool_seed
    )
    assert list(vec.pool.words) == expected_pool


def test_pool_of_a_named_corpus_is_its_seeded_subset() -> None:
    env = gym.make(STATELESS, corpus="web2", n_words=5, n_bins=8, pool_size=50, pool_seed=7)
    assert list(env.unwrapped.pool.words) == corpus_lib.subset(corpus_lib.load("web2"), 50, seed=7)
    other = gym.make(STATELESS, corpus="web2", n_words=5, n_bins=8, pool_size=50, pool_seed=8)
    assert other.unwrapped.pool.words != env.unwrapped.pool.words


def test_corpus_sequence_is_normalised_like_a_loaded_corpus(words: list[str]) -> None:
    shuffled = list(reversed(words)) + words[:10]  # unsorted, with duplicates
    env = StatelessHashEnv(corpus=shuffled, n_words=5, n_bins=5, pool_size=30, pool_seed=1)
    assert list(env.pool.words) == corpus_lib.subset(words, 30, seed=1)


def test_corpus_given_as_a_path(words: list[str], tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(reversed(words)) + "\n", encoding="utf-8")
    for corpus in (path, str(path)):
        env = StatelessHashEnv(corpus=corpus, n_words=5, n_bins=5, pool_size=20, pool_seed=2)
        assert list(env.pool.words) == corpus_lib.subset(words, 20, seed=2)
    with pytest.raises(ValueError, match="corpus must be one of"):
        StatelessHashEnv(corpus=tmp_path / "missing.txt", n_words=5, n_bins=5)


def test_table_aware_observation(words: list[str]) -> None:
    env = TableAwareHashEnv(corpus=words, n_words=5, n_bins=6)
    assert isinstance(env.observation_space, spaces.Dict)
    assert env.observation_space["table"] == spaces.MultiBinary(6)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["table"], np.zeros(6))
    obs, *_ = env.step(4)
    obs["table"][:] = 1  # the observation is a copy, not the env's own table
    obs, *_ = env.step(4)
    np.testing.assert_array_equal(obs["table"], [0, 0, 0, 0, 1, 0])
    obs, *_ = env.step(1)
    np.testing.assert_array_equal(obs["table"], [0, 1, 0, 0, 1, 0])
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs["table"], np.zeros(6))


# --------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_words": 401}, ValueError, r"n_words=401 is larger than the word pool \(400"),
        ({"n_words": 11, "pool_size": 10}, ValueError, r"n_words=11 .*pool_size"),
        ({"n_bins": 0}, ValueError, "n_bins must be >= 1, got 0"),
        ({"n_bins": -3}, ValueError, "n_bins must be >= 1"),
        ({"n_words": 0}, ValueError, "n_words must be >= 1, got 0"),
        (
            {"corpus": "no-such-corpus"},
            ValueError,
            r"corpus must be one of 'moby', 'web2'.*'no-such",
        ),
        ({"corpus": []}, ValueError, "corpus holds no words"),
        ({"encoding": "utf-16"}, ValueError, r"encoding must be one of .*'utf-16'"),
        ({"render_mode": "human"}, ValueError, r"render_mode must be one of .*'human'"),
        ({"pool_size": 0}, ValueError, "pool_size must be between 1 and the corpus size 400"),
        ({"pool_size": 401}, ValueError, "pool_size must be between 1 and the corpus size 400"),
        ({"max_len": 0}, ValueError, "max_len must be >= 1"),
        ({"max_len": 4}, ValueError, "longer than max_len=4"),
    ],
)
@pytest.mark.parametrize("env_cls", [StatelessHashEnv, TableAwareHashEnv, TableAwareHashVectorEnv])
def test_bad_arguments_raise(
    env_cls: type, kwargs: dict, exc: type, match: str, words: list[str]
) -> None:
    args = {"corpus": words, "n_words": 10, "n_bins": 10, **kwargs}
    with pytest.raises(exc, match=match):
        env_cls(**args)


def test_bad_arguments_raise_through_gym_make(words: list[str]) -> None:
    with pytest.raises(ValueError, match="n_words=500 is larger than the word pool"):
        gym.make(STATELESS, corpus=words, n_words=500)
    with pytest.raises(ValueError, match="corpus"):
        gym.make(TABLE_AWARE, corpus="definitely-not-a-corpus", n_words=5)
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        StatelessHashVectorEnv(num_envs=0, corpus=words, n_words=5, n_bins=5)


def test_max_len_equal_to_the_longest_word_is_enough(words: list[str]) -> None:
    longest = max(len(w.encode()) for w in words)
    env = StatelessHashEnv(corpus=words, n_words=5, n_bins=5, max_len=longest)
    assert env.observation_space.shape == (longest,)
    default = StatelessHashEnv(corpus=words, n_words=5, n_bins=5)
    assert default.observation_space.shape == (longest,)
    wide = StatelessHashEnv(corpus=words, n_words=5, n_bins=5, max_len=longest + 3)
    assert wide.observation_space.shape == (longest + 3,)


@pytest.mark.parametrize("env_cls", [StatelessHashEnv, TableAwareHashEnv])
def test_bad_actions_raise(env_cls: type, words: list[str]) -> None:
    env = env_cls(corpus=words, n_words=3, n_bins=4)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)  # before the first reset
    env.reset(seed=0)
    for action in (4, -1, 100):
        with pytest.raises(ValueError, match=rf"action {action} is outside .*0\.\.3"):
            env.step(action)
    for action in (1.5, 1.0, "1", None, np.float32(2.0)):
        with pytest.raises(TypeError, match="action must be an integer"):
            env.step(action)
    # Rejected actions changed nothing; numpy integers are fine.
    assert env._t == 0 and env.loads.sum() == 0
    env.step(np.int64(3))
    env.step(np.array(3))
    _, _, terminated, _, _ = env.step(0)
    assert terminated
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(0)
    env.reset()
    env.step(1)  # a reset revives it


def test_step_before_reset_through_gym_make_raises(words: list[str]) -> None:
    env = gym.make(STATELESS, corpus=words, n_words=3, n_bins=4)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)


@pytest.mark.parametrize("vec_cls", [StatelessHashVectorEnv, TableAwareHashVectorEnv])
def test_vector_env_bad_actions_raise(vec_cls: type, words: list[str]) -> None:
    vec = vec_cls(num_envs=3, corpus=words, n_words=3, n_bins=4)
    with pytest.raises(RuntimeError, match="reset"):
        vec.step(np.zeros(3, dtype=np.int64))
    vec.reset(seed=0)
    bad = [
        np.zeros(2, dtype=np.int64),  # too few
        np.zeros(4, dtype=np.int64),  # too many
        np.zeros((3, 1), dtype=np.int64),  # wrong shape
        np.zeros(3, dtype=np.float32),  # wrong dtype
        np.array([0.0, 1.5, 2.0]),
        0,  # a scalar
    ]
    for actions in bad:
        with pytest.raises(ValueError, match="actions must be 3 integer bins"):
            vec.step(actions)
    for actions in ([0, 4, 1], [0, -1, 1]):
        with pytest.raises(ValueError, match=r"actions must lie in the table's bins 0\.\.3"):
            vec.step(np.array(actions))
    assert vec._t == 0 and vec._loads.sum() == 0  # nothing happened
    vec.step([0, 1, 2])  # a list of ints is fine
    vec.step(np.array([3, 3, 3], dtype=np.int32))


def test_vector_env_action_checks_on_the_fast_path(words: list[str]) -> None:
    """int64 batches take a shortcut past the general checks; every other batch does not.
    Both must accept and refuse the same actions, with the same messages."""
    vec = StatelessHashVectorEnv(num_envs=3, corpus=words, n_words=3, n_bins=200)
    vec.reset(seed=0)
    message = r"actions must lie in the table's bins 0\.\.199"
    for actions in (
        np.array([0, -1, 5], dtype=np.int64),  # negative: a huge number read unsigned
        np.array([0, 200, 5], dtype=np.int64),
        np.array([0, np.iinfo(np.int64).min, 5], dtype=np.int64),
        np.array([0, -1, 5], dtype=np.int8),  # int8 cannot hold 200: the general check
        np.array([0, 2**63, 5], dtype=np.uint64),
        np.array([0, -1, 5], dtype=">i8"),  # non-native byte order
    ):
        with pytest.raises(ValueError, match=message):
            vec.step(actions)
    strided = np.array([[7, 0], [199, 0], [0, 0]], dtype=np.int64)[:, 0]  # not contiguous
    big_endian = np.array([7, 199, 0], dtype=">i8")
    for actions in (strided, big_endian, np.array([7, 199, 0], dtype=np.int16)):
        np.testing.assert_array_equal(vec.actions_to_bins(actions), [7, 199, 0])
        assert vec.actions_to_bins(actions).dtype == np.int64
    exact = np.array([7, 199, 0], dtype=np.int64)
    assert vec.actions_to_bins(exact) is exact  # as before: astype(copy=False)
    assert vec._t == 0 and vec._loads.sum() == 0  # nothing happened


@pytest.mark.parametrize("n_bins", [6, 9])  # 3 x 2 cells (no wrap), 3 x 3 == 9 (no wrap)
def test_factorised_actions_checked_and_mapped(n_bins: int, words: list[str]) -> None:
    vec = StatelessHashVectorEnv(
        num_envs=3, corpus=words, n_words=3, n_bins=n_bins, factorize_bins=True
    )
    rows, cols = vec.single_action_space.nvec
    vec.reset(seed=0)
    for bad in (
        [[0, 0], [-1, 0], [0, 0]],
        [[0, 0], [rows, 0], [0, 0]],
        [[0, cols], [0, 0], [0, 0]],
    ):
        with pytest.raises(ValueError, match=r"factorised actions must lie in MultiDiscrete"):
            vec.step(np.array(bad, dtype=np.int64))
    with pytest.raises(ValueError, match=r"factorised actions must lie in MultiDiscrete"):
        vec.step(np.array([[0, 0], [2**63, 0], [0, 0]], dtype=np.uint64))
    cells = np.array([[0, 0], [rows - 1, cols - 1], [1, 1]])
    expected = (cells[:, 0] * cols + cells[:, 1]) % n_bins
    np.testing.assert_array_equal(vec.actions_to_bins(cells), expected)
    wrapped = StatelessHashVectorEnv(  # 1000 bins: 32 x 32 cells, the last 24 wrap
        num_envs=2, corpus=words, n_words=3, n_bins=1000, factorize_bins=True
    )
    bins = wrapped.actions_to_bins(np.array([[31, 31], [31, 7]]))
    np.testing.assert_array_equal(bins, [(31 * 32 + 31) % 1000, (31 * 32 + 7) % 1000])
    assert vec._t == 0 and vec._loads.sum() == 0


@pytest.mark.parametrize("factorize_bins", [False, True])
@pytest.mark.parametrize("autoreset_mode", ["NEXT_STEP", "SAME_STEP"])
def test_table_aware_vector_env_copy_false_is_its_buffer(
    autoreset_mode: str, factorize_bins: bool, words: list[str]
) -> None:
    """``copy=False`` (Gymnasium's SyncVectorEnv convention) returns the same values as the
    default, but ``obs["table"]`` is the env's own table, updated in place; the final
    observations of SAME_STEP are still copies, so the reset does not wipe them."""
    num_envs, n_words, n_bins, episodes = 4, 5, 6, 3
    kwargs = dict(
        num_envs=num_envs,
        corpus=words,
        n_words=n_words,
        n_bins=n_bins,
        autoreset_mode=autoreset_mode,
        factorize_bins=factorize_bins,
    )
    fresh = TableAwareHashVectorEnv(**kwargs)
    shared = TableAwareHashVectorEnv(copy=False, **kwargs)
    assert fresh.copy is True and shared.copy is False
    assert shared.observation_space == fresh.observation_space
    assert shared.action_space == fresh.action_space
    obs_f, info_f = fresh.reset(seed=3)
    obs_s, info_s = shared.reset(seed=3)
    assert_obs_equal(obs_s, obs_f)
    assert_info_equal(info_s, info_f)
    assert obs_s["table"] is shared._table and obs_f["table"] is not fresh._table
    first_table = obs_s["table"]
    fresh.action_space.seed(1)
    finals = 0
    for _ in range(episodes * (n_words + 1)):
        actions = fresh.action_space.sample()
        out_f = fresh.step(actions)
        out_s = shared.step(actions)
        assert_obs_equal(out_s[0], out_f[0])
        assert out_s[0]["table"].dtype == out_f[0]["table"].dtype == np.int8
        assert out_s[0]["table"] is first_table  # the one buffer, every step
        for a, b in zip(out_s[1:4], out_f[1:4], strict=True):
            np.testing.assert_array_equal(a, b)
        info_s, info_f = out_s[4], out_f[4]
        assert info_s.keys() == info_f.keys()
        final = ("final_obs", "final_info")
        assert_info_equal(
            *({k: v for k, v in i.items() if k not in final} for i in (info_s, info_f))
        )
        assert shared.observation_space.contains(out_s[0])
        if "final_obs" in info_s:
            finals += 1
            assert_info_equal(info_s["final_info"], info_f["final_info"])
            for row_s, row_f in zip(info_s["final_obs"], info_f["final_obs"], strict=True):
                assert_obs_equal(row_s, row_f)
                assert row_s["table"].any()  # the full table, not the reset one
                assert not np.shares_memory(row_s["table"], first_table)
    assert finals == (episodes if autoreset_mode == "SAME_STEP" else 0)


def test_table_aware_vector_env_default_copies_are_the_callers(words: list[str]) -> None:
    vec = TableAwareHashVectorEnv(num_envs=2, corpus=words, n_words=4, n_bins=4)
    obs, _ = vec.reset(seed=0)
    obs["table"][:] = 1  # the caller's array: writing to it changes nothing in the env
    obs2, *_ = vec.step(np.array([0, 3]))
    np.testing.assert_array_equal(obs2["table"], [[1, 0, 0, 0], [0, 0, 0, 1]])
    obs3, *_ = vec.step(np.array([1, 3]))
    np.testing.assert_array_equal(obs2["table"], [[1, 0, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(obs3["table"], [[1, 1, 0, 0], [0, 0, 0, 1]])
    assert not np.shares_memory(obs2["table"], obs3["table"])


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def _histogram_lines(text: str) -> dict[int, int]:
    return {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(r"^load\s+(\d+):\s+(\d+) #*$", text, flags=re.M)
    }


@pytest.mark.parametrize("env_cls", [StatelessHashEnv, TableAwareHashEnv])
def test_render_ansi_single(env_cls: type, words: list[str]) -> None:
    env = env_cls(corpus=words, n_words=5, n_bins=6, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str)
    assert _histogram_lines(text) == {0: 6}
    assert f"next word: {env.current_word!r}" in text
    for action in (0, 0, 1, 2):
        env.step(action)
    text = env.render()
    assert "placed 4/5 words into 6 bins: 3 occupied, 1 collisions" in text
    assert "max load 2" in text
    assert _histogram_lines(text) == {0: 3, 1: 2, 2: 1}
    env.step(0)
    text = env.render()
    assert "next word" not in text
    assert _histogram_lines(text) == {0: 3, 1: 2, 2: 0, 3: 1}


@pytest.mark.parametrize("env_cls", [StatelessHashEnv, TableAwareHashEnv])
def test_render_rgb_array_single(env_cls: type, words: list[str]) -> None:
    env = env_cls(corpus=words, n_words=5, n_bins=4, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert isinstance(image, np.ndarray)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.shape[0] > 0 and image.shape[1] > 0
    assert not image.any()  # an empty table is black
    env.step(0)
    env.step(0)
    env.step(3)
    image = env.render()
    h, w = image.shape[0] // 2, image.shape[1] // 2  # 4 bins: a 2x2 grid
    assert image[0, 0].any() and image[-1, -1].any()  # bins 0 and 3 are lit
    assert not image[0, w].any() and not image[h, 0].any()  # bins 1 and 2 are dark
    assert not np.array_equal(image[0, 0], image[-1, -1])  # load 2 differs from load 1


def test_render_without_mode_returns_none(words: list[str]) -> None:
    env = StatelessHashEnv(corpus=words, n_words=3, n_bins=4)
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    vec = StatelessHashVectorEnv(num_envs=2, corpus=words, n_words=3, n_bins=4)
    vec.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert vec.render() is None


@pytest.mark.parametrize("vec_cls", [StatelessHashVectorEnv, TableAwareHashVectorEnv])
def test_render_vector(vec_cls: type, words: list[str]) -> None:
    ansi = vec_cls(num_envs=2, corpus=words, n_words=4, n_bins=4, render_mode="ansi")
    ansi.reset(seed=0)
    ansi.step([0, 1])
    ansi.step([0, 2])
    texts = ansi.render()
    assert isinstance(texts, tuple) and len(texts) == 2
    assert all(isinstance(t, str) for t in texts)
    assert _histogram_lines(texts[0]) == {0: 3, 1: 0, 2: 1}
    assert _histogram_lines(texts[1]) == {0: 2, 1: 2}

    rgb = vec_cls(num_envs=2, corpus=words, n_words=4, n_bins=4, render_mode="rgb_array")
    rgb.reset(seed=0)
    rgb.step([0, 3])
    images = rgb.render()
    assert isinstance(images, tuple) and len(images) == 2
    for image in images:
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert images[0][0, 0].any() and not images[0][-1, -1].any()
    assert images[1][-1, -1].any() and not images[1][0, 0].any()

    native = gym.make_vec(
        STATELESS,
        num_envs=2,
        vectorization_mode="vector_entry_point",
        corpus=words,
        n_words=4,
        n_bins=4,
        render_mode="ansi",
    )
    native.reset(seed=0)
    assert all(isinstance(t, str) for t in native.render())


# --------------------------------------------------------------------------------------
# The Moby defaults
# --------------------------------------------------------------------------------------
@pytest.mark.moby
def test_moby_defaults() -> None:
    env = gym.make(STATELESS)
    single = env.unwrapped
    assert len(single.pool) == corpus_lib.MOBY_N_WORDS
    assert single.n_words == 1000 and single.n_bins == 1000
    assert env.observation_space == spaces.Box(0.0, 1.0, (45,), np.float32)
    assert single.pool.encoder == WordEncoder("codepoints", 45)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, single.pool.encoder(single.current_word))
    vec = gym.make_vec(TABLE_AWARE, num_envs=2, vectorization_mode="vector_entry_point")
    assert vec.single_observation_space["word"].shape == (45,)
    assert vec.single_observation_space["table"].shape == (1000,)
