"""Shared pieces of the procedural generators: integer rasterisation, plans, stratified splits.

Determinism rule: every pixel comes from integer arithmetic (or from IEEE-exact float ``+ - * /`` on
integer-valued inputs); trigonometric values are quantised to integers once, with a guard that refuses
any value whose rounding could flip between math libraries. Random choices use a seeded
``numpy.random.Generator`` (PCG64), whose streams are stable across platforms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass
class Plan:
    """What a generator will produce: labels and splits up front, the data streamed in blocks.

    Attributes
    ----------
    labels : ndarray int64 [N, L]
    splits : dict split -> sorted int64 indices
    render : callable(start, stop) -> uint8 [stop - start, T, C, H, W]
    block : int
        Preferred block size for :meth:`blocks`.
    """

    labels: np.ndarray
    splits: dict[str, np.ndarray]
    render: Callable[[int, int], np.ndarray]
    block: int = 256

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(0, self.n, self.block):
            j = min(i + self.block, self.n)
            yield j, self.render(i, j)


def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel coordinates ``(yy, xx)`` of an ``h x w`` image (int64)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.int64), xx.astype(np.int64)


def disk(yy: np.ndarray, xx: np.ndarray, cx: int, cy: int, r2: int) -> np.ndarray:
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r2


def ellipse(yy: np.ndarray, xx: np.ndarray, cx: int, cy: int, rx: int, ry: int) -> np.ndarray:
    return (xx - cx) ** 2 * ry * ry + (yy - cy) ** 2 * rx * rx <= rx * rx * ry * ry


def rect(yy: np.ndarray, xx: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    return (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)


def capsule(yy: np.ndarray, xx: np.ndarray, a: Sequence[int], b: Sequence[int], r2: int) -> np.ndarray:
    """Pixels within ``sqrt(r2)`` of the segment a-b, in exact integer arithmetic."""
    ax, ay = int(a[0]), int(a[1])
    bx, by = int(b[0]), int(b[1])
    dx, dy = bx - ax, by - ay
    px, py = xx - ax, yy - ay
    ll = dx * dx + dy * dy
    if ll == 0:
        return px * px + py * py <= r2
    t = px * dx + py * dy
    cross = px * dy - py * dx
    mid = (cross * cross <= r2 * ll) & (t >= 0) & (t <= ll)
    return mid | (px * px + py * py <= r2) | ((xx - bx) ** 2 + (yy - by) ** 2 <= r2)


def qtrig(degrees: float, scale: int = 1 << 14) -> tuple[int, int]:
    """``(round(cos * scale), round(sin * scale))`` with a guard against platform-dependent rounding."""
    rad = np.deg2rad(degrees)
    c, s = float(np.cos(rad)) * scale, float(np.sin(rad)) * scale
    for v in (c, s):
        frac = abs(v - np.floor(v) - 0.5)
        if frac < 1e-6:  # pragma: no cover - never hit by the built-in angles
            raise ValueError(f"angle {degrees} gives an ambiguous rounding; pick another angle")
    return int(round(c)), int(round(s))


def dilate4(mask: np.ndarray) -> np.ndarray:
    """4-neighbour binary dilation of the last two axes (exact)."""
    out = mask.copy()
    out[..., 1:, :] |= mask[..., :-1, :]
    out[..., :-1, :] |= mask[..., 1:, :]
    out[..., :, 1:] |= mask[..., :, :-1]
    out[..., :, :-1] |= mask[..., :, 1:]
    return out


def covers(labels: np.ndarray, n_classes: Sequence[int]) -> bool:
    """Whether every value of every column appears in ``labels``."""
    return all(np.unique(labels[:, j]).size == k for j, k in enumerate(n_classes))


def split_groups(n_groups: int, group_labels: np.ndarray, n_classes: Sequence[int], seed: int,
                 fractions: Sequence[float] = SPLIT_FRACTIONS) -> list[np.ndarray]:
    """Assign groups (e.g. characters) to train/val/test so every value of every column is in every split.

    Returns three sorted arrays of group ids. The permutation is drawn from ``seed``; when a split
    misses a value, the next derived seed is tried (deterministic).
    """
    n_train = int(round(fractions[0] * n_groups))
    n_val = int(round(fractions[1] * n_groups))
    for attempt in range(1000):
        rng = np.random.default_rng([seed, attempt])
        perm = rng.permutation(n_groups)
        parts = [perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]]
        if all(covers(group_labels[p], n_classes) for p in parts):
            return [np.sort(p) for p in parts]
    raise RuntimeError("could not find a split covering every factor value")  # pragma: no cover


def stratified_subset(ids: np.ndarray, id_labels: np.ndarray, n_classes: Sequence[int], k: int,
                      seed: int) -> np.ndarray:
    """A seeded subset of ``k`` ids whose labels cover every value of every column (sorted)."""
    ids = np.asarray(ids)
    if k >= ids.size:
        return np.sort(ids)
    for attempt in range(1000):
        rng = np.random.default_rng([seed, 7919, attempt])
        pick = rng.choice(ids.size, size=k, replace=False)
        if covers(id_labels[pick], n_classes):
            return np.sort(ids[pick])
    raise RuntimeError("could not find a covering subset")  # pragma: no cover


def split_by_row(labels: np.ndarray, n_classes: Sequence[int], seed: int) -> dict[str, np.ndarray]:
    """70/15/15 split of rows, every value of every factor in every split."""
    tr, va, te = split_groups(labels.shape[0], labels, n_classes, seed)
    return {"train": tr.astype(np.int64), "val": va.astype(np.int64), "test": te.astype(np.int64)}


def colour_lookup(label_maps: np.ndarray, palettes: np.ndarray) -> np.ndarray:
    """Colourise label maps: ``label_maps`` uint8 [B, T, H, W], ``palettes`` uint8 [B, K, 3] -> [B, T, 3, H, W]."""
    b, t, h, w = label_maps.shape
    k = palettes.shape[1]
    flat = label_maps.reshape(b, -1).astype(np.int64) + (np.arange(b, dtype=np.int64) * k)[:, None]
    out = np.empty((b, t, 3, h, w), dtype=np.uint8)
    for c in range(3):
        out[:, :, c] = np.take(palettes[:, :, c].reshape(-1), flat).reshape(b, t, h, w)
    return out
