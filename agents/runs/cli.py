"""``hash-envs train`` and ``hash-envs evaluate`` (plugged into the ``hash-envs`` CLI)."""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.runs import THREADS_HELP

ALGOS = ("pg", "a2c", "sac", "ppo", "dqn", "qrdqn", "episode-pg", "pilot-q")
# agents.runs.rllib.ALGORITHMS, named here so that building the parser does not import Ray.
RLLIB_ALGOS = ("ppo", "appo", "impala", "dqn")
BACKEND_ALGOS = {"sb3": ALGOS, "rllib": RLLIB_ALGOS}
#: Ways to find a program on hash_envs/HashProgram-v0 (agents.runs.program_search), by name.
PROGRAM_ALGOS = ("maskable-ppo", "evolution", "random", "pg", "a2c")
PROGRAM_ENV = "hash_envs/HashProgram-v0"


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
        from agents.algorithms.pg import PG

        return PG
    if name == "a2c":
        from agents.algorithms.a2c import A2C

        return A2C
    if name == "sac":
        from agents.algorithms.sac_discrete import SACDiscrete

        return SACDiscrete
    if name == "qrdqn":
        from sb3_contrib import QRDQN

        return QRDQN
    import stable_baselines3

    return {"ppo": stable_baselines3.PPO, "dqn": stable_baselines3.DQN}[name]


#: Policy names a hyperparameter entry's ``policy`` may give besides SB3's own: the
#: package's policies for the hash envs (``HashPolicy`` for words, its table-aware
#: version for ``Dict`` observations), for an SB3 algorithm such as PPO.
PACKAGE_POLICIES = ("HashPolicy",)


