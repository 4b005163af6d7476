"""Augmentation by node deletion, and graph edit distances (GED) as training targets.

Edit costs are uniform: inserting or deleting a node or an edge costs 1, substituting a
node costs 1 when the operator labels differ and 0 otherwise.

* Copies made by :func:`delete_nodes` keep the node ids of the graph they came from, so for
  two graphs of the same origin we know an edit path outright: delete or insert the nodes
  one has and the other lacks, then the edges likewise (:func:`shared_origin_ged`). This is
  the exact cost of the edits performed; it is an upper bound on the GED and equals it
  whenever no cheaper correspondence exists (checked against networkx in the tests).
* For graphs of different origins we use the bipartite approximation of Riesen and Bunke
  (:func:`bipartite_ged`): a linear sum assignment (SciPy's Hungarian solver) of nodes
  with a local edge-cost estimate, then the exact cost of the edit path that assignment
  induces — again an upper bound.
* Targets are ``min(GED, R)``: beyond ``R`` edits two models are simply "unrelated", and a
  cheap lower bound (:func:`ged_lower_bound`) skips the assignment for most such pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment


def delete_nodes(g: nx.DiGraph, fraction: float, rng: np.random.Generator) -> nx.DiGraph:
    """A copy of ``g`` with ``round(fraction * n)`` inner nodes deleted, each one's
    predecessors reconnected to its successors (a layer removed, data still flowing).

    Only nodes with both a predecessor and a successor are deleted: bridging such a node
    keeps every path, so the graph stays connected. Node ids and attributes are kept.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    out = g.copy()
    k = round(fraction * g.number_of_nodes())
    for _ in range(k):
        inner = [n for n in out.nodes if out.in_degree(n) > 0 and out.out_degree(n) > 0]
        if not inner:
            break
        node = inner[int(rng.integers(len(inner)))]
        preds, succs = list(out.predecessors(node)), list(out.successors(node))
        out.remove_node(node)
        out.add_edges_from((p, s) for p in preds for s in succs)
    return out


def shared_origin_ged(a: nx.DiGraph, b: nx.DiGraph) -> int:
    """Cost of the identity edit path between two graphs whose node ids share an origin."""
    nodes_a, nodes_b = set(a.nodes), set(b.nodes)
    relabels = sum(a.nodes[n]["op"] != b.nodes[n]["op"] for n in nodes_a & nodes_b)
    return len(nodes_a ^ nodes_b) + relabels + len(set(a.edges) ^ set(b.edges))


def ged_lower_bound(a: nx.DiGraph, b: nx.DiGraph) -> int:
    """Node-label multiset difference plus edge-count difference: no edit path is cheaper."""
    return _lower_bound(_summary(a), _summary(b))


def _summary(g: nx.DiGraph) -> tuple[Counter[str], int, int]:
    return Counter(op for _, op in g.nodes(data="op")), g.number_of_nodes(), g.number_of_edges()


def _lower_bound(a: tuple[Counter[str], int, int], b: tuple[Counter[str], int, int]) -> int:
    common = sum((a[0] & b[0]).values())
    return max(a[1], b[1]) - common + abs(a[2] - b[2])


def bipartite_ged(a: nx.DiGraph, b: nx.DiGraph) -> int:
    """Riesen–Bunke bipartite GED: the cost of the edit path induced by an optimal node
    assignment under local (node label + half the degree difference) costs."""
    nodes_a, nodes_b = list(a.nodes), list(b.nodes)
    n, m = len(nodes_a), len(nodes_b)
    ops_a = np.array([a.nodes[u]["op"] for u in nodes_a])
    ops_b = np.array([b.nodes[v]["op"] for v in nodes_b])
    in_a = np.array([a.in_degree(u) for u in nodes_a], dtype=float)
    out_a = np.array([a.out_degree(u) for u in nodes_a], dtype=float)
    in_b = np.array([b.in_degree(v) for v in nodes_b], dtype=float)
    out_b = np.array([b.out_degree(v) for v in nodes_b], dtype=float)
    forbidden = 1e9
    cost = np.zeros((n + m, n + m))
    cost[:n, :m] = (ops_a[:, None] != ops_b[None, :]) + 0.5 * (
        np.abs(in_a[:, None] - in_b[None, :]) + np.abs(out_a[:, None] - out_b[None, :])
    )
    cost[:n, m:] = forbidden
    cost[np.arange(n), m + np.arange(n)] = 1.0 + 0.5 * (in_a + out_a)
    cost[n:, :m] = forbidden
    cost[n + np.arange(m), np.arange(m)] = 1.0 + 0.5 * (in_b + out_b)
    rows, cols = linear_sum_assignment(cost)
    mapping = {nodes_a[r]: nodes_b[c] for r, c in zip(rows, cols, strict=True) if r < n and c < m}
    node_cost = (n - len(mapping)) + (m - len(mapping))
    node_cost += sum(a.nodes[u]["op"] != b.nodes[v]["op"] for u, v in mapping.items())
    kept = sum(
        1
        for u, v in a.edges
        if u in mapping and v in mapping and b.has_edge(mapping[u], mapping[v])
    )
    return int(node_cost + (a.number_of_edges() - kept) + (b.number_of_edges() - kept))


def ged_matrix(graphs: Sequence[nx.DiGraph], origins: Sequence[int], cap: int) -> np.ndarray:
    """``(n, n)`` matrix of ``min(GED, cap)``: exact edit counts within an origin, the
    bipartite approximation across origins (skipped when the lower bound reaches ``cap``)."""
    if cap <= 0:
        raise ValueError(f"cap must be positive, got {cap}")
    n = len(graphs)
    out = np.zeros((n, n), dtype=np.float32)
    summaries = [_summary(g) for g in graphs]  # label counts once per graph, not per pair
    for i in range(n):
        for j in range(i + 1, n):
            if origins[i] == origins[j]:
                value = shared_origin_ged(graphs[i], graphs[j])
            elif abs(summaries[i][1] - summaries[j][1]) >= cap:
                value = cap  # the node-count difference alone reaches the cap
            elif _lower_bound(summaries[i], summaries[j]) >= cap:
                value = cap
            else:
                value = bipartite_ged(graphs[i], graphs[j])
            out[i, j] = out[j, i] = min(value, cap)
    return out
