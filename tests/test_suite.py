"""The benchmark suite: registered task tiers, reference scores, the evaluation protocol
and ``hash-envs benchmark`` end to end on tiny tasks (offline, on the web2 list)."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hash_envs
from agents.runs.benchmark import run_benchmark, write_outputs
from hash_envs.envs.hash_table import actions_to_bins, bin_layout
from hash_envs.evaluation import evaluate_agent, reference_scores, uniform_random_policy
from hash_envs.hashing import HashFunction
from hash_envs.tasks import TASKS, get_task, resolve_tasks

OFFLINE_TASKS = [t for t in TASKS if "Moby" not in t]


pytestmark = pytest.mark.usefixtures("private_reference_cache")


class DictHash(HashFunction):
    """A perfect hash of a known word list: the oracle of a memorisation task."""

    def __init__(self, words: list[str], n_bins: int) -> None:
        super().__init__(n_bins)
        self.table = {w: i % n_bins for i, w in enumerate(words)}

    @property
    def size_bytes(self) -> int:
        return 0

    def hash_many(self, words):
        return np.array([self.table.get(w, 0) for w in words], dtype=np.int64)


def first_empty_bin(obs: dict) -> np.ndarray:
    """The table-aware optimum: any empty bin (here the first)."""
    return np.argmin(obs["table"], axis=1)


def test_every_tier_is_registered_with_a_version_history_and_threshold() -> None:
    assert set(TASKS) <= set(gym.registry) and hash_envs.TASK_IDS == tuple(TASKS)
    kinds = {t.kind for t in TASKS.values()}
    assert kinds == {"memorize", "generalize", "online"}
    sizes = {t.n_words for t in TASKS.values() if t.kind == "memorize"}
    assert sizes == {100, 1_000, 10_000, 100_000, 466_551}
    for task in TASKS.values():
        spec = gym.spec(task.env_id)
        assert spec.reward_threshold == 10.0 * task.n_words  # words fit: optimum = no collision
        assert "## Version History" in task.docstring
        assert spec.kwargs == dict(task.kwargs)
    assert all(get_task(t).factorized for t in TASKS if "Factored" in t)
    # The base ids keep working.
    assert set(hash_envs.ENV_IDS) <= set(gym.registry)


def test_task_names_and_groups() -> None:
    assert get_task("Memorize1k") is get_task("hash_envs/Memorize1k-v0")
    assert get_task("Memorize1k-v0") is TASKS["hash_envs/Memorize1k-v0"]
    online = resolve_tasks(["online"])
    assert [t.env_id for t in online] == ["hash_envs/Online100-v0", "hash_envs/Online1k-v0"]
    small = resolve_tasks(["memorize", "online"], max_words=1000)
    assert {t.n_words for t in small} == {100, 1000}
    assert len(resolve_tasks(["all"])) == len(TASKS)
    with pytest.raises(ValueError, match="unknown task 'Memorise1k'"):
        get_task("Memorise1k")


@pytest.mark.parametrize("env_id", OFFLINE_TASKS)
def test_check_env_and_pickle_round_trip(env_id: str) -> None:
    task = get_task(env_id)
    env = task.make("web2")
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(5):
        action = env.action_space.sample()
        a, b = env.step(action), clone.step(action)
        np.testing.assert_equal(a[0], b[0])
        assert a[1:4] == b[1:4] and a[4]["collisions"] == b[4]["collisions"]
    first, second = clone.reset(seed=7)[0], env.reset(seed=7)[0]
    np.testing.assert_equal(first, second)


@pytest.mark.parametrize("env_id", OFFLINE_TASKS)
def test_vector_env_declares_its_autoreset_mode(env_id: str) -> None:
    venv = get_task(env_id).make_vec(2, "web2")
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


@pytest.mark.moby
def test_whole_moby_tier_passes_the_env_checker() -> None:
    env = get_task("MemorizeMoby").make()
    check_env(env.unwrapped, skip_render_check=True)
    with pytest.raises(ValueError, match="corpus: hash_envs/MemorizeMoby-v0 is the whole Moby"):
        get_task("MemorizeMoby").make("web2")


def test_factorised_cells_cover_every_bin_and_match_the_single_env() -> None:
    for n in (1, 7, 100, 1000, 466_551):
        rows, cols = bin_layout(n)
        assert rows * cols >= n and (rows - 1) * cols < n
        cells = np.stack(np.divmod(np.arange(rows * cols), cols), axis=1)
        assert set(actions_to_bins(cells, n, True).tolist()) == set(range(n))
    task = get_task("Online100Factored")
    single, venv = task.make("web2"), task.make_vec(3, "web2")
    venv.reset(seed=0)
    single.reset(seed=1)  # sub-env 1 of the vector env
    rng = np.random.default_rng(0)
    for _ in range(100):
        actions = rng.integers(0, single.action_space.nvec, size=(3, 2))
        v = venv.step(actions)
        s = single.step(actions[1])
        assert v[1][1] == s[1] and v[4]["collisions"][1] == s[4]["collisions"]


def test_references_and_normalised_scores_of_random_and_oracle_policies() -> None:
    task = get_task("Memorize100")
    refs = reference_scores(task, "web2")
    assert refs["optimum"] == 0 and refs["random_hash"] == pytest.approx(36.6032, abs=1e-3)
    assert refs["best_hash_name"] in hash_envs.registered_hash_functions()
    assert refs["best_hash"] <= refs["random_policy"] + 15
    pool = list(task.make("web2").unwrapped.pool.words)
    oracle = evaluate_agent(DictHash(pool, 100), task, "web2")
    assert oracle["score"] == 0 and oracle["normalized_score"] == 1.0
    assert oracle["protocol"]["kind"] == "memorize"
    online = evaluate_agent(first_empty_bin, "Online100", "web2")
    assert online["score"] == 0 and online["normalized_score"] == 1.0
    assert online["protocol"]["episodes"] == len(online["per_episode"]) == 20
    pool_1k = list(get_task("Generalize1k").make("web2").unwrapped.pool.words)
    held = evaluate_agent(DictHash(pool_1k, 1000), "Generalize1k", "web2")
    assert held["pool_collisions"] == 0 and held["protocol"]["held_out_words"] == 10_000
    # Every word it has not seen goes to bin 0: 999 collisions per block of 1,000.
    assert held["score"] == 999 and held["normalized_score"] < -1


def test_an_sb3_model_is_scored_in_three_lines_and_equals_its_policy_hash() -> None:
    from stable_baselines3 import PPO

    from agents import PolicyHash

    env = get_task("Memorize100").make("web2")
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0).learn(128)
    result = hash_envs.evaluate_agent(model, "Memorize100", corpus="web2")
    assert 0 <= result["score"] <= 99 and "normalized_score" in result
    assert evaluate_agent(PolicyHash(model), "Memorize100", "web2")["score"] == result["score"]


def test_bad_input_names_the_argument(tmp_path) -> None:
    from stable_baselines3 import PPO

    table_aware = PPO("MultiInputPolicy", get_task("Online100").make("web2"), n_steps=64)
    with pytest.raises(ValueError, match="observes the word and the table.*stateless"):
        evaluate_agent(table_aware, "Memorize100", "web2")
    with pytest.raises(ValueError, match="hashes into 1000 bins"):
        evaluate_agent(DictHash(["a"], 1000), "Memorize100", "web2")
    with pytest.raises(TypeError, match="agent must be a HashFunction"):
        evaluate_agent(42, "Memorize100", "web2")
    tasks = resolve_tasks(["Memorize100"])
    with pytest.raises(ValueError, match="agents: unknown agent 'ppo2'"):
        run_benchmark(["ppo2"], tasks, 1, tmp_path)
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        run_benchmark(["random"], tasks, 0, tmp_path)
    with pytest.raises(ValueError, match="agents: unknown agent 'pg'"):
        run_benchmark(["pg"], tasks, 1, tmp_path, backend="rllib")


def test_cli_errors_are_clear(capsys) -> None:
    from hash_envs.cli import main

    assert main(["benchmark", "--tasks", "Nope", "--out", "/nonexistent"]) == 2
    assert "unknown task 'Nope'" in capsys.readouterr().err
    assert main(["benchmark", "--seeds", "0", "--corpus", "web2"]) == 2
    assert "seeds must be >= 1" in capsys.readouterr().err


def test_benchmark_pipeline_on_tiny_tasks(tmp_path) -> None:
    """Random policy: normalised 0 within its CI; PilotQ memorises 100 words: 1; a second
    call reuses every finished run; JSON, CSV, Markdown and curves are written."""
    tasks = resolve_tasks(["Memorize100", "Online100"])
    kwargs = {"corpus": "web2", "tensorboard": False, "progress": False, "command": "test"}
    result = run_benchmark(["random"], tasks, 8, tmp_path, **kwargs)
    rows = {(r["agent"], r["task"]): r for r in result["aggregates"]}
    for task in ("hash_envs/Memorize100-v0", "hash_envs/Online100-v0"):
        low, high = rows["random", task]["normalized_ci"]
        assert low <= 0 <= high and rows["random", task]["seeds"] == 8
    learned = run_benchmark(["pilot-q"], tasks, 2, tmp_path, time_budget_s=30, **kwargs)
    (row,) = learned["aggregates"]
    assert row["task"] == "hash_envs/Memorize100-v0" and row["normalized_iqm"] == 1.0
    assert learned["skipped"] == [
        {
            "agent": "pilot-q",
            "task": "hash_envs/Online100-v0",
            "reason": "memorises a fixed pool into as many bins",
        }  # fmt: skip
    ]
    run_file = tmp_path / "runs" / "sb3-random" / "Online100-v0" / "seed0.json"
    stamp = run_file.stat().st_mtime_ns
    again = run_benchmark(["random"], tasks, 8, tmp_path, **kwargs)
    assert run_file.stat().st_mtime_ns == stamp
    assert again["runs"] == json.loads(json.dumps(result["runs"]))
    paths = write_outputs(learned, tmp_path)
    assert json.loads(paths["json"].read_text())["aggregates"] == learned["aggregates"]
    assert "normalised score" in paths["md"].read_text()
    assert (tmp_path / "curves" / "Memorize100-v0.png").is_file()
    assert len(paths["csv"].read_text().splitlines()) == 1 + 2


def test_random_policy_is_seeded() -> None:
    obs = np.zeros((5, 3), dtype=np.float32)
    a = uniform_random_policy("Memorize100", seed=1)(obs)
    b = uniform_random_policy("Memorize100", seed=1)(obs)
    assert a.tolist() == b.tolist() and a.max() < 100
    cells = uniform_random_policy("Memorize100Factored", seed=1)(obs)
    assert cells.shape == (5, 2) and cells.max() < 10
