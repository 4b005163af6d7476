"""Generate the documentation pages that come from the code (``make docs`` runs this first).

* one page per registered environment and task tier (every ``gymnasium.registry`` id in the
  ``hash_envs/`` namespace): the env's docstring, its Gymnasium spec as a table of spaces,
  the ``gym.make`` line, an ``rgb_array`` picture after seeded random steps, the task's
  reference scores and its Version History;
* one API reference page per package (``hash_envs``, ``agents``, ``baselines``,
  ``encoders``, ``model_hashing``), a mkdocstrings block for every name in its ``__all__``;
* ``nav.json``, the navigation entries ``docs/hooks.py`` adds to ``mkdocs.yml``'s nav.

Everything goes to ``docs/generated/`` (git-ignored), rebuilt from scratch on every run.

Reference scores come from :func:`hash_envs.evaluation.reference_scores`, cached in
``$HASH_ENVS_CACHE`` (default ``~/.cache/hash_envs``). Tiers up to ``--max-words`` words
are computed when missing (seconds); larger ones (``Memorize100k``, ``MemorizeMoby``: ten
seconds to a minute each) are shown only when already cached, unless ``--all-references``.
Without the Moby list (``HASH_ENVS_MOBY``) the tiers drawn from a pool of the Moby list
are shown on the offline corpus web2, and the whole-Moby tiers say they need the list.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import shutil
import sys
import time
from collections.abc import Iterable
from importlib import import_module
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib.image
import numpy as np
from gymnasium import spaces

import hash_envs
from hash_envs import corpus as corpus_lib
from hash_envs.envs.hash_table import bin_layout
from hash_envs.tasks import TASKS, Task

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
OUT = DOCS / "generated"
NAMESPACE = "hash_envs/"
API_PACKAGES = ("hash_envs", "agents", "baselines", "encoders", "model_hashing")
#: Seeded random steps before the picture: half an episode (the table half full), at most
#: ``RENDER_MAX_STEPS`` (the factorised whole-Moby tier would take half a minute).
RENDER_SEED = 0
RENDER_MAX_STEPS = 50_000
NEEDS_MOBY = "needs the Moby list (set `HASH_ENVS_MOBY` to its `words.zip`)"
_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`~?([^`]+)`")


# -- helpers ----------------------------------------------------------------------------------


def env_ids() -> list[str]:
    """Every registered id in the ``hash_envs/`` namespace: base envs, tasks, then others."""
    registered = [i for i in gym.registry if i.startswith(NAMESPACE)]
    ordered = [*hash_envs.ENV_IDS, *hash_envs.TASK_IDS]
    return [i for i in ordered if i in registered] + sorted(set(registered) - set(ordered))


def page_name(env_id: str) -> str:
    return env_id.removeprefix(NAMESPACE).replace("/", "_")


def markdown(text: str) -> str:
    """A docstring as Markdown: dedented, Sphinx roles (``:func:`x```) as plain code."""
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", inspect.cleandoc(text))


def sections(doc: str) -> tuple[str, list[tuple[str, str]]]:
    """``(intro, [(heading, body), ...])`` of a docstring with ``## Heading`` sections."""
    parts = re.split(r"^## (.+)$", markdown(doc), flags=re.MULTILINE)
    intro, rest = parts[0].strip(), parts[1:]
    return intro, [(rest[i].strip(), rest[i + 1].strip()) for i in range(0, len(rest), 2)]


def show_space(space: spaces.Space) -> str:
    """A space as its repr, with long ``MultiDiscrete`` vectors shortened to ``[k] * n``."""
    if isinstance(space, spaces.Dict):
        inner = ", ".join(f"{k}={show_space(v)}" for k, v in space.spaces.items())
        return f"Dict({inner})"
    if isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
        nvec = space.nvec.tolist()
        if len(nvec) > 4 and len(set(nvec)) == 1:
            return f"MultiDiscrete([{nvec[0]}] * {len(nvec)})"
        return f"MultiDiscrete({nvec})"
    return str(space)


