"""Agents: PG, A2C, EpisodePG, PolicyHash and its ONNX artifact, the SB3 vector adapter, CLI."""

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
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

import hash_envs
from agents import A2C, PG, ArtifactError, EpisodePG, PolicyHash, VectorEnvAdapter, load_hash
from agents.algorithms.pg import discounted_returns
from hash_envs import corpus
from hash_envs.cli import main

STATELESS, TABLE_AWARE = hash_envs.ENV_IDS


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


def tiny_env(words: list[str], n: int = 10, **kwargs) -> gym.Env:
    return gym.make(STATELESS, corpus=words, n_words=n, n_bins=n, pool_size=n, **kwargs)


@pytest.fixture(scope="module")
def trained_pg(web2: list[str]) -> PG:
    env = gym.make(STATELESS, corpus="web2", n_words=50, n_bins=50, pool_size=50, max_len=28)
    model = PG("MlpPolicy", env, n_steps=50, seed=0)
    return model.learn(500)


# -- REINFORCE returns -------------------------------------------------------------------


def test_discounted_returns_reward_to_go_and_whole_episode() -> None:
    rewards = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    starts = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)  # episodes: 0-1, 2-3
    done, no_bootstrap = np.array([1.0]), np.zeros(1)
    to_go = discounted_returns(rewards, starts, done, no_bootstrap, gamma=0.5)
    np.testing.assert_allclose(to_go[:, 0], [1 + 0.5 * 2, 2, 3 + 0.5 * 4, 4])
    whole = discounted_returns(rewards, starts, done, no_bootstrap, 0.5, reward_to_go=False)
    np.testing.assert_allclose(whole[:, 0], [2, 2, 5, 5])
    running = discounted_returns(rewards, starts, np.zeros(1), np.array([10.0]), gamma=1.0)
    assert running[-1, 0] == pytest.approx(4 + 10)  # bootstrapped: episode still running


# -- learning --------------------------------------------------------------------------------


def test_pg_improves_on_cartpole() -> None:
    env = gym.make("CartPole-v1")
    model = PG("MlpPolicy", env, n_steps=1000, learning_rate=3e-3, gamma=0.99, seed=0)
    model.learn(15_000)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=10, warn=False)
    assert mean > 60, mean  # a random policy averages about 22


def test_a2c_learns_cartpole_with_its_defaults() -> None:
    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = A2C("MlpPolicy", env, seed=0).learn(20_000)
    mean, _ = evaluate_policy(model, gym.make("CartPole-v1"), n_eval_episodes=10, warn=False)
    assert mean > 150, mean


def test_episode_pg_memorises_a_hundred_words() -> None:
    agent = EpisodePG(
        env_kwargs={
            "corpus": "web2",
            "n_words": 100,
            "n_bins": 100,
            "pool_size": 100,
            "reward_mode": "shared_bin",
            "encoding": "bytes",
        },
        net_arch=(64,),
        learning_rate=1e-2,
        seed=0,
    )
    agent.learn(400, stop_at_collisions=0)
    assert agent.pool_collisions() == 0
    assert _collisions(PolicyHash(agent.policy), agent.env) == 0


def test_episode_pg_memorises_a_hundred_words_with_a_factorised_head() -> None:
    kwargs = {"corpus": "web2", "n_words": 100, "n_bins": 100, "pool_size": 100,
              "reward_mode": "shared_bin", "encoding": "bytes", "factorize_bins": True}  # fmt: skip
    agent = EpisodePG(env_kwargs=kwargs, net_arch=(64,), seed=0)
    assert agent.policy.action_net.out_features == 20  # a 10x10 grid: 10 + 10 actions
    agent.learn(400, stop_at_collisions=0)
    assert agent.pool_collisions() == 0
    hash_fn = PolicyHash(agent.policy, n_bins=100)
    assert hash_fn.network.grid == (10, 10)
    assert _collisions(hash_fn, agent.env) == 0


def test_episode_pg_memorises_a_hundred_words_with_a_linear_policy() -> None:
    """No hidden layer (the cheapest hash to evaluate): one-hot bytes to the logits."""
    kwargs = {"corpus": "web2", "n_words": 100, "n_bins": 100, "pool_size": 100,
              "reward_mode": "shared_bin", "encoding": "bytes", "factorize_bins": True}  # fmt: skip
    agent = EpisodePG(env_kwargs=kwargs, net_arch=(), seed=0)
    assert len(agent.policy.mlp_extractor.policy_net) == 0
    with th.no_grad():  # the peaked start: a confident random hash, not a flat policy
        logits = agent._pool_logits(np.arange(100))
        probs = th.softmax(logits[:, :10], 1)
    assert float(probs.max(1).values.mean()) > 0.5
    agent.learn(1000, stop_at_collisions=0)
    assert agent.pool_collisions() == 0
    assert _collisions(PolicyHash(agent.policy, n_bins=100), agent.env) == 0


