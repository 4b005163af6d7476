"""Experiment 6: memorisation -- learn a hash of a fixed word pool.

Two tasks from the paper:

* **10k**: every episode places the same 10,000 words (a fixed seeded pool, the
  leaderboard's ``memorize-10000`` set) into 10,000 bins, in a new order
  (``pool_size=n_words=n_bins=10000``); zero collisions = a perfect hash of the pool.
  The paper trained for ~5 h 40 min.
* **3k/1k**: a pool of 3,000 words, 1,000 of them per episode, into 1,000 bins.

Each task is trained two ways, each for a fixed wall-clock budget: ``agents.PG`` as in
the paper (SB3 rollouts word by word, 2×300 policy, ``codepoints``, ``first_come``), and
``agents.EpisodePG``, which samples whole episodes of the stateless env in one batched
forward pass (its tested configuration: ``bytes`` encoding, ``shared_bin`` reward, one
hidden layer of 256). Every policy is then read as a hash, bin = argmax
(``agents.PolicyHash``), and scored on its training words and on held-out words; for the
1000-bin policies the held-out score is the leaderboard's ``random-1000`` track run on
the exported ONNX artifact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import common
import numpy as np

from agents.algorithms.callbacks import EpisodeLog
from agents.runs.benchmark import train_sb3


@dataclass
class Task:
    key: str
    pool: int
    n_words: int
    n_bins: int


@dataclass
class Trained:
    task: Task
    agent: str
    model: Any  # an SB3 model or policy, anything PolicyHash accepts
    curve_wall: list[float] = field(default_factory=list)  # minutes
    curve_pool: list[float] = field(default_factory=list)  # argmax collisions on the pool
    sampled_wall: list[float] = field(default_factory=list)
    sampled: list[float] = field(default_factory=list)  # sampled collisions per episode
    train_s: float = 0.0
    progress: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)


def episode_pg_defaults() -> str:
    """EpisodePG's default settings, read from its signature so the report cannot go stale."""
    import inspect

    from agents import EpisodePG

    names = ("net_arch", "activation_fn", "learning_rate", "episodes_per_update")
    params = inspect.signature(EpisodePG).parameters
    return ", ".join(
        f"{name}={getattr(params[name].default, '__name__', params[name].default)}"
        for name in names
    )


def pool_collisions(model: Any, pool_words: Sequence[str], n_bins: int) -> int:
    from agents import PolicyHash
    from hash_envs.metrics import collisions

    return collisions(PolicyHash(model).hash_many(pool_words), n_bins)


def env_kwargs(task: Task, corpus: str, max_len: int, **extra: Any) -> dict[str, Any]:
    return {
        "corpus": corpus,
        "pool_size": task.pool,
        "pool_seed": 0,
        "n_words": task.n_words,
        "n_bins": task.n_bins,
        "max_len": max_len,
        **extra,
    }


def train_pg(
    task, corpus, max_len, pool_words, n_envs, budget_s, probe_every, seed, max_iterations=None
) -> Trained:
    """The paper's setup: SB3 REINFORCE stepping the env word by word (the suite's trainer)."""
    run = common.suite_run(
        "pg",
        common.STATELESS,
        env_kwargs(task, corpus, max_len),
        n_envs=n_envs,
        steps=10**12,  # stopped by the time budget or max_iterations
        seed=seed,
        n_steps=task.n_words,
        policy_kwargs={"net_arch": {"pi": common.PAPER_ARCH, "vf": []}},
    )
    recorder = EpisodeLog(
        n_envs,
        probe=lambda m: pool_collisions(m, pool_words, task.n_bins),
        probe_every=probe_every,
        time_budget_s=budget_s,
        max_iterations=max_iterations,
        verbose_every=probe_every,
    )
    begin = time.perf_counter()
    model = train_sb3(run, recorder)
    train_s = time.perf_counter() - begin
    recorder.probes.append(
        (recorder.iterations, train_s, pool_collisions(model, pool_words, task.n_bins))
    )
    out = Trained(task, "PG (SB3, paper setup)", model, train_s=train_s)
    out.curve_wall = [p[1] / 60 for p in recorder.probes]
    out.curve_pool = [p[2] for p in recorder.probes]
    out.sampled_wall = [w / 60 for w in recorder.iteration_wall_s]
    out.sampled = list(recorder.per_iteration(recorder.collisions))
    out.progress = (
        f"{recorder.iterations:,} iterations = {model._n_updates:,} updates, "
        f"{recorder.iterations * n_envs:,} episodes"
    )
    return out


