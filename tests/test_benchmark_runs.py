"""``hash-envs benchmark`` and ``hash-envs tune``: published step budgets, seeds added
later, learning curves in normalised score, hyperparameter files checked, Optuna search."""

from __future__ import annotations

import json

import pytest

from agents.runs.benchmark import hyperparameters, load_hyperparameters, run_benchmark
from agents.runs.curves import CURVE_FRACTIONS, curve_points
from hash_envs.tasks import get_task, resolve_tasks

QUIET = {"corpus": "web2", "tensorboard": False, "progress": False, "command": "test"}


def test_every_published_file_is_valid_and_has_a_step_budget() -> None:
    for agent in ("pg", "a2c", "sac", "ppo", "dqn"):
        table = load_hyperparameters(agent)
        for task in resolve_tasks(["all"]):
            assert hyperparameters(agent, task)["n_timesteps"] >= 1
        assert "default" in table


def test_an_entrys_policy_gives_sb3s_ppo_and_dqn_the_packages_policies(tmp_path) -> None:
    from agents.algorithms.policies import HashPolicy, TableAwareHashPolicy
    from agents.algorithms.q_policy import HashQPolicy
    from agents.runs.benchmark import Run, train_sb3

    cases = [
        ("ppo", "Memorize100", HashPolicy, {"n_steps": 8, "batch_size": 16}),
        ("ppo", "Online100", TableAwareHashPolicy, {"n_steps": 8, "batch_size": 16}),
        ("dqn", "Online100", HashQPolicy, {"batch_size": 16}),
    ]
    for agent, tier, policy, small in cases:
        task = get_task(tier)
        settings = {**hyperparameters(agent, task), "n_timesteps": 64, "n_envs": 2}
        settings["kwargs"] = {**settings["kwargs"], **small}
        model = train_sb3(Run(agent, task, 0, settings, corpus="web2"))
        assert type(model.policy) is policy
    bad = tmp_path / "ppo.json"
    bad.write_text(json.dumps({"default": {"policy": "HashPolicyy"}}))
    with pytest.raises(ValueError, match="policy must be one of MlpPolicy, .*HashPolicy"):
        load_hyperparameters("ppo", path=bad)


def test_first_seed_runs_later_seeds_and_they_join_the_table(tmp_path) -> None:
    tasks = resolve_tasks(["Memorize100"])
    first = run_benchmark(["random"], tasks, 1, tmp_path, first_seed=7, **QUIET)
    assert [r["seed"] for r in first["runs"]] == [7]
    more = run_benchmark(["random"], tasks, 2, tmp_path, first_seed=2, **QUIET)
    assert sorted(r["seed"] for r in more["runs"]) == [2, 3, 7]
    assert more["aggregates"][0]["seeds"] == 3


def test_bad_budgets_seeds_and_hyperparameter_files_are_refused(tmp_path, capsys) -> None:
    from hash_envs.cli import main

    tasks = resolve_tasks(["Memorize100"])
    with pytest.raises(ValueError, match="first_seed must be >= 0"):
        run_benchmark(["random"], tasks, 1, tmp_path, first_seed=-1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        run_benchmark(["random"], tasks, 1, tmp_path, steps=0)
    bad = tmp_path / "pg.json"
    bad.write_text(json.dumps({"default": {"n_timesteps": 10, "learning_rat": 0.1}}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rat'\]; valid keys"):
        run_benchmark(["pg"], tasks, 1, tmp_path, hyperparams=bad)
    bad.write_text(json.dumps({"default": {}, "hash_envs/Memorise100-v0": {}}))
    with pytest.raises(ValueError, match="unknown entry 'hash_envs/Memorise100-v0'"):
        run_benchmark(["pg"], tasks, 1, tmp_path, hyperparams=bad)
    assert main(["benchmark", "--first-seed", "-1", "--corpus", "web2"]) == 2
    assert "first_seed must be >= 0" in capsys.readouterr().err
    assert main(["benchmark", "--steps", "0", "--corpus", "web2"]) == 2
    assert "steps must be >= 1" in capsys.readouterr().err
    assert main(["tune", "--algo", "nope", "--task", "Memorize100"]) == 2
    assert "unknown agent 'nope' to tune; choose from pg" in capsys.readouterr().err
    assert main(["tune", "--algo", "pg", "--task", "Memorize100", "--trials", "0"]) == 2
    assert "trials must be >= 1" in capsys.readouterr().err


def test_an_sb3_run_records_its_normalised_score_at_the_fixed_points(tmp_path) -> None:
    tasks = resolve_tasks(["Memorize100"])
    steps = 4096
    result = run_benchmark(["pg"], tasks, 1, tmp_path, steps=steps, **QUIET)
    (run,) = result["runs"]
    xs = [x for x, _ in run["score_curve"]]
    assert xs[: len(CURVE_FRACTIONS)] == curve_points(steps) and xs == sorted(xs)
    assert list(run["score_curve"][-1]) == [run["steps"], run["normalized_score"]]
    assert run["steps_per_s"] > 0 and run["curve_s"] >= 0


def test_tune_writes_the_best_settings_in_the_published_format(tmp_path) -> None:
    from agents.runs.benchmark import merge_settings
    from agents.runs.optimize import (
        SEARCH_SPACES,
        _tuning_record,
        published_params,
        tune_agent,
        write_best,
    )

    task = get_task("Memorize100")
    best, value, n = tune_agent("pg", task, 3, tmp_path, steps=2048, corpus="web2")
    space = {name.split(".")[0] for name in SEARCH_SPACES["pg"]}
    assert n == 3 and set(best) <= space and value <= 1.0
    again = tune_agent("pg", task, 3, tmp_path, steps=2048, corpus="web2")  # resumes: no trial
    assert again[2] == 3
    import optuna

    study = optuna.load_study(
        study_name=f"pg-{task.env_id}", storage=f"sqlite:///{tmp_path / 'study.db'}"
    )
    published = published_params("pg", task)  # trial 0: the published settings
    assert study.trials[0].params == published and set(published) == set(SEARCH_SPACES["pg"])
    path = write_best("pg", task, best, _tuning_record("test", n, [100], 1.0, value), tmp_path)
    settings = hyperparameters("pg", task, path=path)
    assert settings["kwargs"] == merge_settings(hyperparameters("pg", task)["kwargs"], best)
    # a tuned nested setting keeps the published ones beside it (net_arch, activation)
    assert settings["kwargs"]["policy_kwargs"]["net_arch"] == [128]
    assert json.loads(path.read_text())[task.env_id]["tuning"]["trials"] == 3
