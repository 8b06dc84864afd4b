"""Pictures of a model's behaviour: reconstruction, swap and per-factor swap grids, prior samples.

Every grid has one row per sequence and one column per frame, with a text label on the left; the
same rows are also written as an animated GIF (one tile per row, frames over time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .._io import atomic_path

LABEL_W = 150
PAD = 2


def _to_uint8(videos: torch.Tensor) -> np.ndarray:
    """``[N, T, C, H, W]`` float in [0, 1] → uint8 ``[N, T, H, W, 3]``."""
    v = videos.detach().float().clamp(0, 1).cpu()
    if v.shape[2] == 1:
        v = v.expand(-1, -1, 3, -1, -1)
    return (v.permute(0, 1, 3, 4, 2).numpy() * 255.0 + 0.5).astype(np.uint8)


def _font(size: int = 11):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def video_grid(videos: torch.Tensor, labels: list[str] | None = None, scale: int = 1) -> Image.Image:
    """A PNG-ready grid: row ``i`` shows the ``T`` frames of ``videos[i]``, labelled ``labels[i]``."""
    frames = _to_uint8(videos)
    n, t, h, w, _ = frames.shape
    label_w = LABEL_W if labels else 0
    img = Image.new("RGB", (label_w + t * (w + PAD) + PAD, n * (h + PAD) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font()
    for i in range(n):
        y = PAD + i * (h + PAD)
        for j in range(t):
            img.paste(Image.fromarray(frames[i, j]), (label_w + PAD + j * (w + PAD), y))
        if labels:
            draw.text((4, y + h // 2 - 6), labels[i][:28], fill=(0, 0, 0), font=font)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_png(img: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG", compress_level=6)  # optimize=True (level 9 + filter search) cost ~0.3 s a picture
    return path


def save_gif(videos: torch.Tensor, path: str | Path, labels: list[str] | None = None, ms_per_frame: int = 150) -> Path:
    """An animated GIF: the rows of :func:`video_grid` side by side as tiles, playing over time."""
    frames = _to_uint8(videos)
    n, t, h, w, _ = frames.shape
    cols = min(n, 8)
    rows = (n + cols - 1) // cols
    label_h = 14 if labels else 0
    font = _font(10)
    pics = []
    for j in range(t):
        img = Image.new("RGB", (cols * (w + PAD) + PAD, rows * (h + PAD + label_h) + PAD), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        for i in range(n):
            x = PAD + (i % cols) * (w + PAD)
            y = PAD + (i // cols) * (h + PAD + label_h)
            img.paste(Image.fromarray(frames[i, j]), (x, y + label_h))
            if labels:
                draw.text((x, y), labels[i][: max(4, w // 6)], fill=(0, 0, 0), font=font)
        pics.append(img)
    path = Path(path)
    with atomic_path(path, suffix=".gif") as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return path


def interleave(*groups: torch.Tensor) -> torch.Tensor:
    """Rows ``g0[0], g1[0], ..., g0[1], g1[1], ...`` (for side-by-side comparisons)."""
    return torch.stack(groups, dim=1).flatten(0, 1)