def policy_for(observation_space: Any, name: str | None = None, algorithm: str = "") -> Any:
    """The ``policy`` argument of an SB3 algorithm: ``name`` (an SB3 policy name, or
    ``"HashPolicy"``: :class:`agents.algorithms.policies.HashPolicy` or, for ``Dict``
    observations, ``TableAwareHashPolicy``; for ``algorithm="dqn"``,
    :class:`agents.algorithms.q_policy.HashQPolicy`); by default SB3's ``MlpPolicy`` or
    ``MultiInputPolicy`` (which :class:`agents.PG`, ``A2C`` and ``SACDiscrete`` map to
    their own)."""
    from gymnasium import spaces

    table_aware = isinstance(observation_space, spaces.Dict)
    if name == "HashPolicy" and algorithm == "dqn":
        from agents.algorithms.q_policy import HashQPolicy

        return HashQPolicy
    if name == "HashPolicy":
        from agents.algorithms.policies import HashPolicy, TableAwareHashPolicy

        return TableAwareHashPolicy if table_aware else HashPolicy
    if name is not None:
        return name
    return "MultiInputPolicy" if table_aware else "MlpPolicy"


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
    from stable_baselines3.common.callbacks import CheckpointCallback

    from agents.algorithms.vec_env import make_sb3_vec_env

    venv = make_sb3_vec_env(args.env, args.n_envs, args.env_kwargs, seed=args.seed)
    model = _algorithm(args.algo)(
        policy_for(venv.observation_space),
        venv,
        seed=args.seed,
        tensorboard_log=args.tensorboard,
        **args.algo_kwargs,
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
    from agents.algorithms.episode_pg import EpisodePG

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


def _train_pilot_q(args: argparse.Namespace, out: Path) -> int:
    """PilotQ on the env's fixed pool; writes ``OUT/hash.pilots`` (no torch involved)."""
    import gymnasium as gym

    from agents.algorithms.pilot_q import PilotQ

    env = gym.make(args.env, **args.env_kwargs).unwrapped
    pool = getattr(env, "pool", None)
    n_words, n_bins = getattr(env, "n_words", None), getattr(env, "n_bins", None)
    if pool is None or not len(pool) == n_words == n_bins:
        raise ValueError(
            "pilot-q memorises a fixed pool: use a StatelessHash env with pool_size == "
            "n_words == n_bins"
        )
    start = time.perf_counter()
    agent = PilotQ(pool.words, n_bins=n_bins, seed=args.seed, **args.algo_kwargs)
    hash_fn = agent.learn(max_episodes=max(args.timesteps // n_words, 1))
    path = hash_fn.save(out / "hash.pilots")
    bits = hash_fn.bits_per_key(n_words)["stored"]
    print(
        f"trained pilot-q on {args.env} in {time.perf_counter() - start:.1f} s "
        f"({agent.episodes:,} episodes): {agent.collisions:,} collisions on the pool -> {path} "
        f"({bits:.2f} bits/key)"
    )
    return 0


def _train_rllib(args: argparse.Namespace, out: Path) -> Callable[..., Any]:
    """Train with RLlib on a local Ray instance (or the cluster at ``--address``).

    Returns the ``name=...`` -> hash-function factory; the RLlib checkpoint goes to
    ``OUT/checkpoint`` and one JSON line per iteration to ``OUT/progress.jsonl``.
    """
    try:
        from agents.runs.rllib import RLlibPolicyHash, build_config, env_spaces, train
        from hash_envs.distributed import connect
    except ImportError as err:
        raise ValueError(
            f"--backend rllib needs Ray: pip install 'hash-envs[ray]' ({err})"
        ) from None
    if args.tensorboard:
        raise ValueError("--tensorboard is for --backend sb3; RLlib logs to OUT/progress.jsonl")
    connect(args.address)
    config = build_config(
        args.algo,
        args.env,
        args.env_kwargs,
        num_env_runners=args.num_env_runners,
        num_envs_per_env_runner=args.n_envs,
        seed=args.seed,
        algo_kwargs=args.algo_kwargs,
    )
    algo = train(config, args.timesteps, log_path=out / "progress.jsonl")
    try:
        algo.save_to_path(str((out / "checkpoint").resolve()))
        module = algo.get_module()
    finally:
        algo.stop()
    observation_space, action_space = env_spaces(args.env, args.env_kwargs)
    return functools.partial(RLlibPolicyHash, module, observation_space, action_space)


def _train_program(args: argparse.Namespace) -> int:
    """``--task HashProgram``: a program search; writes ``OUT/program.hprog``."""
    from agents.runs.program_search import train_program

    if args.algo not in PROGRAM_ALGOS:
        raise ValueError(
            f"{PROGRAM_ENV} is trained by {', '.join(PROGRAM_ALGOS)}, not {args.algo!r}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = train_program(
        args.algo,
        seed=args.seed,
        evaluations=args.evaluations,
        env_kwargs=args.env_kwargs,
        **args.algo_kwargs,
    )
    path = result.program.save(out / "program.hprog")
    print(
        f"{args.algo} wrote {args.evaluations:,} programs in {result.seconds:.1f} s; the best "
        f"(reward {result.reward:.3f}): {' '.join(result.program.instructions)} -> {path}"
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    if args.task is not None:
        args.env = args.task if "/" in args.task else f"hash_envs/{args.task}-v0"
    if args.env == PROGRAM_ENV:
        if args.evaluations < 1:
            raise ValueError(f"--evaluations must be >= 1, got {args.evaluations}")
        return _train_program(args)
    if args.algo in PROGRAM_ALGOS and args.algo not in ALGOS:
        raise ValueError(f"{args.algo!r} searches {PROGRAM_ENV} only (--task HashProgram)")
    if args.timesteps is None:
        raise ValueError("--timesteps is required (env steps to train for)")
    if args.algo not in BACKEND_ALGOS[args.backend]:
        raise ValueError(
            f"unknown algorithm {args.algo!r} for --backend {args.backend}; choose from "
            f"{', '.join(BACKEND_ALGOS[args.backend])}"
        )
    if args.timesteps < 1:
        raise ValueError(f"--timesteps must be >= 1, got {args.timesteps}")
    if args.n_envs < 1:
        raise ValueError(f"--n-envs must be >= 1, got {args.n_envs}")
    if args.algo == "pilot-q":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        return _train_pilot_q(args, out)
    import torch

    from agents.hashes.policy_hash import PolicyHash

    torch.set_num_threads(args.threads)
    args.env_kwargs = _with_corpus_max_len(args.env, args.env_kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if args.backend == "rllib":
        policy_hash = _train_rllib(args, out)
    elif args.algo == "episode-pg":
        model = _train_episode_pg(args)
        model.policy.save(out / "policy.pt")
        policy_hash = functools.partial(PolicyHash, model.policy)
    else:
        model = _train_sb3(args, out)
        policy_hash = functools.partial(PolicyHash, model.policy)
    print(f"trained {args.algo} on {args.env} in {time.perf_counter() - start:.1f} s -> {out}")
    try:
        hash_fn = policy_hash(name=f"{args.algo}-{Path(args.out).name}")
    except ValueError as err:
        print(f"no hash artifact: {err}")
        return 0
    import gymnasium as gym

    metadata = {
        "env_id": args.env,
        # The registered id's own arguments too (a task tier's pool), so that
        # `hash-envs evaluate` can judge the artifact on the words it was trained on.
        "env_kwargs": {**gym.spec(args.env).kwargs, **args.env_kwargs},
        "algo": args.algo,
        "backend": args.backend,
        "timesteps": args.timesteps,
        "seed": args.seed,
    }
    path = hash_fn.export_onnx(out / "hash.onnx", metadata)
    print(f"hash artifact: {path} ({hash_fn.n_bins} bins, {hash_fn.size_bytes:,} bytes)")
    return 0


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train an agent; export its hash function")
    parser.add_argument(
        "--algo",
        choices=sorted({*ALGOS, *RLLIB_ALGOS, *PROGRAM_ALGOS}),
        required=True,
        help=f"see --backend; {PROGRAM_ENV}: {', '.join(PROGRAM_ALGOS)}",
    )
    parser.add_argument(
        "--backend",
        choices=sorted(BACKEND_ALGOS),
        default="sb3",
        help=f"sb3 (this process): {', '.join(ALGOS)}; rllib (Ray, the [ray] extra): "
        f"{', '.join(RLLIB_ALGOS)}",
    )
    parser.add_argument(
        "--num-env-runners", type=int, default=0, help="rllib: env-runner actors (0: in-process)"
    )
    parser.add_argument(
        "--address", help="rllib: Ray cluster HOST:PORT (default: start a local Ray instance)"
    )
    parser.add_argument("--env", default="hash_envs/StatelessHash-v0", help="Gymnasium env id")
    parser.add_argument(
        "--task", help="instead of --env: a task or env name, e.g. Memorize1k or HashProgram"
    )
    parser.add_argument(
        "--evaluations",
        type=int,
        default=20_000,
        help=f"{PROGRAM_ENV}: programs to evaluate (default 20000)",
    )
    parser.add_argument("--env-kwargs", type=_json, default={}, help="JSON object")
    parser.add_argument("--algo-kwargs", type=_json, default={}, help="JSON object")
    parser.add_argument("--timesteps", type=int, help="env steps (not for HashProgram)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--n-envs", type=int, default=1, help=">1 uses the native vector env (rllib: per runner)"
    )
    parser.add_argument("--tensorboard", help="TensorBoard log directory")
    parser.add_argument("--checkpoint-freq", type=int, default=100_000, help="in env steps")
    parser.add_argument("--out", default="runs/latest", help="directory for model and hash")
    parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=_cmd_train)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hash_envs import corpus as corpus_lib
    from hash_envs.hashing import load_artifact
    from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard, to_markdown, write_outputs

    artifact = load_artifact(args.artifact)  # hash.onnx, or a PilotQ .pilots file
    extra = getattr(artifact, "extra", None)
    # A .pilots file records no env: it is judged on memorising subset(corpus, n_bins, 0).
    env_kwargs = (extra("env_kwargs") if extra else None) or {"pool_size": artifact.n_bins}
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
    parser.add_argument(
        "artifact", help="a hash.onnx written by `hash-envs train`, or a PilotQ .pilots file"
    )
    parser.add_argument("--corpus", help="default: the corpus the artifact was trained on")
    parser.add_argument("--against", nargs="*", default=["python-siphash13"])
    parser.add_argument("--out", help="directory for leaderboard.{json,csv,md}")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=_cmd_evaluate)
