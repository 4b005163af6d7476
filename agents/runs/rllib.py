"""RLlib training on the hash environments, and a trained RLlib policy as a hash function.

Why RLlib: when training outgrows one machine, Ray spreads the env runners (rollouts)
over a cluster, while the learner stays where it is. This module only adapts our envs
and artifacts to RLlib's new API stack; everything else is RLlib's own:

* :func:`build_config` -- an ``AlgorithmConfig`` (PPO, APPO, IMPALA or DQN) for any
  Gymnasium env id, registered with RLlib through an env creator that imports
  ``hash_envs`` in every worker process and builds our *native* vector env (one numpy
  step for all sub-envs of an env runner) instead of a Python loop over single envs;
* :func:`train` -- ``algo.train()`` until enough env steps were sampled;
* :class:`RLlibPolicyHash` -- the trained RLModule (``algo.get_module()``) over a
  stateless env as a :class:`agents.hashes.policy_hash.PolicyHash`: same float64 argmax network,
  same ONNX artifact, so it joins the leaderboard unchanged.

Needs the ``[ray]`` extra. Ray itself is connected by :func:`hash_envs.distributed.connect`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import ray
from gymnasium import spaces
from ray.rllib.algorithms import Algorithm, AlgorithmConfig
from ray.rllib.algorithms.appo import APPOConfig
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.algorithms.impala import IMPALAConfig
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core.rl_module import RLModule
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_RETURN_MEAN,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)
from ray.tune.registry import register_env
from torch import nn

from agents.hashes.hash_network import HashNetwork
from agents.hashes.policy_hash import PolicyHash
from hash_envs.distributed import connect
from hash_envs.encoding import WordEncoder

__all__ = ["ALGORITHMS", "RLlibPolicyHash", "build_config", "env_spaces", "train"]

#: ``--algo`` names of ``hash-envs train --backend rllib`` and their RLlib configs.
ALGORITHMS: dict[str, Callable[[], AlgorithmConfig]] = {
    "ppo": PPOConfig,
    "appo": APPOConfig,
    "impala": IMPALAConfig,
    "dqn": DQNConfig,
}

# Layers that HashNetwork can run in float64 after the Linear layers of an RLlib MLP.
_ACTIVATIONS = (nn.Tanh, nn.ReLU, nn.SiLU, nn.ELU, nn.Sigmoid, nn.Identity)


def _make_env(env_id: str, env_config: Mapping[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """RLlib's env creator: a vector env when RLlib asks for ``num_envs``, else a single one.

    Runs inside each env runner process, which has not imported ``hash_envs`` (and so has
    not registered our env ids) unless this function does it.
    """
    import hash_envs  # noqa: F401  (registers hash_envs/* in this process)

    kwargs = dict(env_config)
    num_envs = kwargs.pop("num_envs", None)
    if num_envs is None:
        return gym.make(env_id, **kwargs)
    native = gym.spec(env_id).vector_entry_point is not None
    mode = gym.VectorizeMode.VECTOR_ENTRY_POINT if native else gym.VectorizeMode.SYNC
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def env_spaces(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[spaces.Space, spaces.Space]:
    """``(observation_space, action_space)`` of one env built with these arguments."""
    env = _make_env(env_id, env_kwargs)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def _flatten_observations(*_: Any) -> FlattenObservations:
    """Env-to-module connector for non-Box observations (one-hot bytes, the table dict).

    RLlib's default MLP catalog takes flat Box inputs only; flattening a
    ``MultiDiscrete([256] * L)`` word gives the same position-major one-hot layout that
    SB3 uses, which :class:`HashNetwork` evaluates without building the one-hot matrix.
    """
    return FlattenObservations()


def build_config(
    algo: str,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    num_env_runners: int = 0,
    num_envs_per_env_runner: int = 1,
    seed: int = 0,
    algo_kwargs: Mapping[str, Any] | None = None,
) -> AlgorithmConfig:
    """An RLlib ``AlgorithmConfig`` that trains ``algo`` on ``env_id`` (new API stack).

    ``num_env_runners=0`` samples in the driver process; ``N > 0`` starts N env-runner
    actors (on the cluster's nodes, when connected to one). ``algo_kwargs`` go to
    ``config.training(...)`` (e.g. ``{"lr": 3e-4, "train_batch_size_per_learner": 500}``).
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown RLlib algorithm {algo!r}; choose from {', '.join(ALGORITHMS)}")
    if num_env_runners < 0:
        raise ValueError(f"num_env_runners must be >= 0, got {num_env_runners}")
    if num_envs_per_env_runner < 1:
        raise ValueError(f"num_envs_per_env_runner must be >= 1, got {num_envs_per_env_runner}")
    env_kwargs = dict(env_kwargs or {})
    observation_space, _ = env_spaces(env_id, env_kwargs)
    register_env(env_id, functools.partial(_make_env, env_id))
    config = (
        ALGORITHMS[algo]()
        .environment(env_id, env_config=env_kwargs)
        .framework("torch")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            gym_env_vectorize_mode=gym.VectorizeMode.VECTOR_ENTRY_POINT,
        )
        .debugging(seed=seed)
    )
    if not isinstance(observation_space, spaces.Box):
        config = config.env_runners(env_to_module_connector=_flatten_observations)
    try:
        return config.training(**dict(algo_kwargs or {}))
    except TypeError as err:
        raise ValueError(f"bad --algo-kwargs for RLlib {algo}: {err}") from None


