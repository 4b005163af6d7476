"""Smoke tests of the paper-reproduction scripts (``experiments/``) at their quick size.

Each script's ``main(["--quick", "--out", tmp])`` must run and write its Markdown summary
(with the paper-vs-ours table and the exact command) and the PNG plots it links. The
scripts run in this process (no interpreter start-up per script); the Moby list is used
when available offline, the embedded ``web2`` corpus otherwise.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import pytest
import torch
from conftest import MOBY_AVAILABLE

from hash_envs.corpus import MOBY_ENV_VAR

EXPERIMENTS_DIR = Path(__file__).resolve().parents[1] / "experiments"
CORPUS = "moby" if MOBY_AVAILABLE else "web2"


@pytest.fixture(autouse=True)
def restore_process_state():
    """The scripts set one torch thread and may point HASH_ENVS_MOBY at the shared list;
    undo both so that other test modules see the process as they expect."""
    threads, moby = torch.get_num_threads(), os.environ.get(MOBY_ENV_VAR)
    sys.path.insert(0, str(EXPERIMENTS_DIR))
    yield
    sys.path.remove(str(EXPERIMENTS_DIR))
    torch.set_num_threads(threads)
    if moby is None:
        os.environ.pop(MOBY_ENV_VAR, None)
    else:
        os.environ[MOBY_ENV_VAR] = moby


def run_quick(name: str, out: Path) -> str:
    module = importlib.import_module(name)
    md = module.main(["--quick", "--out", str(out), "--corpus", CORPUS])
    assert md == out / f"{name}.md"
    text = md.read_text()
    assert "## Paper vs. ours" in text
    assert f"experiments/{name}.py --quick" in text  # the exact command
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert images, "the summary links its plots"
    for image in images:
        png = out / image
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return text


@pytest.mark.parametrize(
    "name",
    [
        "exp2_pg_stateless",
        "exp3_a2c_stateless",
        "exp4_sac_stateless",
    ],
)
def test_stateless_experiments_quick(name: str, tmp_path: Path) -> None:
    text = run_quick(name, tmp_path)
    assert "argmax-hash collisions, held-out draws" in text
    assert f"{name}_5.png" in text or f"{name}_4.png" in text  # the whole (short) run


def test_exp1_supervised_quick(tmp_path: Path) -> None:
    text = run_quick("exp1_supervised", tmp_path)
    assert "chance 0.1%" in text


@pytest.mark.slow
def test_exp5_table_aware_quick(tmp_path: Path) -> None:
    text = run_quick("exp5_pg_table_aware", tmp_path)
    assert "greedy" in text


@pytest.mark.slow
def test_exp6_memorize_quick(tmp_path: Path) -> None:
    text = run_quick("exp6_memorize", tmp_path)
    assert "`random-1000` track" in text


@pytest.mark.slow
def test_exp7_inference_time_quick(tmp_path: Path) -> None:
    text = run_quick("exp7_inference_time", tmp_path)
    assert "63×" in text and "identical on 2,000 words: True" in text
    assert "memorising net (48 sine, bytes, factorised 32×32 head)" in text
    assert "paper 2×300 with a factorised 32×32 head" in text
    assert "float32 GEMMs alone (roofline)" in text and "GMAC/s" in text


def test_run_all_writes_the_index(tmp_path: Path) -> None:
    run_all = importlib.import_module("run_all")
    (tmp_path / "exp2_pg_stateless.md").write_text("# x\n\nGenerated ... (quick size).\n")
    (index,) = run_all.main(["--index-only", "--out", str(tmp_path)])
    text = index.read_text()
    assert "[exp2_pg_stateless.md](exp2_pg_stateless.md) | quick" in text
    assert text.count("pending") == len(run_all.EXPERIMENTS) - 1
