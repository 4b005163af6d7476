"""Why the design card's agents failed, and what fixed it: one change at a time.

Each row starts from the published settings of ``agents.PG`` (``agents/hyperparams/
pg.json``) on one tier and changes one thing, then trains at the published step budget
with the same seeds and scores with the suite's protocol (``hash-envs benchmark``'s
``run_one``). One torch thread.

    python bench/agent_ablation.py --out results/bench
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch as th
from _results import write_results  # bench/: scripts run as python bench/NAME.py

from agents.runs.benchmark import Run, hyperparameters, merge_settings, run_one
from hash_envs.evaluation import reference_scores
from hash_envs.tasks import TASKS

SB3_POLICY = {"init_logit_std": None, "activation_fn": "tanh"}
#: (tier, what changes, the change to the published kwargs, other settings changed)
ABLATIONS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("Memorize100", "published", {}, {}),
    ("Memorize100", "no entropy bonus (ent_coef 0)", {"ent_coef": 0.0}, {}),
    ("Memorize100", "entropy bonus 2 (too much)", {"ent_coef": 2.0}, {}),
    ("Memorize100", "SB3's start (orthogonal, gain 0.01; Tanh)", {"policy_kwargs": SB3_POLICY}, {}),
    (
        "Memorize100",
        "random-hash start, Tanh units",
        {"policy_kwargs": {"activation_fn": "tanh"}},
        {},
    ),
    (
        "Memorize100",
        "softer start (init_logit_std 1)",
        {"policy_kwargs": {"init_logit_std": 1.0}},
        {},
    ),
    ("Memorize100", "8 envs (the old file's)", {}, {"n_envs": 8}),
    ("Online100", "published", {}, {}),
    ("Online100", "generic MLP on [word, table]", {"policy_kwargs": {"table_head": False}}, {}),
    (
        "Online100",
        "table weight at Adam's pace (scale 1)",
        {"policy_kwargs": {"table_coef_scale": 1.0}},
        {},
    ),
    ("Online100", "one update per 16 x 1,024 steps", {"n_steps": 16}, {}),
    (
        "Online100",
        "word start for bytes on codepoints (input std 3)",
        {"policy_kwargs": {"init_input_std": 3.0}},
        {},
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="pg", choices=["pg", "a2c"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args()
    th.set_num_threads(1)
    rows = []
    for tier, change, kwargs, other in ABLATIONS:
        task = TASKS[f"hash_envs/{tier}-v0"]
        published = hyperparameters(args.agent, task)
        settings = {**published, **other}
        settings["kwargs"] = merge_settings(published["kwargs"], kwargs)
        records = []
        for seed in args.seeds:
            run = Run(args.agent, task, seed, settings)
            records.append(run_one(run, reference_scores(task, None), tensorboard=None))
        score = statistics.mean(r["normalized_score"] for r in records)
        rate = statistics.median(r["steps_per_s"] for r in records)
        rows.append(
            {
                "task": task.env_id,
                "change": change,
                "settings": settings,
                "normalized_score": score,
                "scores": [r["normalized_score"] for r in records],
                "steps_per_s": rate,
                "steps": records[0]["steps"],
            }
        )
        print(f"{tier} | {change}: {score:.3f} at {rate:,.0f} steps/s", flush=True)
    lines = [
        f"| tier | change from the published {args.agent} settings | normalised score | steps/s |",
        "|---|---|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['task'].split('/')[1]} | {row['change']} | {row['normalized_score']:.2f} | "
            f"{row['steps_per_s']:,.0f} |"
        )
    seeds = ", ".join(map(str, args.seeds))
    lines += ["", f"Seeds {seeds}; published step budgets; one torch thread; mean score."]
    report = {"agent": args.agent, "seeds": args.seeds, "rows": rows}
    write_results(args.out, f"agent_ablation_{args.agent}", report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