def test_factorised_bin_log_probs_wrap_the_extra_cells() -> None:
    kwargs = {"corpus": "web2", "n_words": 7, "n_bins": 7, "pool_size": 7,
              "factorize_bins": True}  # fmt: skip
    agent = EpisodePG(env_kwargs=kwargs, net_arch=(8,), seed=0)  # a 3x3 grid for 7 bins
    logits = th.randn(5, 6)
    log_probs = agent.bin_log_probs(logits)
    row, col = th.softmax(logits[:, :3], 1), th.softmax(logits[:, 3:], 1)
    cells = (row[:, :, None] * col[:, None, :]).reshape(5, 9)
    expected = cells[:, :7].clone()
    expected[:, :2] += cells[:, 7:]  # cells 7 and 8 are bins 0 and 1
    th.testing.assert_close(log_probs.exp(), expected)
    bins = agent.argmax_bins(logits)
    np.testing.assert_array_equal(bins, (row.argmax(1) * 3 + col.argmax(1)).numpy() % 7)


def test_episode_pg_refuses_table_aware_env() -> None:
    with pytest.raises(ValueError, match="stateless"):
        EpisodePG(TABLE_AWARE, {"corpus": "web2", "n_words": 10, "n_bins": 10})


def _collisions(hash_fn: PolicyHash, env: gym.Env) -> int:
    bins = hash_fn.hash_many(list(env.unwrapped.pool.words))
    return int(bins.size - np.unique(bins).size)


# -- SB3 plumbing -------------------------------------------------------------------------


def test_save_load_gives_same_predictions(tmp_path: Path, trained_pg: PG) -> None:
    trained_pg.save(tmp_path / "pg.zip")
    loaded = PG.load(tmp_path / "pg.zip")
    obs = np.stack([trained_pg.observation_space.sample() for _ in range(32)])
    np.testing.assert_array_equal(
        trained_pg.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )


def test_tensorboard_logs_are_written(tmp_path: Path, web2: list[str]) -> None:
    PG("MlpPolicy", tiny_env(web2[:10]), n_steps=10, tensorboard_log=str(tmp_path)).learn(30)
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_bad_arguments_are_rejected(web2: list[str]) -> None:
    with pytest.raises(AssertionError, match="only supports .*Discrete"):
        PG("MlpPolicy", gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="baseline"):
        PG("MlpPolicy", "CartPole-v1", baseline="median")
    table_aware = gym.make(TABLE_AWARE, corpus=web2[:20], n_words=10, n_bins=10)
    with pytest.raises(ValueError, match="stateless policy"):
        PolicyHash(PG("MultiInputPolicy", table_aware, n_steps=10))


@pytest.mark.parametrize("env_id", hash_envs.ENV_IDS)
def test_vector_adapter_matches_dummy_vec_env(env_id: str, web2: list[str]) -> None:
    kwargs = {"corpus": web2[:40], "n_words": 5, "n_bins": 6}
    native = gym.make_vec(
        env_id, 3, vectorization_mode="vector_entry_point", autoreset_mode="SameStep", **kwargs
    )
    adapter, reference = (
        VectorEnvAdapter(native),
        DummyVecEnv([lambda: gym.make(env_id, **kwargs)] * 3),
    )
    adapter.seed(11)
    reference.seed(11)
    _assert_obs_equal(adapter.reset(), reference.reset())
    rng = np.random.default_rng(0)
    for _ in range(17):  # three episode ends
        actions = rng.integers(0, 6, size=3)
        obs, rewards, dones, infos = adapter.step(actions)
        ref_obs, ref_rewards, ref_dones, ref_infos = reference.step(actions)
        _assert_obs_equal(obs, ref_obs)
        np.testing.assert_array_equal(rewards, ref_rewards)
        np.testing.assert_array_equal(dones, ref_dones)
        for info, ref in zip(infos, ref_infos, strict=True):
            assert ("terminal_observation" in info) == ("terminal_observation" in ref)
            if "terminal_observation" in ref:
                _assert_obs_equal(info["terminal_observation"], ref["terminal_observation"])
                assert info["collisions"] == ref["collisions"]


def test_vector_adapter_needs_same_step_autoreset(web2: list[str]) -> None:
    native = gym.make_vec(
        STATELESS, 2, vectorization_mode="vector_entry_point", corpus=web2[:20], n_words=5
    )
    with pytest.raises(ValueError, match="SAME_STEP"):
        VectorEnvAdapter(native)


