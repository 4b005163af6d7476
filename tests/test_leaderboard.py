"""The collision leaderboard and the ``hash-envs`` command line."""

from __future__ import annotations

import json

import pytest

from hash_envs import corpus, metrics
from hash_envs.cli import main
from hash_envs.hashing import HashFunction, register_hash_function, registered_hash_functions
from hash_envs.leaderboard import LeaderboardConfig, run_leaderboard, to_markdown, write_outputs

CLASSICAL = ["python-siphash13", "xxh64", "xxh3", "murmur3", "crc32", "fnv1a", "blake2b"]


class PerfectOnSubset(HashFunction):
    """A lookup table: perfect on the memorize-K words, mod n_bins elsewhere."""

    name = "lookup"

    def __init__(self, n_bins: int, words: list[str]) -> None:
        super().__init__(n_bins)
        self.table = {w: i % n_bins for i, w in enumerate(words)}

    @property
    def size_bytes(self) -> int:
        return 8 * len(self.table)

    def __call__(self, word: str) -> int:
        return self.table.get(word, len(word) % self.n_bins)


@pytest.fixture(scope="module")
def web2() -> list[str]:
    return corpus.load("web2")


def test_classical_contenders_are_registered() -> None:
    assert set(CLASSICAL) <= set(registered_hash_functions())


@pytest.mark.skipif(not corpus.moby_available(), reason="Moby word list not available")
def test_classical_hashes_match_random_expectation_on_moby() -> None:
    """The issue's protocol: 1000 seeded draws of 1000 Moby words into 1000 bins.

    The mean of a uniformly random function is 367.70 with sd 9.86 per draw, so the
    standard error over 1000 draws is 0.31 and the +-1.0 band is about 3.2 standard errors.
    """
    words = corpus.load("moby")
    config = LeaderboardConfig(tracks=["random-1000"], draws=1000, seed=0)
    result = run_leaderboard(words, CLASSICAL, config, corpus_name="moby", progress=False)
    expected = metrics.expected_collisions(1000, 1000)
    assert expected == pytest.approx(367.70, abs=0.005)
    for row in result["results"]:
        track = row["tracks"]["random-1000"]
        assert track["draws"] == 1000
        assert abs(track["mean"] - expected) <= 1.0, (row["name"], track["mean"])
        # The per-draw spread must look like a random function's too.
        assert track["sd"] == pytest.approx(metrics.collisions_sd(1000, 1000), rel=0.1)


def test_memorize_track_uses_the_environment_pool(web2: list[str]) -> None:
    k = 500
    pool = corpus.subset(web2, k, seed=3)
    register_hash_function("test-lookup", lambda n: PerfectOnSubset(n, pool), overwrite=True)
    config = LeaderboardConfig(tracks=[f"memorize-{k}", "full"], seed=3)
    result = run_leaderboard(web2, ["test-lookup", "xxh64"], config, progress=False)
    rows = {row["name"]: row for row in result["results"]}
    assert rows["test-lookup"]["tracks"][f"memorize-{k}"]["collisions"] == 0
    assert rows["xxh64"]["tracks"][f"memorize-{k}"]["collisions"] > 0
    full = rows["xxh64"]["tracks"]["full"]
    assert full["words"] == len(web2) == full["bins"]
    assert sum(full["load_histogram"]) == len(web2)
    assert result["uniform_random_expectation"][f"memorize-{k}"]["collisions"] == pytest.approx(
        metrics.expected_collisions(k, k)
    )


def test_a_contender_that_cannot_serve_a_track_is_reported_not_fatal(web2: list[str]) -> None:
    def only_1000_bins(n_bins: int) -> HashFunction:
        if n_bins != 1000:
            raise ValueError("trained for 1000 bins only")
        return PerfectOnSubset(n_bins, [])

    register_hash_function("test-fixed-size", only_1000_bins, overwrite=True)
    config = LeaderboardConfig(tracks=["random-1000", "full"], draws=5)
    result = run_leaderboard(web2, ["test-fixed-size"], config, progress=False)
    tracks = result["results"][0]["tracks"]
    assert "mean" in tracks["random-1000"]
    assert tracks["full"] == {"error": "trained for 1000 bins only"}
    assert "n/a" in to_markdown(result)


