"""Security analysis of the weight hash, with SHA-256 on the same tests: every number in
the security section of ``docs/weight_hash.md``.

1. Block order and repetition: do reordered or repeated 6-character rows change the
   digest? (Moby words with two or more full rows, and the collisions inside Moby.)
2. Degeneracy: numerical rank, signs and zero columns of the weight matrices; digest bits
   that never change over the corpus.
3. The digest's rounding trade-off: distinct digests over Moby, and agreement with an
   independent implementation (autograd + ``torch.optim.Adam``), per ``fraction_bits``.
4. Preimage attack: an MLP fitted on training words maps the 36 weights back to the
   characters; then Gauss-Newton through the (public, differentiable) training procedure
   refines its guess, and the result is checked by recomputing the digest. The same MLP
   is fitted on SHA-256 digests.

    python bench/weight_hash_security.py --out results/security
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _results import write_results  # bench/: scripts run as python bench/NAME.py
from torch.func import jacfwd, vmap

from baselines.weight_hash import (
    ADAM_BETAS,
    ADAM_EPS,
    DEFAULT_CONFIG,
    digests_from_weights,
    to_blocks,
    trained_weights,
    weight_hash_many,
)
from hash_envs import corpus as corpus_lib

WIDTH = DEFAULT_CONFIG.width
MAX_LEN = 24  # characters the inverse model predicts (99.996% of Moby words)
LENGTH_TRIES = (0, -1, 1, -2, 2)  # offsets from the model's length estimate


def _rows(word: str) -> int:
    return -(-len(word) // WIDTH)


def _quantise(weights: np.ndarray, fraction_bits: int) -> np.ndarray:
    return np.round(weights.reshape(len(weights), -1) * 2.0**fraction_bits)


def _sha256(words: list[str]) -> list[bytes]:
    return [hashlib.sha256(w.encode()).digest() for w in words]


# ----------------------------------------------------------------------------- 1. structure


def block_structure(words: list[str], digests: list[str]) -> dict[str, Any]:
    """Digest equality under row swaps and repetition, for the weight hash and SHA-256."""

    def equal_rate(pairs: list[tuple[str, str]], cap: int = 50_000) -> dict[str, Any]:
        pairs = pairs[:: max(1, len(pairs) // cap)]  # an even spread over the corpus
        a, b = zip(*pairs, strict=True)
        ours = np.mean(
            [x == y for x, y in zip(weight_hash_many(a), weight_hash_many(b), strict=True)]
        )
        sha = np.mean([x == y for x, y in zip(_sha256(list(a)), _sha256(list(b)), strict=True)])
        return {"pairs": len(pairs), "weight_hash_equal": float(ours), "sha256_equal": float(sha)}

    swapped = [(w, w[6:12] + w[:6] + w[12:]) for w in words if len(w) >= 12 and w[:6] != w[6:12]]
    aligned = [(w, w + w) for w in words if len(w) % WIDTH == 0]
    unaligned = [(w, w + w) for w in words if len(w) % WIDTH != 0]
    groups = collections.defaultdict(list)
    for word, digest in zip(words, digests, strict=True):
        groups[digest].append(word)
    examples = [("abcdef", "abcdefabcdef"), ("abcdefghijkl", "ghijklabcdef"), ("abc", "cba")]
    return {
        "examples": {f"{a} / {b}": equal_rate([(a, b)]) for a, b in examples},
        "swap_first_two_rows": equal_rate(swapped),
        "repeat_aligned": equal_rate(aligned),
        "repeat_unaligned": equal_rate(unaligned),
        "corpus_collisions": [g for g in groups.values() if len(g) > 1],
    }


# ----------------------------------------------------------------------------- 2. degeneracy


def degeneracy(words: list[str], weights: np.ndarray, digests: list[str]) -> dict[str, Any]:
    """Rank, signs and constant digest bits of the trained weight matrices."""
    rows = np.array([_rows(w) for w in words])
    singular = np.linalg.svd(weights, compute_uv=False)
    rank = (singular > 1e-6 * singular[:, :1]).sum(axis=1)
    by_rows = {
        int(r): {
            "words": int((rows == r).sum()),
            "rank_counts": dict(sorted(collections.Counter(rank[rows == r].tolist()).items())),
        }
        for r in np.unique(rows)
        if r <= 4
    }
    single = weights[rows == 1]
    nonzero = single != 0
    spread = np.where(nonzero, np.abs(single - single[:, :, :1]), 0).max(axis=(1, 2))
    ours = np.unpackbits(np.frombuffer(bytes.fromhex("".join(digests)), np.uint8))
    ours = ours.reshape(len(words), -1)
    sha = np.unpackbits(np.frombuffer(b"".join(_sha256(words)), np.uint8)).reshape(len(words), -1)

    def constant_bits(bits: np.ndarray) -> int:
        return int(((bits == 0).all(axis=0) | (bits == 1).all(axis=0)).sum())

    return {
        "rank_tolerance": "singular values above 1e-6 x the largest",
        "rank_by_rows": by_rows,
        "negative_fraction": float((weights < 0).mean()),
        "zero_fraction": float((weights == 0).mean()),
        "min": float(weights.min()),
        "max": float(weights.max()),
        "single_row_column_spread_median": float(np.median(spread)),
        "single_row_column_spread_max": float(spread.max()),
        "digest_bits": ours.shape[1],
        "digest_constant_bits": constant_bits(ours),
        "sha256_constant_bits": constant_bits(sha),
    }


# ----------------------------------------------------------------------------- 3. rounding


def _reference_weights(words: list[str]) -> np.ndarray:
    """The method written independently: einsum, autograd and ``torch.optim.Adam`` over one
    ``(models, 6, 6)`` parameter (Adam is element-wise, so the models stay independent)."""
    out = np.empty((len(words), WIDTH, WIDTH))
    rows = np.array([_rows(w) for w in words])
    for r in np.unique(rows):
        for chunk in np.array_split(np.flatnonzero(rows == r), max(1, (rows == r).sum() // 2000)):
            x = torch.stack([to_blocks(words[i]) for i in chunk])
            w = torch.zeros(len(chunk), WIDTH, WIDTH, dtype=torch.float64, requires_grad=True)
            optimiser = torch.optim.Adam([w], lr=DEFAULT_CONFIG.lr)
            for _ in range(DEFAULT_CONFIG.epochs):
                optimiser.zero_grad()
                y = torch.tanh(torch.einsum("brj,bij->bri", x, w))
                ((y - (1 - x)) ** 2).mean(dim=(1, 2)).sum().backward()
                optimiser.step()
            out[chunk] = w.detach().numpy()
    return out


def rounding_tradeoff(
    words: list[str], weights: np.ndarray, n_reference: int, seed: int
) -> dict[str, Any]:
    """Distinct digests over the corpus and agreement with the reference, per grid."""
    pick = np.random.default_rng(seed).choice(len(words), n_reference, replace=False)
    reference = _reference_weights([words[i] for i in pick])
    ours = weights[pick]
    rows = {}
    for bits in (0, 4, 8, 12, 16, 20, 24, 28, 32, 40):
        distinct = np.unique(_quantise(weights, bits), axis=0).shape[0]
        agree = (_quantise(ours, bits) == _quantise(reference, bits)).all(axis=1).mean()
        rows[bits] = {"distinct": int(distinct), "reference_agreement": float(agree)}
    return {
        "words": len(words),
        "reference_words": n_reference,
        "max_abs_difference": float(np.abs(ours - reference).max()),
        "by_fraction_bits": rows,
    }


# ----------------------------------------------------------------------------- 4. preimage


def _targets(words: list[str]) -> np.ndarray:
    """``1/sqrt(ord(c))`` per position, 0 past the end: what the inverse model predicts."""
    out = np.zeros((len(words), MAX_LEN), dtype=np.float32)
    for k, w in enumerate(words):
        out[k, : min(len(w), MAX_LEN)] = [1 / math.sqrt(ord(c)) for c in w[:MAX_LEN]]
    return out


def _decode(values: np.ndarray) -> list[str]:
    """Predicted values -> strings: a value below 0.02 (or not finite) ends the word (no
    character maps there: U+0000 would be inf), others become ``chr(round(1 / v**2))``."""
    words = []
    for row in np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0):
        end = int(np.argmax(row < 0.02)) if (row < 0.02).any() else len(row)
        codes = np.clip(np.rint(1 / row[:end] ** 2), 1, 0x10FFFF)
        words.append("".join(chr(int(c)) for c in codes))
    return words


def fit_inverse(
    train_x: np.ndarray, train_words: list[str], epochs: int, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    """An MLP (3 hidden layers of 256) regressing the per-position values from digest
    features; returns ``features -> predicted values``."""
    torch.manual_seed(seed)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-12
    x = torch.tensor((train_x - mean) / std, dtype=torch.float32)
    y = torch.from_numpy(_targets(train_words)) * 10  # values ~0.1; scale to ~1
    layers: list[torch.nn.Module] = []
    width = x.shape[1]
    for _ in range(3):
        layers += [torch.nn.Linear(width, 256), torch.nn.GELU()]
        width = 256
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, MAX_LEN))
    batch = 512
    optimiser = torch.optim.Adam(model.parameters())
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=2e-3, total_steps=epochs * -(-len(x) // batch)
    )
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(batch):
            loss = torch.nn.functional.mse_loss(model(x[idx]), y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()

    def predict(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            scaled = torch.tensor((features - mean) / std, dtype=torch.float32)
            return model(scaled).numpy() / 10

    return predict


def _train_differentiable(x: torch.Tensor, elements: torch.Tensor) -> torch.Tensor:
    """The training procedure as a pure function of the rows ``x`` (``(rows, 6)``), for
    forward-mode derivatives. ``elements`` is the word's row count x 6 (the MSE's
    denominator): extra all-zero rows change nothing else, so words of different lengths
    share one batch. ``sqrt`` gets 1e-300 so padding columns (v = 0) stay finite."""
    beta1, beta2 = ADAM_BETAS
    target = 1 - x
    w = torch.zeros(WIDTH, WIDTH, dtype=x.dtype)
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    beta1_t = beta2_t = 1.0
    for _ in range(DEFAULT_CONFIG.epochs):
        beta1_t, beta2_t = beta1_t * beta1, beta2_t * beta2
        y = torch.tanh(x @ w.T)
        grad = (2 * (y - target) / elements * (1 - y * y)).T @ x
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        step = (m / (1 - beta1_t)) / (torch.sqrt(v / (1 - beta2_t) + 1e-300) + ADAM_EPS)
        w = w - DEFAULT_CONFIG.lr * step
    return w


def refine(guess: np.ndarray, lengths: np.ndarray, weights: np.ndarray, steps: int) -> np.ndarray:
    """Gauss-Newton on the character values so that training on them reproduces
    ``weights``: one batch per row count; values past each word's length stay 0."""
    out = np.zeros((len(guess), MAX_LEN))
    rows = -(-lengths // WIDTH)
    train = vmap(_train_differentiable)
    jacobian = vmap(jacfwd(_train_differentiable))
    for r in np.unique(rows).tolist():
        sel = np.flatnonzero(rows == r)
        n, size = sel.size, r * WIDTH
        mask = torch.from_numpy(np.arange(size) < lengths[sel, None]).to(torch.float64)
        elements = torch.full((n,), float(size), dtype=torch.float64)
        start = torch.from_numpy(np.clip(guess[sel, :size], 0.02, 1.0)).to(torch.float64)
        x = (start * mask).reshape(n, r, WIDTH)
        target = torch.from_numpy(weights[sel])
        for _ in range(steps):
            jac = jacobian(x, elements).reshape(n, WIDTH * WIDTH, size) * mask[:, None, :]
            residual = (train(x, elements) - target).reshape(n, -1, 1)
            delta = torch.linalg.lstsq(jac, -residual, driver="gelsd").solution
            x = x + torch.nan_to_num(delta).reshape(x.shape)
        out[sel, :size] = (x.reshape(n, size) * mask).numpy()
    return out


def preimage(
    words: list[str], weights: np.ndarray, n_test: int, epochs: int, steps: int, seed: int
) -> dict[str, Any]:
    """Fit inverse models on training words, attack held-out digests."""
    train, test = corpus_lib.split(words, len(words) - n_test, n_test, seed)
    index = {w: i for i, w in enumerate(words)}
    train_i, test_i = [index[w] for w in train], [index[w] for w in test]
    features = weights.reshape(len(words), -1)

    def score(guessed: list[str]) -> dict[str, Any]:
        exact = [g == t for g, t in zip(guessed, test, strict=True)]
        chars = [
            a == b for g, t in zip(guessed, test, strict=True) for a, b in zip(g, t, strict=False)
        ]
        total = sum(len(t) for t in test)
        return {"exact": int(sum(exact)), "chars_correct": sum(chars) / total}

    start = time.perf_counter()
    predict = fit_inverse(features[train_i], train, epochs, seed)
    guess = predict(features[test_i])
    model_only = score(_decode(guess))
    # Refine at the model's length; where the digest does not match, the attacker retries
    # nearby lengths (recomputing the digest is the check).
    estimated = np.array([len(g) for g in _decode(guess)])
    wanted = np.array(weight_hash_many(test))
    recovered = ["" for _ in test]
    matched = np.zeros(len(test), dtype=bool)
    tries = []
    for offset in LENGTH_TRIES:
        todo = np.flatnonzero(~matched)
        if not todo.size:
            break
        lengths = np.clip(estimated[todo] + offset, 1, MAX_LEN)
        found = _decode(refine(guess[todo], lengths, weights[test_i][todo], steps))
        digests = np.array(weight_hash_many([f or "?" for f in found]))
        hit = (digests == wanted[todo]) & np.array([bool(f) for f in found])
        for k in np.flatnonzero(hit | (offset == 0)):
            recovered[todo[k]] = found[k]
        matched[todo[hit]] = True
        tries.append({"length_offset": offset, "tried": int(todo.size), "matched": int(hit.sum())})
    refined_score = score(recovered) | {"digest_matches": int(matched.sum()), "tries": tries}
    seconds = time.perf_counter() - start

    sha_train = np.unpackbits(np.frombuffer(b"".join(_sha256(train)), np.uint8)).reshape(
        len(train), -1
    )
    sha_test = np.unpackbits(np.frombuffer(b"".join(_sha256(test)), np.uint8)).reshape(
        len(test), -1
    )
    sha_predict = fit_inverse(sha_train.astype(np.float64), train, epochs, seed)
    sha_score = score(_decode(sha_predict(sha_test.astype(np.float64))))
    return {
        "train_words": len(train),
        "test_words": len(test),
        "mlp_epochs": epochs,
        "gauss_newton_steps": steps,
        "weight_hash_model_only": model_only,
        "weight_hash_model_plus_refinement": refined_score,
        "weight_hash_attack_seconds": seconds,
        "sha256_model_only": sha_score,
        "examples": list(zip(test, recovered, strict=True))[:8],
        "other_preimages": [
            (t, r) for t, r, ok in zip(test, recovered, matched, strict=True) if ok and r != t
        ],
    }


# ----------------------------------------------------------------------------- report


def to_markdown(report: dict[str, Any]) -> str:
    s, d, r, p = report["structure"], report["degeneracy"], report["rounding"], report["preimage"]
    pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
    lines = [
        "| test | weight hash | SHA-256 |",
        "|---|---|---|",
    ]
    for name, e in s["examples"].items():
        lines.append(
            f"| `{name}` equal | {e['weight_hash_equal'] == 1} | {e['sha256_equal'] == 1} |"
        )
    for key, title in (
        ("swap_first_two_rows", "first two 6-char rows swapped"),
        ("repeat_aligned", "word repeated (length multiple of 6)"),
        ("repeat_unaligned", "word repeated (other lengths)"),
    ):
        e = s[key]
        lines.append(
            f"| {title}: digest unchanged ({e['pairs']:,} Moby words) | "
            f"{pct(e['weight_hash_equal'])} | {pct(e['sha256_equal'])} |"
        )
    lines.append(
        f"| colliding groups inside Moby | {len(s['corpus_collisions'])}: "
        + "; ".join(" = ".join(g) for g in s["corpus_collisions"])
        + " | 0 |"
    )
    ranks = "; ".join(
        f"{rows} row(s): " + ", ".join(f"rank {k}: {v:,}" for k, v in e["rank_counts"].items())
        for rows, e in d["rank_by_rows"].items()
    )
    lines += [
        f"| numerical rank of W ({d['rank_tolerance']}) | {ranks} | n/a |",
        f"| negative / zero weights | {pct(d['negative_fraction'])} / {pct(d['zero_fraction'])}"
        f" (range {d['min']:.2f} .. {d['max']:.2f}) | n/a |",
        f"| 1-row words: max \\|W[i,j] − W[i,0]\\| over used columns (median / max) | "
        f"{d['single_row_column_spread_median']:.1e} / {d['single_row_column_spread_max']:.1e}"
        " | n/a |",
        f"| digest bits constant over all Moby words | {d['digest_constant_bits']:,} of "
        f"{d['digest_bits']:,} | {d['sha256_constant_bits']} of 256 |",
    ]
    mo, mr, sh = (
        p["weight_hash_model_only"],
        p["weight_hash_model_plus_refinement"],
        p["sha256_model_only"],
    )
    n = p["test_words"]
    lines += [
        f"| preimage, fitted MLP only: held-out words recovered exactly / characters right | "
        f"{mo['exact']:,} of {n:,} / {pct(mo['chars_correct'])} | "
        f"{sh['exact']:,} of {n:,} / {pct(sh['chars_correct'])} |",
        f"| preimage, MLP + Gauss-Newton through the training + digest check | "
        f"{mr['exact']:,} of {n:,} exact; {mr['digest_matches']:,} digests matched "
        f"({len(p['other_preimages'])} by another string: "
        + ", ".join(f"{t} → {r}" for t, r in p["other_preimages"][:3])
        + ") | not applicable (not differentiable) |",
        "",
        "| fraction_bits | distinct digests (Moby) | agreement with autograd + torch.optim "
        f"({r['reference_words']:,} words) |",
        "|---|---|---|",
    ]
    for bits, e in r["by_fraction_bits"].items():
        lines.append(f"| {bits} | {e['distinct']:,} | {pct(e['reference_agreement'])} |")
    lines.append("")
    lines.append(
        f"Moby: {r['words']:,} words. Preimage: MLP trained on {p['train_words']:,} words for "
        f"{p['mlp_epochs']} epochs, {p['gauss_newton_steps']} Gauss-Newton steps; "
        f"max |ours − reference| weight difference {r['max_abs_difference']:.1e}."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="moby")
    parser.add_argument("--test-words", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=10, help="inverse-model training epochs")
    parser.add_argument("--newton-steps", type=int, default=5)
    parser.add_argument("--reference-words", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/security")
    args = parser.parse_args()
    torch.set_num_threads(1)
    words = corpus_lib.load(args.corpus)
    weights = trained_weights(words)
    digests = digests_from_weights(weights)
    report = {"corpus": args.corpus, "words": len(words)}
    for name, run in (
        ("structure", lambda: block_structure(words, digests)),
        ("degeneracy", lambda: degeneracy(words, weights, digests)),
        ("rounding", lambda: rounding_tradeoff(words, weights, args.reference_words, args.seed)),
        (
            "preimage",
            lambda: preimage(
                words, weights, args.test_words, args.epochs, args.newton_steps, args.seed
            ),
        ),
    ):
        start = time.perf_counter()
        report[name] = run()
        print(f"{name}: {time.perf_counter() - start:.0f}s", flush=True)
    write_results(args.out, "security", report, to_markdown(report))


if __name__ == "__main__":
    main()