def _assert_obs_equal(a, b) -> None:
    if isinstance(a, dict):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    else:
        np.testing.assert_array_equal(a, b)


# -- PolicyHash and its artifact --------------------------------------------------------------


def test_policy_hash_is_a_function_of_the_word_alone(trained_pg: PG, web2: list[str]) -> None:
    hash_fn = PolicyHash(trained_pg)
    words = web2[:5000]
    bins = hash_fn.hash_many(words)
    assert bins.dtype == np.int64 and bins.min() >= 0 and bins.max() < 50
    order = np.random.default_rng(0).permutation(len(words))
    np.testing.assert_array_equal(hash_fn.hash_many([words[i] for i in order]), bins[order])
    small_chunks = PolicyHash(trained_pg, chunk_size=37)
    np.testing.assert_array_equal(small_chunks.hash_many(words), bins)
    assert [hash_fn(w) for w in words[:50]] == bins[:50].tolist()
    assert hash_fn.size_bytes == 4 * sum(p.numel() for p in hash_fn.network.parameters())


@pytest.mark.parametrize("encoding", ["codepoints", "bytes"])
def test_onnx_artifact_matches_torch_on_the_whole_corpus(
    tmp_path: Path, web2: list[str], encoding: str
) -> None:
    env = gym.make(STATELESS, corpus="web2", n_words=20, n_bins=1000, encoding=encoding)
    model = PG("MlpPolicy", env, n_steps=20, seed=1).learn(40)
    hash_fn = PolicyHash(model, name="tiny")
    path = hash_fn.export_onnx(tmp_path / "hash.onnx", {"env_kwargs": {"corpus": "web2"}})
    loaded = load_hash(path)
    assert (loaded.n_bins, loaded.size_bytes, loaded.name) == (1000, hash_fn.size_bytes, "tiny")
    assert loaded.extra("env_kwargs") == {"corpus": "web2"}
    np.testing.assert_array_equal(loaded.hash_many(web2), hash_fn.hash_many(web2))


#: Loads an artifact in a fresh process and prints its bins of web2: without torch
#: installed (imports of it fail), with fast=False (torch is never imported), and by
#: default (the fast path, torch imported, never Stable-Baselines3).
LOAD_SCRIPT = """
import json, sys
mode, path = sys.argv[1], sys.argv[2]
if mode == "no-torch":
    sys.modules["torch"] = None
from agents import load_hash
from hash_envs import corpus
loaded = load_hash(path, fast=mode != "fast-false")
assert (loaded.fast is not None) == (mode == "default")
assert ("torch" in sys.modules and sys.modules["torch"] is not None) == (mode == "default")
assert "stable_baselines3" not in sys.modules
print(json.dumps(loaded.hash_many(corpus.load("web2")[:20000]).tolist()))
"""


def test_artifact_gives_identical_bins_in_fresh_processes(tmp_path: Path, trained_pg: PG) -> None:
    path = PolicyHash(trained_pg).export_onnx(tmp_path / "hash.onnx")
    outputs = []
    for seed, mode in (("0", "no-torch"), ("123", "no-torch"), ("0", "fast-false"),
                       ("0", "default"), ("123", "default")):  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", LOAD_SCRIPT, mode, str(path)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        outputs.append(json.loads(done.stdout))
    expected = PolicyHash(trained_pg).hash_many(corpus.load("web2")[:20000]).tolist()
    assert all(out == expected for out in outputs)


