"""Pictures of a model's behaviour: reconstruction, swap and per-factor swap grids, prior samples.

Every grid has one row per sequence with a text label on the left. Per modality:

- video: one column per frame (PNG), and the same rows as an animated GIF (one tile per row, frames
  over time);
- audio: the row's spectrogram (PNG: magnitude STFT of the whole sequence, Hann window of 512
  samples, hop 128, 0 to 4 kHz, 0 dB = a full-scale sine, 80 dB range; a tick under every frame
  boundary) and the rows as one WAV file (16-bit PCM at the dataset's sample rate, in row order,
  0.25 s of silence between rows) to listen to;
- time series: a line plot per row (PNG: one line per feature over the T steps, one value scale for
  the whole grid so rows compare).

The ``save_*`` functions at the end are the pictures the evaluation suite writes into
``ctx.pictures_dir`` (``ctx`` = :class:`msd_bench.harness.suite.EvalContext`).
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .._io import atomic_path
from ..errors import MetricError
from .interface import Latents, static_mask, swap
from .modality import dataset_modality

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


# ===================================================================================== audio
N_FFT = 512
HOP = 128
MAX_HZ = 4000.0
DB_RANGE = 80.0
WAV_GAP_S = 0.25
#: anchors of the spectrogram colour map (dark = quiet, yellow = loud)
_CMAP = np.array([[0, 0, 4], [60, 15, 110], [150, 40, 120], [230, 90, 60], [250, 200, 40], [252, 253, 191]],
                 dtype=np.float64)


def spectrogram_db(signal: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Magnitude spectrogram ``[n_fft // 2 + 1, frames]`` in dB of a 1-D ``signal`` in [-1, 1].

    Hann window of ``n_fft`` samples every ``hop`` samples (the signal is zero-padded to whole
    windows); 0 dB is the peak of a full-scale sine (``n_fft / 4`` after the window), floored at
    ``-DB_RANGE``.
    """
    x = np.asarray(signal, dtype=np.float64).reshape(-1)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    n = 1 + (x.size - n_fft + hop - 1) // hop
    x = np.pad(x, (0, (n - 1) * hop + n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1)).T
    db = 20.0 * np.log10(np.maximum(mag / (n_fft / 4.0), 1e-12))
    return np.maximum(db, -DB_RANGE)


def _colour(db: np.ndarray) -> np.ndarray:
    """dB in [-DB_RANGE, 0] -> RGB uint8 through :data:`_CMAP`."""
    u = np.clip((db + DB_RANGE) / DB_RANGE, 0.0, 1.0) * (len(_CMAP) - 1)
    lo = np.floor(u).astype(int).clip(0, len(_CMAP) - 2)
    w = (u - lo)[..., None]
    return (_CMAP[lo] * (1 - w) + _CMAP[lo + 1] * w + 0.5).astype(np.uint8)


