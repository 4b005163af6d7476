"""The packages' import layout: ``agents`` in wings that point one way, no import circle,
and sibling packages that depend only inward on ``hash_envs``.

Every import statement counts, including the lazy ones inside functions (a lazy import
still ties two modules together), so the graph is read from the source with ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hash_envs", "agents", "baselines", "encoders", "model_hashing")
#: Which ``agents`` wings each wing may import (besides itself and ``hash_envs``).
AGENT_WINGS = {
    "common": set(),
    "algorithms": {"common"},
    "hashes": {"common"},
    "runs": {"common", "algorithms", "hashes"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the project modules ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (names that are modules, not attributes)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        targets = {name for name in _imports(path) if name in files}
        graph[module] = targets - {module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as a list of modules, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "agents" and len(parts) > 2 else None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_lazy_imports_count() -> None:
    graph = import_graph()
    assert "agents.common.layers" in graph["agents.hashes.hash_network"]
    assert "agents.algorithms.pilot_q" in graph["agents.runs.benchmark"]  # a lazy import


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package: str) -> None:
    graph = {m: t for m, t in import_graph().items() if m.split(".")[0] == package}
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph) or [])}"


def test_agents_has_its_wings_and_no_loose_modules() -> None:
    loose = sorted(p.name for p in (ROOT / "agents").glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside the wings: {loose}"
    assert {p.name for p in (ROOT / "agents").iterdir() if (p / "__init__.py").exists()} == set(
        AGENT_WINGS
    )


def test_agents_wings_import_one_way() -> None:
    wrong = []
    for module, targets in import_graph().items():
        wing = _wing(module)
        if wing is None:
            continue
        for target in targets:
            other = _wing(target)
            if other is not None and other != wing and other not in AGENT_WINGS[wing]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_sibling_packages_import_only_hash_envs() -> None:
    siblings = ("agents", "baselines", "encoders", "model_hashing")
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if module.split(".")[0] in (*siblings, "hash_envs")
        and target.split(".")[0] != module.split(".")[0]
        and target.split(".")[0] != "hash_envs"
    ]
    assert wrong == []