def test_damaged_or_foreign_artifacts_are_refused(tmp_path: Path, trained_pg: PG) -> None:
    good = PolicyHash(trained_pg).export_onnx(tmp_path / "hash.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"definitely not protobuf" * 10)
    with pytest.raises(ArtifactError, match="not a readable ONNX file"):
        load_hash(garbage)

    import onnx

    model = onnx.load(str(good))
    weights = model.graph.initializer[0]
    values = onnx.numpy_helper.to_array(weights).copy()
    values.flat[0] += 1.0
    weights.CopyFrom(onnx.numpy_helper.from_array(values, weights.name))
    damaged = tmp_path / "damaged.onnx"
    onnx.save(model, str(damaged))
    with pytest.raises(ArtifactError, match="damaged"):
        load_hash(damaged)

    del model.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(model, str(foreign))
    with pytest.raises(ArtifactError, match="not a hash-envs hash artifact"):
        load_hash(foreign)


# -- CLI --------------------------------------------------------------------------------------


def test_cli_train_exports_a_hash_that_the_leaderboard_ranks(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    kwargs = json.dumps({"corpus": "web2", "n_words": 30, "n_bins": 1000, "pool_size": 30})
    code = main(
        ["train", "--algo", "pg", "--env-kwargs", kwargs, "--timesteps", "120", "--n-envs", "2"]
        + ["--out", str(out), "--algo-kwargs", '{"n_steps": 30}', "--no-progress"]
    )
    assert code == 0
    assert (out / "model.zip").is_file() and (out / "hash.onnx").is_file()
    artifact = load_hash(out / "hash.onnx")
    assert artifact.encoder.max_len == 28  # the corpus's longest word, not the pool's
    assert artifact.extra("env_kwargs")["pool_size"] == 30
    capsys.readouterr()
    code = main(
        ["leaderboard", "--corpus", "web2", "--tracks", "random-1000", "--draws", "5"]
        + ["--hashes", str(out / "hash.onnx"), "xxh64", "--no-progress"]
    )
    assert code == 0
    assert "hash.onnx" in capsys.readouterr().out


def test_cli_artifact_of_a_task_records_the_task_pool(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "--algo", "pg", "--env", "hash_envs/Memorize100-v0", "--timesteps", "200"]
    args += ["--env-kwargs", '{"corpus": "web2"}', "--n-envs", "2", "--out", str(out)]
    assert main([*args, "--algo-kwargs", '{"n_steps": 100}', "--no-progress"]) == 0
    recorded = load_hash(out / "hash.onnx").extra("env_kwargs")
    assert recorded["pool_size"] == 100 and recorded["pool_seed"] == 0
    assert recorded["corpus"] == "web2"  # the user's override wins over the task's Moby
    capsys.readouterr()
    assert main(["evaluate", str(out / "hash.onnx"), "--against", "--no-progress"]) == 0
    assert "memorize-100" in capsys.readouterr().out


def test_cli_train_rejects_bad_arguments(capsys) -> None:
    assert main(["train", "--algo", "pg", "--timesteps", "-5"]) == 2
    assert "--timesteps must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--algo", "nope", "--timesteps", "10"])
    with pytest.raises(SystemExit):
        main(["train", "--algo", "pg", "--timesteps", "10", "--env-kwargs", "[1]"])


def test_disjoint_parts_start_the_row_and_column_heads_on_their_own_hidden_units() -> None:
    """With ``disjoint_parts`` the row logits read the first half of the hidden units and
    the column logits the second: an unseen word's row and column start independent."""
    env = tiny_env(["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay"],
                   factorize_bins=True)  # fmt: skip
    kwargs = {"net_arch": [8], "activation_fn": "sin", "init_logit_std": 4.0}
    shared = PG("MlpPolicy", env, seed=0, policy_kwargs=kwargs).policy.action_net.weight
    split = PG("MlpPolicy", env, seed=0, policy_kwargs={**kwargs, "disjoint_parts": True})
    weight = split.policy.action_net.weight.detach()
    rows, _cols = env.action_space.nvec
    assert (shared != 0).all()
    assert (weight[:rows, 4:] == 0).all() and (weight[:rows, :4] != 0).all()
    assert (weight[rows:, :4] == 0).all() and (weight[rows:, 4:] != 0).all()
    assert split.policy._get_constructor_parameters()["disjoint_parts"] is True


def test_dqn_with_the_hash_q_policy_starts_as_a_random_hash(tmp_path: Path) -> None:
    """SB3's QNetwork starts with all Q-values near 0 and its greedy policy herds words;
    HashQPolicy's random-hash start spreads them like a random hash, and saves."""
    from stable_baselines3 import DQN

    from agents.algorithms.q_policy import HashQPolicy
    from hash_envs.evaluation import evaluate_agent
    from hash_envs.tasks import get_task

    task = get_task("Memorize100")
    env = task.make("web2")
    kwargs = {"net_arch": [64], "activation_fn": "sin", "init_logit_std": 4.0}
    ours = DQN(HashQPolicy, env, seed=0, policy_kwargs=kwargs)
    assert abs(evaluate_agent(ours, task, "web2")["normalized_score"]) < 0.2
    assert evaluate_agent(DQN("MlpPolicy", env, seed=0), task, "web2")["normalized_score"] < -0.5
    ours.save(tmp_path / "dqn")
    loaded = DQN.load(tmp_path / "dqn")
    assert type(loaded.policy) is HashQPolicy
    obs = np.stack([env.observation_space.sample() for _ in range(32)])
    np.testing.assert_array_equal(loaded.predict(obs)[0], ours.predict(obs)[0])
