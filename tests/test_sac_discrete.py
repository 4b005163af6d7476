"""Tests for the discrete Soft Actor-Critic agent (``agents.algorithms.sac_discrete``).

Small networks, one torch thread and fixed seeds keep them fast and reproducible. The
learning test is a short CartPole-v1 run; the SB3-integration tests use the tiny
10-word, 10-bin hash task (``hash_envs/StatelessHash-v0``). Learning that task to zero
collisions is not tested: after 3000 steps the greedy policy still put 8-9 of the 10
words into one bin for every setting tried (codepoints or bytes encoding, gamma 0 or
0.99, target-entropy scales 0.2-0.5, fixed alpha 0.01), since the words' encodings are
close and every word sees the same rewards until the policy tells them apart.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from torch.nn import functional as F

import hash_envs
from agents.algorithms.sac_discrete import (
    DEFAULT_TARGET_ENTROPY_SCALE,
    DiscreteActor,
    DiscreteCritic,
    MultiInputPolicy,
    SACDiscrete,
    SACDiscretePolicy,
)

STATELESS, TABLE_AWARE = hash_envs.ENV_IDS
TEN_WORDS = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay"]
SMALL = {"net_arch": [64, 64]}


def ten_word_env(**kwargs) -> gym.Env:
    return gym.make(STATELESS, corpus=TEN_WORDS, n_words=10, n_bins=10, pool_size=10, **kwargs)


def small_model(env, **kwargs) -> SACDiscrete:
    params = dict(
        learning_starts=100,
        batch_size=64,
        policy_kwargs=SMALL,
        seed=0,
        device="cpu",
    )
    params.update(kwargs)
    return SACDiscrete("MlpPolicy", env, **params)


def greedy_return(model: SACDiscrete, env: gym.Env, episodes: int, seed: int = 10_000) -> float:
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


# -- learning ----------------------------------------------------------------------
def test_learns_cartpole_better_than_random():
    """A random CartPole-v1 policy averages about 22; a short run gets far above it."""
    model = small_model("CartPole-v1", learning_starts=500)
    model.learn(total_timesteps=4000)
    assert greedy_return(model, gym.make("CartPole-v1"), episodes=5) > 100.0


# -- the update ----------------------------------------------------------------------
def test_train_losses_match_the_equations():
    """One update's logged losses equal the paper's equations computed by hand."""
    env = ten_word_env()
    model = small_model(env, learning_rate=0.0, learning_starts=64, ent_coef=0.3, n_steps=1)
    model.learn(total_timesteps=200)  # fills the buffer; lr 0 keeps the weights
    actor, critic, target = (
        copy.deepcopy(m) for m in (model.actor, model.critic, model.critic_target)
    )
    alpha, gamma = 0.3, model.gamma

    np.random.seed(123)
    data = model.replay_buffer.sample(32)
    with th.no_grad():
        next_log_pi = F.log_softmax(actor.logits(data.next_observations), dim=1)
        q1_next, q2_next = target(data.next_observations)
        next_v = (next_log_pi.exp() * (th.min(q1_next, q2_next) - alpha * next_log_pi)).sum(1)
        y = data.rewards.flatten() + (1 - data.dones.flatten()) * gamma * next_v
        a = data.actions.long().flatten()
        q1, q2 = critic(data.observations)
        idx = th.arange(len(a))
        critic_loss = 0.5 * (((q1[idx, a] - y) ** 2).mean() + ((q2[idx, a] - y) ** 2).mean())
        log_pi = F.log_softmax(actor.logits(data.observations), dim=1)
        actor_loss = (log_pi.exp() * (alpha * log_pi - th.min(q1, q2))).sum(1).mean()
        entropy = -(log_pi.exp() * log_pi).sum(1).mean()

    np.random.seed(123)
    model.train(gradient_steps=1, batch_size=32)
    logged = model.logger.name_to_value
    assert logged["train/critic_loss"] == pytest.approx(critic_loss.item(), rel=1e-5)
    assert logged["train/actor_loss"] == pytest.approx(actor_loss.item(), rel=1e-5, abs=1e-6)
    assert logged["train/entropy"] == pytest.approx(entropy.item(), rel=1e-5)
    assert logged["train/ent_coef"] == pytest.approx(alpha)


def test_target_network_tracks_with_polyak_tau():
    env = ten_word_env()
    model = small_model(env, tau=0.5, target_update_interval=2)
    model.learn(total_timesteps=100)  # buffer filled, no update yet
    before = [p.clone() for p in model.critic_target.parameters()]
    model.train(gradient_steps=1, batch_size=16)  # update 1: no target update
    unchanged = zip(before, model.critic_target.parameters(), strict=True)
    assert all(th.equal(a, b) for a, b in unchanged)
    model.train(gradient_steps=1, batch_size=16)  # update 2: target <- 0.5 Q + 0.5 Q'
    for old, new, online in zip(
        before, model.critic_target.parameters(), model.critic.parameters(), strict=True
    ):
        assert th.allclose(new, 0.5 * old + 0.5 * online, atol=1e-6)


# -- temperature -----------------------------------------------------------------
def test_fixed_alpha_stays_constant():
    model = small_model(ten_word_env(), ent_coef=0.2)
    assert model.ent_coef_optimizer is None and model.log_ent_coef is None
    model.learn(total_timesteps=250)
    assert model.alpha == pytest.approx(0.2)
    assert model.logger.name_to_value["train/ent_coef"] == pytest.approx(0.2)


@pytest.mark.parametrize("ent_coef, start", [("auto", 1.0), ("auto_0.1", 0.1)])
def test_auto_alpha_is_learned(ent_coef, start):
    model = small_model(ten_word_env(), ent_coef=ent_coef)
    assert model.alpha == pytest.approx(start)
    model.learn(total_timesteps=250)
    assert model.alpha != pytest.approx(start, rel=1e-3)
    assert "train/ent_coef_loss" in model.logger.name_to_value


def test_target_entropy_scale_and_override():
    env = ten_word_env()
    assert DEFAULT_TARGET_ENTROPY_SCALE == 0.7
    assert small_model(env).target_entropy == pytest.approx(0.7 * np.log(10))
    assert small_model(env, target_entropy_scale=0.89).target_entropy == pytest.approx(
        0.89 * np.log(10)
    )
    assert small_model(env, target_entropy=0.7).target_entropy == pytest.approx(0.7)
    with pytest.raises(ValueError, match="target_entropy_scale"):
        small_model(env, target_entropy_scale=1.5)
    with pytest.raises(ValueError, match="ent_coef"):
        small_model(env, ent_coef="sometimes")


# -- action spaces ----------------------------------------------------------------
def test_rejects_continuous_action_space():
    with pytest.raises(ValueError, match="only supports gymnasium.spaces.Discrete"):
        SACDiscrete("MlpPolicy", "Pendulum-v1")
    with pytest.raises(ValueError, match="only supports gymnasium.spaces.Discrete"):
        SACDiscrete("MlpPolicy", gym.make("Pendulum-v1"))


def test_rejects_other_action_spaces():
    obs_space = spaces.Box(-1, 1, (3,))
    for action_space in (spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(4)):
        with pytest.raises(ValueError, match="only supports gymnasium.spaces.Discrete"):
            SACDiscretePolicy(obs_space, action_space, lambda _: 1e-3)
    with pytest.raises(ValueError, match="starting at 0"):
        SACDiscretePolicy(obs_space, spaces.Discrete(3, start=1), lambda _: 1e-3)


# -- SB3 integration ------------------------------------------------------------
def test_save_load_gives_identical_greedy_actions(tmp_path: Path):
    env = ten_word_env()
    model = small_model(env)
    model.learn(total_timesteps=300)
    obs = env.unwrapped.pool.observe(np.arange(10))
    actions, _ = model.predict(obs, deterministic=True)

    path = tmp_path / "sac_discrete.zip"
    model.save(path)
    loaded = SACDiscrete.load(path, env=env, device="cpu")
    loaded_actions, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    assert loaded.alpha == pytest.approx(model.alpha)
    assert loaded.target_entropy == pytest.approx(model.target_entropy)
    for a, b in zip(
        model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True
    ):
        assert th.equal(a, b)
    loaded.learn(total_timesteps=50, reset_num_timesteps=False)  # it can go on training


def test_tensorboard_logs(tmp_path: Path):
    model = small_model(ten_word_env(), tensorboard_log=str(tmp_path))
    model.learn(total_timesteps=300, tb_log_name="sacd")
    events = list(tmp_path.glob("sacd_*/events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(str(events[0].parent)).Reload().Tags()["scalars"]
    for tag in ("train/critic_loss", "train/actor_loss", "train/ent_coef", "train/entropy"):
        assert tag in tags


class CountingCallback(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = {"training_start": 0, "step": 0, "rollout_end": 0, "training_end": 0}

    def _on_training_start(self) -> None:
        self.calls["training_start"] += 1

    def _on_step(self) -> bool:
        self.calls["step"] += 1
        return True

    def _on_rollout_end(self) -> None:
        self.calls["rollout_end"] += 1

    def _on_training_end(self) -> None:
        self.calls["training_end"] += 1


def test_callbacks_are_called():
    callback = CountingCallback()
    small_model(ten_word_env()).learn(total_timesteps=150, callback=callback)
    assert callback.calls["training_start"] == 1
    assert callback.calls["training_end"] == 1
    assert callback.calls["step"] == 150
    assert callback.calls["rollout_end"] == 150  # train_freq=1: one rollout per step


@pytest.mark.skipif(importlib.util.find_spec("rich") is None, reason="needs tqdm and rich")
def test_progress_bar():
    small_model(ten_word_env()).learn(total_timesteps=120, progress_bar=True)


def test_multi_input_policy_on_table_aware_env():
    env = gym.make(TABLE_AWARE, corpus=TEN_WORDS, n_words=10, n_bins=10, pool_size=10)
    assert isinstance(env.observation_space, spaces.Dict)
    model = SACDiscrete(
        "MultiInputPolicy",
        env,
        learning_starts=50,
        batch_size=32,
        policy_kwargs=SMALL,
        seed=0,
        device="cpu",
    )
    assert isinstance(model.policy, MultiInputPolicy)
    model.learn(total_timesteps=300)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    assert model.logger.name_to_value["train/critic_loss"] >= 0.0


def test_vec_env_with_several_envs_and_policy_parts():
    venv = make_vec_env(ten_word_env, n_envs=2, seed=0)
    model = small_model(venv, policy_kwargs={"net_arch": {"pi": [32], "qf": [48, 48]}})
    assert isinstance(model.actor, DiscreteActor) and isinstance(model.critic, DiscreteCritic)
    assert model.critic.n_critics == 2
    assert model.actor.net_arch == [32] and model.critic_target.qf0[0].out_features == 48
    model.learn(total_timesteps=300)
    assert model.num_timesteps == 300
    obs = venv.reset()
    actions, _ = model.predict(obs)
    assert actions.shape == (2,)


def test_equal_row_norms_keeps_the_actor_rows_equal_and_survives_save(tmp_path: Path):
    """The actor's output rows stay at one norm through training (a longer row would win
    more unseen words) and the option is saved with the policy."""
    policy_kwargs = {**SMALL, "equal_row_norms": True, "init_logit_std": 4.0}
    model = small_model(ten_word_env(), policy_kwargs=policy_kwargs, learning_starts=10)
    model.learn(200)
    norms = model.actor.logits_net[-1].weight.norm(dim=1)
    assert th.allclose(norms, norms.mean().expand_as(norms), rtol=1e-4)
    model.save(tmp_path / "sac")
    assert SACDiscrete.load(tmp_path / "sac").actor.equal_row_norms
