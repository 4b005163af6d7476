"""The README's Python examples run as written (on the Moby list, as a reader would)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_examples() -> None:
    assert len(python_blocks()) == 3


@pytest.mark.moby
def test_readme_examples_run_in_order(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write hash.onnx into the working directory
    monkeypatch.setenv("HASH_ENVS_CACHE", str(tmp_path / "cache"))
    namespace: dict = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    score = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert -2 <= score <= 1
    assert (tmp_path / "hash.onnx").is_file()