def entry_class(entry_point: Any) -> type:
    if not isinstance(entry_point, str):
        return entry_point
    module, _, name = entry_point.partition(":")
    return getattr(import_module(module), name)


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- environment pages ------------------------------------------------------------------------


class Context:
    """What every env page shares: the corpus available here and the reference-score policy."""

    def __init__(self, max_words: int, all_references: bool, references: bool) -> None:
        self.moby = corpus_lib.moby_available()
        self.max_words = max_words
        self.all_references = all_references
        self.references = references
        self.notes: list[str] = []

    def corpus_for(self, kwargs: dict[str, Any]) -> str | None:
        """The corpus to build an env on here (``None``: it needs the Moby list)."""
        corpus = kwargs.get("corpus", "moby")
        if corpus != "moby" or self.moby:
            return corpus
        return None if kwargs.get("pool_size", "whole") is None else "web2"


def _cached_references(task: Task, corpus: str | None) -> dict[str, Any] | None:
    """The task's cached reference scores, or ``None`` (the key of ``reference_scores``)."""
    from hash_envs import evaluation
    from hash_envs.hashing import registered_hash_functions

    cache_file = corpus_lib.cache_dir() / "suite_references.json"
    if not cache_file.is_file():
        return None
    words = corpus_lib.load(task.env_kwargs(corpus)["corpus"])
    key = json.dumps(
        [
            evaluation.PROTOCOL_VERSION,
            task.env_id,
            evaluation._corpus_fingerprint(words),
            sorted(registered_hash_functions()),
        ]
    )
    try:
        return json.loads(cache_file.read_text()).get(key)
    except (OSError, json.JSONDecodeError):
        return None


def references_md(task: Task, ctx: Context) -> str:
    from hash_envs.evaluation import reference_scores

    corpus = ctx.corpus_for(dict(task.kwargs))
    if corpus is None:
        return f"The reference scores of this tier {NEEDS_MOBY}."
    if not ctx.references:
        return "Reference scores were skipped in this build (`--no-references`)."
    on = None if corpus == task.kwargs["corpus"] else corpus
    if task.n_words <= ctx.max_words or ctx.all_references:
        refs = reference_scores(task, on)
    else:
        refs = _cached_references(task, on)
        if refs is None:
            return (
                f"Not computed for this build: {task.n_words:,} words take from ten seconds "
                "to a minute per tier, so the docs show them once cached. Compute and cache "
                f"them with `hash-envs envs --tasks {task.env_id}` (or `python "
                "docs/gen_env_pages.py --all-references`)."
            )
    where = f"on `{corpus}`" + ("" if on is None else " (the Moby list is not on this machine)")
    best = (
        f"{refs['best_hash']:,.2f} (`{refs['best_hash_name']}`)"
        if refs.get("best_hash_name")
        else "none"
    )
    return "\n".join(
        [
            f"Collisions (lower is better) {where}, computed by "
            "`hash_envs.reference_scores` and cached:",
            "",
            "| reference | collisions |",
            "|---|---|",
            f"| uniformly random hash (exact expectation) | {refs['random_hash']:,.2f} |",
            f"| uniformly random policy (seed 0, scored by the protocol) | "
            f"{refs['random_policy']:,.2f} |",
            f"| best registered hash function | {best} |",
            f"| optimum | {refs['optimum']:,g} |",
            "",
            "`evaluate_agent` reports `normalized_score = (score - random_hash) / "
            "(optimum - random_hash)`: 0 for a random hash, 1 for the optimum.",
        ]
    )


