"""Scale-out on Ray: RLlib training and export, the distributed leaderboard, Tune sweeps.

One local Ray instance (2 CPUs) serves the whole module; envs are tiny (20 web2 words
into 20 bins), so the module runs in well under two minutes. Skipped, with the reason,
when Ray is not installed (the ``[ray]`` extra; CI installs it through ``[all]``).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
pytest.importorskip("ray.rllib", reason="RLlib is not installed: pip install -e '.[ray]'")

import torch  # noqa: E402
from ray.rllib.connectors.env_to_module import FlattenObservations  # noqa: E402
from ray.rllib.env.single_agent_episode import SingleAgentEpisode  # noqa: E402

import hash_envs  # noqa: E402, F401
from agents.hashes.artifact import load_hash  # noqa: E402
from agents.runs.cli import RLLIB_ALGOS  # noqa: E402
from agents.runs.rllib import ALGORITHMS, RLlibPolicyHash, build_config, env_spaces, train  # noqa: E402
from agents.runs.tune import main as tune_main  # noqa: E402
from hash_envs import corpus  # noqa: E402
from hash_envs.cli import main  # noqa: E402
from hash_envs.distributed import ClusterUnreachableError, RayTrackExecutor, connect  # noqa: E402
from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard  # noqa: E402

# RLlib re-registers its gym wrapper id each time an algorithm builds an env in this process.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*Overriding environment rllib-single-agent-env-v0:UserWarning"
)

STATELESS = "hash_envs/StatelessHash-v0"
ENV_KWARGS = {"corpus": "web2", "n_words": 20, "n_bins": 20, "pool_size": 20, "max_len": 28}
# One small PPO iteration: 200 env steps, one epoch of two minibatches.
PPO_KWARGS = {"train_batch_size_per_learner": 200, "minibatch_size": 100, "num_epochs": 1}


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


@pytest.fixture(scope="module")
def cli_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hash-envs train --backend rllib``: PPO, one iteration, sampled in-process."""
    out = tmp_path_factory.mktemp("rllib") / "ppo"
    code = main(
        ["train", "--backend", "rllib", "--algo", "ppo", "--env", STATELESS]
        + ["--env-kwargs", json.dumps(ENV_KWARGS), "--algo-kwargs", json.dumps(PPO_KWARGS)]
        + ["--timesteps", "1", "--n-envs", "4", "--out", str(out), "--no-progress"]
    )
    assert code == 0
    return out / "hash.onnx"


def test_rllib_algorithms_match_the_cli_choices() -> None:
    assert tuple(ALGORITHMS) == RLLIB_ALGOS


def test_ppo_on_env_runners_exports_the_policy_argmax(tmp_path: Path, web2: list[str]) -> None:
    """One PPO iteration with a remote env runner; the hash is the RLModule's argmax."""
    config = build_config(
        "ppo",
        STATELESS,
        ENV_KWARGS,
        num_env_runners=1,
        num_envs_per_env_runner=4,
        algo_kwargs=PPO_KWARGS,
    )
    algo = train(config, 1, log_path=tmp_path / "progress.jsonl")
    try:
        module = algo.get_module()
    finally:
        algo.stop()
    progress = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert len(progress) == 1 and progress[0]["env_steps_sampled"] >= 200

    hash_fn = RLlibPolicyHash(module, *env_spaces(STATELESS, ENV_KWARGS), name="ppo")
    words = web2[:3000]
    bins = hash_fn.hash_many(words)
    with torch.no_grad():
        logits = module.forward_inference({"obs": torch.from_numpy(hash_fn.encoder.encode(words))})
    np.testing.assert_array_equal(bins, logits["action_dist_inputs"].argmax(dim=1).numpy())

    artifact = load_hash(hash_fn.export_onnx(tmp_path / "hash.onnx", {"env_kwargs": ENV_KWARGS}))
    assert (artifact.n_bins, artifact.size_bytes) == (20, hash_fn.size_bytes)
    np.testing.assert_array_equal(artifact.hash_many(words), bins)

    with pytest.raises(ValueError, match="stateless env"):
        RLlibPolicyHash(module, *env_spaces("hash_envs/TableAwareHash-v0", ENV_KWARGS))


def test_bytes_encoding_export_matches_the_flattened_one_hot_input(web2: list[str]) -> None:
    """RLlib one-hots ``MultiDiscrete`` words with FlattenObservations; the hash must agree."""
    kwargs = {**ENV_KWARGS, "encoding": "bytes"}
    algo = train(build_config("ppo", STATELESS, kwargs, algo_kwargs=PPO_KWARGS), 1)
    try:
        module = algo.get_module()
    finally:
        algo.stop()
    observation_space, action_space = env_spaces(STATELESS, kwargs)
    hash_fn = RLlibPolicyHash(module, observation_space, action_space)
    words = web2[:500]
    episodes = [
        SingleAgentEpisode(
            observations=[obs], observation_space=observation_space, action_space=action_space
        )
        for obs in hash_fn.encoder.encode(words)
    ]
    FlattenObservations(observation_space, action_space)(
        rl_module=None, batch={}, episodes=episodes, explore=False, shared_data={}
    )
    flat = np.stack([episode.get_observations(0) for episode in episodes]).astype(np.float32)
    assert flat.shape == (500, 256 * 28)
    with torch.no_grad():
        logits = module.forward_inference({"obs": torch.from_numpy(flat)})["action_dist_inputs"]
    np.testing.assert_array_equal(hash_fn.hash_many(words), logits.argmax(dim=1).numpy())


