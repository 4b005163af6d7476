"""``hash_envs/HashProgram-v0`` and :mod:`hash_envs.program`: checkers, masks, the three
evaluators against the per-word reference, files, bad input, the searches, MaskablePPO.

Offline: the env runs on the embedded web2 corpus.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import hash_envs
from hash_envs.envs.hash_program import HashProgramEnv, ProgramScorer
from hash_envs.hashing import ArtifactError, make_hash_function
from hash_envs.program import (
    BY_NAME,
    INSTRUCTIONS,
    MAX_PROGRAM_LENGTH,
    EncodedWords,
    Program,
    ProgramHash,
    check_program,
    interpret,
    legal_actions,
    load_program,
    load_program_hash,
)
from hash_envs.program_search import (
    evolutionary_search,
    random_program,
    random_search,
    train_program,
)

ROOT = Path(__file__).resolve().parents[1]
FMIX = ("xorshift_33", "mul_k3", "xorshift_33", "mul_k1", "xorshift_33")
GOOD = Program(("add_chunk", "xorshift_33", "mul_k2", "end_body", *FMIX, "end"))
ENV_KW = {"corpus": "web2", "n_words": 2048, "avalanche_keys": 32}


def _tricky_words(rng: np.random.Generator, n: int) -> list[str]:
    """Random words of every kind: empty, ASCII, non-ASCII, lone surrogates, NULs,
    newlines, exactly 8 and 16 bytes, and 1,000-character strings."""
    alphabet = list("abcxyz\0\n") + ["é", "ß", "中", "😀", "\ud800", "\udfff", "\x7f", "\x80"]
    words = ["", "\0", "a", "a\0", "abcdefgh", "abcdefghi", "abcdefghijklmnop", "x" * 1000]
    words += ["中" * 1000, "\n", "a\nb", "😀" * 3]
    for _ in range(n):
        length = int(rng.choice([0, 1, 3, 7, 8, 9, 15, 16, 17, 40, 1000]))
        words.append("".join(rng.choice(alphabet, size=length)))
    return words


def _random_programs(seed: int, count: int, max_length: int = 16) -> list[Program]:
    rng = np.random.default_rng(seed)
    programs = [random_program(rng, max_length) for _ in range(count // 2)]
    programs += [random_program(rng, max_length, how="moves") for _ in range(count - len(programs))]
    return [GOOD, *programs]


@pytest.fixture(scope="module")
def env() -> HashProgramEnv:
    return HashProgramEnv(**ENV_KW)


# ------------------------------------------------------------------------ env checkers


def test_registered_and_passes_gymnasiums_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    assert hash_envs.PROGRAM_ENV_ID in gym.registry
    made = gym.make(hash_envs.PROGRAM_ENV_ID, **ENV_KW)
    check_env(made.unwrapped, skip_render_check=False)
    made.close()


def test_passes_sb3s_checker(env: HashProgramEnv) -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env

    check_env(HashProgramEnv(**ENV_KW), warn=True)


def test_an_episode_of_legal_moves_ends_with_the_programs_reward(env: HashProgramEnv) -> None:
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [0] * (env.max_instructions + 1)
    rng = np.random.default_rng(0)
    for step in range(env.max_instructions):
        legal = np.flatnonzero(env.action_masks())
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(legal)))
        assert obs[-1] == step + 1 and not truncated
        assert obs[step] == BY_NAME[env.program_so_far[-1]].id
        if terminated:
            break
    assert terminated and "illegal" not in info
    program = Program(info["program"])
    assert reward == info["program_reward"] == env.evaluate(program)[0]
    assert not env.action_masks().any()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_an_illegal_action_ends_the_episode_with_its_reward(env: HashProgramEnv) -> None:
    env.reset(seed=0)
    end_body = INSTRUCTIONS.index(BY_NAME["end_body"])
    assert not env.action_masks()[end_body]  # no combine yet
    _, reward, terminated, _, info = env.step(end_body)
    assert terminated and reward == env.illegal_reward and info == {"illegal": "end_body"}


def test_render_modes() -> None:
    ansi = HashProgramEnv(**ENV_KW, render_mode="ansi")
    ansi.reset(seed=0)
    ansi.step(INSTRUCTIONS.index(BY_NAME["xor_chunk"]))
    assert ansi.render().startswith("xor_chunk")
    rgb = HashProgramEnv(**ENV_KW, render_mode="rgb_array")
    rgb.reset(seed=0)
    rgb.step(0)
    frame = rgb.render()
    assert frame.shape == (16, 16 * rgb.max_instructions, 3) and frame.any()


# ------------------------------------------------------------------------ masks


def _completable(prefix: list[str], max_length: int) -> bool:
    """Independent of :func:`legal_actions`: some legal program of at most
    ``max_length`` instructions starts with ``prefix``. A completion needs at most a
    combine, ``end_body`` and ``end``, so completions over those three suffice."""
    alphabet = ("xor_chunk", "end_body", "end")
    for k in range(max_length - len(prefix) + 1):
        for tail in itertools.product(alphabet, repeat=k):
            try:
                check_program([*prefix, *tail])
            except ValueError:
                continue
            return True
    return False


@pytest.mark.parametrize("max_length", [3, 4, 6, 9])
def test_masks_forbid_exactly_the_moves_that_cannot_be_completed(max_length: int) -> None:
    rng = np.random.default_rng(max_length)
    names = [ins.name for ins in INSTRUCTIONS]
    checked = 0
    for _ in range(60):
        prefix: list[str] = []
        while not prefix or prefix[-1] != "end":
            mask = legal_actions(prefix, max_length)
            for a, name in enumerate(names):
                assert mask[a] == _completable([*prefix, name], max_length), (prefix, name)
                checked += 1
            # walk on, sometimes through a move the mask forbids (then stop)
            a = (
                int(rng.integers(len(names)))
                if rng.random() < 0.2
                else int(rng.choice(np.flatnonzero(mask)))
            )
            if not mask[a]:
                break
            prefix.append(names[a])
        if prefix and prefix[-1] == "end":
            assert not legal_actions(prefix, max_length).any()
            Program(prefix)  # every masked walk ends in a legal program
    assert checked > 1000


def _learn_and_check_every_program_is_legal(model, steps: int, max_instructions: int) -> None:
    """``model.learn(steps)``: no episode ends on an illegal move, and the episodes it
    wrote are at least as many as programs of full length would give."""
    from stable_baselines3.common.callbacks import BaseCallback

    illegal: list[dict] = []
    programs: list[float] = []

    class Watch(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "illegal" in info:
                    illegal.append(info)
                if "program_reward" in info:
                    programs.append(info["program_reward"])
            return True

    model.learn(steps, callback=Watch())
    assert not illegal and len(programs) >= steps // max_instructions


def test_maskable_ppo_never_picks_an_illegal_move_and_runs_a_few_hundred_steps() -> None:
    pytest.importorskip("sb3_contrib")
    from sb3_contrib import MaskablePPO

    env = gym.make(hash_envs.PROGRAM_ENV_ID, **ENV_KW)
    model = MaskablePPO(
        "MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu"
    )
    _learn_and_check_every_program_is_legal(model, 320, env.unwrapped.max_instructions)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, action_masks=env.unwrapped.action_masks(), deterministic=True)
    assert env.unwrapped.action_masks()[int(action)]


# ------------------------------------------------------------------------ evaluators


def test_vectorised_evaluators_and_python_source_equal_the_reference_interpreter() -> None:
    words = _tricky_words(np.random.default_rng(0), 300)
    for program in _random_programs(1, 12):
        reference = [interpret(program, w) for w in words]
        assert ProgramHash(program, 2**63).values(words).tolist() == reference, program
        assert EncodedWords(words).run(program).tolist() == reference, program
        namespace: dict = {}
        exec(program.to_python("f"), namespace)  # noqa: S102 - our own generated source
        assert [namespace["f"](w) for w in words[:60]] == reference[:60], program


def test_hash_many_is_call_and_independent_of_the_batch() -> None:
    words = _tricky_words(np.random.default_rng(2), 200)
    h = ProgramHash(GOOD, 1000)
    bins = h.hash_many(words)
    assert bins.dtype == np.int64 and bins.min() >= 0 and bins.max() < 1000
    assert bins.tolist() == [h(w) for w in words]
    assert h.hash_many(words[::-1]).tolist() == bins[::-1].tolist()
    assert h.hash_many(words[5:17]).tolist() == bins[5:17].tolist()
    assert h.hash_many([]).shape == (0,)
    assert ProgramHash(GOOD, 1024).hash_many(words).tolist() == [
        interpret(GOOD, w) % 1024 for w in words
    ]
    assert h.hash_many(iter(words)).tolist() == bins.tolist()
    with pytest.raises(TypeError):
        h.hash_many(["ok", b"bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        h(b"bytes")  # type: ignore[arg-type]


def test_length_is_folded_in() -> None:
    h = ProgramHash(Program(("xor_chunk", "end_body", "end")), 2**63)
    values = h.values(["", "\0", "\0\0", "a", "a\0", "a\0\0"])
    assert len(set(values.tolist())) == 6


def test_bins_are_the_same_in_another_process() -> None:
    words = ["", "a", "héllo", "\ud800", "x" * 300, "rl-program"]
    code = (
        "import hash_envs; "
        f"print(hash_envs.make_hash_function('rl-program', 1000).hash_many({words!r}).tolist())"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert run.stdout.strip() == str(
        make_hash_function("rl-program", 1000).hash_many(words).tolist()
    )


# ------------------------------------------------------------------------ files


def test_a_saved_program_reloads_to_the_same_bins(tmp_path: Path) -> None:
    words = _tricky_words(np.random.default_rng(3), 100)
    for program in _random_programs(4, 6):
        path = program.save(tmp_path / "p.hprog", comment="a test\nof two lines")
        assert load_program(path) == program
        assert (
            ProgramHash(path, 997).hash_many(words).tolist()
            == ProgramHash(program, 997).hash_many(words).tolist()
        )
        loaded = load_program_hash(path, 997)
        assert (
            loaded.hash_many(words).tolist() == ProgramHash(program, 997).hash_many(words).tolist()
        )


def test_the_hprog_loader_is_declared_for_its_suffix() -> None:
    assert ".hprog = hash_envs.program:load_program_hash" in (ROOT / "setup.cfg").read_text()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not a program file"),
        ("format hash-envs-program/2\nbody\n xor_chunk\nfinaliser\nend\n", "not a program file"),
        ("format hash-envs-program/1\nbody\n  xor_chunk\n", "truncated"),
        (
            "format hash-envs-program/1\nbody\n  xor_chunk\n  frobnicate\nfinaliser\nend\n",
            "unknown instruction 'frobnicate'",
        ),
        (
            "format hash-envs-program/1\nbody\n  xor_chunk\nfinaliser\n  end_body\nend\n",
            "unknown instruction 'end_body'",
        ),
        ("format hash-envs-program/1\nbody\n  mul_k0\nfinaliser\nend\n", "illegal program"),
        (
            "format hash-envs-program/1\nbody\n  xor_chunk\nfinaliser\n  xor_chunk\nend\n",
            "illegal program",
        ),
    ],
)
def test_a_damaged_file_raises_artifact_error_naming_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.hprog"
    path.write_text(text)
    with pytest.raises(ArtifactError, match=problem) as err:
        load_program(path)
    assert str(path) in str(err.value)


def test_a_missing_or_binary_file_raises_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nope.hprog"):
        load_program(tmp_path / "nope.hprog")
    binary = tmp_path / "bin.hprog"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArtifactError, match="bin.hprog"):
        load_program(binary)


def test_rl_program_is_the_committed_file() -> None:
    h = make_hash_function("rl-program", 1000)
    assert isinstance(h, ProgramHash) and h.name == "rl-program" and h.n_bins == 1000
    committed = load_program(ROOT / "hash_envs" / "data" / "rl_program.hprog")
    assert h.program == committed and h.size_bytes == len(committed)


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ((), "empty"),
        (("xor_chunk",) * (MAX_PROGRAM_LENGTH - 1) + ("end_body", "end"), "more than 64"),
        (("xor_chunk", "nope", "end_body", "end"), "unknown instruction 'nope' at position 1"),
        (("mul_k0", "end_body", "end"), "no xor_chunk or add_chunk"),
        (("xor_chunk", "mul_chunk_k1", "end_body", "end"), "after the body's last combine"),
        (("xor_chunk", "end_body", "add_chunk", "end"), "in the finaliser"),
        (("xor_chunk", "end"), "exactly one end_body"),
        (("xor_chunk", "end_body", "end_body", "end"), "exactly one end_body"),
        (("xor_chunk", "end_body", "mul_k0"), "must end with end"),
        (("xor_chunk", "end_body", "end", "end"), "must end with end"),
    ],
)
def test_an_illegal_program_is_a_value_error_naming_the_problem(names: tuple, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Program(names)
    with pytest.raises(ValueError, match=problem):
        ProgramHash(list(names), 10)


def test_from_ids_and_actions_round_trip() -> None:
    assert Program.from_ids([*GOOD.ids, 0, 0]) == GOOD
    assert Program.from_actions(GOOD.ids - 1) == GOOD
    with pytest.raises(ValueError, match="not in 1..20"):
        Program.from_ids([99])


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"n_words": 100}, "n_words must be >= 1024"),
        ({"n_words": 10**7}, "larger than the corpus"),
        ({"max_instructions": 2}, "max_instructions"),
        ({"max_instructions": 65}, "max_instructions"),
        ({"slices": ("low10", "low11")}, "slices"),
        ({"slices": ()}, "slices"),
        ({"avalanche_keys": -1}, "avalanche_keys"),
        ({"latency_weight": -0.1}, "latency_weight"),
        ({"collision_weight": float("nan")}, "collision_weight"),
        ({"illegal_reward": float("inf")}, "illegal_reward"),
        ({"render_mode": "human"}, "render_mode"),
        ({"corpus": "no-such-corpus"}, "corpus must be one of"),
    ],
)
def test_env_arguments_out_of_range_are_value_errors(kwargs: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        HashProgramEnv(**{**ENV_KW, **kwargs})


def test_n_bins_out_of_range() -> None:
    with pytest.raises(ValueError, match="n_bins"):
        ProgramHash(GOOD, 0)
    with pytest.raises(ValueError, match="2\\*\\*63"):
        ProgramHash(GOOD, 2**64)


# ------------------------------------------------------------------------ reward


def test_the_reward_ranks_a_good_program_above_weak_ones(env: HashProgramEnv) -> None:
    good, terms = env.evaluate(GOOD)
    assert terms["collision_term"] == 0 and terms["keyset_term"] == 0  # random-level
    assert good == pytest.approx(-(terms["avalanche_term"] + terms["latency_term"]))
    fnv = Program(("xor_chunk", "mul_k0", "end_body", *FMIX, "end"))  # collides on sparse keys
    no_finaliser = Program(("xor_chunk", "mul_k0", "end_body", "end"))  # low bits unmixed
    assert env.evaluate(fnv)[1]["keysets"]["collisions"] > 0
    assert env.evaluate(fnv)[0] < good - 1
    assert env.evaluate(no_finaliser)[0] < good - 5


def test_scoring_is_deterministic_and_cached() -> None:
    words = [f"w{i}" for i in range(1500)]
    a = ProgramScorer(words, avalanche_keys=16)
    b = ProgramScorer(words, avalanche_keys=16)
    assert a.score(GOOD) == b.score(GOOD)
    assert a.score(GOOD) is a.score(GOOD)
    assert a.evaluations == 3


# ------------------------------------------------------------------------ search


def test_searches_keep_their_budget_and_are_seeded() -> None:
    kw = {**ENV_KW}
    for search in (random_search, evolutionary_search):
        first = search(60, seed=5, env_kwargs=kw)
        again = search(60, seed=5, env_kwargs=kw)
        assert first.curve.size == 60 and np.all(np.diff(first.curve) >= 0)
        assert first.program == again.program and first.reward == first.curve[-1]
        assert first.info["top"][0][0] == first.reward
    result = train_program(
        "maskable-ppo",
        seed=0,
        evaluations=40,
        env_kwargs=kw,
        n_envs=2,
        ppo_kwargs={"n_steps": 32, "batch_size": 32},
    )
    assert result.curve.size == 40 and isinstance(result.program, Program)
    with pytest.raises(ValueError, match="unknown program search"):
        train_program("sgd", evaluations=1)


def test_cli_train_searches_hash_program_and_writes_a_loadable_program(tmp_path) -> None:
    from hash_envs.cli import main

    args = ["train", "--task", "HashProgram", "--algo", "random", "--evaluations", "5"]
    args += ["--env-kwargs", json.dumps(ENV_KW), "--out", str(tmp_path)]
    assert main(args) == 0
    program = load_program(tmp_path / "program.hprog")
    assert program.instructions[-1] == "end"
    # the design card's agents write programs too (masked, issue 33)
    args = ["train", "--task", "HashProgram", "--algo", "pg", "--evaluations", "20"]
    args += ["--env-kwargs", json.dumps(ENV_KW), "--out", str(tmp_path / "pg")]
    args += ["--algo-kwargs", json.dumps({"n_envs": 2, "agent_kwargs": {"n_steps": 16}})]
    assert main(args) == 0
    assert load_program(tmp_path / "pg" / "program.hprog").instructions[-1] == "end"
    # a program search is not an env-step algorithm, and vice versa: clear errors
    assert main(["train", "--task", "HashProgram", "--algo", "dqn", "--out", str(tmp_path)]) == 2
    assert main(["train", "--task", "Memorize100", "--algo", "evolution", "--timesteps", "1"]) == 2


# ------------------------------------------------------------------------ PG and A2C, masked


def test_the_mask_observation_wrapper_carries_the_envs_legal_moves() -> None:
    from hash_envs.wrappers import MASK_KEY, OBSERVATION_KEY, ActionMaskObservation

    env = ActionMaskObservation(gym.make(hash_envs.PROGRAM_ENV_ID, **ENV_KW))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for action in GOOD.ids - 1:  # env actions are 0-based ids
        np.testing.assert_array_equal(obs[MASK_KEY].astype(bool), env.action_masks())
        obs, *_ = env.step(action)
        assert obs[OBSERVATION_KEY][-1] == len(env.unwrapped.program_so_far)
    assert not obs[MASK_KEY].any()  # after the end nothing is legal
    with pytest.raises(TypeError, match="action_masks"):
        ActionMaskObservation(gym.make("CartPole-v1"))


@pytest.mark.parametrize("algo", ["pg", "a2c"])
def test_pg_and_a2c_write_only_legal_programs(algo: str) -> None:
    pytest.importorskip("stable_baselines3")
    from agents import A2C, PG
    from agents.runs.program_search import PROGRAM_SETTINGS, train_program
    from hash_envs.wrappers import MASK_KEY, ActionMaskObservation

    env = ActionMaskObservation(gym.make(hash_envs.PROGRAM_ENV_ID, **ENV_KW))
    cls = {"pg": PG, "a2c": A2C}[algo]
    settings = {**PROGRAM_SETTINGS[algo], "n_steps": 32}
    model = cls("MaskedPolicy", env, seed=0, device="cpu", **settings)
    _learn_and_check_every_program_is_legal(model, 320, env.unwrapped.max_instructions)
    # one legal move: the policy takes it, greedy or sampled, whatever its logits say
    obs, _ = env.reset(seed=1)
    only = np.zeros_like(obs[MASK_KEY])
    mul_k3 = BY_NAME["mul_k3"].id - 1
    only[mul_k3] = 1
    obs = {**obs, MASK_KEY: only}
    for deterministic in (True, False):
        for _ in range(5):
            action, _ = model.predict(obs, deterministic=deterministic)
            assert int(action) == mul_k3
    # the search API: budget kept, seeded
    first = train_program(
        algo, seed=3, evaluations=30, env_kwargs=ENV_KW, n_envs=2, agent_kwargs={"n_steps": 16}
    )
    again = train_program(
        algo, seed=3, evaluations=30, env_kwargs=ENV_KW, n_envs=2, agent_kwargs={"n_steps": 16}
    )
    assert first.curve.size == 30 and first.algo == algo
    assert first.program == again.program and first.reward == again.reward


def test_masked_policy_refuses_what_it_cannot_mask() -> None:
    pytest.importorskip("stable_baselines3")
    from agents import PG
    from hash_envs.wrappers import ActionMaskObservation

    with pytest.raises(ValueError, match="action_mask"):
        PG("MaskedPolicy", gym.make(hash_envs.PROGRAM_ENV_ID, **ENV_KW), device="cpu")
    env = ActionMaskObservation(gym.make(hash_envs.PROGRAM_ENV_ID, **ENV_KW))
    with pytest.raises(ValueError, match="uniform_coef"):
        PG("MaskedPolicy", env, uniform_coef=0.1, device="cpu")
    from agents.runs.program_search import train_program

    with pytest.raises(ValueError, match="unknown program search"):
        train_program("sac", evaluations=1)
