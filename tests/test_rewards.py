"""Reward rules: the vectorised definitions agree with the environments step by step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hash_envs
from hash_envs.rewards import (
    REWARD_MODES,
    first_come_rewards,
    shared_bin_rewards,
    shared_bin_total,
)

STATELESS, TABLE_AWARE = hash_envs.ENV_IDS


def test_first_come_on_a_hand_made_episode() -> None:
    bins = np.array([[3, 1, 3, 3, 0, 1]])
    np.testing.assert_array_equal(first_come_rewards(bins, 4)[0], [10, 10, -10, -10, 10, -10])


def test_shared_bin_on_a_hand_made_episode() -> None:
    bins = np.array([[3, 1, 3, 2], [0, 1, 2, 3]])
    np.testing.assert_array_equal(
        shared_bin_rewards(bins, 4, 1.0, -2.0), [[-2, 1, -2, 1], [1, 1, 1, 1]]
    )
    loads = np.array([[0, 1, 1, 2], [1, 1, 1, 1]])
    np.testing.assert_array_equal(shared_bin_total(loads, 1.0, -2.0), [-2, 4])


@pytest.mark.parametrize("mode", REWARD_MODES)
@pytest.mark.parametrize("env_id", hash_envs.ENV_IDS)
def test_env_rewards_follow_the_rules(words: list[str], mode: str, env_id: str) -> None:
    n_words, n_bins = 40, 25
    env = gym.make(env_id, corpus=words, n_words=n_words, n_bins=n_bins, reward_mode=mode)
    vec = gym.make_vec(
        env_id,
        2,
        vectorization_mode="vector_entry_point",
        corpus=words,
        n_words=n_words,
        n_bins=n_bins,
        reward_mode=mode,
    )
    actions = np.random.default_rng(1).integers(0, n_bins, size=n_words)
    env.reset(seed=0)
    vec.reset(seed=0)
    single = np.array([env.step(a)[1] for a in actions])
    batched = np.array([vec.step(np.array([a, a]))[1] for a in actions])
    expected = (first_come_rewards if mode == "first_come" else shared_bin_rewards)(
        actions[None], n_bins
    )[0]
    if mode == "first_come":
        np.testing.assert_array_equal(single, expected)
    else:  # nothing until the end, then every word's outcome at once
        np.testing.assert_array_equal(single[:-1], 0)
        assert single[-1] == expected.sum()
    np.testing.assert_array_equal(batched[:, 0], single)
    np.testing.assert_array_equal(batched[:, 1], single)


def test_unknown_reward_mode_is_rejected(words: list[str]) -> None:
    with pytest.raises(ValueError, match="reward_mode"):
        gym.make(STATELESS, corpus=words, n_words=10, reward_mode="last_come")


@pytest.mark.parametrize("env_id", hash_envs.ENV_IDS)
def test_same_step_autoreset_matches_sync_vector_env(words: list[str], env_id: str) -> None:
    kwargs = {"corpus": words, "n_words": 4, "n_bins": 5}
    native = gym.make_vec(
        env_id, 3, vectorization_mode="vector_entry_point", autoreset_mode="SameStep", **kwargs
    )
    sync = gym.make_vec(
        env_id,
        3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        **kwargs,
    )
    native.reset(seed=3)
    sync.reset(seed=3)
    rng = np.random.default_rng(0)
    for step in range(13):
        actions = rng.integers(0, 5, size=3)
        obs, rewards, terminated, _, info = native.step(actions)
        ref_obs, ref_rewards, ref_terminated, _, ref_info = sync.step(actions)
        _equal(obs, ref_obs)
        np.testing.assert_array_equal(rewards, ref_rewards)
        np.testing.assert_array_equal(terminated, ref_terminated)
        assert ("final_obs" in info) == ("final_obs" in ref_info) == ((step + 1) % 4 == 0)
        if "final_obs" in info:
            for i in range(3):
                _equal(info["final_obs"][i], ref_info["final_obs"][i])
            np.testing.assert_array_equal(
                info["final_info"]["collisions"], ref_info["final_info"]["collisions"]
            )


def _equal(a, b) -> None:
    if isinstance(a, dict):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    else:
        np.testing.assert_array_equal(a, b)
