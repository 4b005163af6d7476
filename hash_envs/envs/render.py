"""Pictures of a hash table, shared by the single and vector environments."""

from __future__ import annotations

import math

import numpy as np

from hash_envs.metrics import expected_collisions

_BAR_WIDTH = 40


def render_ansi(loads: np.ndarray, n_words: int, word: str | None = None) -> str:
    """A text summary of the table and a histogram of its bin loads."""
    placed = int(loads.sum())
    occupied = int(np.count_nonzero(loads))
    lines = [
        f"placed {placed}/{n_words} words into {loads.size} bins: {occupied} occupied, "
        f"{placed - occupied} collisions "
        f"(random hash: {expected_collisions(placed, loads.size):.2f}), "
        f"max load {int(loads.max()) if loads.size else 0}"
    ]
    if word is not None:
        lines.append(f"next word: {word!r}")
    histogram = np.bincount(loads)
    top = max(int(histogram.max()), 1)
    for load, count in enumerate(histogram):
        bar = "#" * math.ceil(_BAR_WIDTH * int(count) / top)
        lines.append(f"load {load:>3}: {int(count):>8} {bar}")
    return "\n".join(lines) + "\n"


def render_rgb(loads: np.ndarray, size: int = 512) -> np.ndarray:
    """One square cell per bin on a near-square grid: black = empty, green = one word,
    yellow to red = more words (red at the table's max load or 4, whichever is larger)."""
    n = loads.size
    side = math.ceil(math.sqrt(n))
    cell = max(1, size // side)
    grid = np.zeros(side * side, dtype=np.int64)
    grid[:n] = loads
    top = max(int(loads.max()) if n else 0, 4)
    heat = np.clip((grid - 1) / (top - 1), 0.0, 1.0)
    rgb = np.zeros((side * side, 3), dtype=np.uint8)
    full = grid > 0
    rgb[full, 0] = (80 + 175 * heat[full]).astype(np.uint8)
    rgb[full, 1] = (200 * (1.0 - heat[full]) + 40).astype(np.uint8)
    rgb[full, 2] = 40
    image = rgb.reshape(side, side, 3)
    return np.repeat(np.repeat(image, cell, axis=0), cell, axis=1)