def train_episode_pg(
    task, corpus, max_len, budget_s, eval_every, seed, max_updates=10**9
) -> Trained:
    """The batched alternative: whole episodes per forward pass."""
    from agents import EpisodePG

    kwargs = env_kwargs(task, corpus, max_len, encoding="bytes", reward_mode="shared_bin")
    agent = EpisodePG(common.STATELESS, kwargs, seed=seed)
    out = Trained(task, "EpisodePG (batched)", agent.policy)
    begin = time.perf_counter()
    out.curve_wall.append(0.0)
    out.curve_pool.append(agent.pool_collisions())

    def record(stats) -> None:
        wall = (time.perf_counter() - begin) / 60
        out.sampled_wall.append(wall)
        out.sampled.append(stats.mean_collisions)
        if stats.pool_collisions is not None:
            out.curve_wall.append(wall)
            out.curve_pool.append(stats.pool_collisions)

    agent.learn(max_updates, time_budget_s=budget_s, eval_every=eval_every, callback=record)
    out.train_s = time.perf_counter() - begin
    out.curve_wall.append(out.train_s / 60)
    out.curve_pool.append(agent.pool_collisions())
    out.progress = (
        f"{agent.num_updates:,} updates, {agent.num_episodes:,} episodes "
        f"({agent.episodes_per_update} per update)"
    )
    return out


def evaluate(t: Trained, pool_words, held_out, track_words, draws, seed) -> None:
    """Argmax-hash collisions on training and held-out words."""
    from agents import PolicyHash
    from hash_envs.metrics import collisions_per_row, expected_collisions, summarize

    task, h = t.task, PolicyHash(t.model)
    ev = t.evaluation
    pool = summarize(h.hash_many(pool_words), task.n_bins)
    ev["pool"] = (pool["collisions"], expected_collisions(task.pool, task.n_bins), pool["max_load"])
    ev["pool_min"] = max(0, task.pool - task.n_bins)
    if task.n_words < task.pool:  # episodes are draws from the pool: score such draws
        rng = np.random.default_rng([seed, 3])
        idx = np.stack([rng.choice(task.pool, task.n_words, replace=False) for _ in range(draws)])
        bins = h.hash_many(pool_words)[idx]
        per = collisions_per_row(bins)
        ev["pool_draws"] = (per.mean(), per.std(ddof=1), draws)
    if task.n_bins == 1000:
        r = common.random1000(t.model, track_words, draws=draws, seed=seed)
        ev["held_out"] = (r["mean"], r["sd"], f"`random-1000` track, {r['draws']} draws")
    else:
        held = summarize(h.hash_many(held_out), task.n_bins)
        ev["held_out"] = (
            held["collisions"],
            None,
            f"{len(held_out):,} held-out words into {task.n_bins:,} bins",
        )
    ev["expected_held"] = expected_collisions(
        1000 if task.n_bins == 1000 else len(held_out), task.n_bins
    )