def render_picture(env: gym.Env, path: Path) -> int:
    """Seeded uniformly random steps through half an episode (at most
    :data:`RENDER_MAX_STEPS`), then the ``rgb_array`` picture written to ``path``; returns
    the steps taken."""
    base = env.unwrapped  # stepped directly: the checking wrappers triple the time
    env.reset(seed=RENDER_SEED)
    rng = np.random.default_rng(RENDER_SEED)
    if hasattr(base, "action_masks"):  # a masked env (HashProgram): one random legal episode
        steps, terminated = 0, False
        while not terminated:
            _, _, terminated, _, _ = base.step(int(rng.choice(base.action_masks().nonzero()[0])))
            steps += 1
        frame = env.render()
        matplotlib.image.imsave(path, np.asarray(frame, dtype=np.uint8))
        return steps
    steps = max(1, min(base.n_words // 2, RENDER_MAX_STEPS))
    space = env.action_space
    if isinstance(space, spaces.Discrete):
        actions: Iterable[Any] = rng.integers(space.n, size=steps).tolist()
    else:
        actions = rng.integers(space.nvec, size=(steps, len(space.nvec)))
    for action in actions:
        base.step(action)
    frame = env.render()
    matplotlib.image.imsave(path, np.asarray(frame, dtype=np.uint8))
    return steps


def spec_rows(env_id: str, spec: Any, env: gym.Env | None, kwargs: dict[str, Any]) -> list[str]:
    cls = entry_class(spec.entry_point)
    defaults: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):  # a subclass may take *args, **kwargs
        if "__init__" in vars(klass):
            for k, p in inspect.signature(klass.__init__).parameters.items():
                if p.default is not inspect.Parameter.empty:
                    defaults[k] = p.default
    args = {**defaults, **kwargs}
    if "n_bins" not in args:  # not a hash-table env (HashProgram): its spaces and entry point
        rows = [("Entry point", f"`{spec.entry_point}`")]
        if env is not None:
            rows[:0] = [
                ("Action space", f"`{show_space(env.action_space)}`"),
                ("Observation space", f"`{show_space(env.observation_space)}`"),
            ]
        return ["| | |", "|---|---|", *(f"| {k} | {cell(v)} |" for k, v in rows)]
    n_bins = int(args["n_bins"])
    if env is not None:
        action, observation = show_space(env.action_space), show_space(env.observation_space)
    else:
        layout = list(bin_layout(n_bins))
        action = f"MultiDiscrete({layout})" if args.get("factorize_bins") else f"Discrete({n_bins})"
        observation = NEEDS_MOBY
    low, high = sorted((float(args["reward_empty"]), float(args["reward_occupied"])))
    mode = args.get("reward_mode", "first_come")
    max_steps = spec.max_episode_steps
    rows = [
        ("Action space", f"`{action}`"),
        ("Observation space", observation if env is None else f"`{observation}`"),
        (
            "Reward range",
            f"[{low:g}, {high:g}] per step (`reward_mode={mode!r}`)"
            if mode == "first_come"
            else f"0 per step, then [{low:g}, {high:g}] per word on the last step",
        ),
        (
            "reward_threshold",
            "none" if spec.reward_threshold is None else f"{spec.reward_threshold:,g}",
        ),
        (
            "max_episode_steps",
            f"{max_steps}"
            if max_steps is not None
            else f"none: the episode terminates after `n_words` = {int(args['n_words']):,} "
            "steps (no truncation)",
        ),
        ("Words -> bins", f"{int(args['n_words']):,} -> {n_bins:,}"),
        ("Entry point", f"`{spec.entry_point}`"),
        ("Vector entry point", f"`{spec.vector_entry_point}`"),
    ]
    return ["| | |", "|---|---|", *(f"| {k} | {cell(v)} |" for k, v in rows)]


def env_page(env_id: str, ctx: Context, out: Path) -> str:
    spec = gym.spec(env_id)
    task = TASKS.get(env_id)
    cls = entry_class(spec.entry_point)
    kwargs = dict(spec.kwargs)
    name = page_name(env_id)
    corpus = ctx.corpus_for(kwargs)
    env = None
    shown_on = ""
    picture = f"The picture {NEEDS_MOBY}."
    if corpus is not None:
        env = gym.make(env_id, corpus=corpus, render_mode="rgb_array")
        if corpus != kwargs.get("corpus", "moby"):
            shown_on = (
                f"\n\n!!! note\n    Built without the Moby list: the spaces and the picture "
                f"below are of this {'tier' if task else 'environment'} on the offline corpus "
                f'web2 (`corpus="{corpus}"`).'
            )
        image = out / "img" / f"{name}.png"
        steps = render_picture(env, image)
        legend = (
            "one random legal program (seed {seed}, {steps:,} instructions), one cell per "
            "instruction slot, coloured by kind"
            if hasattr(env.unwrapped, "action_masks")
            else "{steps:,} uniformly random steps (seed {seed}): one cell per bin, black = "
            "empty, green = one word, yellow to red = more"
        )
        picture = (
            f"![{env_id} after {steps:,} random steps](img/{name}.png)\n\n"
            f'`render_mode="rgb_array"` after ' + legend.format(seed=RENDER_SEED, steps=steps) + "."
        )
    lines = [f"# `{env_id}`", ""]
    class_intro, class_sections = sections(cls.__doc__ or "")
    fence = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)
    examples = [block for _, body in class_sections for block in fence.findall(body)]
    if task is not None:
        kind = "table-aware" if task.table_aware else "stateless"
        base = hash_envs.ENV_IDS[1 if task.table_aware else 0]
        lines += [
            task.summary,
            "",
            f"A **{task.kind}** task tier of the benchmark suite ({kind}), with fixed "
            f"arguments on [`{base}`]({page_name(base)}.md).",
        ]
    else:
        lines += [class_intro]
    lines += [shown_on, "", "## Usage", "", "```python", "import gymnasium as gym"]
    lines += ["import hash_envs  # registers the environments", ""]
    if task is not None:
        lines += [
            f'env = gym.make("{env_id}")',
            "obs, info = env.reset(seed=0)",
            "",
            "# scores an agent with the suite's protocol (see Scoring below)",
            f'result = hash_envs.evaluate_agent(agent, "{env_id}")',
        ]
    else:
        lines += [f'env = gym.make("{env_id}", n_words=1000, n_bins=1000)']
        lines += ["obs, info = env.reset(seed=0)"]
    lines += ["```", ""]
    if task is None and examples:  # the docstring's own example replaces the one above
        lines = lines[: lines.index("## Usage") + 2] + [*examples, ""]
    lines += ["## Spaces", ""]
    if task is None:
        lines += ["With the default arguments:", ""]
    lines += [*spec_rows(env_id, spec, env, kwargs), "", "## Picture", "", picture, ""]
    if task is not None:
        lines += ["## Reference scores", "", references_md(task, ctx), ""]
        _, task_sections = sections(task.docstring)
        for heading, body in task_sections:
            lines += [f"## {heading}", "", body, ""]
    else:
        history = ""
        for heading, body in class_sections:
            body = fence.sub("", body).strip()  # examples are under Usage
            if heading == "Version History":  # last on the page
                history = body
                continue
            lines += [f"## {heading}", "", body, ""]
        tiers = [t for t in TASKS.values() if t.entry_point == _entry_str(spec.entry_point)]
        if tiers:
            lines += ["## Task tiers on this environment", ""]
            lines += [f"* [`{t.env_id}`]({page_name(t.env_id)}.md)" for t in tiers]
            lines += [""]
        if history:
            lines += ["## Version History", "", history.strip(), ""]
    if env is not None:
        env.close()
    return "\n".join(lines)


