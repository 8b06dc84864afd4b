"""``3dshapes-dynamic``: a small 3D-shapes scene (floor, wall, one object), T=10, 3x64x64.

Static factors floor_hue 10, wall_hue 10, object_hue 10 (hues 0, 36, ..., 324 degrees at full
saturation, as in 3dshapes), shape 4 (cube, cylinder, sphere, capsule). Dynamic factors scale_dynamic 6
(grow or shrink first at 1/2/3 scale steps per frame, bouncing between the smallest and the largest
size) and orientation_dynamic 3 (the camera turns counter-clockwise / stays / turns clockwise around
the object, 6 degrees per frame: the horizon tilts, the cube's faces turn and the highlight moves).

Geometry and shading are rendered once per (shape, scale, camera angle) as anti-aliased *weight maps*
(4x4 supersampling): for each of wall, floor and object, the sum over the 16 samples of the shade
(0..255) of the samples that belong to it. A sequence is then colourised exactly by its hues:
``pixel = (sum_k hue_k * weight_k + 2048) >> 12`` (weights sum to at most 16 * 255 = 4080).
All geometry uses integer or IEEE-exact float
arithmetic on quantised cos/sin values, so frames are bit-identical on any machine.

Full size: the grid has 10^3 x 4 x 6 x 3 = 72,000 combinations (8.8 GB of raw frames), too much to
generate and train on with 2 CPU cores. ``full`` is a deterministic, balanced 14,400-sequence design:
for every (shape, scale_dynamic, orientation_dynamic) combination (72) and every (floor_hue, wall_hue)
pair (100), two object hues from two orthogonal Latin squares. Every value of every factor, every pair
of static values and every (static value, dynamic value) pair therefore appears, each equally often.
``small`` is a seeded 1,440-sequence subset covering every value of every factor.
"""

from __future__ import annotations

import functools

import numpy as np

from ._common import Plan, qtrig, split_by_row, stratified_subset

T, H, W = 10, 64, 64
SS = 4
SHAPES = ("cube", "cylinder", "sphere", "capsule")
HUES = tuple(f"{36 * i}" for i in range(10))
SCALE_DYN = tuple(f"{d}_{s}" for d in ("grow", "shrink") for s in ("slow", "medium", "fast"))
ORIENT_DYN = ("counterclockwise", "still", "clockwise")
RADII = tuple(range(6, 15))  # object size levels, pixels (9 levels)
ANGLES = tuple(range(-27, 28, 6))  # camera azimuths, degrees (10); "still" uses 3
STILL = 3
BASE_Y = 52  # object base on the floor (pixels)
HORIZON_Y = 36
LIGHT = (-0.55, 0.62, 0.56)  # world light direction (x right, y up, z towards the camera)


def hue_rgb(i: int) -> tuple[int, int, int]:
    """Full-saturation, full-value colour of hue ``36 * i`` degrees, in exact rational arithmetic."""
    from fractions import Fraction

    h6 = Fraction(6 * i, 10)
    sector = int(h6)
    f = h6 - sector
    up, down = f, 1 - f
    r, g, b = [(1, up, 0), (down, 1, 0), (0, 1, up), (0, down, 1), (up, 0, 1), (1, 0, down)][sector]
    return tuple(int(Fraction(v) * 255 + Fraction(1, 2)) for v in (r, g, b))  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _samples() -> tuple[np.ndarray, np.ndarray]:
    """Subsample centres in 1/8 px: ``(yy, xx)`` int64 ``[H*SS, W*SS]``."""
    sub = (8 * np.arange(H)[:, None] + np.arange(1, 8, 2)[None, :]).reshape(-1)
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    return yy.astype(np.int64), xx.astype(np.int64)


def _light(angle: int) -> tuple[float, float, float]:
    c, s = qtrig(angle)
    lx, ly, lz = LIGHT
    return ((c * lx - s * lz) / 16384.0, ly, (s * lx + c * lz) / 16384.0)


def _shade(dot: np.ndarray, ambient: int = 70) -> np.ndarray:
    return ambient + np.floor(np.maximum(dot, 0.0) * (255 - ambient)).astype(np.int64)


def _convex(yy: np.ndarray, xx: np.ndarray, pts: list[tuple[int, int]]) -> np.ndarray:
    """Samples inside a convex polygon given in clockwise screen order (integer 1/8 px), exact."""
    inside = np.ones(yy.shape, dtype=bool)
    n = len(pts)
    area2 = sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n))
    sign = 1 if area2 > 0 else -1
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        inside &= sign * ((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)) >= 0
    return inside