def spectrogram_grid(audio: torch.Tensor, labels: list[str] | None, sample_rate: int,
                     max_hz: float = MAX_HZ) -> Image.Image:
    """A PNG-ready grid: row ``i`` is the spectrogram of ``audio[i]`` (``[T, F]`` frames in [-1, 1],
    played one after another), 0 to ``max_hz`` from bottom to top, with a tick under every frame."""
    a = audio.detach().float().clamp(-1, 1).cpu().numpy()
    n, t, f = a.shape
    bins = max(2, int(round(max_hz / (sample_rate / N_FFT))) + 1)
    specs = [np.flipud(spectrogram_db(a[i].reshape(-1))[:bins]) for i in range(n)]
    h, w = specs[0].shape
    label_w = LABEL_W if labels else 0
    tick = 3
    img = Image.new("RGB", (label_w + w + 2 * PAD, n * (h + tick + PAD) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font()
    for i, spec in enumerate(specs):
        y = PAD + i * (h + tick + PAD)
        img.paste(Image.fromarray(_colour(spec)), (label_w + PAD, y))
        for j in range(t + 1):
            xj = label_w + PAD + min(w - 1, int(round(j * f / HOP)))
            draw.line([(xj, y + h), (xj, y + h + tick - 1)], fill=(90, 90, 90))
        if labels:
            draw.text((4, y + h // 2 - 6), labels[i][:28], fill=(0, 0, 0), font=font)
    return img


def save_wav(audio: torch.Tensor, path: str | Path, sample_rate: int, gap_s: float = WAV_GAP_S) -> Path:
    """Write the rows of ``audio`` (``[N, T, F]`` in [-1, 1]) as one mono 16-bit WAV at ``sample_rate``,
    in row order with ``gap_s`` seconds of silence between rows (atomically)."""
    a = audio.detach().float().clamp(-1, 1).cpu().numpy()
    gap = np.zeros(int(round(gap_s * sample_rate)), dtype=np.float64)
    parts: list[np.ndarray] = []
    for i, row in enumerate(a):
        if i:
            parts.append(gap)
        parts.append(row.reshape(-1).astype(np.float64))
    pcm = np.round(np.concatenate(parts) * 32767.0).astype("<i2")
    path = Path(path)
    with atomic_path(path, suffix=".wav") as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return path


# =============================================================================== time series
#: one colour per feature (cycled past 13)
_LINE_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                 (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (0, 0, 128), (128, 0, 0),
                 (0, 100, 0)]
STEP_W = 14
PANEL_H = 80


def line_grid(series: torch.Tensor, labels: list[str] | None = None) -> Image.Image:
    """A PNG-ready grid: row ``i`` plots every feature of ``series[i]`` (``[T, V]``) over the ``T`` steps.

    One value scale for the whole grid (the 1st to 99th percentile of its values, widened by 10 %), so
    an input and its reconstruction can be compared row to row; values outside are drawn at the edge.
    """
    v = series.detach().float().cpu().numpy()
    n, t, nv = v.shape
    finite = v[np.isfinite(v)]
    lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (-1.0, 1.0))
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    span = hi - lo
    lo, hi = lo - 0.05 * span, hi + 0.05 * span
    label_w = LABEL_W if labels else 0
    pw = max(2, t) * STEP_W
    img = Image.new("RGB", (label_w + pw + 2 * PAD, n * (PANEL_H + PAD) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font()
    xs = [label_w + PAD + STEP_W // 2 + j * STEP_W for j in range(t)]
    for i in range(n):
        y0 = PAD + i * (PANEL_H + PAD)
        draw.rectangle([label_w + PAD, y0, label_w + PAD + pw - 1, y0 + PANEL_H - 1], fill=(248, 248, 248),
                       outline=(210, 210, 210))
        if lo < 0 < hi:
            yz = y0 + PANEL_H - 1 - int(round((0 - lo) / (hi - lo) * (PANEL_H - 1)))
            draw.line([(label_w + PAD, yz), (label_w + PAD + pw - 1, yz)], fill=(200, 200, 200))
        for k in range(nv):
            vals = np.nan_to_num(v[i, :, k], nan=lo, posinf=hi, neginf=lo).clip(lo, hi)
            ys = [y0 + PANEL_H - 1 - int(round((val - lo) / (hi - lo) * (PANEL_H - 1))) for val in vals]
            colour = _LINE_COLOURS[k % len(_LINE_COLOURS)]
            if t == 1:
                draw.point((xs[0], ys[0]), fill=colour)
            else:
                draw.line(list(zip(xs, ys, strict=True)), fill=colour, width=1)
        if labels:
            draw.text((4, y0 + PANEL_H // 2 - 6), labels[i][:28], fill=(0, 0, 0), font=font)
    return img


def interleave(*groups: torch.Tensor) -> torch.Tensor:
    """Rows ``g0[0], g1[0], ..., g0[1], g1[1], ...`` (for side-by-side comparisons)."""
    return torch.stack(groups, dim=1).flatten(0, 1)


# ================================================================================ the suite's pictures
def _sample_rate(ctx: Any) -> int:
    rate = getattr(ctx.dataset, "sample_rate", None)
    if not rate:
        raise MetricError(f"{getattr(ctx.dataset, 'name', 'the dataset')} is audio but declares no sample_rate "
                          "(expected the HDF5 attribute sample_rate)")
    return int(rate)


def save_rows(ctx: Any, rows: torch.Tensor, labels: list[str], stem: str, gif: bool = True) -> list[Path]:
    """Write ``rows`` (``[N, T, *F]`` model outputs / inputs) as the modality's picture ``stem``:
    ``stem.png`` (+ ``stem.gif`` for video when ``gif``; + ``stem.wav`` for audio)."""
    modality = dataset_modality(ctx.dataset)
    out = ctx.pictures_dir
    if modality == "audio":
        rate = _sample_rate(ctx)
        return [save_png(spectrogram_grid(rows, labels, rate), out / f"{stem}.png"),
                save_wav(rows, out / f"{stem}.wav", rate)]
    if modality == "timeseries":
        return [save_png(line_grid(rows, labels), out / f"{stem}.png")]
    paths = [save_png(video_grid(rows, labels), out / f"{stem}.png")]
    if gif:
        paths.append(save_gif(rows, out / f"{stem}.gif", labels))
    return paths


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
    """``reconstruction.png`` (+ ``.gif`` video, ``.wav`` audio): up to 6 inputs, each above its reconstruction."""
    k = min(6, x.shape[0])
    labels = [s for i in range(k) for s in (f"input {i}", f"recon {i}")]
    save_rows(ctx, interleave(x[:k], xh[:k]), labels, "reconstruction")


def save_swap(ctx: Any) -> None:
    """``swap.png`` (+ ``.gif`` / ``.wav``): pairs A, B and their static <-> dynamic swaps."""
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
    save_rows(ctx, torch.stack(rows), labels, "swap")


def save_factor_swap(ctx: Any, cmap: Any) -> None:
    """``factor_swap.png`` (+ ``.wav``): for each factor, keep its channels of A and take every other one from B."""
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
    save_rows(ctx, torch.stack(rows), labels, "factor_swap", gif=False)


def save_samples(ctx: Any) -> None:
    """``samples.png`` (+ ``.gif`` / ``.wav``): 8 sequences decoded from the priors (needs both priors)."""
    if not (ctx.model.has_prior("static") and ctx.model.has_prior("dynamic")):
        return
    k = 8
    t = ctx.dataset.shape[0]
    g = ctx.generator(99)
    z = Latents(ctx.model.sample_static(k, g), ctx.model.sample_dynamic(k, t, g))
    x = ctx.model.decode(z)
    save_rows(ctx, x, [f"prior sample {i}" for i in range(k)], "samples")