def _entry_str(entry_point: Any) -> str:
    if isinstance(entry_point, str):
        return entry_point
    return f"{entry_point.__module__}:{entry_point.__qualname__}"


def env_index(ids: Iterable[str], ctx: Context) -> str:
    lines = [
        "# Registered environments",
        "",
        "Generated from the Gymnasium registry (`import hash_envs` registers every id "
        "below): the two base environments take any arguments, the task tiers of the "
        "benchmark suite have fixed ones. `hash-envs envs` prints the same list.",
        "",
        "| id | kind | words -> bins | action space | reward_threshold |",
        "|---|---|---|---|---|",
    ]
    for env_id in ids:
        task = TASKS.get(env_id)
        spec = gym.spec(env_id)
        parameters = inspect.signature(entry_class(spec.entry_point)).parameters
        if task is None and "n_bins" not in parameters:
            from hash_envs.program import INSTRUCTIONS

            kind, sizes = "base environment (writes a hash program)", "programs, not bins"
            action = f"`Discrete({len(INSTRUCTIONS)})`, masked"
        elif task is None:
            kind, sizes = "base environment", "any (default 1,000 -> 1,000)"
            action = "`Discrete(n_bins)` or `MultiDiscrete([rows, cols])`"
        else:
            kind, sizes = task.kind, f"{task.n_words:,} -> {task.n_bins:,}"
            action = (
                f"`MultiDiscrete({list(bin_layout(task.n_bins))})`"
                if task.factorized
                else f"`Discrete({task.n_bins})`"
            )
        threshold = "" if spec.reward_threshold is None else f"{spec.reward_threshold:,g}"
        lines.append(
            f"| [`{env_id}`]({page_name(env_id)}.md) | {kind} | {sizes} | {action} | {threshold} |"
        )
    if not ctx.moby:
        lines += ["", f"This build had no Moby list: the whole-Moby tiers' pictures {NEEDS_MOBY}."]
    return "\n".join(lines) + "\n"