def test_cli_rllib_artifact_loads(cli_artifact: Path) -> None:
    artifact = load_hash(cli_artifact)
    assert artifact.n_bins == 20 and artifact.extra("backend") == "rllib"
    assert artifact.extra("env_kwargs") == ENV_KWARGS
    assert (cli_artifact.parent / "checkpoint").is_dir()
    assert artifact.hash_many(["hash", "function"]).shape == (2,)


def test_distributed_leaderboard_equals_local(cli_artifact: Path, web2: list[str]) -> None:
    words = web2[::50]  # 4,720 words
    contenders = ["xxh64", "fnv1a", str(cli_artifact)]
    config = LeaderboardConfig(tracks=["random-1000", "full", "memorize-20"], draws=40)
    local = run_leaderboard(words, contenders, config, progress=False)
    distributed = run_leaderboard(
        words, contenders, config, progress=False, executor=RayTrackExecutor()
    )
    assert distributed == local
    trained = local["results"][2]["tracks"]
    assert "collisions" in trained["memorize-20"] and "error" in trained["random-1000"]


def test_bad_inputs_give_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ClusterUnreachableError, match="cannot reach a Ray cluster"):
        connect(f"127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(ClusterUnreachableError, match="HOST:PORT"):
        connect("no-port-here")
    base = ["train", "--backend", "rllib", "--timesteps", "10"]
    base += ["--env-kwargs", json.dumps(ENV_KWARGS)]  # web2: no Moby needed
    code = main([*base, "--algo", "ppo", "--address", f"127.0.0.1:{port}"])
    assert code == 2 and "cannot reach a Ray cluster" in capsys.readouterr().err
    assert main([*base, "--algo", "pg"]) == 2
    assert "unknown algorithm 'pg' for --backend rllib" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown RLlib algorithm"):
        build_config("a2c", STATELESS, ENV_KWARGS)
    with pytest.raises(ValueError, match="bad --algo-kwargs"):
        build_config("ppo", STATELESS, ENV_KWARGS, algo_kwargs={"no_such_setting": 1})
    # APPO's learner actor takes a CPU too: 2 runners + 1 learner > the 2 CPUs here.
    with pytest.raises(ValueError, match="needs 3 CPUs, but the Ray cluster has 2"):
        train(build_config("appo", STATELESS, ENV_KWARGS, num_env_runners=2), 1)


def test_tune_asha_sweep_writes_the_best_train_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = tune_main(
        ["--algo", "pg", "--env-kwargs", json.dumps(ENV_KWARGS), "--algo-kwargs", '{"n_steps": 20}']
        + ["--timesteps", "80", "--report-every", "40", "--num-samples", "2"]
        + ["--eval-episodes", "2", "--out", str(tmp_path)]
    )
    assert code == 0
    (best_file,) = tmp_path.glob("pg-*/best.json")
    best = json.loads(best_file.read_text())
    assert best["algo_kwargs"]["n_steps"] == 20
    assert 1e-4 <= best["algo_kwargs"]["learning_rate"] <= 3e-2
    assert 0 <= best["collisions"] <= ENV_KWARGS["n_words"]
    assert "--algo-kwargs" in best["command"] and "train it:" in capsys.readouterr().out
    assert list(best_file.parent.glob("*/events.out.tfevents.*"))  # TensorBoard, per trial
    assert tune_main(["--algo", "sac", "--timesteps", "0", "--report-every", "1"]) == 2


def test_benchmark_rllib_backend_scores_the_exported_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.runs.benchmark import run_benchmark
    from hash_envs.tasks import resolve_tasks

    monkeypatch.setenv("HASH_ENVS_CACHE", str(tmp_path / "cache"))  # reference scores
    tasks = resolve_tasks(["Memorize100", "Online100"])
    result = run_benchmark(
        ["ppo"], tasks, 1, tmp_path, corpus="web2", steps=500, backend="rllib",
        tensorboard=False, progress=False,
    )  # fmt: skip
    (row,) = result["aggregates"]
    assert row["backend"] == "rllib" and row["task"] == "hash_envs/Memorize100-v0"
    assert row["steps_median"] >= 500 and -3 < row["normalized_iqm"] <= 1
    assert result["skipped"][0]["task"] == "hash_envs/Online100-v0"
