"""Neural hashmaps over several seeds: one ``hash-envs encoders run`` per data set and
seed, then a summary table (mean and standard deviation over seeds) of the numbers the
issue asks for.

    python experiments/encoders_eval.py --datasets synthetic digits --seeds 0 1 2 \
        --out results/encoders

Each run's report, JSON and plots go to ``OUT/DATASET-SEED``; a run whose
``results.json`` already exists there is read, not repeated (``--rerun`` forces it).
The summary goes to ``OUT/summary.md`` and ``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from encoders.evaluate import EvalConfig, run_evaluation, write_report

#: (label, path into results.json, "%" or "f3")
ROWS = [
    ("identification, hashmap (supcon)", ("identification", "hashmap (supcon)", "accuracy"), "%"),
    (
        "identification, hashmap (Hadsell contrastive)",
        ("identification", "hashmap (contrastive)", "accuracy"),
        "%",
    ),
    (
        "identification, raw: same network + cross-entropy",
        ("identification", "raw, same network + cross-entropy", "accuracy"),
        "%",
    ),
    (
        "identification, raw: logistic regression",
        ("identification", "raw, logistic regression", "accuracy"),
        "%",
    ),
    (
        "encoder training time, supcon (s)",
        ("identification", "hashmap (supcon)", "train_seconds"),
        "f0",
    ),
    ("verification EER, hashmap", ("verification_eer", "hashmap"), "%"),
    ("verification EER, raw features", ("verification_eer", "raw"), "%"),
    ("verification EER, PCA", ("verification_eer", "PCA"), "%"),
    ("EER hashmap + key, impostor's own key", ("keys", "hashmap + key", "eer_own-key"), "%"),
    ("EER hashmap + key, stolen key", ("keys", "hashmap + key", "eer_stolen-key"), "%"),
    (
        "EER BioHash of raw, own token",
        ("keys", "BioHash of raw features", "eer_own-key"),
        "%",
    ),
    (
        "EER BioHash of raw, stolen token",
        ("keys", "BioHash of raw features", "eer_stolen-key"),
        "%",
    ),
    ("EER BioHash of hashmaps, own token", ("keys", "BioHash of hashmaps", "eer_own-key"), "%"),
    (
        "EER BioHash of hashmaps, stolen token",
        ("keys", "BioHash of hashmaps", "eer_stolen-key"),
        "%",
    ),
    (
        "old template accepts re-issued key (hashmap, FAR 1%)",
        ("keys", "hashmap + key", "old_template_accepts_new_key"),
        "%",
    ),
    ("D↔sys, hashmap + two keys", ("keys", "hashmap + key", "d_sys"), "f3"),
    ("D↔sys, BioHash of raw, two tokens", ("keys", "BioHash of raw features", "d_sys"), "f3"),
    ("D↔sys, BioHash of hashmaps, two tokens", ("keys", "BioHash of hashmaps", "d_sys"), "f3"),
    (
        "D↔sys, hashmap + two keys, one key issue",
        ("keys", "hashmap + key", "d_sys_one_issue"),
        "f3",
    ),
    (
        "D↔sys, BioHash of raw, two tokens, one key issue",
        ("keys", "BioHash of raw features", "d_sys_one_issue"),
        "f3",
    ),
    (
        "D↔sys, BioHash of hashmaps, two tokens, one key issue",
        ("keys", "BioHash of hashmaps", "d_sys_one_issue"),
        "f3",
    ),
    ("D↔sys: independent key issues", ("keys", "hashmap + key", "linkage_key_issues"), "f0"),
]
INVERSION = [
    "raw",
    "PCA",
    "BioHash of raw features (token stolen)",
    "hashmap (key known)",
    "hashmap (key unknown)",
    "hashmap (key known), gradient masquerade",
]


def _get(result: dict, path: tuple[str, ...]) -> float:
    for key in path:
        result = result[key]
    return float(result)


def _cell(values: list[float], fmt: str) -> str:
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    if fmt == "%":
        return f"{100 * mean:.1f}% ± {100 * sd:.1f}"
    if fmt == "f4":
        return f"{mean:.4f} ± {sd:.4f}"
    if fmt == "f0":
        return f"{mean:.0f} ± {sd:.0f}"
    return f"{mean:.3f} ± {sd:.3f}"


def summarize(results: dict[str, list[dict]]) -> str:
    datasets = list(results)
    header = "| | " + " | ".join(
        f"{d} ({results[d][0]['data']['identities']} ids, {len(results[d])} seeds)"
        for d in datasets
    )
    lines = [header + " |", "|---" * (len(datasets) + 1) + "|"]
    rows = list(ROWS)
    for name in INVERSION:
        rows.append(
            (f"inversion MSE, {name}", ("inversion", "results", name, "mse"), "f4"),
        )
        rows.append(
            (
                f"victims identified from inversion, {name}",
                ("inversion", "results", name, "identification_rate"),
                "%",
            )
        )
        rows.append(
            (
                f"server accepts inversion as the victim, {name}",
                ("inversion", "results", name, "server_accepts"),
                "%",
            )
        )
    rows.append(
        (
            "adversarially trained encoder: identification",
            ("pgd", "adversarial_training", "identification_accuracy"),
            "%",
        )
    )
    rows.append(
        (
            "adversarially trained encoder: clean EER",
            ("pgd", "adversarial_training", "clean_eer"),
            "%",
        )
    )
    rows.append(
        (
            "adversarially trained encoder: server accepts gradient masquerade",
            ("pgd", "adversarial_training", "masquerade_accepts"),
            "%",
        )
    )
    rows.append(
        (
            "adversarially trained encoder: training time (s)",
            ("pgd", "adversarial_training", "train_seconds"),
            "f0",
        )
    )
    rows.append(
        ("inversion judge on clean victims", ("inversion", "judge_accuracy_on_clean_victims"), "%")
    )
    for label, path, fmt in rows:
        cells = [_cell([_get(r, path) for r in results[d]], fmt) for d in datasets]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for eps_index, eps in enumerate(results[datasets[0]][0]["config"]["pgd_eps"]):
        views = (
            "no defence",
            "quantize, attacker ignores it",
            "quantize, adaptive (BPDA)",
            "adversarial training",
        )
        for view in views:
            cells = [
                _cell([r["pgd"]["results"][eps_index][view] for r in results[d]], "%")
                if view in results[d][0]["pgd"]["results"][eps_index]
                else ""
                for d in datasets
            ]
            lines.append(
                f"| PGD impersonation success, eps {eps}, {view} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines) + "\n"


def linkage_vs_people(
    people: list[int],
    n_identities: int,
    seeds: list[int],
    quick: bool = False,
    key_pairs: int = EvalConfig.linkage_key_pairs,
) -> str:
    """D<->sys of keyed hashmaps as a function of how many people the scores come from,
    with one key issue (every person's two keys are one fixed rotation, so each
    person's mated scores sit near one value and a small population gives a lumpy mated
    histogram) and with the keys issued ``ceil(key_pairs / people)`` times, as the
    evaluation does. A third column is the null control: templates that hold no
    biometric information (a unit vector drawn from the key alone, plus 1e-3 noise),
    which no attacker can link."""
    from encoders import attacks
    from encoders.contrastive import HashmapKey, TrainConfig, encode, make_encoder, train_encoder
    from encoders.data import load, split_per_identity

    rows: dict[int, list[list[float]]] = {n: [[], [], [], []] for n in people}

    def key_only(x: np.ndarray, k: int) -> np.ndarray:
        rng = np.random.default_rng(k)
        v = rng.standard_normal(64)
        return v / np.linalg.norm(v) + 1e-3 * rng.standard_normal((len(x), 64))

    def rotate(x: np.ndarray, k: int) -> np.ndarray:
        return HashmapKey(64, k).apply(x)

    for seed in seeds:
        data = load("synthetic", n_identities=n_identities, seed=seed)
        train, test = split_per_identity(data, 0.3, seed)
        encoder = make_encoder(train, 64, seed)
        config = TrainConfig(epochs=2 if quick else 30, loss="supcon", seed=seed)
        train_encoder(encoder, train, config)  # the encoder the evaluation attacks
        h = encode(encoder, test.x)
        rng = np.random.default_rng(seed)
        for n in people:
            chosen = rng.choice(n_identities, size=n, replace=False)
            rows_n = np.isin(test.y, chosen)
            issues = max(1, -(-key_pairs // n))
            keys_a = [
                {int(u): (2 * r + 1) * 1_000_003 + int(u) for u in chosen} for r in range(issues)
            ]
            keys_b = [
                {int(u): (2 * r + 2) * 1_000_003 + int(u) for u in chosen} for r in range(issues)
            ]
            cases = [
                (rotate, keys_a[:1], keys_b[:1]),
                (rotate, keys_a, keys_b),
                (key_only, keys_a[:1], keys_b[:1]),
                (key_only, keys_a, keys_b),
            ]
            for column, (transform, a, b) in enumerate(cases):
                scores = attacks.linkage_scores(
                    h[rows_n], test.y[rows_n], transform, "cosine", a, b, seed=seed
                )
                rows[n][column].append(attacks.unlinkability(*scores).d_sys)
    lines = [
        "| people | key issues | D↔sys, hashmap + two keys, one key issue | D↔sys, hashmap + "
        "two keys, key issues | null (template from the key alone), one key issue | null, "
        "key issues |",
        "|---|---|---|---|---|---|",
    ]
    for n, columns in rows.items():
        cells = " | ".join(_cell(v, "f3") for v in columns)
        lines.append(f"| {n} | {max(1, -(-key_pairs // n))} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--out", default="results/encoders")
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes")
    parser.add_argument(
        "--people-sweep",
        nargs="+",
        type=int,
        help="also write linkage_vs_people.md: D↔sys of synthetic keyed hashmaps from "
        "this many people (subsets of --identities)",
    )
    parser.add_argument("--rerun", action="store_true", help="repeat runs that already exist")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    results: dict[str, list[dict]] = {}
    for dataset in args.datasets:
        for seed in args.seeds:
            run_dir = out / f"{dataset}-{seed}"
            if (run_dir / "results.json").exists() and not args.rerun:
                result = json.loads((run_dir / "results.json").read_text())
            else:
                start = time.perf_counter()
                make = EvalConfig.quick if args.quick else EvalConfig
                config = make(dataset=dataset, n_identities=args.identities, seed=seed)
                tag = f"{dataset} seed {seed}"
                result = run_evaluation(config, lambda m, tag=tag: print(f"{tag}: {m}"))
                write_report(result, run_dir)
                print(f"{dataset} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
                result = json.loads((run_dir / "results.json").read_text())
            results.setdefault(dataset, []).append(result)
    table = summarize(results)
    print(table)
    (out / "summary.md").write_text(table)
    (out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.people_sweep:
        sweep = linkage_vs_people(args.people_sweep, args.identities, args.seeds, args.quick)
        print(sweep)
        (out / "linkage_vs_people.md").write_text(sweep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
