"""Packages import their heavy modules on first use (hash_envs.lazy)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_cli_and_packages_start_without_torch_sklearn_or_ray() -> None:
    code = (
        "import sys, agents, encoders, model_hashing\n"
        "from hash_envs.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'sklearn', 'ray') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_names_resolve_on_access_and_unknown_names_raise() -> None:
    import agents
    import model_hashing

    assert agents.load_pilot_hash.__module__ == "agents.common.pilots"
    assert "load_pilot_hash" in dir(agents) and "load_pilot_hash" in agents.__all__
    assert model_hashing.total_flops.__module__ == "model_hashing.graph"
    with pytest.raises(AttributeError, match="module 'agents' has no attribute 'nope'"):
        agents.nope  # noqa: B018