def test_speed_track_reports_ratio_to_builtin_hash(web2: list[str]) -> None:
    config = LeaderboardConfig(tracks=["speed"], speed_words=20_000, repeats=2)
    result = run_leaderboard(web2, ["xxh64"], config, progress=False)
    speed = result["results"][0]["tracks"]["speed"]
    assert speed["ns_per_word"] > 0 and speed["builtin_hash_ns_per_word"] > 0
    assert speed["ratio_to_builtin"] == pytest.approx(
        speed["ns_per_word"] / speed["builtin_hash_ns_per_word"]
    )
    assert result["config"]["speed_words"] == 20_000


def test_results_are_reproducible_for_a_seed(web2: list[str]) -> None:
    config = LeaderboardConfig(tracks=["random-1000", "memorize-300"], draws=20, seed=7)
    first = run_leaderboard(web2, ["fnv1a"], config, progress=False)
    second = run_leaderboard(web2, ["fnv1a"], config, progress=False)
    assert first["results"] == second["results"]


def test_outputs_are_written(tmp_path, web2: list[str]) -> None:
    config = LeaderboardConfig(tracks=["random-1000", "full", "speed"], draws=10, speed_words=5000)
    result = run_leaderboard(web2, ["xxh64", "crc32"], config, corpus_name="web2", progress=False)
    paths = write_outputs(result, tmp_path)
    assert json.loads(paths["json"].read_text())["corpus"] == "web2"
    csv_text = paths["csv"].read_text()
    assert csv_text.startswith("hash,size_bytes,track,metric,value")
    assert "xxh64,8,random-1000,mean," in csv_text
    markdown = paths["md"].read_text()
    assert "| xxh64 | 8 |" in markdown and "uniform random (expected)" in markdown
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_configuration_is_rejected(web2: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown track"):
        LeaderboardConfig(tracks=["fastest"])
    with pytest.raises(ValueError, match="draws"):
        LeaderboardConfig(draws=0)
    with pytest.raises(ValueError, match="unknown hash function"):
        run_leaderboard(web2, ["no-such-hash"], LeaderboardConfig(draws=2), progress=False)
    with pytest.raises(ValueError, match="at least 1000 words"):
        run_leaderboard(web2[:500], ["xxh64"], LeaderboardConfig(draws=2), progress=False)


def test_cli_leaderboard_writes_table_and_files(tmp_path, capsys) -> None:
    code = main(
        [
            "leaderboard",
            "--corpus",
            "web2",
            "--quick",
            "--tracks",
            "random-1000",
            "memorize-1000",
            "--draws",
            "20",
            "--hashes",
            "xxh64",
            "murmur3",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "corpus: web2 (235,970 words)" in out
    assert "| murmur3 | 4 |" in out
    assert {p.name for p in tmp_path.iterdir()} == {
        "leaderboard.json",
        "leaderboard.csv",
        "leaderboard.md",
    }


def test_cli_reports_bad_input_clearly(tmp_path, capsys) -> None:
    assert main(["leaderboard", "--corpus", str(tmp_path / "missing.txt")]) == 2
    assert "hash-envs: error:" in capsys.readouterr().err
    assert main(["leaderboard", "--corpus", "web2", "--tracks", "nope"]) == 2
    assert "unknown track" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_cli_lists_environments(capsys) -> None:
    assert main(["envs", "--no-references"]) == 0
    out = capsys.readouterr().out
    assert "hash_envs/StatelessHash-v0" in out and "hash_envs/TableAwareHash-v0" in out
    assert out.count("|") > 8
    assert "hash_envs/MemorizeMoby-v0" in out and "MultiDiscrete([684, 683])" in out


def test_cli_lists_tasks_with_reference_scores(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HASH_ENVS_CACHE", str(tmp_path))
    assert main(["envs", "--corpus", "web2", "--tasks", "Memorize100", "MemorizeMoby"]) == 0
    out = capsys.readouterr().out
    assert (
        "| `hash_envs/Memorize100-v0` | memorize | 100 -> 100 | Discrete(100) | 1,000 | 36.60 |"
        in out
    )
    assert "needs the Moby list" in out