@functools.cache
def _room(angle: int) -> tuple[np.ndarray, np.ndarray]:
    """Label (0 wall, 1 floor) and shade of the room at a camera azimuth, per subsample (read-only)."""
    yy, xx = _samples()
    s = qtrig(angle)[1]
    # the horizon tilts with the camera azimuth
    horizon8 = 8 * HORIZON_Y + ((xx - 8 * 32) * s) // (16384 * 2)
    floor = yy >= horizon8
    wall_shade = 215 + ((xx - 256) * s) // (16384 * 8)  # light falls across the wall, turning with the camera
    floor_shade = np.minimum(255, 150 + (yy - horizon8) // 3)
    label = floor.astype(np.int64)
    shade = np.where(floor, floor_shade, wall_shade).astype(np.int64)
    label.flags.writeable = False
    shade.flags.writeable = False
    return label, shade


def render_scene(shape: str, r: int, angle: int) -> np.ndarray:
    """Weight maps int32 ``[3, H, W]`` (wall, floor, object) of one scene."""
    room_label, room_shade = _room(angle)
    label, shade = room_label.copy(), room_shade.copy()
    lx, ly, lz = _light(angle)
    # the object is computed inside a window that contains it (pixels), then composited
    py0, py1 = max(0, BASE_Y - 3 * r - 4), min(H, BASE_Y + r // 2 + 4)
    px0, px1 = max(0, 32 - 2 * r - 4), min(W, 32 + 2 * r + 4)
    win = (slice(SS * py0, SS * py1), slice(SS * px0, SS * px1))
    yy_all, xx_all = _samples()
    yy, xx = yy_all[win], xx_all[win]
    R = 8 * r
    cx, base = 8 * 32, 8 * BASE_Y
    dx = xx - cx
    obj = np.zeros(yy.shape, dtype=bool)
    oshade = np.zeros(yy.shape, dtype=np.int64)

    def put(mask: np.ndarray, sh: np.ndarray | int) -> None:
        nonlocal obj, oshade
        oshade = np.where(mask, sh, oshade)
        obj = obj | mask

    if shape == "sphere":
        cy = base - R
        d2 = dx * dx + (yy - cy) ** 2
        m = d2 <= R * R
        nz = np.sqrt(np.maximum(R * R - d2, 0).astype(np.float64))
        dot = (dx * lx - (yy - cy) * ly + nz * lz) / R
        put(m, _shade(dot))
    elif shape in ("cylinder", "capsule"):
        rr = R * 4 // 5
        height = 2 * R
        ry = rr // 3
        top, bot = base - height, base - ry
        nx = dx.astype(np.float64) / rr
        nzb = np.sqrt(np.maximum(1.0 - nx * nx, 0.0))
        body_dot = nx * lx + nzb * lz
        if shape == "cylinder":
            body = (np.abs(dx) <= rr) & (yy >= top) & (yy <= bot)
            bottom = dx * dx * ry * ry + (yy - bot) ** 2 * rr * rr <= rr * rr * ry * ry
            put(body | bottom, _shade(body_dot))
            cap = dx * dx * ry * ry + (yy - top) ** 2 * rr * rr <= rr * rr * ry * ry
            put(cap, _shade(np.full(yy.shape, ly)) - 10)
        else:
            c_top, c_bot = top + rr, bot
            body = (np.abs(dx) <= rr) & (yy >= c_top) & (yy <= c_bot)
            put(body, _shade(body_dot))
            for cyc, half in ((c_top, yy < c_top), (c_bot, yy > c_bot)):
                d2 = dx * dx + (yy - cyc) ** 2
                m = (d2 <= rr * rr) & half
                nz = np.sqrt(np.maximum(rr * rr - d2, 0).astype(np.float64))
                put(m, _shade((dx * lx - (yy - cyc) * ly + nz * lz) / rr))
    else:  # cube: an upright square prism turned by the camera azimuth (+20 degrees so 3 faces show)
        a = R * 7 // 10
        height = 2 * a
        k_num, k_den = 2, 5  # depth squash: screen y = base - Y + Z * 2/5
        c2, s2 = qtrig(angle + 20)
        corners = []
        for px, pz in ((-a, -a), (a, -a), (a, a), (-a, a)):
            corners.append(((c2 * px - s2 * pz) // 16384, (s2 * px + c2 * pz) // 16384))
        zmin = min(z for _, z in corners)
        shift = -zmin * k_num // k_den  # keep the back of the cube base on the base line

        def scr(x: int, z: int, y: int) -> tuple[int, int]:
            return cx + x, base - shift - y + z * k_num // k_den

        for i in range(4):
            (x0, z0), (x1, z1) = corners[i], corners[(i + 1) % 4]
            nxw, nzw = (z1 - z0), -(x1 - x0)  # outward normal (counter-clockwise footprint)
            if nzw <= 0:
                continue
            poly = [scr(x0, z0, 0), scr(x1, z1, 0), scr(x1, z1, height), scr(x0, z0, height)]
            norm = float(np.sqrt(float(nxw * nxw + nzw * nzw)))
            put(_convex(yy, xx, poly), int(_shade(np.array((nxw * lx + nzw * lz) / norm))))
        poly = [scr(x, z, height) for x, z in corners]
        put(_convex(yy, xx, poly), int(_shade(np.array(ly))) - 10)
    label[win] = np.where(obj, 2, label[win])  # 0 wall, 1 floor, 2 object
    shade[win] = np.where(obj, oshade, shade[win])
    out = np.zeros((3, H, W), dtype=np.int32)
    for k in range(3):
        w = np.where(label == k, shade, 0).reshape(H, SS, W, SS).sum(axis=(1, 3), dtype=np.int64)
        out[k] = w.astype(np.int32)
    return out


def factors() -> list[tuple[str, str, list[str]]]:
    return [("floor_hue", "static", list(HUES)), ("wall_hue", "static", list(HUES)),
            ("object_hue", "static", list(HUES)), ("shape", "static", list(SHAPES)),
            ("scale_dynamic", "dynamic", list(SCALE_DYN)), ("orientation_dynamic", "dynamic", list(ORIENT_DYN))]


SMALL_N = 1440


def design() -> np.ndarray:
    """The 14,400-row full design (see the module docstring), int64 ``[N, 6]``."""
    rows = []
    for shape in range(4):
        for sd in range(6):
            for od in range(3):
                combo = (shape * 6 + sd) * 3 + od
                for f in range(10):
                    for w in range(10):
                        for layer in range(2):
                            # two orthogonal Latin squares over (floor, wall), shifted per combination
                            o = (f + w + combo) % 10 if layer == 0 else (f + 3 * w + 7 * combo + 5) % 10
                            rows.append((f, w, o, shape, sd, od))
    return np.array(rows, dtype=np.int64)


def plan(size: str, seed: int) -> Plan:
    ns = [10, 10, 10, 4, 6, 3]
    labels = design()
    if size == "small":
        labels = labels[stratified_subset(np.arange(labels.shape[0]), labels, ns, SMALL_N, seed)]
    splits = split_by_row(labels, ns, seed)
    bank = np.zeros((4, len(RADII), len(ANGLES), 3, H, W), dtype=np.int32)
    for i, sh in enumerate(SHAPES):
        for j, r in enumerate(RADII):
            for k, a in enumerate(ANGLES):
                bank[i, j, k] = render_scene(sh, r, a)
    hues = np.array([hue_rgb(i) for i in range(10)], dtype=np.int64)
    top = len(RADII) - 1
    mid = top // 2
    still = ANGLES.index(STILL)
    n_ang = len(ANGLES)

    def render(i: int, j: int) -> np.ndarray:
        from .dsprites import bounce

        lab = labels[i:j]
        b = lab.shape[0]
        speed = lab[:, 4] % 3 + 1
        sign = np.where(lab[:, 4] < 3, 1, -1)
        level = bounce(np.full(b, mid), sign * speed, 0, top, T)
        tt = np.arange(T)[None, :]
        ang = np.where(lab[:, 5:6] == 0, tt, np.where(lab[:, 5:6] == 2, n_ang - 1 - tt, still))
        wmaps = bank[lab[:, 3][:, None], level, ang]  # int32 [B, T, 3, H, W]
        # weight map k: 0 wall, 1 floor, 2 object -> hue columns wall_hue, floor_hue, object_hue
        cols = hues[lab[:, [1, 0, 2]]].astype(np.int32)  # [B, k, rgb]
        out = np.empty((b, T, 3, H, W), dtype=np.uint8)
        for ch in range(3):  # at most 255 * 4080 < 2^31: exact in int32
            acc = sum(wmaps[:, :, k] * cols[:, k, ch][:, None, None, None] for k in range(3))
            out[:, :, ch] = ((acc + 2048) >> 12).astype(np.uint8)
        return out

    return Plan(labels=labels, splits=splits, render=render, block=64)