def _check_cpus(config: AlgorithmConfig) -> None:
    """Refuse a configuration the cluster cannot place: Ray would wait for it silently."""
    per_learner = config.num_cpus_per_learner
    if per_learner == "auto":
        per_learner = 0 if config.num_gpus_per_learner else 1
    needed = (
        config.num_env_runners * config.num_cpus_per_env_runner + config.num_learners * per_learner
    )
    available = ray.cluster_resources().get("CPU", 0)
    if needed > available:
        raise ValueError(
            f"{config.algo_class.__name__} with {config.num_env_runners} env runner(s) and "
            f"{config.num_learners} learner actor(s) needs {needed:g} CPUs, but the Ray "
            f"cluster has {available:g}; lower --num-env-runners or add nodes "
            "(`ray start --address=HEAD_IP:6379` on each)"
        )


def train(
    config: AlgorithmConfig, timesteps: int, *, log_path: str | Path | None = None
) -> Algorithm:
    """Build the algorithm and call ``train()`` until ``timesteps`` env steps were sampled.

    At least one iteration runs. With ``log_path``, one JSON line per iteration records
    the sampled steps and the mean episode return (when an episode has finished). Starts
    a local Ray instance unless one is already connected.
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    connect()
    _check_cpus(config)
    algo = config.build_algo()
    log = Path(log_path).open("w") if log_path is not None else None
    try:
        sampled = 0
        while sampled < timesteps:
            result = algo.train()
            runners = result.get(ENV_RUNNER_RESULTS, {})
            sampled = int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
            if log is not None:
                line = {
                    "iteration": int(result["training_iteration"]),
                    "env_steps_sampled": sampled,
                    "episode_return_mean": runners.get(EPISODE_RETURN_MEAN),
                }
                log.write(json.dumps(line) + "\n")
    except BaseException:
        algo.stop()
        raise
    finally:
        if log is not None:
            log.close()
    return algo


def _leaf_layers(module: nn.Module) -> list[nn.Module]:
    """The leaf layers of an RLlib MLP, in forward order (``nn.Sequential`` order)."""
    layers = [m for m in module.modules() if not list(m.children())]
    for layer in layers:
        if not isinstance(layer, (nn.Linear, *_ACTIVATIONS)):
            raise ValueError(
                f"RLlibPolicyHash supports MLP models (Linear layers and activations), found "
                f"{type(layer).__name__}; use the default model config (no LayerNorm, no "
                "CNN or LSTM)"
            )
    return layers


def _scoring_layers(module: RLModule) -> list[nn.Module]:
    """Observation -> action scores of RLlib's default Torch RLModules.

    PPO, APPO and IMPALA: the actor encoder, then the ``pi`` head (logits). DQN: the
    encoder, then the advantage head ``af``; with a dueling head Q = V + A - mean(A), so
    argmax Q = argmax A, and without one ``af`` gives Q itself.
    """
    if hasattr(module, "pi"):
        encoder = module.encoder
        actor = getattr(encoder, "actor_encoder", None) or encoder.encoder  # shared or not
        return _leaf_layers(actor) + _leaf_layers(module.pi)
    if hasattr(module, "af"):
        if getattr(module, "num_atoms", 1) > 1:
            raise ValueError("RLlibPolicyHash does not support distributional DQN (num_atoms > 1)")
        return _leaf_layers(module.encoder) + _leaf_layers(module.af)
    raise ValueError(f"RLlibPolicyHash does not know how to read a {type(module).__name__}")


class RLlibPolicyHash(PolicyHash):
    """Word -> argmax of a trained RLlib RLModule over a stateless env.

    The same :class:`HashNetwork` as for SB3 policies (float64 scores, argmax), so the
    export, the artifact and the leaderboard treat it exactly like an SB3-trained hash.
    ``observation_space`` / ``action_space`` are the *env's* spaces (the RLModule sees the
    flattened observation): a table-aware env is refused, because its policy's answer
    depends on what was hashed before.
    """

    def __init__(
        self,
        module: RLModule,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        name: str = "rllib-policy",
        fast: bool = True,
        chunk_size: int = 65536,
    ) -> None:
        if isinstance(observation_space, spaces.Dict):
            raise ValueError(
                "RLlibPolicyHash needs a stateless env (observation = the word only); this "
                "policy also observes the table, so its answer would depend on what was "
                "hashed before. Train on hash_envs/StatelessHash-v0 to export a hash."
            )
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"RLlibPolicyHash needs Discrete actions (bins), got {action_space}")
        encoder = WordEncoder.from_space(observation_space)
        # PolicyHash.__init__ reads an SB3 policy; the rest of its set-up is the same.
        network = HashNetwork(_scoring_layers(module), encoder, int(action_space.n))
        self._use_network(network, name, fast, chunk_size)
