"""Frames → PNG images for a vision-language model, and back (for tests and fake servers).

A query shows ``k`` frames of a sequence, chosen by :func:`frame_indices` (evenly spaced, first and
last included). Each frame is upscaled by an integer factor (nearest neighbour) so that its shorter
side is at least ``min_side`` pixels; small benchmark frames (16-64 px) are hard to read otherwise.

Layouts
-------
``grid``   one image: the frames in time order, left to right then top to bottom, ``cols`` per row
           (default ``ceil(sqrt(k))``), separated by ``gap`` pixels of grey (128); unused cells grey.
``frames`` one image per frame, in time order.

PNG bytes are deterministic for equal frames and settings (fixed compression level), so the request
hash of the cache is stable.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import AnnotateError

LAYOUTS = ("grid", "frames")
GAP_VALUE = 128


@dataclass(frozen=True)
class ImageConfig:
    """How frames are shown to the model.

    Attributes
    ----------
    frames : int
        Frames per query (``k``); all frames when ``k`` is 0 or at least the sequence length.
    layout : {"grid", "frames"}
        One grid image, or one image per frame.
    min_side : int
        Upscale (integer factor, nearest neighbour) until the frame's shorter side is at least this.
    cols : int, optional
        Grid columns (default ``ceil(sqrt(k))``).
    gap : int
        Grey pixels between grid cells (after upscaling).
    """

    frames: int = 4
    layout: str = "grid"
    min_side: int = 128
    cols: int | None = None
    gap: int = 4

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise AnnotateError(f"image layout '{self.layout}' is unknown; expected one of {', '.join(LAYOUTS)}")
        if self.frames < 0 or self.min_side < 1 or self.gap < 0 or (self.cols is not None and self.cols < 1):
            raise AnnotateError(f"image settings {asdict(self)}: frames >= 0, min_side >= 1, gap >= 0, cols >= 1 "
                                "expected")

    def to_dict(self) -> dict:
        return asdict(self)

    def scale(self, h: int, w: int) -> int:
        return max(1, math.ceil(self.min_side / max(1, min(h, w))))

    def grid_shape(self, k: int) -> tuple[int, int]:
        cols = min(k, self.cols or math.ceil(math.sqrt(k)))
        return math.ceil(k / cols), cols

    def order_text(self, k: int) -> str:
        if self.layout == "frames":
            return f"{k} images, one per frame, in time order"
        rows, cols = self.grid_shape(k)
        return f"one image, a grid of {rows}x{cols} cells read left to right, then top to bottom, in time order"


def frame_indices(t: int, k: int) -> list[int]:
    """``k`` evenly spaced frame indices of a ``t``-frame sequence (first and last included)."""
    if k <= 0 or k >= t:
        return list(range(t))
    if k == 1:
        return [0]
    return [int(round(i * (t - 1) / (k - 1))) for i in range(k)]


def _rgb(frame: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` uint8 → ``[H, W, 3]`` (one channel repeated; four channels lose alpha)."""
    c = frame.shape[0]
    if c == 1:
        return np.repeat(frame.transpose(1, 2, 0), 3, axis=2)
    if c in (3, 4):
        return frame[:3].transpose(1, 2, 0)
    raise AnnotateError(f"frames have {c} channels; expected 1 (grey) or 3 (RGB) to show them as images")


def layout_frames(seq: np.ndarray, cfg: ImageConfig) -> list[np.ndarray]:
    """The images (``[H', W', 3]`` uint8 arrays) of one sequence ``[T, C, H, W]`` uint8."""
    seq = np.asarray(seq)
    if seq.ndim != 4 or seq.dtype != np.uint8:
        raise AnnotateError(f"a sequence has dtype {seq.dtype} shape {seq.shape}; expected uint8 [T, C, H, W]")
    idx = frame_indices(seq.shape[0], cfg.frames)
    h, w = seq.shape[2:]
    s = cfg.scale(h, w)
    frames = [np.repeat(np.repeat(_rgb(seq[i]), s, axis=0), s, axis=1) for i in idx]
    if cfg.layout == "frames":
        return frames
    rows, cols = cfg.grid_shape(len(frames))
    fh, fw = h * s, w * s
    canvas = np.full((rows * fh + (rows - 1) * cfg.gap, cols * fw + (cols - 1) * cfg.gap, 3), GAP_VALUE, np.uint8)
    for j, f in enumerate(frames):
        r, c = divmod(j, cols)
        y, x = r * (fh + cfg.gap), c * (fw + cfg.gap)
        canvas[y : y + fh, x : x + fw] = f
    return [canvas]


def split_frames(images: list[np.ndarray], cfg: ImageConfig, t: int, hw: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`layout_frames`: the shown frames ``[k, H, W, 3]`` of decoded images.

    Used by fake servers in tests to recognise the sequence they were shown.
    """
    h, w = hw
    k = len(frame_indices(t, cfg.frames))
    s = cfg.scale(h, w)
    if cfg.layout == "frames":
        tiles = list(images)
    else:
        img = images[0]
        rows, cols = cfg.grid_shape(k)
        fh, fw = h * s, w * s
        tiles = []
        for j in range(k):
            r, c = divmod(j, cols)
            y, x = r * (fh + cfg.gap), c * (fw + cfg.gap)
            tiles.append(img[y : y + fh, x : x + fw])
    return np.stack([np.asarray(tile)[::s, ::s, :3] for tile in tiles])


def png_bytes(image: np.ndarray) -> bytes:
    """Deterministic PNG encoding of an ``[H, W, 3]`` uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def decode_data_url(url: str) -> np.ndarray:
    """``[H, W, 3]`` uint8 of a base64 image data URL."""
    from PIL import Image

    head, _, payload = url.partition(",")
    if not head.startswith("data:image/") or ";base64" not in head:
        raise ValueError(f"not a base64 image data URL: {url[:40]!r}")
    with Image.open(io.BytesIO(base64.b64decode(payload))) as im:
        return np.asarray(im.convert("RGB"))


def image_parts(seq: np.ndarray, cfg: ImageConfig) -> list[dict]:
    """Chat-completions content parts (``image_url`` with a PNG data URL) for one sequence."""
    return [{"type": "image_url", "image_url": {"url": data_url(png_bytes(im))}} for im in layout_frames(seq, cfg)]
