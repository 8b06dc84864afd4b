"""``sprites``: pixel-art characters in the spirit of the LPC sprites (Li & Mandt, 2018).

Static factors: body (skin) 6, bottom (pants) 6, top (shirt) 6, hair 6. Dynamic factor: movement 9 =
{walk, spellcast, slash} x {left, front, right}. T=8 frames of 3x64x64.

Every frame is a colourised *label map*: the 9 movements x 8 frames are drawn once as integer label
maps (background, outline, skin, hair, top, bottom, shoes, eyes, sword, magic), and each character only
swaps the colours of the skin/hair/top/bottom labels, so rendering is exact and fast. Left is the
mirror image of right; the front view is a different drawing (two eyes, both legs and arms visible).
Each factor is visible in every frame: face and hands (skin), hair cap, shirt, trousers.
"""

from __future__ import annotations

import numpy as np

from ._common import Plan, capsule, colour_lookup, dilate4, disk, ellipse, grid, rect, split_groups

T, H, W = 8, 64, 64
ACTIONS = ("walk", "spellcast", "slash")
DIRECTIONS = ("left", "front", "right")
MOVEMENTS = tuple(f"{a}_{d}" for a in ACTIONS for d in DIRECTIONS)

# label ids of the label maps
BG, OUTLINE, SKIN, HAIR, TOP, BOTTOM, SHOES, EYES, SWORD, MAGIC = range(10)

BODY = {
    "light": (250, 214, 178), "tan": (214, 160, 100), "brown": (140, 88, 50),
    "dark": (84, 50, 30), "green": (104, 184, 72), "blue": (112, 146, 236),
}
HAIR_C = {
    "black": (32, 28, 28), "blonde": (246, 218, 84), "ginger": (214, 92, 24),
    "brown": (118, 66, 28), "pink": (246, 116, 196), "blue": (44, 96, 232),
}
TOP_C = {
    "red": (214, 36, 36), "green": (36, 158, 66), "blue": (36, 70, 214),
    "yellow": (242, 208, 36), "purple": (146, 56, 196), "cyan": (36, 204, 214),
}
BOTTOM_C = {
    "black": (44, 44, 50), "brown": (128, 80, 42), "navy": (30, 50, 150),
    "khaki": (208, 186, 128), "grey": (146, 146, 150), "maroon": (142, 22, 52),
}
FIXED = {BG: (255, 255, 255), OUTLINE: (20, 20, 20), SHOES: (70, 44, 28), EYES: (20, 20, 20),
         SWORD: (176, 182, 196), MAGIC: (150, 240, 255)}
FACTORS = (("body", BODY), ("bottom", BOTTOM_C), ("top", TOP_C), ("hair", HAIR_C))


