"""Retrieval by Hamming distance: precision, recall and F1 at k, mAP, and ROC-AUC / TPR
at a fixed false-positive rate for "is this a copy?" decisions.

Queries are ranked against a database by Hamming distance. Equal distances are common
(copies of a model often share a code), so ties are broken by a seeded random order rather
than by database position, which would favour whatever was stored first.

Per query, with ``rel`` the number of relevant database items (same label):
``precision@k = hits in the top k / k``, ``recall@k = hits in the top k / rel``,
``F1@k = 2 P R / (P + R)`` (0 when both are 0); ``AP`` is the mean of precision@i over the
ranks i of the relevant items in the full ranking. All are averaged over the queries.
"""

from __future__ import annotations

import numpy as np


def hamming_distances(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    """``(n_queries, n_database)`` Hamming distances between {0, 1} codes."""
    queries, database = np.asarray(queries), np.asarray(database)
    if queries.ndim != 2 or database.ndim != 2 or queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"codes must be 2-D with the same length, got {queries.shape} and {database.shape}"
        )
    return (queries[:, None, :] != database[None, :, :]).sum(axis=-1)


def rank(distances: np.ndarray, seed: int = 0) -> np.ndarray:
    """Database indices per query, nearest first, ties in a seeded random order."""
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(distances.shape)
    return np.lexsort((tiebreak, distances), axis=-1)


def retrieval_metrics(
    query_codes: np.ndarray,
    query_labels: np.ndarray,
    db_codes: np.ndarray,
    db_labels: np.ndarray,
    k: int,
    seed: int = 0,
) -> dict[str, float]:
    """Mean precision@k, recall@k, F1@k and mAP over the queries (see module docstring)."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    order = rank(hamming_distances(query_codes, db_codes), seed)
    relevant = np.asarray(db_labels)[order] == np.asarray(query_labels)[:, None]
    n_relevant = relevant.sum(axis=1)
    hits = relevant[:, :k].sum(axis=1)
    precision = hits / k
    recall = np.divide(hits, n_relevant, out=np.zeros(len(hits)), where=n_relevant > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(len(hits)), where=denom > 0)
    cum_hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    ap_sum = (relevant * cum_hits / ranks).sum(axis=1)
    ap = np.divide(ap_sum, n_relevant, out=np.zeros(len(hits)), where=n_relevant > 0)
    return {
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "map": float(ap.mean()),
    }


def leave_one_out_metrics(
    codes: np.ndarray, labels: np.ndarray, queries: np.ndarray, k: int, seed: int = 0
) -> dict[str, float]:
    """:func:`retrieval_metrics` of each query index against every *other* item (the
    database is all of ``codes`` but the query itself), averaged over the queries."""
    codes, labels = np.asarray(codes), np.asarray(labels)
    if len(queries) == 0:
        raise ValueError("no queries")
    sums = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "map": 0.0}
    everything = np.arange(len(codes))
    for q in queries:
        others = everything[everything != q]
        m = retrieval_metrics(codes[[q]], labels[[q]], codes[others], labels[others], k, seed)
        for key in sums:
            sums[key] += m[key]
    return {key: value / len(queries) for key, value in sums.items()}


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting one half (Mann–Whitney U with mid-ranks)."""
    from scipy.stats import rankdata

    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs positives and negatives")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def tpr_at_fpr(scores: np.ndarray, positive: np.ndarray, max_fpr: float = 0.01) -> float:
    """The largest true-positive rate of a threshold ``score >= t`` whose false-positive
    rate is at most ``max_fpr``. Equal scores fall on the same side of every threshold,
    so with Hamming distances this is what an index can actually guarantee."""
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs positives and negatives")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    last_of_group = np.r_[s[1:] != s[:-1], True]  # thresholds sit between distinct scores
    tpr = np.cumsum(p)[last_of_group] / n_pos
    fpr = np.cumsum(~p)[last_of_group] / n_neg
    allowed = fpr <= max_fpr
    return float(tpr[allowed].max()) if allowed.any() else 0.0
