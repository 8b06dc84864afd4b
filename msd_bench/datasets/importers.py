"""Importers: convert original dataset files a user already has into the msd-bench format.

Nothing is downloaded. Each importer validates its input (one-line DatasetError naming the file, key
or shape) and writes atomically into ``$MSD_BENCH_CACHE/datasets/imported/`` (or ``out``):

========== ============================================== ====================================
kind       input                                          output
========== ============================================== ====================================
lpc-sprites folder of ``{action}_{direction}_frames_{train,test}.npy`` ``sprites-lpc.h5`` (rows, splits
           ``[N, 8, 64, 64, 3]`` float32 = uint8 / 256 and     and content hash of the built-in
           ``..._attributes_...npy`` one-hot ``[N, 8, 4, 6]``  ``sprites`` for the complete files)
           (Li & Mandt, 2018)
msd        an MSD benchmark ``.h5``                       copied as is (after validation; an
                                                          audio file must be at ``sample_rate``,
                                                          default 16 kHz as ``dmelodies``)
dsprites   ``dsprites_ndarray_...npz`` (``imgs``,          ``dsprites-static-real.h5``,
           ``latents_classes``)                            ``dsprites-dynamic-real.h5``
3dshapes   ``3dshapes.h5`` (``images``, ``labels``)        ``3dshapes-dynamic-real.h5``
mnist      idx files (optionally .gz) or ``mnist.npz``      ``moving-mnist.h5``
========== ============================================== ====================================
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._io import atomic_path
from ..errors import DatasetError
from ._format import DatasetWriter, Factor, open_h5, verify_file
from .generators._common import split_by_row, stratified_subset
from .generators.dsprites import COLORS, bounce, bounce_free_start
from .registry import _progress_bar, imported_dir


def imported_files() -> list[tuple[str, Path]]:
    """(name, path) of every imported file in the cache."""
    d = imported_dir()
    return [(p.stem, p) for p in sorted(d.glob("*.h5"))] if d.is_dir() else []


def _factors(spec: Sequence[tuple[str, str, Sequence[str]]]) -> list[Factor]:
    return [Factor(n, i, t, len(v), {s: j for j, s in enumerate(v)}) for i, (n, t, v) in enumerate(spec)]


def _write(dest: Path, name: str, source: Path, factors: list[Factor], shape: tuple[int, ...], labels: np.ndarray,
           splits: dict[str, np.ndarray], render: Callable[[int, int], np.ndarray], seed: int,
           block: int = 128, progress: bool = True) -> Path:
    attrs: dict[str, Any] = {"name": name, "version": "imported-1", "seed": seed, "size": "full",
                             "msd_bench_version": __version__, "source": str(source)}
    n = labels.shape[0]
    with _progress_bar(f"import {name}", n, progress) as bar:
        task = bar.add_task(f"import {name}", total=n)
        with DatasetWriter(dest, n, shape, factors, attrs) as w:
            for i in range(0, n, block):
                w.write(render(i, min(i + block, n)))
                bar.update(task, completed=min(i + block, n))
            w.finish(labels, splits)
    return dest


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path}: file missing; expected the LPC sprites npy files in this folder")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npy file ({str(exc).splitlines()[0]})") from None


def _split_val(idx: np.ndarray, seed: int, frac: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 99])
    perm = rng.permutation(idx.size)
    n_val = int(round(frac * idx.size))
    return np.sort(idx[perm[n_val:]]), np.sort(idx[perm[:n_val]])


# ----------------------------------------------------------------------------------------- LPC sprites
LPC_ACTIONS = (("walk",), ("spellcard", "spellcast"), ("slash",))  # the original files say "spellcard"
LPC_DIRECTIONS = ("front", "left", "right")  # movement = 3 * action + direction, as in load_sprites.py
LPC_SPLIT_SIZES = {"train": 1000, "test": 296}


def _lpc_frames(x: np.ndarray, where: str) -> np.ndarray:
    """Original frames (float32 = uint8 / 256, or uint8) -> uint8 ``[N, 8, 3, 64, 64]``, exactly."""
    if x.dtype == np.uint8:
        u8 = np.asarray(x)
    elif x.dtype.kind == "f":
        scaled = np.asarray(x, dtype=np.float64) * 256.0
        u8 = scaled.astype(np.uint8)
        if not (np.isfinite(scaled).all() and (scaled >= 0).all() and (scaled <= 255).all()
                and (u8 == scaled).all()):
            raise DatasetError(f"{where}: frame values are not uint8 / 256; expected the original Sprites npy "
                               "files (frame_to_npy.py divides the 8-bit pixels by 256)")
    else:
        raise DatasetError(f"{where}: dtype {x.dtype}; expected float32 frames (uint8 / 256) or uint8")
    return np.ascontiguousarray(u8.transpose(0, 1, 4, 2, 3))


def _lpc_attributes(at: np.ndarray, n: int, where: str) -> np.ndarray:
    """One-hot ``[N, 8, 4, 6]`` (or ``[N, 4, 6]``) -> int ``[N, 4]``."""
    at = np.asarray(at)
    if at.ndim == 4:  # [N, T, 4, 6]: constant over frames
        if at.shape[1] != 8 or not (at == at[:, :1]).all():
            raise DatasetError(f"{where}: attributes change over frames or have {at.shape[1]} frames; expected "
                               "the same one-hot attributes in all 8 frames")
        at = at[:, 0]
    if at.ndim != 3 or at.shape[1:] != (4, 6) or at.shape[0] != n:
        raise DatasetError(f"{where}: shape {at.shape}; expected one-hot [{n}, 8, 4, 6] or [{n}, 4, 6]")
    if not ((at == 0) | (at == 1)).all() or not (at.sum(-1) == 1).all():
        raise DatasetError(f"{where}: attributes are not one-hot over the last axis")
    return at.argmax(-1).astype(np.int64)


def _lpc_check_directions(folder: Path, name: str, direction: str, split: str, n_by_split: dict[str, int]) -> None:
    """Check ``{action}_{direction}_directions_{split}.npy`` where present (one-hot [N, 8, 3]: front, left, right).

    The original ``frame_to_npy.py`` saves the *test* directions under the ``_train`` name and writes no
    ``_test`` file; a ``_train`` file with the test split's length is accepted as that known slip.
    """
    path = folder / f"{name}_{direction}_directions_{split}.npy"
    if not path.is_file():
        return
    di = np.asarray(_load_npy(path))
    lengths = {n_by_split[split]} | ({n_by_split["test"]} if split == "train" else set())
    if di.ndim != 3 or di.shape[1:] != (8, 3) or di.shape[0] not in lengths:
        raise DatasetError(f"{path}: shape {di.shape}; expected one-hot [{n_by_split[split]}, 8, 3] directions")
    want = np.zeros(3)
    want[LPC_DIRECTIONS.index(direction)] = 1
    if not (di == want).all():
        raise DatasetError(f"{path}: directions are not all {direction!r} (one-hot {want.astype(int).tolist()}); "
                           "expected the direction of the file name")


def import_lpc_sprites(source: Path, out: Path, seed: int = 0, progress: bool = True) -> list[Path]:
    """Li & Mandt's Sprites npy folder -> ``sprites-lpc.h5``, laid out exactly as the built-in ``sprites``.

    Input: ``{walk,spellcard,slash}_{front,left,right}_frames_{train,test}.npy`` (float32 ``[N, 8, 64, 64, 3]``
    = uint8 / 256, as ``frame_to_npy.py`` writes them), ``..._attributes_{train,test}.npy`` (one-hot
    ``[N, 8, 4, 6]``) and, where present, ``..._directions_...npy`` (checked). Every sequence is put at the
    row the generator gives its (character, movement), and the splits follow the standard rule (training
    characters of ``RandomState(423)`` minus the seeded val characters; the test characters), so the
    complete original files give the content hash of the built-in ``sprites`` (full). A file whose
    characters are not those of the standard split, a duplicate sequence or a character that lacks a
    movement is refused (one-line error).
    """
    from .generators import sprites as gen

    folder = source if source.is_dir() else source.parent
    if (folder / "npy").is_dir() and not any(folder.glob("*_frames_train.npy")):
        folder = folder / "npy"
    standard = dict(zip(("train", "test"), gen.standard_split(), strict=True))
    where_row: dict[tuple[int, int], tuple[np.ndarray, int, str]] = {}  # (character, movement) -> (frames, row, file)
    chars_by_move: dict[int, np.ndarray] = {}
    for a, names in enumerate(LPC_ACTIONS):
        for d, direction in enumerate(LPC_DIRECTIONS):
            move = 3 * a + d
            found, n_by_split, used = [], {}, {}
            for split in ("train", "test"):
                name = next((n for n in names if (folder / f"{n}_{direction}_frames_{split}.npy").is_file()), names[0])
                fpath = folder / f"{name}_{direction}_frames_{split}.npy"
                frames = _load_npy(fpath)
                if frames.ndim != 5 or frames.shape[1:] != (8, 64, 64, 3):
                    raise DatasetError(f"{fpath}: shape {frames.shape}; expected [N, 8, 64, 64, 3]")
                apath = folder / f"{name}_{direction}_attributes_{split}.npy"
                attr = _lpc_attributes(_load_npy(apath), frames.shape[0], str(apath))
                ids = gen.character_index(attr)
                if not np.isin(ids, standard[split]).all():
                    bad = int(ids[~np.isin(ids, standard[split])][0])
                    raise DatasetError(f"{apath}: character {bad} is not a standard {split} character "
                                       "(np.random.RandomState(423).permutation(1296)); expected the original split")
                n_by_split[split] = frames.shape[0]
                for r, c in enumerate(ids):
                    if (int(c), move) in where_row:
                        raise DatasetError(f"{apath}: character {int(c)} appears twice for {gen.MOVEMENTS[move]}")
                    where_row[(int(c), move)] = (frames, r, str(fpath))
                found.append(ids)
                used[split] = name
            for split, name in used.items():
                _lpc_check_directions(folder, name, direction, split, n_by_split)
            chars_by_move[move] = np.sort(np.concatenate(found))
    first = chars_by_move[0]
    for move, ids in chars_by_move.items():
        if not np.array_equal(ids, first):
            missing = np.setxor1d(ids, first)
            raise DatasetError(f"{folder}: character {int(missing[0])} lacks movement {gen.MOVEMENTS[move]} or has it "
                               "alone; expected every character in all 9 movement files")
    keep, labels, splits = gen.split_labels(gen.subset_parts(first, seed))
    n_moves = len(gen.MOVEMENTS)
    factors = _factors(gen.factors_spec())

    def render(i: int, j: int) -> np.ndarray:
        block = []
        for row in range(i, j):
            frames, r, where = where_row[(int(keep[row // n_moves]), row % n_moves)]
            block.append(_lpc_frames(np.asarray(frames[r:r + 1]), where)[0])
        return np.stack(block)

    return [_write(out / "sprites-lpc.h5", "sprites-lpc", source, factors, (gen.T, 3, gen.H, gen.W), labels, splits,
                   render, seed, block=n_moves * 16, progress=progress)]


# ----------------------------------------------------------------------------------------- MSD h5
#: the sample rate an imported audio file must have unless told otherwise (that of ``dmelodies``)
AUDIO_SAMPLE_RATE = 16000


def import_msd(source: Path, out: Path, seed: int = 0, progress: bool = True,
               sample_rate: int | None = None) -> list[Path]:
    """Check an MSD benchmark h5 file (structure, labels, every chunk readable) and copy it as is.

    An audio file (attribute ``modality`` = ``audio``) must declare ``sample_rate`` equal to
    ``sample_rate`` (default :data:`AUDIO_SAMPLE_RATE`, the rate of the built-in ``dmelodies``); any
    other rate is refused before anything is written (nothing is resampled).
    """
    ds = open_h5(source)
    ds.close()
    want = AUDIO_SAMPLE_RATE if sample_rate is None else int(sample_rate)
    if ds.modality == "audio" and ds.sample_rate != want:
        raise DatasetError(f"{source}: audio at sample_rate {ds.sample_rate} Hz; expected {want} Hz (resample it "
                           "first, or pass --sample-rate to import at its own rate)")
    dest = out / f"{Path(source).stem}.h5"
    with atomic_path(dest, suffix=".h5.tmp") as tmp:
        shutil.copyfile(source, tmp)
        verify_file(tmp)  # decodes every chunk: a damaged source fails here, before the rename
    return [dest]


# ----------------------------------------------------------------------------------------- dSprites
def _latent_lookup(latents: np.ndarray, where: str) -> tuple[np.ndarray, list[int]]:
    """Inverse index ``lut[c0, c1, ...] -> image row`` of a latents_classes table."""
    sizes = [int(v) + 1 for v in latents.max(axis=0)]
    lut = np.full(sizes, -1, dtype=np.int64)
    lut[tuple(latents.T)] = np.arange(latents.shape[0])
    if (lut < 0).any():
        raise DatasetError(f"{where}: latents_classes is not a full grid of {sizes}; expected every combination")
    return lut, sizes


def _spread(n_avail: int, k: int) -> np.ndarray:
    """``k`` evenly spaced class indices among ``n_avail`` (all of them when fewer)."""
    if n_avail <= k:
        return np.arange(n_avail)
    return (np.arange(k) * (n_avail - 1)) // (k - 1)


def _limit(lab: np.ndarray, ns: list[int], limit: int | None, seed: int) -> np.ndarray:
    """At most ``limit`` rows (seeded, every value of every factor kept), in their original order."""
    if limit is None or limit >= lab.shape[0]:
        return lab
    if limit < max(ns):
        raise DatasetError(f"--limit {limit} is too small to keep every value of every factor; expected >= {max(ns)}")
    return lab[stratified_subset(np.arange(lab.shape[0]), lab, ns, limit, seed)]


def import_dsprites(source: Path, out: Path, seed: int = 0, progress: bool = True,
                    limit: int | None = None) -> list[Path]:
    """dSprites npz -> ``dsprites-static-real`` and ``dsprites-dynamic-real`` drawn from the real sprites.

    dsprites-static-real (T=16): color 9 (the binary sprite tinted), shape, posX 8, posY 8 (evenly spaced
    among the file's 32 positions); scale_dynamic 6 (grow/shrink first at 1/2/3 scale steps per frame,
    bouncing over the file's scales) and orientation_dynamic 3 (+1 / 0 / -1 orientation step per frame).
    dsprites-dynamic-real (T=12): color 9, shape, scale 6, orientation 5 (evenly spaced) static;
    posX_dynamic 6 and posY_dynamic 6 (negative/positive at 1, 2, 3 position steps per frame, bouncing).
    One sequence per factor combination (or a seeded, covering subset of ``limit`` sequences).
    """
    where = str(source)
    try:
        with np.load(source, allow_pickle=False) as z:
            if "imgs" not in z or "latents_classes" not in z:
                raise DatasetError(f"{where}: missing key imgs or latents_classes; expected the dSprites npz")
            imgs = z["imgs"]
            latents = z["latents_classes"].astype(np.int64)
    except DatasetError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DatasetError(f"{where}: not a readable npz file ({str(exc).splitlines()[0]})") from None
    if imgs.ndim != 3 or imgs.shape[1:] != (64, 64):
        raise DatasetError(f"{where}: imgs has shape {imgs.shape}; expected [N, 64, 64]")
    if latents.ndim != 2 or latents.shape != (imgs.shape[0], 6):
        raise DatasetError(f"{where}: latents_classes has shape {latents.shape}; expected [{imgs.shape[0]}, 6]")
    lut, sizes = _latent_lookup(latents, where)
    lut = lut[0]  # colour latent is always white
    n_shape, n_scale, n_orient, n_x, n_y = sizes[1:]
    binary = (imgs > 0).astype(np.uint8)
    colours = np.array(list(COLORS.values()), dtype=np.uint16)
    xs, ys = _spread(n_x, 8), _spread(n_y, 8)
    scales, orients = _spread(n_scale, 6), _spread(n_orient, 5)

    def tint(rows: np.ndarray, col: np.ndarray) -> np.ndarray:
        frames = binary[rows]  # [B, T, 64, 64]
        return (frames[:, :, None] * colours[col][:, None, :, None, None]).astype(np.uint8)

    def grid(ns: list[int]) -> np.ndarray:
        return np.stack(np.meshgrid(*[np.arange(n) for n in ns], indexing="ij"), -1).reshape(-1, len(ns))

    written = []
    # static-real
    ns = [9, n_shape, len(xs), len(ys), 6, 3]
    lab_s = _limit(grid(ns).astype(np.int64), ns, limit, seed)
    t_s = 16
    top = n_scale - 1

    def render_static(i: int, j: int) -> np.ndarray:
        lab = lab_s[i:j]
        b = lab.shape[0]
        speed = lab[:, 4] % 3 + 1
        sign = np.where(lab[:, 4] < 3, 1, -1)
        level = bounce(np.full(b, top // 2), sign * speed, 0, top, t_s) if top > 0 else np.zeros((b, t_s), int)
        ori = np.mod((1 - lab[:, 5])[:, None] * np.arange(t_s)[None, :], n_orient)
        rows = lut[lab[:, 1][:, None], level, ori, xs[lab[:, 2]][:, None], ys[lab[:, 3]][:, None]]
        return tint(rows, lab[:, 0])

    f_static = _factors([("color", "static", list(COLORS)), ("shape", "static", [str(i) for i in range(n_shape)]),
                         ("posX", "static", [str(int(v)) for v in xs]), ("posY", "static", [str(int(v)) for v in ys]),
                         ("scale_dynamic", "dynamic", [f"{d}_{s}" for d in ("grow", "shrink")
                                                       for s in ("slow", "medium", "fast")]),
                         ("orientation_dynamic", "dynamic", ["counterclockwise", "still", "clockwise"])])
    written.append(_write(out / "dsprites-static-real.h5", "dsprites-static-real", source, f_static,
                          (t_s, 3, 64, 64), lab_s, split_by_row(lab_s, ns, seed), render_static, seed,
                          progress=progress))
    # dynamic-real
    ns = [9, n_shape, len(scales), len(orients), 6, 6]
    lab_d = _limit(grid(ns).astype(np.int64), ns, limit, seed)
    t_d = 12
    speeds = np.array([1, 2, 3])
    vel = np.where(lab_d[:, 4:6] < 3, -1, 1) * speeds[lab_d[:, 4:6] % 3]
    rng = np.random.default_rng([seed, 12])
    sx = bounce_free_start(rng, vel[:, 0], 0, n_x - 1, frames=3)
    sy = bounce_free_start(rng, vel[:, 1], 0, n_y - 1, frames=3)

    def render_dynamic(i: int, j: int) -> np.ndarray:
        lab = lab_d[i:j]
        px = bounce(sx[i:j], vel[i:j, 0], 0, n_x - 1, t_d)
        py = bounce(sy[i:j], vel[i:j, 1], 0, n_y - 1, t_d)
        rows = lut[lab[:, 1][:, None], scales[lab[:, 2]][:, None], orients[lab[:, 3]][:, None], px, py]
        return tint(rows, lab[:, 0])

    f_dyn = _factors([("color", "static", list(COLORS)), ("shape", "static", [str(i) for i in range(n_shape)]),
                      ("scale", "static", [str(int(v)) for v in scales]),
                      ("orientation", "static", [str(int(v)) for v in orients]),
                      ("posX_dynamic", "dynamic", [f"{d}_{s}" for d in ("left", "right")
                                                   for s in ("slow", "medium", "fast")]),
                      ("posY_dynamic", "dynamic", [f"{d}_{s}" for d in ("up", "down")
                                                   for s in ("slow", "medium", "fast")])])
    written.append(_write(out / "dsprites-dynamic-real.h5", "dsprites-dynamic-real", source, f_dyn,
                          (t_d, 3, 64, 64), lab_d, split_by_row(lab_d, ns, seed), render_dynamic, seed,
                          progress=progress))
    return written


# ----------------------------------------------------------------------------------------- 3dshapes
def import_3dshapes(source: Path, out: Path, seed: int = 0, progress: bool = True,
                    limit: int | None = None) -> list[Path]:
    """3dshapes h5 -> ``3dshapes-dynamic-real`` (the real renders; same design as the built-in).

    Static floor_hue, wall_hue, object_hue, shape (as many values as the file has); scale_dynamic 6
    (grow/shrink first at 1/2/3 scale steps per frame, bouncing over the file's scales) and
    orientation_dynamic 3 (orientation index ascending from the first / the middle one / descending from
    the last, one step per frame), T=10. Rows: every (shape, scale_dynamic, orientation_dynamic) x every
    (floor, wall) pair x 2 object hues from two Latin squares.
    """
    import h5py

    where = str(source)
    try:
        f = h5py.File(source, "r")
    except OSError as exc:
        raise DatasetError(f"{where}: not a readable HDF5 file ({str(exc).splitlines()[0]})") from None
    with f:
        if "images" not in f or "labels" not in f:
            raise DatasetError(f"{where}: missing key images or labels; expected the 3dshapes h5")
        images = f["images"]
        if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
            raise DatasetError(f"{where}: images has dtype {images.dtype} shape {images.shape}; "
                               "expected uint8 [N, 64, 64, 3]")
        raw = f["labels"][()]
        if raw.ndim != 2 or raw.shape != (images.shape[0], 6):
            raise DatasetError(f"{where}: labels has shape {raw.shape}; expected [{images.shape[0]}, 6]")
        classes = np.stack([np.unique(raw[:, k], return_inverse=True)[1].reshape(-1) for k in range(6)], 1)
        lut, sizes = _latent_lookup(classes, where)  # floor, wall, object, scale, shape, orientation
        n_f, n_w, n_o, n_scale, n_shape, n_orient = sizes
        rows = []
        for shape in range(n_shape):
            for sd in range(6):
                for od in range(3):
                    combo = (shape * 6 + sd) * 3 + od
                    for fl in range(n_f):
                        for wl in range(n_w):
                            for layer in range(min(2, n_o)):
                                o = (fl + wl + combo) % n_o if layer == 0 else (fl + 3 * wl + 7 * combo + 5) % n_o
                                rows.append((fl, wl, o, shape, sd, od))
        lab = np.array(list(dict.fromkeys(rows)), dtype=np.int64)  # drop coinciding layers, keep order
        lab = _limit(lab, [n_f, n_w, n_o, n_shape, 6, 3], limit, seed)
        t = 10
        top = n_scale - 1
        still = n_orient // 2

        def render(i: int, j: int) -> np.ndarray:
            lb = lab[i:j]
            b = lb.shape[0]
            speed = lb[:, 4] % 3 + 1
            sign = np.where(lb[:, 4] < 3, 1, -1)
            level = bounce(np.full(b, top // 2), sign * speed, 0, top, t) if top > 0 else np.zeros((b, t), int)
            tt = np.minimum(np.arange(t), n_orient - 1)[None, :]
            ori = np.where(lb[:, 5:6] == 0, tt, np.where(lb[:, 5:6] == 2, n_orient - 1 - tt, still))
            idx = lut[lb[:, 0][:, None], lb[:, 1][:, None], lb[:, 2][:, None], level, lb[:, 3][:, None], ori]
            flat = idx.reshape(-1)
            order = np.argsort(flat, kind="stable")
            uniq, inv = np.unique(flat[order], return_inverse=True)
            imgs = images[uniq]  # sorted h5py read
            frames = np.empty((flat.size, 64, 64, 3), dtype=np.uint8)
            frames[order] = imgs[inv]
            return np.ascontiguousarray(frames.reshape(b, t, 64, 64, 3).transpose(0, 1, 4, 2, 3))

        vals = [[f"{v:g}" for v in np.unique(raw[:, k])] for k in range(6)]
        factors = _factors([("floor_hue", "static", vals[0]), ("wall_hue", "static", vals[1]),
                            ("object_hue", "static", vals[2]), ("shape", "static", vals[4]),
                            ("scale_dynamic", "dynamic", [f"{d}_{s}" for d in ("grow", "shrink")
                                                          for s in ("slow", "medium", "fast")]),
                            ("orientation_dynamic", "dynamic", ["counterclockwise", "still", "clockwise"])])
        ns = [n_f, n_w, n_o, n_shape, 6, 3]
        return [_write(out / "3dshapes-dynamic-real.h5", "3dshapes-dynamic-real", source, factors, (t, 3, 64, 64),
                       lab, split_by_row(lab, ns, seed), render, seed, block=64, progress=progress)]


# ----------------------------------------------------------------------------------------- MNIST
def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not readable ({str(exc).splitlines()[0]})") from None
    if len(raw) < 8:
        raise DatasetError(f"{path}: too short for an idx file")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise DatasetError(f"{path}: bad idx header; expected unsigned-byte idx1 (labels) or idx3 (images)")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: holds {body.size} bytes of data; expected {int(np.prod(dims))} for shape {dims}")
    return body.reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for cand in (stem, stem.replace("-idx", ".idx"), f"{stem}.gz", f"{stem.replace('-idx', '.idx')}.gz"):
        if (folder / cand).is_file():
            return folder / cand
    raise DatasetError(f"{folder}: no {stem}[.gz]; expected the MNIST idx files or mnist.npz")


def _load_mnist(source: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if source.is_file() and source.suffix == ".npz":
        try:
            with np.load(source, allow_pickle=False) as z:
                missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z]
                if missing:
                    raise DatasetError(f"{source}: missing key(s) {', '.join(missing)}; expected x_train, y_train, "
                                       "x_test, y_test")
                data = {"train": (z["x_train"], z["y_train"]), "test": (z["x_test"], z["y_test"])}
        except DatasetError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise DatasetError(f"{source}: not a readable npz file ({str(exc).splitlines()[0]})") from None
    else:
        folder = source if source.is_dir() else source.parent
        data = {"train": (_read_idx(_find(folder, "train-images-idx3-ubyte")),
                          _read_idx(_find(folder, "train-labels-idx1-ubyte"))),
                "test": (_read_idx(_find(folder, "t10k-images-idx3-ubyte")),
                         _read_idx(_find(folder, "t10k-labels-idx1-ubyte")))}
    for split, (x, y) in data.items():
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise DatasetError(f"{source}: {split} images have dtype {x.dtype} shape {x.shape}; expected uint8 "
                               "[N, 28, 28]")
        if y.shape != (x.shape[0],) or y.min() < 0 or y.max() > 9:
            raise DatasetError(f"{source}: {split} labels have shape {y.shape}; expected [{x.shape[0]}] in 0..9")
    return data


def import_mnist(source: Path, out: Path, seed: int = 0, progress: bool = True,
                 limit: int | None = None) -> list[Path]:
    """MNIST -> ``moving-mnist``: each MNIST image bounces in a 64x64 frame, T=16.

    Factors: digit 10 (static), direction 8 and speed 3 (dynamic, as in ``moving-digits``), assigned
    in a balanced seeded cycle. The MNIST train images give train + val (15 %, seeded), the test images
    the test split. ``limit`` keeps the first images of each source split.
    """
    from .generators.digits import DIRECTIONS, SPEEDS

    data = _load_mnist(source)
    imgs, labels, origin = [], [], []
    for split in ("train", "test"):
        x, y = data[split]
        if limit is not None:
            x, y = x[:limit], y[:limit]
        imgs.append(x)
        labels.append(y.astype(np.int64))
        origin += [split] * x.shape[0]
    img = np.concatenate(imgs)
    digit = np.concatenate(labels)
    n = digit.size
    rng = np.random.default_rng([seed, 28])
    combo = rng.permutation(np.arange(n) % 24)
    lab = np.stack([digit, combo // 3, combo % 3], axis=1).astype(np.int64)
    dirs = np.array(list(DIRECTIONS.values()))
    speeds = np.array(list(SPEEDS.values()))
    vel = dirs[lab[:, 1]] * speeds[lab[:, 2]][:, None]
    hi = 64 - 28
    sx = bounce_free_start(rng, vel[:, 0], 0, hi)
    sy = bounce_free_start(rng, vel[:, 1], 0, hi)
    t = 16
    org = np.array(origin)
    train, val = _split_val(np.flatnonzero(org == "train"), seed)
    splits = {"train": train, "val": val, "test": np.flatnonzero(org == "test")}

    def render(i: int, j: int) -> np.ndarray:
        b = j - i
        px = bounce(sx[i:j], vel[i:j, 0], 0, hi, t)
        py = bounce(sy[i:j], vel[i:j, 1], 0, hi, t)
        canvas = np.zeros((b, t, 64, 64), dtype=np.uint8)
        bi = np.arange(b)[:, None, None, None]
        ti = np.arange(t)[None, :, None, None]
        yi = py[:, :, None, None] + np.arange(28)[None, None, :, None]
        xi = px[:, :, None, None] + np.arange(28)[None, None, None, :]
        canvas[bi, ti, yi, xi] = np.broadcast_to(img[i:j][:, None], (b, t, 28, 28))
        return canvas[:, :, None]

    factors = _factors([("digit", "static", [str(d) for d in range(10)]),
                        ("direction", "dynamic", list(DIRECTIONS)), ("speed", "dynamic", list(SPEEDS))])
    return [_write(out / "moving-mnist.h5", "moving-mnist", source, factors, (t, 1, 64, 64), lab, splits, render,
                   seed, block=256, progress=progress)]


IMPORTERS: dict[str, Callable[..., list[Path]]] = {
    "lpc-sprites": import_lpc_sprites,
    "msd": import_msd,
    "dsprites": import_dsprites,
    "3dshapes": import_3dshapes,
    "mnist": import_mnist,
}


def run_import(kind: str, source: str | os.PathLike, out: str | os.PathLike | None = None, seed: int = 0,
               progress: bool = True, limit: int | None = None, sample_rate: int | None = None) -> list[Path]:
    """Run the importer ``kind`` on ``source``; returns the written files (in ``out``, a folder).

    ``sample_rate`` (msd only): the rate an audio file must have (default 16,000 Hz).
    """
    if kind not in IMPORTERS:
        raise DatasetError(f"unknown import kind {kind!r}; expected one of {', '.join(IMPORTERS)}")
    source = Path(source).expanduser()
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder to import")
    dest = Path(out).expanduser() if out else imported_dir()
    if dest.suffix in (".h5", ".hdf5"):
        raise DatasetError(f"{dest}: --out is a folder (importers may write several files)")
    if limit is not None:
        if kind not in ("mnist", "dsprites", "3dshapes"):
            raise DatasetError(f"--limit applies to the mnist, dsprites and 3dshapes importers, not {kind!r}")
        if limit < 1:
            raise DatasetError(f"--limit is {limit}; expected a positive number")
        return IMPORTERS[kind](source, dest, seed=seed, progress=progress, limit=limit)
    if sample_rate is not None:
        if kind != "msd":
            raise DatasetError(f"--sample-rate applies to the msd importer (audio files), not {kind!r}")
        if sample_rate < 1:
            raise DatasetError(f"--sample-rate is {sample_rate}; expected a positive number of Hz")
        return IMPORTERS[kind](source, dest, seed=seed, progress=progress, sample_rate=sample_rate)
    return IMPORTERS[kind](source, dest, seed=seed, progress=progress)