def main(argv: Sequence[str] | None = None):
    p = common.parser("Memorisation of a fixed word pool (paper experiment 6)")
    p.add_argument(
        "--budgets",
        type=float,
        nargs=4,
        metavar=("PG_10K", "EPG_10K", "PG_3K", "EPG_3K"),
        default=None,
        help="training seconds of the four runs",
    )
    run = common.Run.start(__file__, p, argv)
    from hash_envs import corpus as corpus_lib

    words = common.load_words(run.args.corpus)
    max_len = common.corpus_max_len(words)
    seed = run.args.seed
    if run.quick:
        big, small = Task("10k", 300, 300, 300), Task("3k", 1500, 1000, 1000)
        # Iteration caps keep the quick size seconds long on a loaded machine.
        budgets, draws, n_envs_small, probe_every = (60, 60, 60, 60), 10, 2, 2
        caps = {"max_iterations": 2}, {"max_updates": 10}
    else:
        big, small = Task("10k", 10_000, 10_000, 10_000), Task("3k", 3000, 1000, 1000)
        budgets, draws, n_envs_small, probe_every = (1500, 900, 900, 300), 1000, 4, 0
        caps = {}, {}
    budgets = run.args.budgets or budgets
    # The random-1000 track hashes every corpus word once; the quick size uses a sample.
    track_words = words[:: max(1, len(words) // 5000)] if run.quick else words

    results: list[Trained] = []
    for task, (pg_budget, epg_budget) in ((big, budgets[:2]), (small, budgets[2:])):
        n_held = big.pool if task is big else 0
        pool_words, held_out = corpus_lib.split(words, task.pool, n_held, seed=0)
        n_envs = 1 if task is big else n_envs_small
        every = probe_every or (3 if task is big else 25)
        pg = train_pg(
            task, run.args.corpus, max_len, pool_words, n_envs, pg_budget, every, seed, **caps[0]
        )
        epg = train_episode_pg(task, run.args.corpus, max_len, epg_budget, 5, seed, **caps[1])
        for t in (pg, epg):
            evaluate(t, pool_words, held_out, track_words, draws, seed)
            print(t.task.key, t.agent, t.progress, t.evaluation, flush=True)
            results.append(t)

    from hash_envs.metrics import expected_collisions

    plots = []
    for task in (big, small):
        mine = [t for t in results if t.task is task]
        title = (
            f"Memorise {task.pool:,} words into {task.n_bins:,} bins"
            if task.pool == task.n_words
            else f"Pool of {task.pool:,} words, {task.n_words:,} per episode, {task.n_bins:,} bins"
        )
        plots.append(
            common.plot_panels(
                run.args.out / f"exp6_memorize_{task.key}.png",
                [
                    common.Panel(
                        f"argmax-hash collisions, whole pool\n({task.pool:,} words → "
                        f"{task.n_bins:,} bins)",
                        {t.agent: (t.curve_wall, t.curve_pool) for t in mine},
                        hlines={
                            "uniform random hash": expected_collisions(task.pool, task.n_bins),
                            "perfect": max(0, task.pool - task.n_bins),
                        },
                        marker="o",
                    ),
                    common.Panel(
                        "sampled policy: collisions per episode",
                        {
                            t.agent: (t.sampled_wall, common.rolling_mean(t.sampled, 10))
                            for t in mine
                        },
                        hlines={
                            "uniform random hash": expected_collisions(task.n_words, task.n_bins)
                        },
                    ),
                ],
                title,
                xlabel="training wall time (min)",
            )
        )

    rows = []
    for t in results:
        ev = t.evaluation
        c, exp_c, load = ev["pool"]
        train_cell = f"{c:,} (random {exp_c:,.0f}, perfect {ev['pool_min']:,}; max load {load})"
        if "pool_draws" in ev:
            m, sd, n = ev["pool_draws"]
            train_cell += f"; {n} episode-like draws: {m:.1f} ± {sd:.1f}"
        held, held_sd, how = ev["held_out"]
        held_cell = f"{held:,.1f}" + (f" ± {held_sd:.1f}" if held_sd is not None else "")
        rows.append(
            [
                t.task.key, t.agent, common.fmt_s(t.train_s), t.progress, train_cell,
                f"{held_cell} ({how}; random {ev['expected_held']:,.1f})",
            ]
        )  # fmt: skip

    def best(task: Task) -> Trained:
        return min((t for t in results if t.task is task), key=lambda t: t.evaluation["pool"][0])

    b, s = best(big), best(small)
    report = common.Report(run, "exp6_memorize", "Memorisation of a fixed word pool")
    report.paper_vs_ours(
        [
            [
                f"{big.pool:,} words → {big.n_bins:,} bins",
                "trained ~5 h 40 min",
                f"best argmax-hash collisions on the pool: {b.evaluation['pool'][0]:,} "
                f"({b.agent}, {common.fmt_s(b.train_s)}); random "
                f"{b.evaluation['pool'][1]:,.0f}",
                "time-limited run, far shorter than the paper's",
            ],
            [
                f"{small.pool:,}-word pool, {small.n_words:,} per episode → {small.n_bins:,} bins",
                "— (no number available to us)",
                f"best pool collisions {s.evaluation['pool'][0]:,} ({s.agent}); held-out "
                f"{s.evaluation['held_out'][0]:.1f} (random {s.evaluation['expected_held']:.1f})",
                "held-out = leaderboard random-1000 track",
            ],
        ]
    )
    report.bullets(
        "Protocol",
        [
            f"Corpus `{run.args.corpus}` ({len(words):,} words). Pools are "
            "`hash_envs.corpus.subset(words, K, seed=0)` (env `pool_size=K, pool_seed=0`; "
            "for K = 10,000 the leaderboard's `memorize-10000` set); held-out words for the "
            "10k task are `corpus.split(words, 10000, 10000, seed=0)`'s disjoint test words.",
            f"All pools encoded to the corpus's longest word (max_len {max_len}) so that the "
            "policies can hash any held-out word.",
            "PG (SB3, paper setup): `agents.PG`, `MlpPolicy` 2×300 (tanh), Adam lr 1e-3, gamma "
            "1, reward-to-go, mean baseline; `codepoints`, `first_come`; `n_steps` = episode "
            f"length; {1} env for 10k, {n_envs_small} envs for 3k/1k. Argmax collisions on "
            "the pool probed every few iterations.",
            f"EpisodePG: `agents.EpisodePG` defaults ({episode_pg_defaults()}) with `bytes` "
            "encoding and `shared_bin` reward (the configuration `bench/memorize.py` memorises "
            "1,000 words with); pool collisions every 5 updates.",
            (
                "Quick size: 2 PG iterations and 10 EpisodePG updates (budgets are caps). "
                if run.quick
                else ""
            )
            + "Training budgets (wall clock, stopped mid-run when exhausted): "
            + ", ".join(
                f"{name} {common.fmt_s(b)}"
                for name, b in zip(
                    ("PG 10k", "EpisodePG 10k", "PG 3k", "EpisodePG 3k"), budgets, strict=True
                )
            )
            + ".",
            f"Held-out for the 1000-bin policies: `LeaderboardConfig(tracks=['random-1000'], "
            f"draws={draws})` with `run_leaderboard(words, [onnx])` on the exported artifact "
            + (
                f"(on every {max(1, len(words) // 5000)}th corpus word, quick size)."
                if run.quick
                else "(draws from the whole corpus; 0.6% of its words are pool words)."
            ),
            f"Seed {seed}; one seed per run.",
        ],
    )
    report.section(
        "Numbers (argmax hash after training)",
        common.markdown_table(
            ["task", "agent", "trained", "progress", "training words: collisions",
             "held-out: collisions"],
            rows,
        ),
    )  # fmt: skip
    report.bullets(
        "Reading",
        [
            f"{t.task.key}, {t.agent}: argmax-hash collisions on the whole pool "
            f"{t.curve_pool[0]:,.0f} (untrained) → {t.curve_pool[-1]:,.0f} after "
            f"{common.fmt_s(t.train_s)} (best seen {min(t.curve_pool):,.0f}; random hash "
            f"{t.evaluation['pool'][1]:,.0f}, perfect {t.evaluation['pool_min']:,}); the sampled "
            + (
                f"policy's collisions per episode {t.sampled[0]:,.1f} → {t.sampled[-1]:,.1f}."
                if t.sampled
                else "policy finished no episode."
            )
            for t in results
        ],
    )
    report.images(plots)
    return report.write()


if __name__ == "__main__":
    main()
