"""Pictures of a model's behaviour: reconstruction, swap and per-factor swap grids, prior samples.

Every grid has one row per sequence and one column per frame, with a text label on the left; the
same rows are also written as an animated GIF (one tile per row, frames over time).

The ``save_*`` functions at the end are the pictures the evaluation suite writes into
``ctx.pictures_dir`` (``ctx`` = :class:`msd_bench.harness.suite.EvalContext`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .._io import atomic_path
from .interface import Latents, static_mask, swap

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


# ================================================================================ the suite's pictures
def _pair_labels(ctx: Any, positions: np.ndarray) -> list[str]:
    y = ctx.dataset.labels()[ctx.subset()[positions]]
    out = []
    for row in y:
        parts = []
        for f in ctx.factors:
            names = {v: k for k, v in f.values.items()} if getattr(f, "values", None) else {}
            parts.append(str(names.get(int(row[f.index]), int(row[f.index]))))
        out.append("/".join(parts))
    return out


def save_reconstruction(ctx: Any, x: torch.Tensor, xh: torch.Tensor) -> None:
    """``reconstruction.png`` / ``.gif``: up to 6 inputs, each above its reconstruction."""
    k = min(6, x.shape[0])
    labels = [s for i in range(k) for s in (f"input {i}", f"recon {i}")]
    grid = interleave(x[:k], xh[:k])
    save_png(video_grid(grid, labels), ctx.pictures_dir / "reconstruction.png")
    save_gif(grid, ctx.pictures_dir / "reconstruction.gif", labels)


def save_swap(ctx: Any) -> None:
    """``swap.png`` / ``.gif``: pairs A, B and their static <-> dynamic swaps."""
    g = torch.Generator().manual_seed(ctx.seed + 17)
    k = min(4, ctx.n // 2)
    pos = torch.randperm(ctx.n, generator=g)[: 2 * k].numpy()
    xa, xb = ctx.videos(pos[:k]), ctx.videos(pos[k:])
    za, zb = ctx.model.encode(xa), ctx.model.encode(xb)
    mask = static_mask(za.static_dim, za.dynamic_dim, device=za.static.device)
    ab = ctx.model.decode(swap(ctx.model, zb, za, mask))  # static of A, dynamic of B
    ba = ctx.model.decode(swap(ctx.model, za, zb, mask))  # static of B, dynamic of A
    rows, labels = [], []
    la, lb = _pair_labels(ctx, pos[:k]), _pair_labels(ctx, pos[k:])
    for i in range(k):
        rows += [xa[i], xb[i], ab[i], ba[i]]
        labels += [f"A {la[i]}", f"B {lb[i]}", "static A + dyn B", "static B + dyn A"]
    grid = torch.stack(rows)
    save_png(video_grid(grid, labels), ctx.pictures_dir / "swap.png")
    save_gif(grid, ctx.pictures_dir / "swap.gif", labels)


def save_factor_swap(ctx: Any, cmap: Any) -> None:
    """``factor_swap.png``: for each factor, keep its channels of A and take every other channel from B."""
    g = torch.Generator().manual_seed(ctx.seed + 23)
    pos = torch.randperm(ctx.n, generator=g)[:2].numpy()
    xa, xb = ctx.videos(pos[:1]), ctx.videos(pos[1:])
    za, zb = ctx.model.encode(xa), ctx.model.encode(xb)
    la, lb = _pair_labels(ctx, pos[:1]), _pair_labels(ctx, pos[1:])
    rows, labels = [xa[0], xb[0]], [f"A {la[0]}", f"B {lb[0]}"]
    for f in ctx.factors:
        if f.ignore:
            continue
        take_b = torch.ones(za.n_channels, dtype=torch.bool, device=za.static.device)
        chans = cmap.channels(f.name)
        if chans:
            take_b[torch.as_tensor(chans, device=za.static.device)] = False
        rows.append(ctx.model.decode(swap(ctx.model, za, zb, take_b))[0])
        labels.append(f"keep {f.name} of A ({len(chans)} ch)")
    save_png(video_grid(torch.stack(rows), labels), ctx.pictures_dir / "factor_swap.png")


def save_samples(ctx: Any) -> None:
    """``samples.png`` / ``.gif``: 8 sequences decoded from the priors (needs both priors)."""
    if not (ctx.model.has_prior("static") and ctx.model.has_prior("dynamic")):
        return
    k = 8
    t = ctx.dataset.shape[0]
    g = ctx.generator(99)
    z = Latents(ctx.model.sample_static(k, g), ctx.model.sample_dynamic(k, t, g))
    x = ctx.model.decode(z)
    labels = [f"prior sample {i}" for i in range(k)]
    save_png(video_grid(x, labels), ctx.pictures_dir / "samples.png")
    save_gif(x, ctx.pictures_dir / "samples.gif", labels)
