"""The documentation site: ``docs/gen_env_pages.py`` then ``mkdocs build --strict`` (what
``make docs`` runs), checked on the built HTML.

* every registered ``hash_envs/`` id has a page titled with it;
* a generated env page has its space table (matching the env's real spaces), its
  ``rgb_array`` picture (a PNG that exists and is referenced) and its reference scores;
* every API page documents every name in its package's ``__all__`` (a top-level heading
  per name) and shows no raw Sphinx roles;
* without the Moby list the whole-Moby tiers say they need it instead of failing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import gymnasium as gym
import pytest

import hash_envs
from hash_envs import corpus as corpus_lib
from hash_envs.metrics import expected_collisions

pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
API_PACKAGES = ("hash_envs", "agents", "baselines", "encoders", "model_hashing")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_env_pages", ROOT / "docs/gen_env_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Page(HTMLParser):
    """Headings (with ids), images and table rows of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.h1 = ""
        self.heading_ids: dict[str, list[str]] = {}
        self.images: list[str] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self._tag_stack: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("h1", "h2", "h3", "h4") and attributes.get("id"):
            self.heading_ids.setdefault(tag, []).append(attributes["id"])
        if tag == "img" and attributes.get("src"):
            self.images.append(attributes["src"])
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = []
        self._tag_stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if self._tag_stack:
            self._tag_stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if "h1" in self._tag_stack:
            self.h1 += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "docs/gen_env_pages.py"], cwd=ROOT, env=env, check=True, timeout=300
    )
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def _env_page(site: Path, env_id: str) -> Path:
    return site / "generated" / "envs" / env_id.removeprefix("hash_envs/") / "index.html"


def test_every_registered_env_has_a_page(site: Path) -> None:
    ids = [i for i in gym.registry if i.startswith("hash_envs/")]
    assert set(hash_envs.ENV_IDS) | set(hash_envs.TASK_IDS) <= set(ids)
    index = _parse(site / "generated" / "envs" / "index.html")
    linked = " ".join(index.text)
    for env_id in ids:
        page = _env_page(site, env_id)
        assert page.is_file(), f"no page for {env_id}"
        assert _parse(page).h1.strip().rstrip("¶") == env_id  # ¶: the permalink
        assert env_id in linked


def test_env_page_has_space_table_picture_and_references(site: Path) -> None:
    env_id = "hash_envs/Memorize100-v0"
    page_path = _env_page(site, env_id)
    page = _parse(page_path)
    table = {row[0]: row[1] for row in page.rows if len(row) == 2}
    corpus = "moby" if corpus_lib.moby_available() else "web2"
    env = gym.make(env_id, corpus=corpus)
    assert table["Action space"] == str(env.action_space) == "Discrete(100)"
    width = env.observation_space.shape[0]
    assert table["Observation space"] == f"MultiDiscrete([256] * {width})"
    assert table["reward_threshold"] == f"{gym.spec(env_id).reward_threshold:,g}"
    assert table["max_episode_steps"].startswith("none")
    assert table["Entry point"] == gym.spec(env_id).entry_point
    env.close()
    # the picture: referenced by the page, present in the site, a real PNG
    pictures = [src for src in page.images if src.endswith(".png")]
    assert len(pictures) == 1, page.images
    image = (page_path.parent / pictures[0]).resolve()
    assert image.is_file()
    data = image.read_bytes()
    assert data[:8] == PNG_MAGIC
    width_px, height_px = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width_px == height_px > 0  # one square cell per bin on a square grid
    # the reference scores, computed by the package
    refs = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert refs["uniformly random hash (exact expectation)"] == (
        f"{expected_collisions(100, 100):,.2f}"
    )
    assert refs["optimum"] == "0"
    assert 'gym.make("hash_envs/Memorize100-v0")' in "".join(page.text)
    assert "version-history" in page.heading_ids["h2"]


@pytest.mark.parametrize("package", API_PACKAGES)
def test_api_page_documents_every_public_name(site: Path, package: str) -> None:
    page = _parse(site / "generated" / "api" / package / "index.html")
    top_level = page.heading_ids.get("h2", [])
    names = importlib.import_module(package).__all__
    assert names
    missing = [n for n in names if not any(i == n or i.endswith(f".{n}") for i in top_level)]
    assert not missing, f"{package}: no API entry for {missing}"
    text = "".join(page.text)
    for role in (":func:", ":class:", ":meth:", ":mod:", ":data:", ":attr:"):
        assert role not in text, f"{package}: raw Sphinx role {role} in the API page"


def test_moby_tiers_without_the_moby_list_say_so(tmp_path: Path, monkeypatch) -> None:
    gen = _generator()
    monkeypatch.setattr(gen.corpus_lib, "moby_available", lambda *a, **k: False)
    ctx = gen.Context(max_words=10_000, all_references=False, references=True)
    (tmp_path / "img").mkdir()
    text = gen.env_page("hash_envs/MemorizeMoby-v0", ctx, tmp_path)
    assert "needs the Moby list" in text
    assert "Discrete(466551)" in text  # the action space comes from the task, not the list
    assert not list((tmp_path / "img").iterdir())  # no picture without the words
    assert ctx.corpus_for({"corpus": "moby", "pool_size": 100}) == "web2"  # a pool: on web2
    assert ctx.corpus_for({"corpus": "moby", "pool_size": None}) is None  # the whole list