# -- API pages --------------------------------------------------------------------------------


def _defining_path(package: Any, name: str) -> str:
    """The dotted path where ``package.name`` is defined, found statically by griffe (so
    lazy names need neither torch nor their module imported)."""
    member = package.members.get(name)
    if member is not None:
        return member.target_path if member.is_alias else member.path
    found: set[tuple[bool, str]] = set()
    stack = list(package.modules.values())
    while stack:
        module = stack.pop()
        stack.extend(module.modules.values())
        candidate = module.members.get(name)
        if candidate is not None:  # defined here, or imported (re-exported) from elsewhere
            path = candidate.target_path if candidate.is_alias else candidate.path
            found.add((name in (module.exports or ()), path))
    exported = {path for is_exported, path in found if is_exported}
    paths = sorted(exported or {path for _, path in found if not path.startswith("typing")})
    if len(paths) != 1:
        raise RuntimeError(f"{package.path}.{name}: defined in {paths or 'no module'}")
    return paths[0]


def api_page(package_name: str) -> str:
    import griffe

    package = import_module(package_name)
    static = griffe.load(package_name, search_paths=[str(ROOT)])
    names = sorted(package.__all__, key=lambda n: (n.startswith("_"), n.lower()))
    lines = [
        f"# `{package_name}`",
        "",
        f"::: {package_name}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
        f"Every public name of `{package_name}` (its `__all__`), where it is defined:",
        "",
    ]
    for name in names:
        lines += [f"::: {_defining_path(static, name)}", "    options:", "      heading_level: 2"]
        lines += [""]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="default: docs/generated")
    parser.add_argument(
        "--max-words",
        type=int,
        default=10_000,
        help="compute missing reference scores of tiers up to this many words (default 10000)",
    )
    parser.add_argument(
        "--all-references", action="store_true", help="compute every tier's references"
    )
    parser.add_argument(
        "--no-references", dest="references", action="store_false", help="skip them all"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    (out / "envs" / "img").mkdir(parents=True)
    (out / "api").mkdir(parents=True)
    ctx = Context(args.max_words, args.all_references, args.references)
    ids = env_ids()
    (out / "envs" / "index.md").write_text(env_index(ids, ctx))
    env_nav: list[Any] = [{"All environments": "generated/envs/index.md"}]
    for env_id in ids:
        t0 = time.perf_counter()
        (out / "envs" / f"{page_name(env_id)}.md").write_text(env_page(env_id, ctx, out / "envs"))
        env_nav.append({page_name(env_id): f"generated/envs/{page_name(env_id)}.md"})
        print(f"{env_id}: {time.perf_counter() - t0:.1f} s", flush=True)
    api_nav = []
    for package in API_PACKAGES:
        (out / "api" / f"{package}.md").write_text(api_page(package))
        api_nav.append({package: f"generated/api/{package}.md"})
    nav = {"Environments": env_nav, "API reference": api_nav}
    (out / "nav.json").write_text(json.dumps(nav, indent=1) + "\n")
    corpus = "Moby" if ctx.moby else "web2 (no Moby list)"
    print(
        f"wrote {len(ids)} env pages and {len(API_PACKAGES)} API pages to {out} "
        f"({corpus}) in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
