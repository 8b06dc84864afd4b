"""``dsprites-static`` and ``dsprites-dynamic``: coloured dSprites-like shapes on black, 3x64x64.

Shapes (square, ellipse, heart) are rasterised once per (shape, scale level, angle) into a bank of
anti-aliased coverage masks: 4x4 supersampling with exact arithmetic (integer sample positions,
rotation by quantised integer cos/sin, IEEE-exact float products), so masks are bit-identical on any
machine. A frame is a mask pasted at an integer position and multiplied by the colour in integers:
``pixel = (coverage * colour + 8) // 16``.

dsprites-static (T=16): static color 9, shape 3, posX 8, posY 8; dynamic scale_dynamic 6
(grow or shrink first, at 1/2/3 scale steps per frame, bouncing between the smallest and the largest
scale), orientation_dynamic 3 (counter-clockwise / still / clockwise, 15 degrees per frame).

dsprites-dynamic (T=12): static color 9, shape 3, scale 6, orientation 5; dynamic posX_dynamic 6 and
posY_dynamic 6 (negative / positive direction at 1, 2 or 4 pixels per frame, bouncing off the borders,
from a seeded random start).
"""

from __future__ import annotations

import numpy as np

from ._common import Plan, qtrig, split_by_row, stratified_subset

H = W = 64
SS = 4  # supersampling per axis
WIN = 31  # mask window (odd), centred on the sprite centre

COLORS = {
    "red": (255, 0, 0), "orange": (255, 128, 0), "yellow": (255, 255, 0), "green": (0, 255, 0),
    "cyan": (0, 255, 255), "blue": (0, 0, 255), "purple": (128, 0, 255), "magenta": (255, 0, 255),
    "white": (255, 255, 255),
}
SHAPES = ("square", "ellipse", "heart")

# radius ladder in eighths of a pixel: 6.0 .. 11.0 px in 0.5 px steps (11 levels)
RADII8 = tuple(48 + 4 * k for k in range(11))


