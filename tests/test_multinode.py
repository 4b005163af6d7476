"""A real multi-node Ray cluster on one machine: ``ray.cluster_utils.Cluster``.

A head node and a second node (custom resource ``node2``), one CPU each, each with its
own raylet, object store and worker processes, as two machines would have:

* the distributed leaderboard's tasks land on both nodes (each task reports its node)
  and the numbers are bit-identical to the local path;
* one RLlib PPO iteration samples on an env runner placed on the second node; the
  exported hash loads through ``hash_envs``' artifact loader and hashes like the policy;
* a node removed while it runs a leaderboard task: the run completes on the remaining
  nodes (Ray retries the task) with the local numbers, or fails with a Ray error; it
  never returns other numbers.

Skipped when Ray is not installed (the ``[ray]`` extra).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
pytest.importorskip("ray.rllib", reason="RLlib is not installed: pip install -e '.[ray]'")

from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from agents.hashes.artifact import load_hash  # noqa: E402
from agents.runs.rllib import RLlibPolicyHash, build_config, env_spaces, train  # noqa: E402
from hash_envs import corpus  # noqa: E402
from hash_envs.distributed import RayTrackExecutor  # noqa: E402
from hash_envs.hashing import load_artifact  # noqa: E402
from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # RLlib re-registers its gym wrapper id each time an algorithm builds an env.
    pytest.mark.filterwarnings(
        "ignore:.*Overriding environment rllib-single-agent-env-v0:UserWarning"
    ),
]

STATELESS = "hash_envs/StatelessHash-v0"
ENV_KWARGS = {"corpus": "web2", "n_words": 20, "n_bins": 20, "pool_size": 20, "max_len": 28}
PPO_KWARGS = {"train_batch_size_per_learner": 200, "minibatch_size": 100, "num_epochs": 1}
CONTENDERS = ["xxh64", "fnv1a", "murmur3", "crc32", "blake2b", "python-siphash13"]
CONFIG = LeaderboardConfig(tracks=["random-1000", "full", "memorize-1000"], draws=200)


@ray.remote(num_cpus=0)
def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _warm(node_id: str) -> None:
    """Start a worker on ``node_id`` now, so the tests' tasks do not wait for one."""
    strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
    assert ray.get(_node_id.options(scheduling_strategy=strategy).remote(), timeout=120) == node_id


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    head_args = {
        "num_cpus": 1,
        "include_dashboard": False,
        # Notice a removed node within seconds (defaults: about half a minute).
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4},
    }
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    try:
        cluster.add_node(num_cpus=1, resources={"node2": 1})
        ray.init(address=cluster.address, logging_level=logging.WARNING)
        cluster.wait_for_nodes()
        for node in cluster.list_all_nodes():
            _warm(node.node_id)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def head_id(cluster: Cluster) -> str:
    return cluster.head_node.node_id


@pytest.fixture(scope="module")
def node2_id(cluster: Cluster) -> str:
    (node,) = [n for n in cluster.worker_nodes if n.node_id != cluster.head_node.node_id]
    return node.node_id


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


@pytest.fixture(scope="module")
def local(web2: list[str]) -> dict[str, Any]:
    """The leaderboard on the local path: no Ray, one job after another in this process."""
    return run_leaderboard(web2, CONTENDERS, CONFIG, progress=False)


class PlacedExecutor(RayTrackExecutor):
    """:class:`RayTrackExecutor` whose tasks also report the node they ran on.

    ``started_dir``: each task leaves a file named after its node when it starts.
    ``hold_on``: a task that lands on this node waits there (a long job) until the
    node goes away; a retry elsewhere runs normally.
    """

    def __init__(self, started_dir: Path | None = None, hold_on: str | None = None) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self.started_dir, self.hold_on = started_dir, hold_on

    def map_jobs(
        self, fn: Callable[[Any, Any], Any], jobs: Sequence[tuple[str, str]], ctx: Any
    ) -> Iterator[Any]:
        started_dir, hold_on = self.started_dir, self.hold_on

        def placed(job: tuple[str, str], ctx: Any) -> tuple[str, Any]:
            node = ray.get_runtime_context().get_node_id()
            if started_dir is not None:
                (started_dir / f"{node}.{uuid.uuid4().hex}").write_text(json.dumps(job))
            if node == hold_on:
                time.sleep(600)
            return node, fn(job, ctx)

        for node, outcome in super().map_jobs(placed, jobs, ctx):
            self.nodes.append(node)
            yield outcome


