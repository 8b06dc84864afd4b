"""``moving-digits``: Moving-MNIST-style bouncing digits drawn by strokes, T=16, 1x64x64.

Static factors: digit 10 and style 3 (thin, regular, bold stroke). Dynamic factors: direction 8 (the
initial heading: E, NE, N, NW, W, SW, S, SE) and speed 3 (1, 2, 4 pixels per frame and axis); the digit
bounces off the borders. Glyphs are polylines rasterised as anti-aliased capsules (4x4 supersampling in
exact integer arithmetic) -- no font files, so frames are bit-identical on any machine.

Full size: the 10 x 3 x 8 x 3 = 720 factor combinations, each with 20 seeded random start positions
(14,400 sequences; the start position is a nuisance, not a factor). The start is chosen so the first
bounce comes after at least 4 frames: the initial heading is always visible. Small: 2 starts per
combination (1,440 sequences).
"""

from __future__ import annotations

import numpy as np

from ._common import Plan, capsule, split_by_row
from .dsprites import bounce, bounce_free_start

T, H, W = 16, 64, 64
SS = 4
BOX_W, BOX_H = 20, 28
PAD = 4
GW, GH = BOX_W + 2 * PAD, BOX_H + 2 * PAD  # glyph window
STYLES = {"thin": 8, "regular": 16, "bold": 26}  # stroke radius in 1/8 px
DIRECTIONS = {"E": (1, 0), "NE": (1, -1), "N": (0, -1), "NW": (-1, -1), "W": (-1, 0), "SW": (-1, 1),
              "S": (0, 1), "SE": (1, 1)}
SPEEDS = {"slow": 1, "medium": 2, "fast": 4}
REPEATS = {"small": 2, "full": 20}

# polylines in a 20 x 28 pixel box
STROKES: dict[int, list[list[tuple[int, int]]]] = {
    0: [[(6, 0), (14, 0), (20, 6), (20, 22), (14, 28), (6, 28), (0, 22), (0, 6), (6, 0)]],
    1: [[(3, 7), (11, 0), (11, 28)], [(4, 28), (18, 28)]],
    2: [[(0, 6), (4, 1), (10, 0), (16, 1), (20, 6), (19, 12), (0, 28), (20, 28)]],
    3: [[(1, 3), (8, 0), (16, 1), (19, 6), (17, 11), (9, 14)], [(9, 14), (17, 16), (20, 21), (17, 27), (8, 28),
                                                                (0, 25)]],
    4: [[(15, 28), (15, 0), (0, 19), (20, 19)]],
    5: [[(19, 0), (2, 0), (1, 12), (10, 10), (17, 12), (20, 18), (18, 25), (11, 28), (1, 26)]],
    6: [[(17, 1), (9, 0), (3, 4), (0, 12), (0, 22), (4, 28), (14, 28), (20, 22), (19, 15), (13, 11), (6, 12),
         (0, 17)]],
    7: [[(0, 0), (20, 0), (7, 28)], [(6, 14), (16, 14)]],
    8: [[(10, 0), (17, 2), (18, 7), (10, 13), (2, 7), (3, 2), (10, 0)],
        [(10, 13), (19, 18), (19, 24), (14, 28), (6, 28), (1, 24), (1, 18), (10, 13)]],
    9: [[(19, 11), (13, 16), (5, 16), (0, 10), (2, 2), (8, 0), (14, 0), (19, 4), (20, 12), (18, 22), (12, 28),
         (3, 27)]],
}


def glyph(digit: int, r8: int) -> np.ndarray:
    """Coverage counts 0..16 (uint8 ``[GH, GW]``) of a digit drawn with stroke radius ``r8 / 8`` px."""
    sub_y = (8 * np.arange(GH)[:, None] + np.arange(1, 8, 2)[None, :]).reshape(-1) - 8 * PAD
    sub_x = (8 * np.arange(GW)[:, None] + np.arange(1, 8, 2)[None, :]).reshape(-1) - 8 * PAD
    yy, xx = np.meshgrid(sub_y, sub_x, indexing="ij")
    m = np.zeros(yy.shape, dtype=bool)
    for line in STROKES[digit]:
        for a, b in zip(line[:-1], line[1:], strict=True):
            m |= capsule(yy, xx, (8 * a[0], 8 * a[1]), (8 * b[0], 8 * b[1]), r8 * r8)
    return m.reshape(GH, SS, GW, SS).sum(axis=(1, 3), dtype=np.int64).astype(np.uint8)


def factors() -> list[tuple[str, str, list[str]]]:
    return [("digit", "static", [str(d) for d in range(10)]), ("style", "static", list(STYLES)),
            ("direction", "dynamic", list(DIRECTIONS)), ("speed", "dynamic", list(SPEEDS))]


def plan(size: str, seed: int) -> Plan:
    ns = [10, 3, 8, 3]
    combos = np.stack(np.meshgrid(*[np.arange(n) for n in ns], indexing="ij"), axis=-1).reshape(-1, 4)
    labels = np.repeat(combos, REPEATS[size], axis=0).astype(np.int64)
    splits = split_by_row(labels, ns, seed)
    glyphs = np.stack([np.stack([glyph(d, r) for r in STYLES.values()]) for d in range(10)])  # [10, 3, GH, GW]
    dirs = np.array(list(DIRECTIONS.values()), dtype=np.int64)
    speeds = np.array(list(SPEEDS.values()), dtype=np.int64)
    vel = dirs[labels[:, 2]] * speeds[labels[:, 3]][:, None]  # [N, 2] (vx, vy)
    hi_x, hi_y = W - GW, H - GH
    rng = np.random.default_rng([seed, 16])
    sx = bounce_free_start(rng, vel[:, 0], 0, hi_x)
    sy = bounce_free_start(rng, vel[:, 1], 0, hi_y)

    def render(i: int, j: int) -> np.ndarray:
        lab = labels[i:j]
        b = lab.shape[0]
        xs = bounce(sx[i:j], vel[i:j, 0], 0, hi_x, T)  # top-left corners [B, T]
        ys = bounce(sy[i:j], vel[i:j, 1], 0, hi_y, T)
        g = glyphs[lab[:, 0], lab[:, 1]]  # [B, GH, GW]
        canvas = np.zeros((b, T, H, W), dtype=np.uint8)
        bi = np.arange(b)[:, None, None, None]
        ti = np.arange(T)[None, :, None, None]
        yi = ys[:, :, None, None] + np.arange(GH)[None, None, :, None]
        xi = xs[:, :, None, None] + np.arange(GW)[None, None, None, :]
        canvas[bi, ti, yi, xi] = np.broadcast_to(g[:, None], (b, T, GH, GW))
        out = ((canvas.astype(np.uint16) * 255 + 8) // 16).astype(np.uint8)
        return out[:, :, None]

    return Plan(labels=labels, splits=splits, render=render, block=256)
