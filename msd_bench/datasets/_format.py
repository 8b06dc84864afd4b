"""The on-disk format: one HDF5 layout for every dataset (compatible with the MSD benchmark's files).

Layout (format v2)
------------------
``data``            by modality (attribute ``modality``; absent = ``"video"``, so MSD's files and every
                    file written before v2 open unchanged), chunked per sequence, compressed:

                    - ``video``: uint8 ``[N, T, C, H, W]``; model input = data / 255;
                    - ``audio``: int16 PCM ``[N, T, F]`` (``data[n].reshape(-1)`` is the waveform;
                      attribute ``sample_rate`` in Hz is required); model input = data / 32768;
                    - ``timeseries``: float32 ``[N, T, V]`` (already normalised); model input = data.
``labels``          integer ``[N, L]`` (one column per factor, see ``classes``).
``train_indices``, ``val_indices``, ``test_indices``  integer ``[n_split]``, disjoint, in ``[0, N)``.
attribute ``classes``  JSON ``{factor: {index, type, n_classes, ignore, values: {name: int}}}``.
msd-bench attributes   ``name``, ``version``, ``seed``, ``size``, ``content_hash``, ``msd_bench_version``
(absent from MSD files, which open as they are).

The content hash is a sha256 over the *decoded* content (the data bytes in the stored dtype,
little-endian; the labels and split indices as little-endian int64; the canonical classes JSON), so it
does not depend on the compressor or the h5py/HDF5 version that wrote the file. The data header line
names the dtype (``data:uint8:(...)`` for video, exactly as in v1, so video hashes are unchanged).

:func:`to_model_input` is the one conversion from stored blocks to model inputs (float32).
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from .._memory import small_pages
from ..errors import DatasetError

SPLITS = ("train", "val", "test")
REQUIRED_KEYS = ("data", "labels", "train_indices", "val_indices", "test_indices")
HASH_PREFIX = b"msd-bench/content/v1\n"
#: Compression used by the writer (measured in benchmarks/bench_datasets.py; see docs/datasets.md).
COMPRESSION = "gzip"
COMPRESSION_OPTS = 1
#: modality -> (stored dtype, rank of ``data``, layout of one sequence)
MODALITIES: dict[str, tuple[np.dtype, int, str]] = {
    "video": (np.dtype(np.uint8), 5, "[T, C, H, W]"),
    "audio": (np.dtype("<i2"), 3, "[T, F]"),
    "timeseries": (np.dtype("<f4"), 3, "[T, V]"),
}
#: scale of int16 PCM: model input = data / AUDIO_SCALE, in [-1, 1)
AUDIO_SCALE = 32768.0


def check_modality(modality: Any, where: str = "dataset") -> str:
    """``modality`` when it is one of :data:`MODALITIES`, else a DatasetError naming the known ones."""
    if isinstance(modality, bytes | np.bytes_):
        modality = bytes(modality).decode("utf-8")
    if modality not in MODALITIES:
        raise DatasetError(f"{where}: modality {modality!r}; expected one of {', '.join(MODALITIES)}")
    return str(modality)


def stored_dtype(modality: str) -> np.dtype:
    """The on-disk dtype of ``data`` for a modality (uint8, int16, float32)."""
    return MODALITIES[check_modality(modality)][0]


def to_model_input(block: Any, modality: str) -> Any:
    """Convert a stored data block to the model input: a float32 torch tensor of the same shape.

    video uint8 -> ``/ 255`` (in [0, 1]); audio int16 -> ``/ 32768`` (in [-1, 1)); timeseries float32 as
    stored. Accepts a numpy array or a torch tensor (a tensor keeps its device).

    Raises
    ------
    DatasetError
        When the modality is unknown or the block's dtype is not the modality's stored dtype.
    """
    import torch

    modality = check_modality(modality, "to_model_input")
    x = torch.from_numpy(np.ascontiguousarray(block)) if isinstance(block, np.ndarray) else block
    if not isinstance(x, torch.Tensor):
        raise DatasetError(f"to_model_input: expected a numpy array or torch tensor, got {type(block).__name__}")
    want = {"video": torch.uint8, "audio": torch.int16}.get(modality)
    if want is not None:
        if x.dtype != want:
            raise DatasetError(f"to_model_input: {modality} block has dtype {x.dtype}; expected the stored "
                               f"{str(want).replace('torch.', '')}")
        return x.to(torch.float32).div_(255.0 if modality == "video" else AUDIO_SCALE)
    if not x.is_floating_point():
        raise DatasetError(f"to_model_input: timeseries block has dtype {x.dtype}; expected float32")
    return x.to(torch.float32)


@dataclass(frozen=True)
class Factor:
    """One ground-truth factor: a label column of the dataset.

    Attributes
    ----------
    name : str
        Factor name (e.g. ``"hair"``).
    index : int
        Column of ``labels`` holding this factor.
    type : str
        ``"static"`` (fixed over the sequence) or ``"dynamic"`` (changes over time).
    n_classes : int
        Number of classes; labels are in ``[0, n_classes)``.
    values : dict[str, int]
        Value name -> class index.
    ignore : bool
        Whether evaluation should skip this factor (kept for MSD compatibility).
    """

    name: str
    index: int
    type: str
    n_classes: int
    values: Mapping[str, int] = field(default_factory=dict)
    ignore: bool = False

    @property
    def value_names(self) -> list[str]:
        """Value names ordered by class index (``str(i)`` where a class has no name)."""
        inv = {v: k for k, v in self.values.items()}
        return [inv.get(i, str(i)) for i in range(self.n_classes)]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": int(self.index),
            "type": self.type,
            "n_classes": int(self.n_classes),
            "ignore": bool(self.ignore),
            "values": {str(k): int(v) for k, v in self.values.items()},
        }


def factors_to_classes(factors: Sequence[Factor]) -> dict[str, dict[str, Any]]:
    """The ``classes`` attribute object of a factor list."""
    return {f.name: f.to_json() for f in factors}


def classes_json(factors: Sequence[Factor]) -> str:
    """Canonical JSON text of the ``classes`` attribute (sorted keys, no spaces): hashed and stored."""
    return json.dumps(factors_to_classes(factors), sort_keys=True, separators=(",", ":"))


def parse_classes(raw: Any, where: str, n_columns: int | None = None) -> list[Factor]:
    """Parse a ``classes`` attribute (JSON text or bytes) into factors ordered by label column.

    Raises
    ------
    DatasetError
        When the JSON is unreadable or a factor entry misses a field or has a wrong value.
    """
    if isinstance(raw, bytes | np.bytes_):
        raw = bytes(raw).decode("utf-8")
    try:
        obj = json.loads(str(raw))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: attribute 'classes' is not valid JSON ({exc}); expected "
                           "{factor: {index, type, n_classes, ignore, values}}") from None
    if not isinstance(obj, dict) or not obj:
        raise DatasetError(f"{where}: attribute 'classes' must be a non-empty JSON object of factors")
    factors = []
    for name, entry in obj.items():
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: classes['{name}'] must be an object, got {type(entry).__name__}")
        missing = [k for k in ("index", "type", "n_classes") if k not in entry]
        if missing:
            raise DatasetError(f"{where}: classes['{name}'] misses field(s) {', '.join(missing)}; expected "
                               "index, type, n_classes, ignore, values")
        ftype = entry["type"]
        if ftype not in ("static", "dynamic"):
            raise DatasetError(f"{where}: classes['{name}'].type is {ftype!r}; expected 'static' or 'dynamic'")
        try:
            index, n_classes = int(entry["index"]), int(entry["n_classes"])
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: classes['{name}'] index/n_classes must be integers") from None
        if n_classes < 1:
            raise DatasetError(f"{where}: classes['{name}'].n_classes is {n_classes}; expected >= 1")
        values = entry.get("values") or {}
        if not isinstance(values, dict):
            raise DatasetError(f"{where}: classes['{name}'].values must be an object {{name: int}}")
        try:
            values = {str(k): int(v) for k, v in values.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: classes['{name}'].values must map names to integers") from None
        bad = [k for k, v in values.items() if not 0 <= v < n_classes]
        if bad:
            raise DatasetError(f"{where}: classes['{name}'].values {bad[:3]} are outside [0, {n_classes})")
        factors.append(Factor(str(name), index, ftype, n_classes, values, bool(entry.get("ignore", False))))
    factors.sort(key=lambda f: f.index)
    idx = [f.index for f in factors]
    expected = list(range(len(factors)))
    if idx != expected:
        raise DatasetError(f"{where}: classes indices are {idx}; expected each column 0..{len(factors) - 1} once")
    if n_columns is not None and n_columns != len(factors):
        raise DatasetError(f"{where}: labels has {n_columns} columns but classes describes {len(factors)} factors")
    return factors


# --------------------------------------------------------------------------------------------- hashing


class ContentHasher:
    """Incremental content hash: feed the data in order, then labels, splits and classes."""

    def __init__(self, data_shape: Sequence[int], dtype: Any = np.uint8):
        self._dtype = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
        self._h = hashlib.sha256(HASH_PREFIX)
        # v1 header for uint8 (video hashes unchanged); the dtype's name otherwise (int16, float32).
        self._h.update(f"data:{np.dtype(dtype).name}:{tuple(int(s) for s in data_shape)}\n".encode())

    def update_data(self, block: np.ndarray) -> None:
        self._h.update(np.ascontiguousarray(block, dtype=self._dtype).tobytes())

    def finish(self, labels: np.ndarray, splits: Mapping[str, np.ndarray], classes: str) -> str:
        lab = np.ascontiguousarray(labels, dtype="<i8")
        self._h.update(f"labels:int64:{lab.shape}\n".encode())
        self._h.update(lab.tobytes())
        for s in SPLITS:
            ind = np.ascontiguousarray(splits[s], dtype="<i8")
            self._h.update(f"{s}_indices:int64:{ind.shape}\n".encode())
            self._h.update(ind.tobytes())
        self._h.update(b"classes:")
        self._h.update(classes.encode("utf-8"))
        return self._h.hexdigest()


# --------------------------------------------------------------------------------------------- writing


class DatasetWriter:
    """Stream a dataset into an HDF5 file atomically (temporary file, renamed on success).

    Use as a context manager; write the data blocks in order with :meth:`write`, then call
    :meth:`finish`. An exception (or Ctrl-C) inside the block leaves no file behind.

    Parameters
    ----------
    path : path-like
        Destination file.
    n : int
        Number of sequences.
    shape : tuple
        One sequence: ``(T, C, H, W)`` (video) or ``(T, F)`` / ``(T, V)`` (audio, timeseries).
    factors : sequence of Factor
        Label columns, in order.
    attrs : mapping
        msd-bench attributes (name, version, seed, size, msd_bench_version ...; ``sample_rate`` for audio).
    compression, compression_opts
        h5py filter of ``data`` (default gzip level 1; ``"lzf"`` or None are accepted).
    modality : {"video", "audio", "timeseries"}, optional
        Default ``attrs["modality"]``, else video. Fixes the stored dtype (uint8, int16, float32); written
        as the attribute ``modality`` (not hashed, so a video file's content hash is as in format v1).
    """

    def __init__(self, path: str | os.PathLike, n: int, shape: Sequence[int], factors: Sequence[Factor],
                 attrs: Mapping[str, Any] | None = None, compression: str | None = COMPRESSION,
                 compression_opts: int | None = COMPRESSION_OPTS, modality: str | None = None):
        self.compression = compression
        self.compression_opts = compression_opts if compression == "gzip" else None
        self.path = Path(path)
        self.n = int(n)
        self.shape = tuple(int(s) for s in shape)
        self.factors = list(factors)
        self.attrs = dict(attrs or {})
        declared = self.attrs.get("modality")
        if modality is not None and declared is not None and str(declared) != modality:
            raise DatasetError(f"{self.path}: attrs say modality {declared!r} but the writer was opened for "
                               f"{modality!r}")
        self.modality = check_modality(modality or declared or "video", str(self.path))
        self.attrs["modality"] = self.modality
        self.dtype, rank, layout = MODALITIES[self.modality]
        if len(self.shape) != rank - 1:
            raise DatasetError(f"{self.path}: sequence shape {self.shape}; expected {layout} for {self.modality}")
        if self.modality == "audio" and int(self.attrs.get("sample_rate", 0) or 0) <= 0:
            raise DatasetError(f"{self.path}: an audio dataset needs the attribute sample_rate (Hz, > 0)")
        self._pos = 0
        self._hasher = ContentHasher((self.n, *self.shape), self.dtype)
        self.content_hash: str | None = None

    def __enter__(self) -> DatasetWriter:
        import h5py

        self._ctx = atomic_path(self.path, suffix=".h5.tmp")
        self._tmp = self._ctx.__enter__()
        self._f = h5py.File(self._tmp, "w")
        self._data = self._f.create_dataset(
            "data", shape=(self.n, *self.shape), dtype=self.dtype, chunks=(1, *self.shape),
            compression=self.compression, compression_opts=self.compression_opts, shuffle=False,
        )
        return self

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (``[B, *shape]`` in the modality's stored dtype) after the previous blocks."""
        block = np.asarray(block)
        if block.dtype != self.dtype or block.shape[1:] != self.shape:
            raise DatasetError(f"{self.path}: block of dtype {block.dtype} shape {block.shape}; expected "
                               f"{self.dtype.name} [B, {', '.join(map(str, self.shape))}]")
        end = self._pos + block.shape[0]
        if end > self.n:
            raise DatasetError(f"{self.path}: writing {end} sequences into a dataset of {self.n}")
        self._data[self._pos:end] = block
        self._hasher.update_data(block)
        self._pos = end

    def finish(self, labels: np.ndarray, splits: Mapping[str, np.ndarray]) -> str:
        """Write labels, split indices and attributes; return the content hash."""
        if self._pos != self.n:
            raise DatasetError(f"{self.path}: only {self._pos} of {self.n} sequences were written")
        labels = np.asarray(labels, dtype=np.int64)
        check_arrays(str(self.path), labels, splits, self.factors, self.n)
        cj = classes_json(self.factors)
        self.content_hash = self._hasher.finish(labels, splits, cj)
        self._f.create_dataset("labels", data=labels)
        for s in SPLITS:
            self._f.create_dataset(f"{s}_indices", data=np.asarray(splits[s], dtype=np.int64))
        self._f.attrs["classes"] = cj
        for k, v in self.attrs.items():
            self._f.attrs[k] = v
        self._f.attrs["content_hash"] = self.content_hash
        return self.content_hash

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._f.close()
        if exc_type is None and self.content_hash is None:
            err = DatasetError(f"{self.path}: DatasetWriter closed without finish(); nothing was written")
            self._ctx.__exit__(DatasetError, err, None)  # removes the temporary file
            raise err
        self._ctx.__exit__(exc_type, exc, tb)  # renames on success, removes the temporary file on error
        return False


def write_h5(path: str | os.PathLike, data: np.ndarray | Iterable[np.ndarray], labels: np.ndarray,
             splits: Mapping[str, np.ndarray], factors: Sequence[Factor], attrs: Mapping[str, Any] | None = None,
             n: int | None = None, shape: Sequence[int] | None = None, modality: str | None = None) -> str:
    """Write a whole dataset atomically and return its content hash.

    ``data`` is an array ``[N, *shape]`` in the modality's stored dtype (video uint8 ``[N, T, C, H, W]``,
    audio int16 ``[N, T, F]``, timeseries float32 ``[N, T, V]``) or an iterable of such blocks (then pass
    ``n`` and ``shape``). ``modality`` defaults to ``attrs["modality"]``, else video.
    """
    modality = check_modality(modality or (attrs or {}).get("modality", "video"), str(path))
    if isinstance(data, np.ndarray):
        rank, layout = MODALITIES[modality][1], MODALITIES[modality][2]
        if data.ndim != rank:
            raise DatasetError(f"{path}: data has shape {data.shape}; expected rank {rank} [N, "
                               f"{layout[1:]} for {modality}")
        n, shape = data.shape[0], data.shape[1:]
        blocks: Iterable[np.ndarray] = (data[i:i + 256] for i in range(0, data.shape[0], 256))
    else:
        if n is None or shape is None:
            raise DatasetError("write_h5: pass n and shape when data is an iterable of blocks")
        blocks = data
    with DatasetWriter(path, n, shape, factors, attrs, modality=modality) as w:
        for b in blocks:
            w.write(b)
        return w.finish(labels, splits)


# --------------------------------------------------------------------------------------------- checks


def check_arrays(where: str, labels: np.ndarray, splits: Mapping[str, np.ndarray], factors: Sequence[Factor],
                 n: int) -> None:
    """Validate labels against ``classes`` and split indices (range, duplicates, overlap)."""
    if labels.ndim != 2 or labels.shape != (n, len(factors)):
        raise DatasetError(f"{where}: labels has shape {labels.shape}; expected [{n}, {len(factors)}]")
    for f in factors:
        col = labels[:, f.index]
        if col.size and (col.min() < 0 or col.max() >= f.n_classes):
            bad = int(col[(col < 0) | (col >= f.n_classes)][0])
            raise DatasetError(f"{where}: labels[:, {f.index}] ({f.name}) contains {bad}; expected values in "
                               f"[0, {f.n_classes}) as declared in classes")
    seen: dict[int, str] = {}
    for s in SPLITS:
        ind = np.asarray(splits[s])
        if ind.ndim != 1:
            raise DatasetError(f"{where}: {s}_indices has shape {ind.shape}; expected rank 1")
        if ind.size and (ind.min() < 0 or ind.max() >= n):
            raise DatasetError(f"{where}: {s}_indices has values outside [0, {n})")
        u, counts = np.unique(ind, return_counts=True)
        if (counts > 1).any():
            raise DatasetError(f"{where}: {s}_indices repeats index {int(u[counts > 1][0])}; expected unique")
        for other, osplit in seen.items():
            both = np.intersect1d(u, osplit)
            if both.size:
                raise DatasetError(f"{where}: {s}_indices and {other}_indices overlap (e.g. index {int(both[0])});"
                                   " expected disjoint splits")
        seen = {**seen, s: u}  # type: ignore[dict-item]


# --------------------------------------------------------------------------------------------- reading


class H5Dataset:
    """A dataset file in the on-disk format, read lazily (the file is opened per process).

    Attributes follow docs/architecture.md: ``name``, ``version``, ``size``, ``path``, ``content_hash``,
    ``factors``, ``shape`` (one sequence: ``(T, C, H, W)`` or ``(T, F)``), ``modality``, ``feature_shape``
    (``shape[1:]``, one step) and ``sample_rate`` (Hz for audio, else None).
    """

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        where = str(self.path)
        if not self.path.is_file():
            raise DatasetError(f"{where}: no such dataset file")
        try:
            with h5py.File(self.path, "r") as f:
                missing = [k for k in REQUIRED_KEYS if k not in f]
                if missing:
                    raise DatasetError(f"{where}: missing key(s) {', '.join(missing)}; expected "
                                       f"{', '.join(REQUIRED_KEYS)} and attribute 'classes'")
                if "classes" not in f.attrs:
                    raise DatasetError(f"{where}: missing attribute 'classes' (JSON of the factors)")
                d = f["data"]
                modality = check_modality(f.attrs.get("modality", "video"), f"{where}: attribute")
                dtype, rank, layout = MODALITIES[modality]
                if d.ndim != rank:
                    raise DatasetError(f"{where}: data has shape {d.shape}; expected rank {rank} [N, {layout[1:]} "
                                       f"for modality {modality}")
                if d.dtype != dtype:
                    raise DatasetError(f"{where}: data has dtype {d.dtype}; expected {dtype.name} for modality "
                                       f"{modality}")
                sample_rate = None
                if modality == "audio":
                    try:
                        sample_rate = int(f.attrs["sample_rate"])
                    except (KeyError, TypeError, ValueError):
                        raise DatasetError(f"{where}: audio data needs an integer attribute sample_rate (Hz)") from None
                    if sample_rate <= 0:
                        raise DatasetError(f"{where}: attribute sample_rate is {sample_rate}; expected > 0 (Hz)")
                lab = f["labels"]
                if lab.ndim != 2 or lab.dtype.kind not in "iu":
                    raise DatasetError(f"{where}: labels has dtype {lab.dtype} shape {lab.shape}; expected an "
                                       "integer [N, L] array")
                n = d.shape[0]
                if lab.shape[0] != n:
                    raise DatasetError(f"{where}: labels has {lab.shape[0]} rows; expected {n} (one per sequence)")
                self.factors = parse_classes(f.attrs["classes"], where, lab.shape[1])
                self._labels = lab[()].astype(np.int64)
                splits = {}
                for s in SPLITS:
                    ds = f[f"{s}_indices"]
                    if ds.dtype.kind not in "iu":
                        raise DatasetError(f"{where}: {s}_indices has dtype {ds.dtype}; expected integers")
                    splits[s] = ds[()].astype(np.int64).reshape(-1) if ds.ndim <= 1 else ds[()]
                check_arrays(where, self._labels, splits, self.factors, n)
                self._splits = {s: np.asarray(v, dtype=np.int64) for s, v in splits.items()}
                self.n = int(n)
                self.shape: tuple[int, ...] = tuple(int(s) for s in d.shape[1:])
                self.modality: str = modality
                self.sample_rate: int | None = sample_rate
                self._dtype = dtype
                attrs = {k: f.attrs[k] for k in f.attrs}
        except DatasetError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise DatasetError(f"{where}: not a readable HDF5 dataset file (truncated or corrupt?): "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

        def _s(v: Any) -> Any:
            return v.decode() if isinstance(v, bytes) else (v.item() if isinstance(v, np.generic) else v)

        self.attrs = {k: _s(v) for k, v in attrs.items()}
        self.name: str = str(self.attrs.get("name", self.path.stem))
        self.version: str = str(self.attrs.get("version", "msd"))
        self.size: str = str(self.attrs.get("size", "full"))
        self.seed = self.attrs.get("seed")
        self._declared_hash = self.attrs.get("content_hash")
        self._computed_hash: str | None = None
        self._file = None
        self._pid = None

    # --------------------------------------------------------------------------- file handle
    def _h5(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            # (re)open lazily in each process: h5py handles must not cross a fork.
            self._file = h5py.File(self.path, "r", rdcc_nbytes=0)
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"H5Dataset(name={self.name!r}, version={self.version!r}, size={self.size!r}, n={self.n}, " \
               f"modality={self.modality!r}, shape={self.shape}, path='{self.path}')"

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one step: ``(C, H, W)`` (video), ``(F,)`` (audio), ``(V,)`` (timeseries)."""
        return self.shape[1:]

    def __len__(self) -> int:
        return self.n

    # --------------------------------------------------------------------------- metadata
    @property
    def content_hash(self) -> str:
        """The declared content hash (attribute), or the computed one for files without it (MSD files)."""
        if self._declared_hash:
            return str(self._declared_hash)
        return self.compute_content_hash()

    @property
    def declared_content_hash(self) -> str | None:
        return str(self._declared_hash) if self._declared_hash else None

    def compute_content_hash(self, progress: Any = None) -> str:
        """Recompute the content hash from the decoded file content (reads the whole data, in blocks)."""
        if self._computed_hash is None:
            d = self._h5()["data"]
            h = ContentHasher(d.shape, self._dtype)
            step = 256
            for i in range(0, self.n, step):
                h.update_data(self._read_block(d, i, min(i + step, self.n)))
                if progress is not None:
                    progress(min(i + step, self.n), self.n)
            splits = self._splits
            self._computed_hash = h.finish(self._labels, splits, classes_json(self.factors))
        return self._computed_hash

    def _read_block(self, d, start: int, stop: int) -> np.ndarray:
        try:
            return d[start:stop]
        except (OSError, RuntimeError, ValueError) as exc:
            raise DatasetError(f"{self.path}: cannot read data[{start}:{stop}] (truncated or corrupt file?): "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def factor(self, name: str) -> Factor:
        for f in self.factors:
            if f.name == name:
                return f
        raise DatasetError(f"{self.path}: no factor {name!r}; factors are {', '.join(f.name for f in self.factors)}")

    @property
    def static_factors(self) -> list[Factor]:
        return [f for f in self.factors if f.type == "static"]

    @property
    def dynamic_factors(self) -> list[Factor]:
        return [f for f in self.factors if f.type == "dynamic"]

    def _split(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return self._splits[split]

    def indices(self, split: str) -> np.ndarray:
        """Sequence indices of a split (int64, as stored)."""
        return self._split(split).copy()

    def labels(self, split: str | None = None) -> np.ndarray:
        """Labels ``[N, L]`` (int64) of a split, in the order of :meth:`indices`; all rows when None."""
        if split is None:
            return self._labels.copy()
        return self._labels[self._split(split)]

    # --------------------------------------------------------------------------- data
    def read(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Read sequences by index: (stored data ``[B, *shape]``, int64 labels ``[B, L]``), in the given order.

        The data keeps the stored dtype (uint8 video, int16 audio, float32 timeseries); convert it with
        :func:`to_model_input`.

        Only the requested chunks are read (sorted, de-duplicated h5py reads), never the whole file.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise DatasetError(f"{self.path}: index out of range [0, {self.n})")
        with small_pages():  # a few hundred MB, first touched here: no huge-page compaction stalls
            return self._read(idx)

    def _read(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        uniq, inverse = np.unique(idx, return_inverse=True)
        d = self._h5()["data"]
        out = self._read_chunks(d, uniq)
        if out is not None:
            data = out[inverse] if (uniq.size != idx.size or not np.array_equal(uniq, idx)) else out
            return data, self._labels[idx]
        out = np.empty((uniq.size, *self.shape), dtype=self._dtype)
        # Runs of consecutive indices become one slice read; the rest are per-sequence chunk reads.
        start = 0
        while start < uniq.size:
            stop = start + 1
            while stop < uniq.size and uniq[stop] == uniq[stop - 1] + 1:
                stop += 1
            out[start:stop] = self._read_block(d, int(uniq[start]), int(uniq[stop - 1]) + 1)
            start = stop
        data = out[inverse] if (uniq.size != idx.size or not np.array_equal(uniq, idx)) else out
        return data, self._labels[idx]

    def _read_chunks(self, d, uniq: np.ndarray) -> np.ndarray | None:
        """Sequences ``uniq`` read as raw chunks and inflated here (``None``: layout not supported).

        For the layout the writer uses (one chunk per sequence, no filter or deflate only), reading each
        chunk's stored bytes (``read_direct_chunk``) and inflating them with zlib gives the same array as
        h5py's selection reads without their per-call cost (about 1 ms per sequence).
        Other layouts (e.g. MSD files with other chunking or filters) return ``None`` and take h5py's path.
        """
        if uniq.size == 0 or d.chunks != (1, *d.shape[1:]) or d.dtype.hasobject:
            return None
        plist = d.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        if filters not in ([], [1]):  # 1 = H5Z_FILTER_DEFLATE
            return None
        item = int(np.prod(d.shape[1:])) * d.dtype.itemsize
        out = np.empty((uniq.size, *d.shape[1:]), dtype=d.dtype)
        flat = out.reshape(uniq.size, -1).view(np.uint8)
        tail = (0,) * (len(d.shape) - 1)
        for j, i in enumerate(uniq.tolist()):
            try:
                mask, raw = d.id.read_direct_chunk((i, *tail))
                buf = zlib.decompress(raw) if (filters and not mask & 1) else raw
            except (OSError, RuntimeError, ValueError, KeyError, zlib.error) as exc:
                raise DatasetError(f"{self.path}: cannot read data[{i}] (truncated or corrupt file?): "
                                   f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
            if len(buf) != item:
                raise DatasetError(f"{self.path}: cannot read data[{i}] (truncated or corrupt file?): "
                                   f"chunk holds {len(buf)} bytes, expected {item}")
            flat[j] = np.frombuffer(buf, dtype=np.uint8)
        return out if out.dtype.isnative else out.astype(out.dtype.newbyteorder("="))

    def batches(self, split: str, batch_size: int = 256, limit: int | None = None,
                device: Any = "cpu") -> Iterator[tuple[Any, Any]]:
        """Yield ``(x float32 [B, T, *F], labels int64 [B, L])`` tensors in index order.

        ``x`` is :func:`to_model_input` of the stored data (video in [0, 1], audio in [-1, 1), time series
        as stored).

        Parameters
        ----------
        split : {"train", "val", "test"}
        batch_size : int
        limit : int, optional
            Use only the first ``limit`` sequences of the split.
        device : str or torch.device
            Where the tensors are placed (the stored -> float conversion happens there).
        """
        import torch

        if batch_size < 1:
            raise DatasetError(f"batch_size is {batch_size}; expected >= 1")
        ind = self._split(split)
        if limit is not None:
            ind = ind[: max(0, int(limit))]
        for i in range(0, ind.size, batch_size):
            data, lab = self.read(ind[i:i + batch_size])
            x = torch.from_numpy(data).to(device)
            yield to_model_input(x, self.modality), torch.from_numpy(lab).to(device)

    def torch_dataset(self, split: str) -> Any:
        """A ``torch.utils.data.Dataset`` of ``(float32 [T, *F] model input, int64 [L])`` for a split."""
        from ._torch import SplitDataset

        return SplitDataset(self, self._split(split))


def open_h5(path: str | os.PathLike) -> H5Dataset:
    """Open any file in the on-disk format (msd-bench files and the MSD benchmark's own files).

    The structure is validated on open (keys, dtypes, ranks, labels within ``classes``, disjoint
    splits); the content hash is checked by :func:`verify_file`.
    """
    return H5Dataset(path)


def verify_file(path: str | os.PathLike, expected: str | None = None, progress: Any = None) -> str:
    """Recompute a file's content hash and compare it with its declared and ``expected`` hashes.

    Returns the hash; raises DatasetError on a mismatch.
    """
    ds = open_h5(path)
    try:
        got = ds.compute_content_hash(progress)
    finally:
        ds.close()
    declared = ds.declared_content_hash
    if declared and declared != got:
        raise DatasetError(f"{path}: content hash {got[:16]}… does not match the declared content_hash "
                           f"{declared[:16]}… (file modified or corrupt)")
    if expected and expected != got:
        raise DatasetError(f"{path}: content hash {got[:16]}… does not match the registry's {expected[:16]}… for "
                           f"{ds.name} version {ds.version} size {ds.size}")
    return got
