"""Experiment 5: REINFORCE on the table-aware env (the agent also sees which bins are full).

The paper reports a clear improvement once the policy sees the table. We train
``agents.PG`` with a ``MultiInputPolicy`` on ``TableAwareHash-v0`` for 100 words into 100
bins and 1000 words into 1000 bins and report collisions per episode over training, for
the sampled policy and, at the end, for the greedy (argmax) policy. A table-aware policy
is not a hash function (its answer depends on what was placed before); it measures how
well an agent fills a table online.

Discounting: with ``gamma=1`` (the paper's episodic return) every placement is credited
with the sum of all later rewards, which drowns its own +10/-10 in the noise of ~100-1000
later steps; ``gamma=0`` credits each placement with its own reward (a contextual
bandit: "was this bin empty?"), which is what the table observation makes learnable. The
full run trains both on 100 -> 100 and uses ``gamma=0`` for 1000 -> 1000.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import common
import numpy as np

from agents.algorithms.callbacks import EpisodeLog
from agents.runs.benchmark import train_sb3
from hash_envs.evaluation import greedy_collisions


@dataclass
class Setting:
    label: str
    n: int
    n_envs: int
    iterations: int
    gamma: float
    lr: float
    time_budget_s: float | None = None


@dataclass
class Outcome:
    setting: Setting
    recorder: EpisodeLog
    greedy: np.ndarray
    train_s: float


def train(setting: Setting, corpus: str, max_len: int, seed: int, greedy_episodes: int):
    env_kwargs = {"corpus": corpus, "n_words": setting.n, "n_bins": setting.n, "max_len": max_len}
    run = common.suite_run(
        "pg",
        common.TABLE_AWARE,
        env_kwargs,
        n_envs=setting.n_envs,
        steps=setting.n * setting.n_envs * setting.iterations,
        seed=seed,
        n_steps=setting.n,
        gamma=setting.gamma,
        learning_rate=setting.lr,
        policy_kwargs={"net_arch": {"pi": common.PAPER_ARCH, "vf": []}},
    )
    recorder = EpisodeLog(setting.n_envs, time_budget_s=setting.time_budget_s, verbose_every=25)
    begin = time.perf_counter()
    model = train_sb3(run, recorder)
    train_s = time.perf_counter() - begin
    greedy = greedy_collisions(
        model, common.TABLE_AWARE, env_kwargs, greedy_episodes, seed=seed + 10_000
    )
    print(f"{setting.label}: greedy collisions {greedy.mean():.2f} in {common.fmt_s(train_s)}")
    return Outcome(setting, recorder, greedy, train_s)


def main(argv: Sequence[str] | None = None):
    p = common.parser("REINFORCE on TableAwareHash-v0 (paper reproduction)")
    p.add_argument("--budget-1000", type=float, default=1800.0, help="seconds for 1000 -> 1000")
    run = common.Run.start(__file__, p, argv)
    from hash_envs.metrics import collisions_sd, expected_collisions

    words = common.load_words(run.args.corpus)
    max_len = common.corpus_max_len(words)
    if run.quick:
        settings = [
            Setting("20 → 20, gamma 0", 20, 4, 4, 0.0, 3e-3),
            Setting("20 → 20, gamma 1", 20, 4, 4, 1.0, 3e-3),
            Setting("50 → 50, gamma 0", 50, 2, 3, 0.0, 3e-3),
        ]
        greedy_episodes = 4
    else:
        settings = [
            Setting("100 → 100, gamma 0", 100, 16, 1000, 0.0, 3e-3),
            Setting("100 → 100, gamma 1", 100, 16, 400, 1.0, 3e-3),
            Setting("1000 → 1000, gamma 0", 1000, 4, 1000, 0.0, 3e-3, run.args.budget_1000),
        ]
        greedy_episodes = 32
    outcomes = [
        train(s, run.args.corpus, max_len, run.args.seed, greedy_episodes) for s in settings
    ]

    sizes = sorted({o.setting.n for o in outcomes})
    panels = []
    for n in sizes:
        series, hlines = {}, {"uniform random hash": expected_collisions(n, n)}
        for o in (o for o in outcomes if o.setting.n == n):
            rec = o.recorder
            coll = rec.per_iteration(rec.collisions)
            it = np.arange(1, coll.size + 1)
            window = max(1, coll.size // 50)
            series[f"{o.setting.label} (mean of {window})"] = (
                it,
                common.rolling_mean(coll, window),
            )
            hlines[f"greedy after training, {o.setting.label}"] = float(o.greedy.mean())
        panels.append(
            common.Panel(
                f"collisions per episode, {n} → {n}",
                series,
                hlines=hlines,
                xlabel=f"iteration ({n} steps per env)",
            )
        )
    plot = common.plot_panels(
        run.args.out / "exp5_pg_table_aware.png",
        panels,
        "PG on TableAwareHash-v0 (sampled policy during training; dashed: greedy at the end)",
    )

    rows, paper_rows = [], []
    for o in outcomes:
        s, rec = o.setting, o.recorder
        coll = rec.per_iteration(rec.collisions)
        k = max(1, min(20, coll.size // 5))
        expected = expected_collisions(s.n, s.n)
        rows.append(
            [
                s.label, s.n_envs, f"{rec.iterations:,}", f"{s.lr:g}",
                f"{coll[:k].mean():.2f}", f"{coll[-k:].mean():.2f}",
                f"{o.greedy.mean():.2f} ± {o.greedy.std(ddof=1) if o.greedy.size > 1 else 0:.2f}",
                f"{expected:.2f}", common.fmt_s(o.train_s),
            ]
        )  # fmt: skip
        paper_rows.append(
            [
                f"collisions per episode, {s.label}",
                "clear improvement" if s.gamma == 0 else "— (our ablation: episodic return)",
                f"{coll[:k].mean():.1f} → {coll[-k:].mean():.1f} sampled; greedy "
                f"{o.greedy.mean():.2f}",
                f"random hash {expected:.1f}",
            ]
        )
    report = common.Report(run, "exp5_pg_table_aware", "PG on the table-aware env")
    report.paper_vs_ours(paper_rows)
    stopped = [o.setting.label for o in outcomes if o.recorder.iterations < o.setting.iterations]
    report.bullets(
        "Protocol",
        [
            f"`TableAwareHash-v0`, corpus `{run.args.corpus}` ({len(words):,} words), "
            f"`codepoints` (max_len {max_len}) plus the {{0,1}} occupancy of every bin, "
            "`first_come` reward (+10 empty bin, -10 occupied).",
            "`agents.PG` with `MultiInputPolicy` (word and table flattened and concatenated), "
            "policy 2×300 (tanh), Adam, reward-to-go, mean baseline, max_grad_norm 0.5, "
            "`n_steps` = episode length: one update per iteration of one episode per env.",
            "An iteration = one episode in each of `n_envs` native vector envs; the sampled "
            "policy's collisions are averaged per iteration (plots: a trailing mean).",
            f"Greedy evaluation after training: {greedy_episodes} fresh episodes (env seed "
            f"{run.args.seed + 10_000}), deterministic actions, in the env itself.",
            "Hyperparameters (gamma, learning rate) were chosen in a short sweep on 100 → 100 "
            "(seed 0, 16 envs): gamma 1, lr 1e-3: 36.8 → 36.0 collisions in 200 iterations; "
            "gamma 0, lr 1e-3: 36.0 → 16.8 in 200; gamma 0, lr 3e-3: 30.7 → 2.0 in 400; "
            "gamma 1, lr 3e-3: 38.5 → 43.4 in 400 (the last is re-run here as the ablation).",
            f"Seed {run.args.seed}; one seed per setting.",
            *(
                [f"Stopped by the time budget before the planned iterations: {', '.join(stopped)}."]
                if stopped
                else []
            ),
        ],
    )
    report.section(
        "Numbers",
        common.markdown_table(
            ["setting", "envs", "iterations", "lr", "first iterations (sampled)",
             "last iterations (sampled)", "greedy ± sd", "random hash", "training"],
            rows,
        )
        + "\n'first/last iterations' = mean collisions per episode over the first/last "
        "min(20, iterations/5) iterations.",
    )  # fmt: skip
    notes = [
        f"{o.setting.label}: the greedy policy makes {o.greedy.mean():.1f} collisions per "
        f"episode although it sees the table. A possible cause, not tested here: in the "
        f"{'×'.join(map(str, common.PAPER_ARCH))} network the {o.setting.n}-bit table reaches "
        f"the {o.setting.n} logits through {min(common.PAPER_ARCH)} hidden units, so the "
        "bin-by-bin rule 'lower the logit of every occupied bin' (an identity-like map) cannot "
        "be represented exactly, while for 100 bins the same network has room for it; wider "
        "layers or a table-to-logit skip connection would test this."
        for o in outcomes
        if o.setting.n > min(common.PAPER_ARCH)
        and o.greedy.mean()
        > expected_collisions(o.setting.n, o.setting.n)
        - 3 * collisions_sd(o.setting.n, o.setting.n)
    ]
    if notes:
        report.bullets("Reading", notes)
    report.images([plot])
    return report.write()


if __name__ == "__main__":
    main()