def test_leaderboard_tasks_spread_over_both_nodes_with_the_local_numbers(
    cluster: Cluster, head_id: str, node2_id: str, web2: list[str], local: dict[str, Any]
) -> None:
    assert {n["NodeID"] for n in ray.nodes() if n["Alive"]} == {head_id, node2_id}
    executor = PlacedExecutor()

    distributed = run_leaderboard(web2, CONTENDERS, CONFIG, progress=False, executor=executor)

    assert distributed == local  # bit-identical: floats compared with ==
    assert len(executor.nodes) == len(CONTENDERS) * len(CONFIG.tracks)
    assert set(executor.nodes) == {head_id, node2_id}, executor.nodes
    placement = {n: executor.nodes.count(n) for n in (head_id, node2_id)}
    print(f"leaderboard jobs per node: head {placement[head_id]}, node2 {placement[node2_id]}")
    xxh64 = local["results"][0]
    assert xxh64["name"] == "xxh64" and xxh64["tracks"]["full"]["words"] == len(web2)


def test_rllib_env_runner_on_the_second_node_exports_a_loadable_hash(
    cluster: Cluster, node2_id: str, web2: list[str], tmp_path: Path
) -> None:
    config = build_config(
        "ppo",
        STATELESS,
        ENV_KWARGS,
        num_env_runners=1,
        num_envs_per_env_runner=4,
        algo_kwargs=PPO_KWARGS,
    ).env_runners(custom_resources_per_env_runner={"node2": 1})
    algo = train(config, 1, log_path=tmp_path / "progress.jsonl")
    try:
        runner_nodes = algo.env_runner_group.foreach_env_runner(
            lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False
        )
        module = algo.get_module()
    finally:
        algo.stop()
    assert runner_nodes == [node2_id]  # the only sampler ran on the second node
    (progress,) = [
        json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()
    ]
    assert progress["env_steps_sampled"] >= PPO_KWARGS["train_batch_size_per_learner"]

    hash_fn = RLlibPolicyHash(module, *env_spaces(STATELESS, ENV_KWARGS), name="ppo")
    path = hash_fn.export_onnx(tmp_path / "hash.onnx", {"env_kwargs": ENV_KWARGS})
    words = web2[:3000]
    bins = hash_fn.hash_many(words)
    loaded = load_artifact(path)  # hash_envs' loader (by suffix), as the leaderboard uses
    assert loaded.n_bins == ENV_KWARGS["n_bins"]
    np.testing.assert_array_equal(loaded.hash_many(words), bins)
    np.testing.assert_array_equal(load_hash(path).hash_many(words), bins)
    assert len(np.unique(bins)) > 1  # a real policy output, not one constant bin


def test_node_removed_mid_leaderboard_never_gives_other_numbers(
    cluster: Cluster, head_id: str, node2_id: str, web2: list[str], local: dict[str, Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    victim = cluster.add_node(num_cpus=1, resources={"victim": 1})
    cluster.wait_for_nodes()
    _warm(victim.node_id)
    started = tmp_path / "started"
    started.mkdir()
    executor = PlacedExecutor(started_dir=started, hold_on=victim.node_id)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = run_leaderboard(
                web2, CONTENDERS, CONFIG, progress=False, executor=executor
            )
        except Exception as err:  # inspected below
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 120
    while not list(started.glob(f"{victim.node_id}.*")):  # a job is running on the victim
        assert time.monotonic() < deadline, "no leaderboard task reached the third node"
        assert thread.is_alive(), outcome
        time.sleep(0.05)
    cluster.remove_node(victim)
    thread.join(150)
    assert not thread.is_alive(), "the leaderboard hung after the node was removed"
    elapsed = time.monotonic() - start

    if "result" in outcome:
        assert outcome["result"] == local
        assert victim.node_id not in executor.nodes  # every outcome came from a survivor
        assert set(executor.nodes) <= {head_id, node2_id}
        runs = [json.loads(p.read_text()) for p in started.iterdir()]
        assert len(runs) > len(CONTENDERS) * len(CONFIG.tracks)  # the lost job ran again
        print(f"node removed: the run completed on the remaining nodes in {elapsed:.1f} s")
    else:
        err = outcome["error"]
        assert isinstance(err, ray.exceptions.RayError), repr(err)
        assert "node" in str(err).lower() or "died" in str(err).lower(), str(err)
        print(f"node removed: the run failed with {type(err).__name__}: {err}")
