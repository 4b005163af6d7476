"""``hash-envs train`` and ``hash-envs evaluate`` (plugged into the ``hash-envs`` CLI)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

ALGOS = ("pg", "a2c", "sac", "ppo", "dqn", "qrdqn", "episode-pg")


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"n_bins\": 100}'")
    return value


def _algorithm(name: str) -> type:
    if name == "pg":
        from agents.pg import PG

        return PG
    if name == "a2c":
        from agents.a2c import A2C

        return A2C
    if name == "sac":
        from agents.sac_discrete import SACDiscrete

        return SACDiscrete
    if name == "qrdqn":
        from sb3_contrib import QRDQN

        return QRDQN
    import stable_baselines3

    return {"ppo": stable_baselines3.PPO, "dqn": stable_baselines3.DQN}[name]


def _with_corpus_max_len(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Encode to the corpus's longest word, so the exported hash accepts every corpus word.

    The env's own default (the longest word of the pool) would make a hash trained on a
    small pool reject longer words.
    """
    import gymnasium as gym

    from hash_envs import corpus as corpus_lib
    from hash_envs.encoding import max_encoded_len

    if "max_len" in env_kwargs or not str(gym.spec(env_id).entry_point).startswith("hash_envs"):
        return env_kwargs
    corpus = env_kwargs.get("corpus", "moby")
    words = corpus_lib.load(corpus) if isinstance(corpus, str) else corpus
    return {**env_kwargs, "max_len": max_encoded_len(words)}


def _train_sb3(args: argparse.Namespace, out: Path) -> Any:
    from gymnasium import spaces
    from stable_baselines3.common.callbacks import CheckpointCallback

    from agents.vec_env import make_sb3_vec_env

    venv = make_sb3_vec_env(args.env, args.n_envs, args.env_kwargs, seed=args.seed)
    policy = "MultiInputPolicy" if isinstance(venv.observation_space, spaces.Dict) else "MlpPolicy"
    model = _algorithm(args.algo)(
        policy, venv, seed=args.seed, tensorboard_log=args.tensorboard, **args.algo_kwargs
    )
    checkpoints = CheckpointCallback(
        save_freq=max(args.checkpoint_freq // args.n_envs, 1),
        save_path=str(out / "checkpoints"),
        name_prefix=args.algo,
    )
    model.learn(args.timesteps, callback=checkpoints, progress_bar=args.progress)
    model.save(out / "model.zip")
    return model


def _train_episode_pg(args: argparse.Namespace) -> Any:
    from agents.episode_pg import EpisodePG

    agent = EpisodePG(
        args.env,
        args.env_kwargs,
        seed=args.seed,
        tensorboard_log=args.tensorboard,
        verbose=int(args.progress),
        **args.algo_kwargs,
    )
    steps_per_update = agent.episodes_per_update * agent.base.n_words
    agent.learn(max(args.timesteps // steps_per_update, 1))
    return agent


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from agents.policy_hash import PolicyHash

    if args.timesteps < 1:
        raise ValueError(f"--timesteps must be >= 1, got {args.timesteps}")
    if args.n_envs < 1:
        raise ValueError(f"--n-envs must be >= 1, got {args.n_envs}")
    torch.set_num_threads(args.threads)
    args.env_kwargs = _with_corpus_max_len(args.env, args.env_kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.algo == "episode-pg":
        model = _train_episode_pg(args)
        policy = model.policy
        policy.save(out / "policy.pt")
    else:
        model = _train_sb3(args, out)
        policy = model.policy
    print(f"trained {args.algo} on {args.env} in {time.perf_counter() - start:.1f} s -> {out}")
    try:
        hash_fn = PolicyHash(policy, name=f"{args.algo}-{Path(args.out).name}")
    except ValueError as err:
        print(f"no hash artifact: {err}")
        return 0
    metadata = {
        "env_id": args.env,
        "env_kwargs": args.env_kwargs,
        "algo": args.algo,
        "timesteps": args.timesteps,
        "seed": args.seed,
    }
    path = hash_fn.export_onnx(out / "hash.onnx", metadata)
    print(f"hash artifact: {path} ({hash_fn.n_bins} bins, {hash_fn.size_bytes:,} bytes)")
    return 0


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train an agent; export its hash function")
    parser.add_argument("--algo", choices=ALGOS, required=True)
    parser.add_argument("--env", default="hash_envs/StatelessHash-v0", help="Gymnasium env id")
    parser.add_argument("--env-kwargs", type=_json, default={}, help="JSON object")
    parser.add_argument("--algo-kwargs", type=_json, default={}, help="JSON object")
    parser.add_argument("--timesteps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, default=1, help=">1 uses the native vector env")
    parser.add_argument("--tensorboard", help="TensorBoard log directory")
    parser.add_argument("--checkpoint-freq", type=int, default=100_000, help="in env steps")
    parser.add_argument("--out", default="runs/latest", help="directory for model and hash")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest)")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=_cmd_train)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from agents.artifact import load_hash
    from hash_envs import corpus as corpus_lib
    from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard, to_markdown, write_outputs

    artifact = load_hash(args.artifact)
    env_kwargs = artifact.extra("env_kwargs") or {}
    name = args.corpus or env_kwargs.get("corpus", "moby")
    words = corpus_lib.load(name)
    tracks = ["speed"]
    if artifact.n_bins == 1000:
        tracks.insert(0, "random-1000")
    pool_size = env_kwargs.get("pool_size")
    if pool_size == artifact.n_bins:
        tracks.insert(0, f"memorize-{pool_size}")
    config = LeaderboardConfig(
        tracks=tracks, seed=int(env_kwargs.get("pool_seed", 0)), speed_bins=artifact.n_bins
    )
    contenders = [str(args.artifact), *args.against]
    result = run_leaderboard(words, contenders, config, corpus_name=name, progress=args.progress)
    print(to_markdown(result))
    if args.out:
        write_outputs(result, args.out)
    return 0


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="leaderboard tracks for a hash artifact")
    parser.add_argument("artifact", help="a hash.onnx written by `hash-envs train`")
    parser.add_argument("--corpus", help="default: the corpus the artifact was trained on")
    parser.add_argument("--against", nargs="*", default=["python-siphash13"])
    parser.add_argument("--out", help="directory for leaderboard.{json,csv,md}")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=_cmd_evaluate)
