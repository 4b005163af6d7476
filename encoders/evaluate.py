"""The full evaluation behind ``hash-envs encoders run``: train, identify, verify, attack.

Protocol (closed set): every identity's samples are split 70/30 into enrolment/training
and test samples (seeded). The client encoder is trained by the hashmap exchange on the
training samples of all identities; the server enrols with the training hashmaps and is
scored on the test hashmaps. References: the same network trained with cross-entropy on
raw biometrics, logistic regression on raw features, PCA, and BioHashing of the raw
features and of the hashmaps (token-based protection on top of good features).

Attacks: the attacker has the client-side encoder (it ships to every client) and
biometrics of their own: all samples of half of the identities when there are >= 20, the
victims being the test samples of the other half; with fewer identities (digits: 10
classes shared by everyone) the attacker holds the training samples and the victims are
the test samples.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from encoders import attacks
from encoders import data as data_lib
from encoders.biohash import BioHash
from encoders.contrastive import HashmapKey, TrainConfig, encode, make_encoder, train_encoder
from encoders.server import (
    Roc,
    ServerDiscriminator,
    pair_scores,
    predict_identities,
    roc_eer,
    templates,
    train_raw_classifier,
    verification_scores,
)

__all__ = ["EvalConfig", "run_evaluation", "to_markdown", "write_report"]


@dataclass(frozen=True)
class EvalConfig:
    """Sizes of one evaluation run. One encoder is trained per entry of ``losses``; the
    first is the one the server, the keys and the attacks use. ``pgd_eps`` are L-inf
    budgets on inputs in [0, 1]; ``quantize_levels`` is the defence's grey levels.
    ``linkage_key_pairs``: D<->sys draws the two applications' keys afresh
    ``ceil(linkage_key_pairs / people)`` times, so that its mated scores come from at
    least that many independent key pairs (one issue gives only one per person)."""

    dataset: str = "synthetic"
    n_identities: int = 100
    dim: int = 64
    epochs: int = 30
    losses: tuple[Literal["supcon", "contrastive"], ...] = ("supcon", "contrastive")
    test_fraction: float = 0.3
    pgd_eps: tuple[float, ...] = (0.0, 0.01, 0.03, 0.1)
    pgd_attempts: int = 200
    pgd_steps: int = 40
    inversion_epochs: int = 60
    masquerade_steps: int = 200
    quantize_levels: int = 4
    adversarial_eps: float = 0.1
    linkage_key_pairs: int = 2000
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> EvalConfig:
        """A smoke-test size: a few epochs and attempts, seconds instead of minutes."""
        sizes = {
            "epochs": 2,
            "pgd_attempts": 20,
            "pgd_steps": 5,
            "inversion_epochs": 3,
            "masquerade_steps": 5,
            "linkage_key_pairs": 100,
        }
        return cls(**(sizes | overrides))


def _keys(ids: np.ndarray, base: int) -> dict[int, int]:
    """Per-identity key seeds of one application (``base`` separates applications)."""
    return {int(u): base * 1_000_003 + int(u) for u in ids}


def run_evaluation(
    config: EvalConfig, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Run everything; returns a JSON-ready dict (arrays for the plots under ``_plots``)."""
    torch.manual_seed(config.seed)
    full = data_lib.load(config.dataset, n_identities=config.n_identities, seed=config.seed)
    train, test = data_lib.split_per_identity(full, config.test_fraction, config.seed)
    ids = np.unique(full.y)
    out: dict[str, Any] = {
        "config": asdict(config),
        "data": {
            "name": full.name,
            "samples": len(full),
            "identities": len(ids),
            "sample_shape": list(full.sample_shape),
            "train": len(train),
            "test": len(test),
        },
    }

    # --- encoders (one per loss) and the server ---------------------------------------
    encoders, identification = {}, {}
    for loss in config.losses:
        progress(f"training the {loss} encoder")
        encoder = make_encoder(train, config.dim, config.seed)
        cfg = TrainConfig(
            epochs=config.epochs,
            clients_per_step=min(16, max(2, len(ids) // 2)),
            loss=loss,
            seed=config.seed,
        )
        start = time.perf_counter()
        history = train_encoder(encoder, train, cfg)
        seconds = time.perf_counter() - start
        server = ServerDiscriminator().fit(encode(encoder, train.x), train.y)
        identification[f"hashmap ({loss})"] = {
            "accuracy": server.accuracy(encode(encoder, test.x), test.y),
            "train_seconds": seconds,
            "first_loss": history.losses[0],
            "last_loss": history.losses[-1],
        }
        encoders[loss] = encoder
    encoder = encoders[config.losses[0]]
    progress("training the raw-biometric references")
    start = time.perf_counter()
    raw_model = train_raw_classifier(train, epochs=config.epochs, seed=config.seed)
    identification["raw, same network + cross-entropy"] = {
        "accuracy": float(np.mean(predict_identities(raw_model, test.x) == test.y)),
        "train_seconds": time.perf_counter() - start,
    }
    logistic = make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=3000))
    logistic.fit(train.flat(), train.y)
    identification["raw, logistic regression"] = {
        "accuracy": float(logistic.score(test.flat(), test.y))
    }
    out["identification"] = identification

    # --- verification: templates from training samples, test samples as probes ---------
    progress("verification and keys")
    h_train, h_test = encode(encoder, train.x), encode(encoder, test.x)
    pca = PCA(config.dim, random_state=config.seed).fit(train.flat())
    biohash = BioHash(min(config.dim, train.flat().shape[1])).fit(train.flat())
    biohash_h = BioHash(config.dim).fit(h_train)
    reps = {
        "hashmap": (h_train, h_test, "cosine"),
        "raw": (train.flat(), test.flat(), "cosine"),
        "PCA": (pca.transform(train.flat()), pca.transform(test.flat()), "cosine"),
        "BioHash of raw features, one token for all": (
            biohash.transform(train.flat(), 0),
            biohash.transform(test.flat(), 0),
            "hamming",
        ),
    }
    rocs: dict[str, Roc] = {}
    for name, (enrol, probe, metric) in reps.items():
        rocs[name] = roc_eer(*verification_scores(enrol, train.y, probe, test.y, metric))
    keyed = {
        "hashmap + key": (
            h_train,
            h_test,
            lambda h, k: HashmapKey(config.dim, k).apply(h),
            "cosine",
        ),
        "BioHash of raw features": (train.flat(), test.flat(), biohash.transform, "hamming"),
        # Token-based protection on top of good features: the fair test of BioHashing.
        "BioHash of hashmaps": (h_train, h_test, biohash_h.transform, "hamming"),
    }
    keys, new_keys = _keys(ids, 1), _keys(ids, 2)
    # Unlinkability: issue r gives application A the keys _keys(ids, 2r + 1) and B the
    # keys _keys(ids, 2r + 2); issue 0 is (keys, new_keys).
    n_issues = max(1, -(-config.linkage_key_pairs // len(ids)))
    issues_a = [_keys(ids, 2 * r + 1) for r in range(n_issues)]
    issues_b = [_keys(ids, 2 * r + 2) for r in range(n_issues)]
    stolen: dict[str, dict[str, float]] = {}
    for name, (enrol, probe, transform, metric) in keyed.items():
        row = {}
        for scenario in ("own-key", "stolen-key"):
            roc = roc_eer(
                *attacks.keyed_verification(
                    enrol, train.y, probe, test.y, transform, metric, keys, scenario
                )
            )
            rocs[f"{name}, {scenario}"] = roc
            row[f"eer_{scenario}"] = roc.eer
        # Revocation: templates enrolled under the old keys, genuine probes re-issued keys.
        threshold = rocs[f"{name}, own-key"].threshold_at_far(0.01)
        genuine_new = []
        for u in ids:
            enrol_u = transform(enrol[train.y == u], keys[int(u)])
            _, temp = templates(enrol_u, train.y[train.y == u], metric)
            probe_u = transform(probe[test.y == u], new_keys[int(u)])
            genuine_new.append(pair_scores(probe_u, temp, metric)[:, 0])
        row["old_template_accepts_new_key"] = float(
            np.mean(np.concatenate(genuine_new) >= threshold)
        )
        mated, non_mated = attacks.linkage_scores(
            probe, test.y, transform, metric, issues_a, issues_b, seed=config.seed
        )
        row["d_sys"] = attacks.unlinkability(mated, non_mated).d_sys
        row["linkage_pairs"] = [len(mated), len(non_mated)]
        row["linkage_key_issues"] = n_issues
        # The same with one key issue (one key pair per person): biased upwards when
        # people are few, kept to show how much (docs/encoders.md).
        mated, non_mated = attacks.linkage_scores(
            probe, test.y, transform, metric, keys, new_keys, seed=config.seed
        )
        row["d_sys_one_issue"] = attacks.unlinkability(mated, non_mated).d_sys
        stolen[name] = row
    out["verification_eer"] = {name: roc.eer for name, roc in rocs.items()}
    out["keys"] = stolen

    # --- inversion -------------------------------------------------------------------
    progress("inversion attacks")
    if len(ids) >= 20:
        attacker_ids = ids[: len(ids) // 2]
        attacker = full.subset(np.flatnonzero(np.isin(full.y, attacker_ids)))
        victims = test.subset(np.flatnonzero(~np.isin(test.y, attacker_ids)))
        split = f"attacker holds all samples of identities 0..{len(attacker_ids) - 1}"
    else:
        attacker, victims = train, test
        split = "attacker holds the training samples, victims are the test samples"
    identify = partial(predict_identities, raw_model)  # the judge of reconstructions
    h_victim = encode(encoder, victims.x)
    h_victim_keyed = np.empty_like(h_victim)  # under the victims' secret keys
    for u in np.unique(victims.y):
        rows = victims.y == u
        h_victim_keyed[rows] = HashmapKey(config.dim, keys[int(u)]).apply(h_victim[rows])
    codes = {
        "raw": (attacker.flat(), victims.flat()),
        "PCA": (pca.transform(attacker.flat()), pca.transform(victims.flat())),
        "BioHash of raw features (token stolen)": (
            biohash.transform(attacker.flat(), 0),
            biohash.transform(victims.flat(), 0),
        ),
        "hashmap (key known)": (encode(encoder, attacker.x), h_victim),
        "hashmap (key unknown)": (encode(encoder, attacker.x), h_victim_keyed),
    }
    temp_ids, temps = templates(h_train, train.y, "cosine")
    threshold = rocs["hashmap"].threshold_at_far(0.01)
    image = full.kind == "image"

    def accepted(x: np.ndarray, claimed: np.ndarray) -> float:
        """Fraction of inputs the server accepts as ``claimed`` (FAR 1% threshold)."""
        scores = np.sum(encode(encoder, x) * temps[np.searchsorted(temp_ids, claimed)], axis=1)
        return float(np.mean(scores >= threshold))

    inversion, recon = {}, {}
    for name, (attacker_codes, victim_codes) in codes.items():
        result = attacks.inversion_attack(
            attacker_codes,
            attacker.x,
            victim_codes,
            victims.x,
            victims.y,
            identify,
            epochs=config.inversion_epochs,
            seed=config.seed,
        )
        inversion[name] = {
            "mse": result.mse,
            "identification_rate": result.identification_rate,
            "server_accepts": accepted(result.reconstructions, victims.y),
        }
        recon[name] = result.reconstructions[:8]
    masks = attacks.gradient_masquerade(
        encoder,
        h_victim,
        attacker.x.mean(0),
        steps=config.masquerade_steps,
        clip=(0.0, 1.0) if image else None,
    )
    inversion["hashmap (key known), gradient masquerade"] = {
        "mse": float(np.mean((masks - victims.x) ** 2)),
        "identification_rate": float(np.mean(identify(masks) == victims.y)),
        "server_accepts": accepted(masks, victims.y),
    }
    recon["hashmap (key known), gradient masquerade"] = masks[:8]
    out["inversion"] = {
        "split": split,
        "attacker_samples": len(attacker),
        "victim_samples": len(victims),
        "judge_accuracy_on_clean_victims": float(np.mean(identify(victims.x) == victims.y)),
        "chance": 1 / len(ids),
        "results": inversion,
    }

    # --- PGD impersonation -------------------------------------------------------------
    progress("PGD impersonation")
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(len(test), size=min(config.pgd_attempts, len(test)), replace=False)
    sources, source_y = test.x[pick], test.y[pick]
    target_y = (source_y + rng.integers(1, len(ids), size=len(pick))) % len(ids)
    target_temps = temps[np.searchsorted(temp_ids, target_y)]
    defended = torch.nn.Sequential(attacks.Quantize(config.quantize_levels), encoder)
    adaptive = torch.nn.Sequential(attacks.Quantize(config.quantize_levels, True), encoder)
    pgd = []
    for eps in config.pgd_eps:
        row: dict[str, float] = {"eps": eps}
        views = {"no defence": (encoder, encoder)}
        if image:
            views["quantize, attacker ignores it"] = (encoder, defended)
            views["quantize, adaptive (BPDA)"] = (adaptive, defended)
        for label, (attack_model, deployed) in views.items():
            adv = attacks.pgd_impersonation(
                attack_model,
                sources,
                target_temps,
                eps,
                steps=config.pgd_steps,
                clip=(0, 1) if image else None,
                seed=config.seed,
            )
            with torch.no_grad():
                h_adv = deployed(torch.from_numpy(adv)).numpy()
            row[label] = float(np.mean(np.sum(h_adv * target_temps, axis=1) >= threshold))
        pgd.append(row)
    out["pgd"] = {
        "attempts": len(pick),
        "steps": config.pgd_steps,
        "threshold": "cosine at FAR = 1% on clean verification",
        "results": pgd,
    }
    if image:
        with torch.no_grad():
            hq_train = defended(torch.from_numpy(train.x)).numpy()
            hq_test = defended(torch.from_numpy(test.x)).numpy()
        out["pgd"]["clean_eer_with_quantize"] = roc_eer(
            *verification_scores(hq_train, train.y, hq_test, test.y)
        ).eer
    if config.adversarial_eps > 0:
        out["pgd"]["adversarial_training"] = _adversarial_training(
            config, train, test, sources, target_y, pgd, progress
        )

    out["_plots"] = {
        "rocs": rocs,
        "hashmaps": (h_test, test.y),
        "originals": victims.x[:8],
        "reconstructions": recon,
        "image": image,
    }
    return out


def _adversarial_training(
    config: EvalConfig,
    train: data_lib.BiometricDataset,
    test: data_lib.BiometricDataset,
    sources: np.ndarray,
    target_y: np.ndarray,
    pgd: list[dict[str, float]],
    progress: Callable[[str], None],
) -> dict[str, float]:
    """The second defence: an encoder trained with PGD examples (``adversarial_eps``) as
    extra positives, attacked by the same PGD as the undefended one (its own templates
    and FAR-1% threshold); adds the column ``adversarial training`` to ``pgd``."""
    progress("adversarial training")
    robust = make_encoder(train, config.dim, config.seed)
    cfg = TrainConfig(
        epochs=config.epochs,
        clients_per_step=min(16, max(2, train.n_identities // 2)),
        loss=config.losses[0],
        adversarial_eps=config.adversarial_eps,
        seed=config.seed,
    )
    start = time.perf_counter()
    train_encoder(robust, train, cfg)
    seconds = time.perf_counter() - start
    r_train, r_test = encode(robust, train.x), encode(robust, test.x)
    accuracy = ServerDiscriminator().fit(r_train, train.y).accuracy(r_test, test.y)
    roc = roc_eer(*verification_scores(r_train, train.y, r_test, test.y))
    threshold = roc.threshold_at_far(0.01)
    ids, temps = templates(r_train, train.y)
    target = temps[np.searchsorted(ids, target_y)]
    clip = (0.0, 1.0) if train.kind == "image" else None
    for row in pgd:
        adv = attacks.pgd_impersonation(
            robust,
            sources,
            target,
            row["eps"],
            steps=config.pgd_steps,
            clip=clip,
            seed=config.seed,
        )
        scores = np.sum(encode(robust, adv) * target, axis=1)
        row["adversarial training"] = float(np.mean(scores >= threshold))
    # The masquerade has no budget: does adversarial training stop it?
    forged = attacks.gradient_masquerade(
        robust, target, train.x.mean(0), steps=config.masquerade_steps, clip=clip
    )
    masquerade = float(np.mean(np.sum(encode(robust, forged) * target, axis=1) >= threshold))
    return {
        "eps": config.adversarial_eps,
        "identification_accuracy": accuracy,
        "clean_eer": roc.eer,
        "train_seconds": seconds,
        "masquerade_accepts": masquerade,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def to_markdown(result: dict[str, Any]) -> str:
    """The report's tables (identification, verification/keys, inversion, PGD)."""
    cfg, d = result["config"], result["data"]
    lines = [
        f"Data: {d['name']}, {d['identities']} identities, {d['samples']} samples of shape "
        f"{tuple(d['sample_shape'])} ({d['train']} enrolment/training, {d['test']} test); "
        f"seed {cfg['seed']}; {cfg['epochs']} epochs; hashmap dimension {cfg['dim']}.",
        "",
        "| identification (test samples) | accuracy | training time (s) |",
        "|---|---|---|",
    ]
    for name, row in result["identification"].items():
        seconds = f"{row['train_seconds']:.0f}" if "train_seconds" in row else ""
        lines.append(f"| {name} | {_pct(row['accuracy'])} | {seconds} |")
    lines += ["", "| verification | EER |", "|---|---|"]
    for name, eer in result["verification_eer"].items():
        lines.append(f"| {name} | {_pct(eer)} |")
    lines += [
        "",
        "| keyed scheme | EER, impostor uses own key | EER, stolen key | old template "
        "accepts re-issued key (FAR 1%) | D↔sys between two keys | D↔sys, one key issue |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["keys"].items():
        lines.append(
            f"| {name} | {_pct(row['eer_own-key'])} | {_pct(row['eer_stolen-key'])} | "
            f"{_pct(row['old_template_accepts_new_key'])} | {row['d_sys']:.3f} | "
            f"{row['d_sys_one_issue']:.3f} |"
        )
    link = next(iter(result["keys"].values()))
    lines += [
        "",
        f"D↔sys (Gomez-Barrero et al. 2018, ω = 1): {link['linkage_pairs'][0]} mated pairs "
        f"(two different test samples of one person, one under each application's key) and "
        f"{link['linkage_pairs'][1]} non-mated pairs, each under one of "
        f"{link['linkage_key_issues']} independent issues of both applications' keys; "
        "*one key issue*: every person keeps one key pair for all pairs.",
    ]
    inv = result["inversion"]
    lines += [
        "",
        f"Inversion: {inv['split']} ({inv['attacker_samples']} samples); "
        f"{inv['victim_samples']} victim samples; the judge (raw-biometric network) "
        f"identifies {_pct(inv['judge_accuracy_on_clean_victims'])} of the clean victim "
        f"samples; chance {_pct(inv['chance'])}.",
        "",
        "| inverted template | reconstruction MSE | victims identified from reconstruction "
        "| server accepts reconstruction as the victim (FAR 1%) |",
        "|---|---|---|---|",
    ]
    for name, row in inv["results"].items():
        lines.append(
            f"| {name} | {row['mse']:.4f} | {_pct(row['identification_rate'])} | "
            f"{_pct(row['server_accepts'])} |"
        )
    pgd = result["pgd"]
    labels = [k for k in pgd["results"][0] if k != "eps"]
    lines += [
        "",
        f"PGD impersonation: {pgd['attempts']} attempts (test sample -> random other "
        f"identity's template), success = {pgd['threshold']}; L-inf, {pgd['steps']} steps.",
        "",
        "| eps | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    for row in pgd["results"]:
        lines.append(f"| {row['eps']} | " + " | ".join(_pct(row[k]) for k in labels) + " |")
    if "clean_eer_with_quantize" in pgd:
        lines += [
            "",
            f"Clean verification EER with the quantize defence in front of the encoder: "
            f"{_pct(pgd['clean_eer_with_quantize'])} (without: "
            f"{_pct(result['verification_eer']['hashmap'])}).",
        ]
    if "adversarial_training" in pgd:
        adv = pgd["adversarial_training"]
        lines += [
            "",
            f"Adversarial training (PGD eps {adv['eps']}, 3 steps, adversarial samples as "
            f"extra positives): identification {_pct(adv['identification_accuracy'])}, "
            f"clean verification EER {_pct(adv['clean_eer'])}, training "
            f"{adv['train_seconds']:.0f} s; the server accepts "
            f"{_pct(adv['masquerade_accepts'])} of gradient masquerades aimed at the "
            "PGD targets.",
        ]
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out: str | Path) -> list[Path]:
    """Write ``results.json``, ``report.md`` and the plots (ROC curves, a 2-D PCA of the
    test hashmaps, reconstructions beside originals) into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = result["_plots"]
    paths = []

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, roc in plots["rocs"].items():
        ax.plot(roc.fpr, roc.tpr, label=f"{name} (EER {_pct(roc.eer)})")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.legend(fontsize=6)
    paths.append(out / "roc.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    h, y = plots["hashmaps"]
    shown = np.isin(y, np.unique(y)[:10])
    xy = PCA(2).fit_transform(h[shown])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(xy[:, 0], xy[:, 1], c=y[shown], cmap="tab10", s=12)
    ax.set_title("test hashmaps of 10 identities (PCA to 2-D)")
    paths.append(out / "hashmaps_2d.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)

    if plots["image"]:
        rows = {"original": plots["originals"], **plots["reconstructions"]}
        n = len(plots["originals"])
        fig, axes = plt.subplots(len(rows), n, figsize=(n, len(rows) * 1.1), squeeze=False)
        for r, (name, images) in enumerate(rows.items()):
            for c in range(n):
                axes[r, c].imshow(np.clip(images[c, 0], 0, 1), cmap="gray", vmin=0, vmax=1)
                axes[r, c].set_xticks([])
                axes[r, c].set_yticks([])
            axes[r, 0].set_ylabel(name, fontsize=6, rotation=0, ha="right")
        paths.append(out / "reconstructions.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)

    public = {k: v for k, v in result.items() if not k.startswith("_")}
    paths.append(out / "results.json")
    paths[-1].write_text(json.dumps(public, indent=2) + "\n")
    paths.append(out / "report.md")
    paths[-1].write_text("# Neural hashmaps: evaluation\n\n" + to_markdown(result))
    return paths
