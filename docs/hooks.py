"""MkDocs hooks (``hooks:`` in ``mkdocs.yml``): the generated pages' navigation, and Sphinx
roles in rendered docstrings shown as plain code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

# ":func:<code>x</code>" is how Markdown renders a Sphinx role such as :func:`x`.
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):(<code>)~?")


def on_config(config: Any) -> Any:
    """Append the entries of ``generated/nav.json`` to the nav sections of the same titles."""
    nav_file = Path(config["docs_dir"]) / "generated" / "nav.json"
    if not nav_file.is_file():
        raise PluginError(
            f"{nav_file} is missing: run `python docs/gen_env_pages.py` first (`make docs`)"
        )
    generated = json.loads(nav_file.read_text())
    for section in config["nav"]:
        if isinstance(section, dict):
            for title, entries in section.items():
                if title in generated:
                    entries.extend(generated.pop(title))
    if generated:
        raise PluginError(f"mkdocs.yml's nav has no section {', '.join(generated)}")
    return config


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(r"\1", html)
