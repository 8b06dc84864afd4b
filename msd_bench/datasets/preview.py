"""Preview images: a grid of sequences labelled with their factor values (PNG) or an animation (GIF)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._io import atomic_path
from ..errors import DatasetError
from ._format import Factor


def _to_rgb(frames: np.ndarray) -> np.ndarray:
    """[..., C, H, W] uint8 -> [..., H, W, 3]."""
    f = np.moveaxis(frames, -3, -1)
    if f.shape[-1] == 1:
        f = np.repeat(f, 3, axis=-1)
    return f


def _caption(labels: np.ndarray, factors: Sequence[Factor]) -> list[str]:
    return [f"{f.name}={f.value_names[int(labels[f.index])]}" for f in factors]


def render_preview(data: np.ndarray, labels: np.ndarray, factors: Sequence[Factor], out: str | os.PathLike,
                   scale: int = 2) -> Path:
    """Write a labelled preview of ``data`` (uint8 [B, T, C, H, W]) to a .png (grid) or .gif (animation)."""
    from PIL import Image, ImageDraw, ImageFont

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise DatasetError(f"{out}: preview output must end in .png or .gif")
    b, t, _, h, w = data.shape
    rgb = _to_rgb(data)  # [B, T, H, W, 3]
    font = ImageFont.load_default()
    lines = [_caption(labels[i], factors) for i in range(b)]
    line_h = 11
    text_w = 8 + max(len(s) for ls in lines for s in ls) * 6
    cell_h = max(h * scale, line_h * max(len(ls) for ls in lines)) + 6
    pad = 2
    if suffix == ".png":
        width = text_w + t * (w * scale + pad)
        canvas = Image.new("RGB", (width, b * cell_h), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i in range(b):
            y0 = i * cell_h + 3
            for k, s in enumerate(lines[i]):
                draw.text((4, y0 + k * line_h), s, fill=(0, 0, 0), font=font)
            for j in range(t):
                img = Image.fromarray(rgb[i, j]).resize((w * scale, h * scale), Image.NEAREST)
                canvas.paste(img, (text_w + j * (w * scale + pad), y0))
            draw.line([(0, (i + 1) * cell_h - 1), (width, (i + 1) * cell_h - 1)], fill=(200, 200, 200))
        with atomic_path(out, suffix=".png") as tmp:
            canvas.save(tmp, format="PNG")
        return out
    # GIF: one frame per time step, sequences laid out in a grid with captions underneath
    cols = min(b, 4)
    rows = (b + cols - 1) // cols
    cw = max(w * scale, text_w) + pad
    ch = h * scale + line_h * max(len(ls) for ls in lines) + 6
    frames = []
    for j in range(t):
        canvas = Image.new("RGB", (cols * cw, rows * ch), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i in range(b):
            x0, y0 = (i % cols) * cw, (i // cols) * ch
            canvas.paste(Image.fromarray(rgb[i, j]).resize((w * scale, h * scale), Image.NEAREST), (x0, y0))
            for k, s in enumerate(lines[i]):
                draw.text((x0 + 2, y0 + h * scale + 2 + k * line_h), s, fill=(0, 0, 0), font=font)
        frames.append(canvas)
    with atomic_path(out, suffix=".gif") as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=250, loop=0)
    return out


def pick_examples(labels: np.ndarray, factors: Sequence[Factor], n: int, seed: int = 0) -> np.ndarray:
    """Choose ``n`` rows that cycle through the values of the dynamic factors (then static), seeded."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(labels.shape[0])
    chosen: list[int] = []
    dyn = [f for f in factors if f.type == "dynamic"] or list(factors)
    seen: set[tuple[int, ...]] = set()
    for r in order:
        key = tuple(int(labels[r, f.index]) for f in dyn)
        if key not in seen:
            seen.add(key)
            chosen.append(int(r))
        if len(chosen) >= n:
            break
    for r in order:
        if len(chosen) >= n:
            break
        if int(r) not in chosen:
            chosen.append(int(r))
    return np.array(chosen[:n], dtype=np.int64)
