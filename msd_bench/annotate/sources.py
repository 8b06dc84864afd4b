"""Annotation inputs: an msd-bench HDF5 file, or a folder of videos and frame folders.

Folder input: every entry of the folder, sorted by name, is one sequence:

* a sub-folder of images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.webp``, ``.tif``), frames in
  natural name order (``2.png`` before ``10.png``);
* an animated image (``.gif``, ``.webp``, ``.png`` APNG, ``.tif``) read with Pillow;
* a video file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.mpg``) read with PyAV
  (``pip install av``) when it is installed.

Every sequence is brought to one shape ``[T, 3, H, W]``: ``T`` evenly spaced frames (default the
shortest sequence's length, at most 16), each centre-cropped to the target aspect ratio and resized
(bilinear) to ``H x W`` (default the first frame's size). Other files are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AnnotateError
from .images import frame_indices

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
ANIMATED_EXT = {".gif", ".webp", ".png", ".tif", ".tiff"}
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v"}
MAX_DEFAULT_FRAMES = 16


def _natural(p: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


class Source:
    """Sequences to annotate: ``n``, ``shape = (T, C, H, W)``, ``read(indices)`` → uint8 ``[B, T, C, H, W]``.

    ``truth_factors`` / ``truth_labels`` are set for an msd-bench file (the labels it already has,
    used only to report the annotation's accuracy); ``items`` names every sequence.
    """

    kind: str
    path: Path
    n: int
    shape: tuple[int, int, int, int]
    items: list[str]
    truth_factors: list | None = None
    truth_labels: np.ndarray | None = None
    content_hash: str | None = None

    def read(self, indices: Any) -> np.ndarray:
        raise NotImplementedError


class H5Source(Source):
    def __init__(self, path: Path):
        from ..datasets import open_h5

        self.kind, self.path = "h5", path
        self.ds = open_h5(path)
        self.n, self.shape = self.ds.n, tuple(self.ds.shape)
        self.items = [str(i) for i in range(self.n)]
        self.truth_factors = list(self.ds.factors)
        self.truth_labels = self.ds.labels(None) if _labels_all(self.ds) else None
        self.content_hash = self.ds.declared_content_hash

    def read(self, indices: Any) -> np.ndarray:
        return self.ds.read(np.asarray(indices, dtype=np.int64))[0]


def _labels_all(ds) -> bool:
    try:
        ds.labels(None)
        return True
    except Exception:
        return False


class FolderSource(Source):
    def __init__(self, path: Path, frames: int | None, size: tuple[int, int] | None):
        self.kind, self.path = "folder", path
        entries = []
        for p in sorted(path.iterdir(), key=_natural):
            if p.name.startswith("."):
                continue
            if p.is_dir() and any(q.suffix.lower() in IMAGE_EXT for q in p.iterdir()):
                entries.append(p)
            elif p.is_file() and p.suffix.lower() in (ANIMATED_EXT | VIDEO_EXT):
                entries.append(p)
        if not entries:
            raise AnnotateError(f"{path}: no sequences found; expected sub-folders of frames or video files "
                                f"({', '.join(sorted(ANIMATED_EXT | VIDEO_EXT))})")
        self.entries = entries
        self.items = [p.name for p in entries]
        self.n = len(entries)
        lengths = [self._length(p) for p in entries]
        short = min(lengths)
        if short < 1:
            bad = entries[lengths.index(short)]
            raise AnnotateError(f"{bad}: no readable frame")
        t = min(short, MAX_DEFAULT_FRAMES) if frames is None else int(frames)
        if t < 1 or t > short:
            bad = entries[lengths.index(short)]
            raise AnnotateError(f"--frames {t}: expected 1..{short} (the shortest sequence, {bad.name}, has {short})")
        if size is None:
            first = self._frames(entries[0])[0]
            size = (first.height, first.width)
        self.t, self.size = t, (int(size[0]), int(size[1]))
        self.shape = (t, 3, self.size[0], self.size[1])

    # ------------------------------------------------------------------ reading one entry
    def _length(self, p: Path) -> int:
        if p.is_dir():
            return sum(1 for q in p.iterdir() if q.suffix.lower() in IMAGE_EXT)
        if p.suffix.lower() in VIDEO_EXT:
            return len(self._video(p))
        from PIL import Image

        try:
            with Image.open(p) as im:
                return int(getattr(im, "n_frames", 1))
        except (OSError, ValueError) as exc:
            raise AnnotateError(f"{p}: not a readable image or animation ({exc})") from None

    def _video(self, p: Path) -> list:
        try:
            import av
        except ImportError:
            raise AnnotateError(f"{p}: reading video files needs PyAV (pip install av); or convert the videos "
                                "to GIFs or frame folders") from None
        try:
            with av.open(str(p)) as c:
                return [f.to_image() for f in c.decode(video=0)]
        except Exception as exc:  # PyAV raises its own error types
            raise AnnotateError(f"{p}: cannot decode the video ({type(exc).__name__}: {exc})") from None

    def _frames(self, p: Path) -> list:
        from PIL import Image, ImageSequence

        try:
            if p.is_dir():
                files = sorted((q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXT), key=_natural)
                out = []
                for q in files:
                    with Image.open(q) as im:
                        out.append(im.convert("RGB"))
                return out
            if p.suffix.lower() in VIDEO_EXT:
                return [im.convert("RGB") for im in self._video(p)]
            with Image.open(p) as im:
                return [f.convert("RGB") for f in ImageSequence.Iterator(im)]
        except (OSError, ValueError) as exc:
            raise AnnotateError(f"{p}: not a readable image or animation ({exc})") from None

    def _fit(self, im) -> np.ndarray:
        from PIL import Image

        h, w = self.size
        if (im.height, im.width) != (h, w):
            # centre crop to the target aspect ratio, then resize
            target = w / h
            cw, ch = im.width, im.height
            if cw / ch > target:
                nw = round(ch * target)
                im = im.crop(((cw - nw) // 2, 0, (cw - nw) // 2 + nw, ch))
            elif cw / ch < target:
                nh = round(cw / target)
                im = im.crop((0, (ch - nh) // 2, cw, (ch - nh) // 2 + nh))
            im = im.resize((w, h), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)

    def read(self, indices: Any) -> np.ndarray:
        out = np.zeros((len(indices), *self.shape), dtype=np.uint8)
        for j, i in enumerate(indices):
            frames = self._frames(self.entries[int(i)])
            for k, fi in enumerate(frame_indices(len(frames), self.t)):
                out[j, k] = self._fit(frames[fi])
        return out


def open_source(path: str | Path, frames: int | None = None, size: tuple[int, int] | None = None) -> Source:
    """An msd-bench ``.h5`` file or a folder of sequences (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise AnnotateError(f"input {p} does not exist; expected an msd-bench .h5 file or a folder of videos")
    if p.is_dir():
        return FolderSource(p, frames, size)
    if p.suffix.lower() in (".h5", ".hdf5"):
        if frames is not None or size is not None:
            raise AnnotateError(f"{p}: --frames / --size apply to folder input; an .h5 file keeps its shape")
        return H5Source(p)
    raise AnnotateError(f"input {p}: expected an msd-bench .h5 file or a folder of videos / frame folders")