def _inside(shape: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Membership of points (u, v) (pixels, float, v pointing down) in a shape of radius ``r`` px."""
    if shape == "square":
        a = 0.75 * r
        return (np.abs(u) <= a) & (np.abs(v) <= a)
    if shape == "ellipse":
        a, b = r, 0.5 * r
        return u * u * (b * b) + v * v * (a * a) <= (a * a) * (b * b)
    # heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y pointing up, scaled to fit radius r
    s = r / 1.2
    x = u / s
    y = -(v / s) + 0.1
    q = x * x + y * y - 1.0
    return q * q * q - x * x * (y * y * y) <= 0.0


def coverage(shape: str, r8: int, angle_deg: float) -> np.ndarray:
    """Coverage counts 0..16 (uint8 ``[WIN, WIN]``) of a shape of radius ``r8/8`` px rotated by ``angle``."""
    c, s = qtrig(angle_deg)
    half = WIN // 2
    # sample offsets in 1/8 px from the centre (a pixel corner): pixel i covers [i, i+1) -> samples at
    # 8 i + 1, 3, 5, 7
    pix = np.arange(-half, half + 1, dtype=np.int64)
    sub = (8 * pix[:, None] + np.arange(1, 8, 2, dtype=np.int64)[None, :]).reshape(-1)  # [WIN*SS]
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    # rotate (exact integer products), then to pixels (division by a power of two is exact)
    u = (c * xx + s * yy).astype(np.float64) / (8 * 16384)
    v = (-s * xx + c * yy).astype(np.float64) / (8 * 16384)
    m = _inside(shape, u, v, r8 / 8.0)
    return m.reshape(WIN, SS, WIN, SS).sum(axis=(1, 3), dtype=np.int64).astype(np.uint8)


class MaskBank:
    """Coverage masks for every (shape, radius level, angle) used by a dataset."""

    def __init__(self, radii8: tuple[int, ...], angles: tuple[float, ...]):
        self.radii8, self.angles = radii8, angles
        self.masks = np.zeros((len(SHAPES), len(radii8), len(angles), WIN, WIN), dtype=np.uint8)
        for i, sh in enumerate(SHAPES):
            for j, r8 in enumerate(radii8):
                for k, a in enumerate(angles):
                    self.masks[i, j, k] = coverage(sh, r8, a)


def paste(masks: np.ndarray, cx: np.ndarray, cy: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Frames ``[B, T, 3, H, W]`` from masks ``[B, T, WIN, WIN]`` centred at integer (cx, cy) ``[B, T]``."""
    b, t = cx.shape
    half = WIN // 2
    pad = half + 1
    canvas = np.zeros((b, t, H + 2 * pad, W + 2 * pad), dtype=np.uint8)
    off = np.arange(WIN) - half
    ys = (cy[:, :, None] + off[None, None, :] + pad)  # [B, T, WIN]
    xs = (cx[:, :, None] + off[None, None, :] + pad)
    bi = np.arange(b)[:, None, None, None]
    ti = np.arange(t)[None, :, None, None]
    canvas[bi, ti, ys[:, :, :, None], xs[:, :, None, :]] = masks
    cov = canvas[:, :, pad:pad + H, pad:pad + W].astype(np.uint16)
    out = np.empty((b, t, 3, H, W), dtype=np.uint8)
    for ch in range(3):
        col = colours[:, ch].astype(np.uint16)[:, None, None, None]
        out[:, :, ch] = ((cov * col + 8) // 16).astype(np.uint8)
    return out


def bounce(start: np.ndarray, step: np.ndarray, lo: int, hi: int, t: int) -> np.ndarray:
    """Positions ``[B, t]`` moving by ``step`` per frame and reflecting at ``lo`` and ``hi`` (integers)."""
    period = 2 * (hi - lo)
    raw = (start[:, None] - lo) + step[:, None] * np.arange(t)[None, :]
    m = np.mod(raw, period)
    return lo + np.where(m <= hi - lo, m, period - m)


def bounce_free_start(rng: np.random.Generator, vel: np.ndarray, lo: int, hi: int, frames: int = 4) -> np.ndarray:
    """Seeded integer starts in [lo, hi] such that the first bounce happens after ``frames`` frames.

    The initial direction is then visible for several frames, so no two classes give the same
    trajectory (a start at the wall would make "left" and "right" look alike).
    """
    u = rng.random(vel.shape)
    span = np.abs(vel) * np.minimum(frames, (hi - lo) // np.maximum(np.abs(vel), 1))  # feasible on small ranges
    a = np.where(vel < 0, lo + span, lo)
    b = np.where(vel < 0, hi, hi - span)
    return a + np.floor(u * (b - a + 1)).astype(np.int64)


# ------------------------------------------------------------------------------------------ static variant
STATIC_T = 16
POS = tuple(13 + (38 * i) // 7 for i in range(8))  # sprite centres 13..51 (largest sprites stay inside)
SCALE_DYN = tuple(f"{d}_{s}" for d in ("grow", "shrink") for s in ("slow", "medium", "fast"))
ORIENT_DYN = ("counterclockwise", "still", "clockwise")
ROT_STEP = 15  # degrees per frame
STATIC_ANGLES = tuple(float(a) for a in range(0, 360, ROT_STEP))


def static_factors() -> list[tuple[str, str, list[str]]]:
    return [("color", "static", list(COLORS)), ("shape", "static", list(SHAPES)),
            ("posX", "static", [str(p) for p in POS]), ("posY", "static", [str(p) for p in POS]),
            ("scale_dynamic", "dynamic", list(SCALE_DYN)), ("orientation_dynamic", "dynamic", list(ORIENT_DYN))]


def _grid(ns: list[int]) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(n) for n in ns], indexing="ij"), axis=-1).reshape(-1, len(ns))


SMALL_N = 1536


def _subset(labels: np.ndarray, ns: list[int], size: str, seed: int) -> np.ndarray:
    if size == "full":
        return labels
    keep = stratified_subset(np.arange(labels.shape[0]), labels, ns, SMALL_N, seed)
    return labels[keep]


def plan_static(size: str, seed: int) -> Plan:
    ns = [9, 3, 8, 8, 6, 3]
    labels = _subset(_grid(ns).astype(np.int64), ns, size, seed)
    splits = split_by_row(labels, ns, seed)
    bank = MaskBank(RADII8, STATIC_ANGLES)
    colours = np.array(list(COLORS.values()), dtype=np.uint8)
    top = len(RADII8) - 1
    mid = top // 2
    t = STATIC_T

    def render(i: int, j: int) -> np.ndarray:
        lab = labels[i:j]
        b = lab.shape[0]
        speed = lab[:, 4] % 3 + 1
        sign = np.where(lab[:, 4] < 3, 1, -1)
        level = bounce(np.full(b, mid), sign * speed, 0, top, t)  # [B, T]
        rot = (1 - lab[:, 5])  # ccw: +1, still: 0, cw: -1 (counter-clockwise on screen = negative math angle)
        ang = np.mod(-rot[:, None] * np.arange(t)[None, :], len(STATIC_ANGLES))
        masks = bank.masks[lab[:, 1][:, None], level, ang]
        cx = np.broadcast_to(np.array(POS)[lab[:, 2]][:, None], (b, t))
        cy = np.broadcast_to(np.array(POS)[lab[:, 3]][:, None], (b, t))
        return paste(masks, cx, cy, colours[lab[:, 0]])

    return Plan(labels=labels, splits=splits, render=render, block=128)


# ------------------------------------------------------------------------------------------ dynamic variant
DYN_T = 12
DYN_RADII8 = (44, 56, 68, 80, 92, 104)  # 5.5 .. 13 px in 1.5 px steps (eighths of a pixel)
ORIENTATIONS = (0.0, 18.0, 36.0, 54.0, 72.0)
MOVES = ("neg_slow", "neg_medium", "neg_fast", "pos_slow", "pos_medium", "pos_fast")
SPEEDS = (1, 2, 4)


def dynamic_factors() -> list[tuple[str, str, list[str]]]:
    return [("color", "static", list(COLORS)), ("shape", "static", list(SHAPES)),
            ("scale", "static", [f"{r / 8:g}" for r in DYN_RADII8]),
            ("orientation", "static", [f"{a:g}" for a in ORIENTATIONS]),
            ("posX_dynamic", "dynamic", ["left_" + m[4:] if m.startswith("neg") else "right_" + m[4:]
                                         for m in MOVES]),
            ("posY_dynamic", "dynamic", ["up_" + m[4:] if m.startswith("neg") else "down_" + m[4:]
                                         for m in MOVES])]


def plan_dynamic(size: str, seed: int) -> Plan:
    ns = [9, 3, 6, 5, 6, 6]
    labels = _subset(_grid(ns).astype(np.int64), ns, size, seed)
    splits = split_by_row(labels, ns, seed)
    bank = MaskBank(DYN_RADII8, ORIENTATIONS)
    colours = np.array(list(COLORS.values()), dtype=np.uint8)
    lo, hi = 15, W - 15  # centres keep the largest sprite inside (extent -15..+14 px, see the tests)
    t = DYN_T

    def velocity(col: np.ndarray) -> np.ndarray:
        return np.where(col < 3, -1, 1) * np.array(SPEEDS)[col % 3]

    start = bounce_free_start(np.random.default_rng([seed, 12]), velocity(labels[:, 4:6]), lo, hi)

    def render(i: int, j: int) -> np.ndarray:
        lab = labels[i:j]
        b = lab.shape[0]
        cx = bounce(start[i:j, 0], velocity(lab[:, 4]), lo, hi, t)
        cy = bounce(start[i:j, 1], velocity(lab[:, 5]), lo, hi, t)
        masks = bank.masks[lab[:, 1], lab[:, 2], lab[:, 3]]  # [B, WIN, WIN]
        masks = np.broadcast_to(masks[:, None], (b, t, WIN, WIN))
        return paste(masks, cx, cy, colours[lab[:, 0]])

    return Plan(labels=labels, splits=splits, render=render, block=128)