def _arm(lm: np.ndarray, yy: np.ndarray, xx: np.ndarray, shoulder: tuple[int, int], hand: tuple[int, int]) -> None:
    elbow = ((shoulder[0] + hand[0]) // 2, (shoulder[1] + hand[1]) // 2)
    lm[capsule(yy, xx, shoulder, elbow, 7)] = TOP
    lm[capsule(yy, xx, elbow, hand, 4)] = SKIN
    lm[disk(yy, xx, hand[0], hand[1], 5)] = SKIN


def _sword(lm: np.ndarray, yy: np.ndarray, xx: np.ndarray, shoulder: tuple[int, int], hand: tuple[int, int]) -> None:
    tip = (hand[0] + (hand[0] - shoulder[0]) * 4 // 5, hand[1] + (hand[1] - shoulder[1]) * 4 // 5)
    lm[capsule(yy, xx, hand, tip, 1)] = SWORD


def _front(action: str, t: int) -> np.ndarray:
    yy, xx = grid(H, W)
    lm = np.zeros((H, W), dtype=np.uint8)
    lift = (0, 3, 5, 3, 0, 0, 0, 0)
    swing = (0, 3, 5, 3, 0, -3, -5, -3)
    sl, sr = (25, 26), (39, 26)
    if action == "walk":
        feet = ((29, 53 - lift[t]), (35, 53 - lift[(t + 4) % 8]))
        hands = ((21, 40 + swing[t]), (43, 40 - swing[t]))
    elif action == "spellcast":
        up = (40, 32, 22, 12, 8, 12, 22, 32)
        spread = (21, 19, 18, 20, 25, 20, 18, 19)
        feet = ((29, 53), (35, 53))
        hands = ((spread[t], up[t]), (64 - spread[t], up[t]))
    else:  # slash: the right arm (viewer's right) swings the sword down across the body
        path = ((45, 11), (49, 17), (47, 27), (41, 37), (33, 42), (27, 41), (35, 31), (43, 19))
        feet = ((28, 53), (36, 53))
        hands = ((21, 40), path[t])
    # legs and trousers
    lm[rect(yy, xx, 25, 38, 39, 43)] = BOTTOM
    for hip, foot in zip(((29, 41), (35, 41)), feet, strict=True):
        lm[capsule(yy, xx, hip, foot, 9)] = BOTTOM
        lm[ellipse(yy, xx, foot[0], foot[1] + 2, 3, 2)] = SHOES
    # torso, neck
    lm[rect(yy, xx, 30, 21, 34, 24)] = SKIN
    lm[rect(yy, xx, 25, 24, 39, 38)] = TOP
    lm[disk(yy, xx, 26, 26, 4) | disk(yy, xx, 38, 26, 4)] = TOP
    _arm(lm, yy, xx, sl, hands[0])
    _arm(lm, yy, xx, sr, hands[1])
    if action == "slash":
        _sword(lm, yy, xx, sr, hands[1])
    # head, hair, eyes
    lm[ellipse(yy, xx, 32, 15, 7, 7)] = SKIN
    cap = ellipse(yy, xx, 32, 14, 8, 8)
    lm[cap & ((yy <= 11) | (((xx <= 25) | (xx >= 39)) & (yy <= 19)))] = HAIR
    lm[rect(yy, xx, 28, 15, 29, 16) | rect(yy, xx, 35, 15, 36, 16)] = EYES
    if action == "spellcast" and hands[0][1] <= 22:
        lm[disk(yy, xx, 32, 2, 5)] = MAGIC
    return lm


def _right(action: str, t: int) -> np.ndarray:
    yy, xx = grid(H, W)
    lm = np.zeros((H, W), dtype=np.uint8)
    stride = (0, 3, 6, 3, 0, -3, -6, -3)
    sh_back, sh_front = (31, 26), (33, 26)
    if action == "walk":
        feet_back, feet_front = (32 - stride[t], 53), (32 + stride[t], 53)
        hand_back, hand_front = (32 + stride[t], 39), (33 - stride[t], 39)
    elif action == "spellcast":
        path = ((36, 39), (40, 34), (44, 28), (46, 21), (47, 16), (46, 21), (44, 28), (40, 34))
        feet_back, feet_front = (30, 53), (35, 53)
        hand_front = path[t]
        hand_back = (path[t][0] - 3, path[t][1] + 1)
    else:  # slash: the front arm swings the sword over the head and down in front
        path = ((27, 13), (33, 9), (41, 12), (47, 20), (47, 30), (43, 37), (38, 34), (31, 20))
        feet_back, feet_front = (28, 53), (37, 53)
        hand_front = path[t]
        hand_back = (30, 40)
    _arm(lm, yy, xx, sh_back, hand_back)
    lm[capsule(yy, xx, (32, 41), feet_back, 9)] = BOTTOM
    lm[ellipse(yy, xx, feet_back[0] + 2, feet_back[1] + 2, 3, 2)] = SHOES
    lm[rect(yy, xx, 28, 38, 37, 43)] = BOTTOM
    lm[capsule(yy, xx, (33, 41), feet_front, 9)] = BOTTOM
    lm[ellipse(yy, xx, feet_front[0] + 2, feet_front[1] + 2, 3, 2)] = SHOES
    lm[rect(yy, xx, 31, 21, 35, 24)] = SKIN
    lm[rect(yy, xx, 28, 24, 37, 38)] = TOP
    lm[disk(yy, xx, 32, 26, 8)] = TOP
    _arm(lm, yy, xx, sh_front, hand_front)
    if action == "slash":
        _sword(lm, yy, xx, sh_front, hand_front)
    lm[ellipse(yy, xx, 33, 15, 7, 7) | disk(yy, xx, 40, 17, 2)] = SKIN
    cap = ellipse(yy, xx, 32, 14, 8, 8)
    lm[cap & ((yy <= 10) | ((xx <= 30) & (yy <= 20)))] = HAIR
    lm[rect(yy, xx, 36, 14, 37, 16)] = EYES
    if action == "spellcast" and t in (3, 4, 5):
        hx, hy = hand_front
        lm[disk(yy, xx, hx + 5, hy - 4, 6)] = MAGIC
    return lm


def _outline(lm: np.ndarray) -> np.ndarray:
    body = lm != BG
    ring = dilate4(body) & ~body
    out = lm.copy()
    out[ring] = OUTLINE
    return out


def label_maps() -> np.ndarray:
    """The 9 movements x T frames as label maps, uint8 ``[9, T, H, W]``."""
    out = np.zeros((len(MOVEMENTS), T, H, W), dtype=np.uint8)
    for a, action in enumerate(ACTIONS):
        for t in range(T):
            right = _right(action, t)
            out[a * 3 + 0, t] = _outline(right[:, ::-1])
            out[a * 3 + 1, t] = _outline(_front(action, t))
            out[a * 3 + 2, t] = _outline(right)
    return out


def factors_spec() -> list[tuple[str, str, list[str]]]:
    """(name, type, value names) of the label columns, in order."""
    return [(name, "static", list(pal)) for name, pal in FACTORS] + [("movement", "dynamic", list(MOVEMENTS))]


def _palettes(labels: np.ndarray) -> np.ndarray:
    n = labels.shape[0]
    pal = np.zeros((n, 10, 3), dtype=np.uint8)
    for k, rgb in FIXED.items():
        pal[:, k] = rgb
    for col, (lab, (_, table)) in enumerate(zip((SKIN, BOTTOM, TOP, HAIR), FACTORS, strict=True)):
        colours = np.array(list(table.values()), dtype=np.uint8)
        pal[:, lab] = colours[labels[:, col]]
    return pal


#: characters per split in the small size (x 9 movements = 1,296 sequences)
SMALL_CHARACTERS = {"train": 100, "val": 22, "test": 22}


def plan(size: str, seed: int) -> Plan:
    """Labels, splits (disjoint by character) and a block renderer for ``size`` in {"small", "full"}."""
    chars = np.stack(np.meshgrid(*[np.arange(6)] * 4, indexing="ij"), axis=-1).reshape(-1, 4)  # [1296, 4]
    parts = split_groups(chars.shape[0], chars, [6, 6, 6, 6], seed)
    if size == "small":
        from ._common import stratified_subset

        parts = [stratified_subset(p, chars[p], [6] * 4, SMALL_CHARACTERS[s], seed + i)
                 for i, (s, p) in enumerate(zip(("train", "val", "test"), parts, strict=True))]
        keep = np.sort(np.concatenate(parts))
    else:
        keep = np.arange(chars.shape[0])
    # rows: character-major, movement-minor
    char_ids = np.repeat(keep, len(MOVEMENTS))
    moves = np.tile(np.arange(len(MOVEMENTS)), keep.size)
    labels = np.concatenate([chars[char_ids], moves[:, None]], axis=1).astype(np.int64)
    pos = {int(c): i for i, c in enumerate(keep)}
    splits = {}
    for s, p in zip(("train", "val", "test"), parts, strict=True):
        rows = np.array([pos[int(c)] for c in p], dtype=np.int64)
        splits[s] = (rows[:, None] * len(MOVEMENTS) + np.arange(len(MOVEMENTS))[None, :]).reshape(-1)
    maps = label_maps()

    def render(i: int, j: int) -> np.ndarray:
        lab = labels[i:j]
        return colour_lookup(maps[lab[:, 4]], _palettes(lab))

    return Plan(labels=labels, splits=splits, render=render, block=256)
